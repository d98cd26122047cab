/* Batches over several devices (parallel.h): a ring of batch slots, filled
 * and emitted in order by the caller's thread, run by whichever device
 * thread is free. */
#include "parallel.h"

#include "../common/error.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef enum { BATCH_FREE, BATCH_FILLED, BATCH_RUNNING, BATCH_DONE } batch_state;

typedef struct {
    batch_state state;
    size_t seq; /* the batch's place in input order */
    int n;
    size_t *items;
    float *input, *output;
    cln_status status;
    cln_error err;
} batch_slot;

typedef struct {
    const parallel_job *job;
    batch_slot *slots;
    size_t slot_count;
    bool stopping; /* no more batches will be filled, or one failed */
    size_t *images;
    pthread_mutex_t lock;
    pthread_cond_t changed;
} pool;

typedef struct {
    pool *p;
    int device;
} worker_arg;

/* The filled batch that comes first in input order, or NULL. */
static batch_slot *first_filled(pool *p) {
    batch_slot *best = NULL;
    for (size_t i = 0; i < p->slot_count; i++)
        if (p->slots[i].state == BATCH_FILLED && (!best || p->slots[i].seq < best->seq))
            best = &p->slots[i];
    return best;
}

static void *worker(void *arg) {
    pool *p = ((worker_arg *)arg)->p;
    const int d = ((worker_arg *)arg)->device;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        batch_slot *b;
        while (!(b = first_filled(p)) && !p->stopping)
            pthread_cond_wait(&p->changed, &p->lock);
        if (!b) break; /* stopping, nothing left to run */
        b->state = BATCH_RUNNING;
        pthread_mutex_unlock(&p->lock);
        cln_status st = p->job->run(p->job->ctx, d, b->input, b->n, b->output, &b->err);
        pthread_mutex_lock(&p->lock);
        b->status = st;
        b->state = BATCH_DONE;
        if (st == CLN_OK && p->images) p->images[d] += (size_t)b->n;
        if (st != CLN_OK) p->stopping = true; /* the others finish what they run */
        pthread_cond_broadcast(&p->changed);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static batch_slot *find_seq(pool *p, size_t seq) {
    for (size_t i = 0; i < p->slot_count; i++)
        if (p->slots[i].state != BATCH_FREE && p->slots[i].seq == seq) return &p->slots[i];
    return NULL;
}

static batch_slot *find_free(pool *p) {
    for (size_t i = 0; i < p->slot_count; i++)
        if (p->slots[i].state == BATCH_FREE) return &p->slots[i];
    return NULL;
}

/* The caller's side: fill free slots, emit done ones in order, until every
 * batch is out or one failed. */
static cln_status drive(pool *p, cln_error *err) {
    const parallel_job *job = p->job;
    size_t filled = 0, emitted = 0;
    bool more = true;
    cln_status status = CLN_OK;
    pthread_mutex_lock(&p->lock);
    while (status == CLN_OK) {
        batch_slot *b = find_seq(p, emitted);
        if (b && b->state == BATCH_DONE) {
            if (b->status != CLN_OK) {
                *err = b->err;
                status = b->status;
                break;
            }
            pthread_mutex_unlock(&p->lock);
            status = job->emit(job->ctx, b->items, b->n, b->output, err);
            pthread_mutex_lock(&p->lock);
            b->state = BATCH_FREE;
            emitted++;
            continue;
        }
        if (p->stopping && more) { /* a device failed: its batch comes up in order */
            more = false;
            continue;
        }
        batch_slot *free_slot = more ? find_free(p) : NULL;
        if (free_slot) {
            pthread_mutex_unlock(&p->lock);
            const int n =
                job->fill(job->ctx, free_slot->input, free_slot->items, job->batch, &more, err);
            pthread_mutex_lock(&p->lock);
            if (n < 0) {
                status = err->status != CLN_OK ? err->status : CLN_ERR_IO;
                break;
            }
            if (n == 0 && !more && !job->keep_empty) continue; /* nothing in it, nothing after */
            free_slot->n = n;
            free_slot->seq = filled++;
            /* an empty batch has nothing to run: it is only emitted, in order */
            free_slot->state = n > 0 ? BATCH_FILLED : BATCH_DONE;
            free_slot->status = CLN_OK;
            pthread_cond_broadcast(&p->changed);
            continue;
        }
        if (!more && emitted == filled) break; /* all out */
        pthread_cond_wait(&p->changed, &p->lock);
    }
    p->stopping = true;
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
    return status;
}

cln_status parallel_run(const parallel_job *job, size_t *images, cln_error *err) {
    pool p = {.job = job, .images = images};
    if (images) memset(images, 0, (size_t)job->devices * sizeof *images);
    p.slot_count = 2 * (size_t)job->devices;
    p.slots = calloc(p.slot_count, sizeof *p.slots);
    pthread_t *threads = calloc((size_t)job->devices, sizeof *threads);
    worker_arg *args = calloc((size_t)job->devices, sizeof *args);
    bool ok = p.slots && threads && args;
    for (size_t i = 0; ok && i < p.slot_count; i++) {
        batch_slot *b = &p.slots[i];
        b->items = malloc((size_t)job->batch * sizeof *b->items);
        b->input = malloc((size_t)job->batch * job->in_floats * sizeof *b->input);
        b->output = malloc((size_t)job->batch * job->out_floats * sizeof *b->output);
        ok = b->items && b->input && b->output;
    }
    cln_status status =
        ok ? CLN_OK
           : cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "out of memory for %zu batches of %d images",
                      p.slot_count, job->batch);
    int started = 0;
    if (status == CLN_OK) {
        pthread_mutex_init(&p.lock, NULL);
        pthread_cond_init(&p.changed, NULL);
        for (; started < job->devices; started++) {
            args[started] = (worker_arg){&p, started};
            if (pthread_create(&threads[started], NULL, worker, &args[started]) != 0) {
                status = cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "cannot start a device thread");
                break;
            }
        }
        if (status == CLN_OK) {
            status = drive(&p, err);
        } else {
            pthread_mutex_lock(&p.lock);
            p.stopping = true;
            pthread_cond_broadcast(&p.changed);
            pthread_mutex_unlock(&p.lock);
        }
        for (int i = 0; i < started; i++)
            pthread_join(threads[i], NULL);
        pthread_cond_destroy(&p.changed);
        pthread_mutex_destroy(&p.lock);
    }
    for (size_t i = 0; p.slots && i < p.slot_count; i++) {
        free(p.slots[i].items);
        free(p.slots[i].input);
        free(p.slots[i].output);
    }
    free(p.slots);
    free(threads);
    free(args);
    return status;
}
