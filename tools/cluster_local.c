/* cluster.h for one process (`clinception`): rank 0 of 1, and nothing to
 * send. */
#include "cluster.h"

#include <stdio.h>
#include <stdlib.h>

void cluster_start(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
}

int cluster_end(int status) {
    return status;
}

int cluster_rank(void) {
    return 0;
}

int cluster_ranks(void) {
    return 1;
}

int cluster_local_rank(void) {
    return 0;
}

void cluster_abort(void) {}

void cluster_send(const void *bytes, size_t size) {
    (void)bytes;
    (void)size;
    fprintf(stderr, "clinception: internal error: a message to rank 0 in a single process\n");
    abort();
}

void *cluster_receive(int from, size_t *size) {
    (void)from;
    (void)size;
    fprintf(stderr, "clinception: internal error: a message from rank %d in a single process\n",
            from);
    abort();
}

long cluster_min(long value) {
    return value;
}
