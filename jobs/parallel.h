/* Batches over several devices at once: a thread per device takes the next
 * batch as soon as it is free (so a fast device takes more of them), and
 * the results come back in input order. Each device is the caller's: a
 * runtime and model used only by its thread while the batches run (the
 * library's promise: one runtime per thread at a time). */
#ifndef CLN_PARALLEL_H
#define CLN_PARALLEL_H

#include "../include/clinception.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    void *ctx;
    /* Fills the next batch: up to cap images' inputs (in_floats each) and
     * an item number of the caller's for each, in input order; returns how
     * many (a batch may be empty), or -1 on an error that stops the run
     * (err filled); *more is false once nothing follows. Called on the
     * caller's thread. */
    int (*fill)(void *ctx, float *input, size_t *items, int cap, bool *more, cln_error *err);
    /* Runs n images on device d: out gets out_floats per image. Called on
     * device d's thread; err must name the device. */
    cln_status (*run)(void *ctx, int d, const float *input, int n, float *out, cln_error *err);
    /* Takes a batch's results (an empty one too), in input order. Called on
     * the caller's thread. */
    cln_status (*emit)(void *ctx, const size_t *items, int n, const float *out, cln_error *err);
    int devices, batch;
    bool keep_empty; /* a batch fill leaves empty is emitted too (it stood for images that
                        could not be read), even the last */
    size_t in_floats, out_floats;
} parallel_job;

/* Runs every batch fill gives on the devices, two batches in flight per
 * device at most (memory does not grow with the number of images), and
 * emits them in order. The first failure (of fill, run or emit) stops the
 * run: the batches still running finish, nothing after the failed one is
 * emitted, every thread is joined, and its message is returned. images[d]
 * counts the images device d ran (devices entries, may be NULL). */
cln_status parallel_run(const parallel_job *job, size_t *images, cln_error *err);

#endif
