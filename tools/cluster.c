/* The messages ranks send to rank 0 (cluster.h), the same over one process
 * or MPI: a batch's outputs, and a run's failures and sink state. */
#include "cluster.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cluster_send_batch(const size_t *items, int n, const float *out, size_t out_floats) {
    const size_t floats = (size_t)n * out_floats;
    const size_t size = sizeof(int64_t) * (1 + (size_t)n) + floats * sizeof(float);
    unsigned char *bytes = malloc(size);
    if (!bytes) {
        fprintf(stderr, "clinception: out of memory for a batch's message\n");
        cluster_abort();
        return;
    }
    int64_t count = n;
    memcpy(bytes, &count, sizeof count);
    for (int i = 0; i < n; i++) {
        const int64_t item = (int64_t)items[i];
        memcpy(bytes + sizeof(int64_t) * (1 + (size_t)i), &item, sizeof item);
    }
    memcpy(bytes + sizeof(int64_t) * (1 + (size_t)n), out, floats * sizeof(float));
    cluster_send(bytes, size);
    free(bytes);
}

cln_status cluster_receive_batch(int from, int max_n, size_t images, size_t out_floats,
                                 void **message, size_t *items, int *n, const float **out,
                                 cln_error *err) {
    size_t size;
    unsigned char *bytes = cluster_receive(from, &size);
    int64_t count = -1;
    if (size >= sizeof count) memcpy(&count, bytes, sizeof count);
    const size_t head = sizeof(int64_t) * (1 + (size_t)(count > 0 ? count : 0));
    /* its size first, then every index within the run */
    bool valid = count >= 0 && count <= max_n &&
                 size == head + (size_t)count * out_floats * sizeof(float);
    for (int64_t i = 0; valid && i < count; i++) {
        int64_t item;
        memcpy(&item, bytes + sizeof(int64_t) * (1 + (size_t)i), sizeof item);
        valid = item >= 0 && (size_t)item < images;
        items[i] = (size_t)item;
    }
    if (!valid) {
        free(bytes);
        return cln_error_set(err, CLN_ERR_INVALID_ARGUMENT, "rank %d sent a malformed batch",
                             from);
    }
    /* the outputs as they came: malloc'd, and head is a multiple of 8 bytes */
    *message = bytes;
    *n = (int)count;
    *out = (const float *)(bytes + head);
    return CLN_OK;
}

void cluster_send_floats(const void *values, size_t count, size_t size_each) {
    cluster_send(values, count * size_each);
}

cln_status cluster_receive_floats(int from, void *out, size_t count, size_t size_each,
                                  cln_error *err) {
    size_t size;
    void *bytes = cluster_receive(from, &size);
    cln_status st = CLN_OK;
    if (size != count * size_each)
        st = cln_error_set(err, CLN_ERR_INVALID_ARGUMENT,
                           "rank %d sent %zu bytes where %zu values of %zu bytes were due", from,
                           size, count, size_each);
    else if (size)
        memcpy(out, bytes, size);
    free(bytes);
    return st;
}

void cluster_send_results(size_t failures, const void *state, size_t state_size) {
    const int64_t count = (int64_t)failures;
    unsigned char *bytes = malloc(sizeof count + state_size);
    if (!bytes) {
        fprintf(stderr, "clinception: out of memory for the results\n");
        cluster_abort();
        return;
    }
    memcpy(bytes, &count, sizeof count);
    if (state_size) memcpy(bytes + sizeof count, state, state_size);
    cluster_send(bytes, sizeof count + state_size);
    free(bytes);
}

cln_status cluster_receive_results(int from, size_t *failures, void **message, const void **state,
                                   size_t *state_size, cln_error *err) {
    size_t size;
    unsigned char *bytes = cluster_receive(from, &size);
    int64_t count = 0;
    if (size < sizeof count) {
        free(bytes);
        return cln_error_set(err, CLN_ERR_INVALID_ARGUMENT, "rank %d sent malformed results",
                             from);
    }
    memcpy(&count, bytes, sizeof count);
    *failures = (size_t)count;
    *message = bytes;
    *state = bytes + sizeof count;
    *state_size = size - sizeof count;
    return CLN_OK;
}

cln_status cluster_agree(const char *const *names, const uint64_t *values, int n, cln_error *err) {
    if (cluster_ranks() == 1) return CLN_OK;
    long agree = 1;
    if (cluster_rank() > 0) {
        cluster_send(values, (size_t)n * sizeof *values);
    } else {
        for (int from = 1; from < cluster_ranks(); from++) {
            size_t size;
            uint64_t *theirs = cluster_receive(from, &size);
            if (agree && size != (size_t)n * sizeof *theirs) {
                cln_error_set(err, CLN_ERR_INVALID_ARGUMENT, "rank %d sent a malformed fingerprint",
                              from);
                agree = 0;
            }
            for (int i = 0; i < n && agree; i++)
                if (theirs[i] != values[i]) {
                    cln_error_set(err, CLN_ERR_INVALID_ARGUMENT,
                                  "rank %d does not agree with rank 0 on %s (%llu against "
                                  "%llu): every rank must see the same run",
                                  from, names[i], (unsigned long long)theirs[i],
                                  (unsigned long long)values[i]);
                    agree = 0;
                }
            free(theirs);
        }
    }
    if (cluster_min(agree)) return CLN_OK;
    if (cluster_rank() > 0)
        cln_error_set(err, CLN_ERR_INVALID_ARGUMENT,
                      "the ranks do not agree on the run (rank 0 says how)");
    return CLN_ERR_INVALID_ARGUMENT;
}
