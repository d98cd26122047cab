/* cluster.h over MPI (`clinception-mpi`): every message goes to rank 0
 * with one tag, in the order sent (MPI keeps the order of two messages
 * between one pair of ranks); sizes are probed, so any length travels. */
#include "cluster.h"

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define TAG_RESULT 1

static int rank, ranks = 1, local_rank;

/* An MPI call that failed: the run cannot go on. */
static void check(int rc, const char *what) {
    if (rc == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, text, &len);
    fprintf(stderr, "clinception-mpi: rank %d: %s failed: %.*s\n", rank, what, len, text);
    MPI_Abort(MPI_COMM_WORLD, 1);
}

void cluster_start(int *argc, char ***argv) {
    if (MPI_Init(argc, argv) != MPI_SUCCESS) {
        fprintf(stderr, "clinception-mpi: MPI_Init failed\n");
        exit(1);
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    /* the ranks that share this machine's memory, to pick a device each */
    MPI_Comm node;
    check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node),
          "MPI_Comm_split_type");
    MPI_Comm_rank(node, &local_rank);
    MPI_Comm_free(&node);
}

int cluster_end(int status) {
    int worst = status;
    check(MPI_Allreduce(&status, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce");
    MPI_Finalize();
    return worst;
}

int cluster_rank(void) {
    return rank;
}

int cluster_ranks(void) {
    return ranks;
}

int cluster_local_rank(void) {
    return local_rank;
}

void cluster_abort(void) {
    if (ranks == 1) return;
    fprintf(stderr, "clinception-mpi: rank %d failed: ending every rank\n", rank);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
}

void cluster_send(const void *bytes, size_t size) {
    if (size > INT32_MAX) {
        fprintf(stderr, "clinception-mpi: rank %d: a message of %zu bytes is too large\n", rank,
                size);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    check(MPI_Send(bytes, (int)size, MPI_BYTE, 0, TAG_RESULT, MPI_COMM_WORLD), "MPI_Send");
}

void *cluster_receive(int from, size_t *size) {
    MPI_Status status;
    int count = 0;
    check(MPI_Probe(from, TAG_RESULT, MPI_COMM_WORLD, &status), "MPI_Probe");
    check(MPI_Get_count(&status, MPI_BYTE, &count), "MPI_Get_count");
    void *bytes = malloc(count > 0 ? (size_t)count : 1);
    if (!bytes) {
        fprintf(stderr, "clinception-mpi: rank 0: out of memory for a message of %d bytes\n",
                count);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    check(MPI_Recv(bytes, count, MPI_BYTE, from, TAG_RESULT, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
          "MPI_Recv");
    *size = (size_t)count;
    return bytes;
}

long cluster_min(long value) {
    long least = value;
    check(MPI_Allreduce(&value, &least, 1, MPI_LONG, MPI_MIN, MPI_COMM_WORLD), "MPI_Allreduce");
    return least;
}
