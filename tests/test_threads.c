/* Two models on two threads, each on its own runtime (context), started together: their logits
 * must be bit-identical to the same work done one after the other on one thread, as the header's
 * promise on threads says. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>

#include "../include/clinception.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REPEATS 3 /* forwards per thread, each compared with the first */

/* One thread's work: a model of seeded random weights run on an n x 3 x h x w input. */
typedef struct {
    uint64_t seed;
    int n, h, w;
    cln_conv_algo algo;
    pthread_barrier_t *start;                   /* NULL: no waiting (the sequential runs) */
    float *logits;                              /* n x CLN_NUM_CLASSES, from the first forward */
    char failure[CLN_ERROR_MESSAGE_SIZE + 128]; /* empty when it went well */
} work;

static char cache_dir[] = "/tmp/test_threads_XXXXXX";

/* An empty tuning cache, so that --conv auto chooses the same way in every run of this
 * process whatever other tests write to theirs. */
static void make_cache(void) {
    cr_assert_not_null(mkdtemp(cache_dir), "mkdtemp failed");
    cr_assert_eq(setenv("CLINCEPTION_CACHE_DIR", cache_dir, 1), 0);
}

/* The cache, and a first device discovery on this thread: PoCL 3.1 answers a device query made
 * while another thread's first one is under way with no devices (see
 * threads_discovery::two_threads_at_once). */
static void make_cache_and_discover(void) {
    make_cache();
    cln_device_info *list = NULL;
    size_t count = 0;
    cln_error err;
    cr_assert_eq(cln_devices_list(&list, &count, &err), CLN_OK, "%s", err.message);
    free(list);
}

static void remove_cache(void) {
    rmdir(cache_dir);
}

TestSuite(threads, .init = make_cache_and_discover, .fini = remove_cache, .timeout = 300);
TestSuite(threads_discovery, .init = make_cache, .fini = remove_cache, .timeout = 300);

/* Deterministic values in [-1, 1) that differ between the two inputs. */
static float *make_input(const work *job) {
    size_t count = (size_t)job->n * 3 * job->h * job->w;
    float *x = malloc(count * sizeof *x);
    if (!x) return NULL;
    uint64_t state = job->seed * 7919 + (uint64_t)job->h;
    for (size_t i = 0; i < count; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((state >> 40) / 8388608.0 - 1.0);
    }
    return x;
}

/* Runs the job: its own runtime and model, REPEATS forwards that must agree. Never asserts
 * (Criterion's asserts belong to the main thread): a failure is written to job->failure. */
static void *run_job(void *arg) {
    work *job = arg;
    const size_t logit_count = (size_t)job->n * CLN_NUM_CLASSES;
    cln_runtime *rt = NULL;
    cln_model *model = NULL;
    cln_error err;
    float *again = malloc(logit_count * sizeof *again);
    float *input = make_input(job);
    job->logits = malloc(logit_count * sizeof *job->logits);
    job->failure[0] = '\0';
    if (job->start) pthread_barrier_wait(job->start);
    if (!again || !input || !job->logits) {
        snprintf(job->failure, sizeof job->failure, "out of memory");
        goto done;
    }
    if (cln_runtime_create(NULL, &rt, &err) != CLN_OK ||
        cln_model_load_random(rt, job->seed, &model, &err) != CLN_OK) {
        snprintf(job->failure, sizeof job->failure, "%s", err.message);
        goto done;
    }
    cln_forward_options opts = {.conv_algo = job->algo};
    for (int r = 0; r < REPEATS; r++) {
        float *dst = r == 0 ? job->logits : again;
        if (cln_model_forward(model, input, job->n, job->h, job->w, &opts, dst, &err) != CLN_OK) {
            snprintf(job->failure, sizeof job->failure, "forward %d: %s", r + 1, err.message);
            goto done;
        }
        if (r > 0 && memcmp(dst, job->logits, logit_count * sizeof *dst) != 0) {
            snprintf(job->failure, sizeof job->failure,
                     "forward %d gave other logits than forward 1", r + 1);
            goto done;
        }
    }
done:
    cln_model_free(model);
    cln_runtime_free(rt);
    free(input);
    free(again);
    return NULL;
}

static void free_work(work *job) {
    free(job->logits);
    job->logits = NULL;
}

/* Runs a and b on two threads started together, then each again alone on this thread, and
 * compares every thread's logits with its sequential twin, bit for bit. */
static void expect_concurrent_equals_sequential(work a, work b) {
    pthread_barrier_t start;
    cr_assert_eq(pthread_barrier_init(&start, NULL, 2), 0);
    work concurrent[2] = {a, b};
    pthread_t threads[2];
    for (int t = 0; t < 2; t++) {
        concurrent[t].start = &start;
        cr_assert_eq(pthread_create(&threads[t], NULL, run_job, &concurrent[t]), 0);
    }
    for (int t = 0; t < 2; t++)
        cr_assert_eq(pthread_join(threads[t], NULL), 0);
    pthread_barrier_destroy(&start);

    work sequential[2] = {a, b};
    for (int t = 0; t < 2; t++) {
        sequential[t].start = NULL;
        run_job(&sequential[t]);
    }

    for (int t = 0; t < 2; t++) {
        const work *c = &concurrent[t], *s = &sequential[t];
        cr_expect_str_empty(c->failure, "thread %d (seed %llu, %d x 3 x %d x %d): %s", t,
                            (unsigned long long)c->seed, c->n, c->h, c->w, c->failure);
        cr_expect_str_empty(s->failure, "sequential run %d: %s", t, s->failure);
        if (c->failure[0] || s->failure[0]) continue;
        const size_t count = (size_t)c->n * CLN_NUM_CLASSES;
        size_t differ = 0, first = count;
        for (size_t i = 0; i < count; i++)
            if (memcmp(&c->logits[i], &s->logits[i], sizeof(float)) != 0) {
                differ++;
                if (first == count) first = i;
            }
        cr_expect_eq(differ, 0,
                     "thread %d (seed %llu, %d x 3 x %d x %d): %zu of %zu logits differ from the "
                     "sequential run, the first at %zu: %.9g vs %.9g",
                     t, (unsigned long long)c->seed, c->n, c->h, c->w, differ, count, first,
                     first < count ? (double)c->logits[first] : 0.0,
                     first < count ? (double)s->logits[first] : 0.0);
    }
    /* identical jobs: the two threads must agree with each other too */
    if (a.seed == b.seed && a.n == b.n && a.h == b.h && a.w == b.w && a.algo == b.algo &&
        !concurrent[0].failure[0] && !concurrent[1].failure[0])
        cr_expect(memcmp(concurrent[0].logits, concurrent[1].logits,
                         (size_t)a.n * CLN_NUM_CLASSES * sizeof(float)) == 0,
                  "two threads running the same job gave different logits");
    for (int t = 0; t < 2; t++) {
        free_work(&concurrent[t]);
        free_work(&sequential[t]);
    }
}

Test(threads, two_models_two_shapes) {
    expect_concurrent_equals_sequential((work){.seed = 1, .n = 2, .h = 83, .w = 97},
                                        (work){.seed = 2, .n = 1, .h = 101, .w = 79});
}

Test(threads, same_model_and_input_on_both) {
    work job = {.seed = 3, .n = 1, .h = 89, .w = 89};
    expect_concurrent_equals_sequential(job, job);
}

/* CLBlast's GEMM (not the default on CPUs) from two contexts at once: CLBlast keeps caches of
 * compiled programs and tuning parameters shared by every context of the process. */
Test(threads, clblast_gemm_from_two_contexts) {
    expect_concurrent_equals_sequential(
        (work){.seed = 1, .n = 2, .h = 83, .w = 97, .algo = CLN_CONV_GEMM},
        (work){.seed = 2, .n = 1, .h = 101, .w = 79, .algo = CLN_CONV_GEMM});
}

static void *create_runtime(void *arg) {
    work *job = arg;
    cln_runtime *rt = NULL;
    cln_error err;
    job->failure[0] = '\0';
    pthread_barrier_wait(job->start);
    if (cln_runtime_create(NULL, &rt, &err) != CLN_OK)
        snprintf(job->failure, sizeof job->failure, "%s", err.message);
    cln_runtime_free(rt);
    return NULL;
}

/* The first device discovery of the process made by two threads at once. PoCL 3.1 does not hold
 * off a second thread while its first query initializes the devices: without host/runtime.c
 * serializing discovery, that thread gets no devices or a device still being set up (a crash in
 * clGetDeviceInfo), in most runs here. */
Test(threads_discovery, two_threads_at_once) {
    pthread_barrier_t start;
    cr_assert_eq(pthread_barrier_init(&start, NULL, 2), 0);
    work jobs[2] = {{.start = &start}, {.start = &start}};
    pthread_t threads[2];
    for (int t = 0; t < 2; t++)
        cr_assert_eq(pthread_create(&threads[t], NULL, create_runtime, &jobs[t]), 0);
    for (int t = 0; t < 2; t++)
        cr_assert_eq(pthread_join(threads[t], NULL), 0);
    pthread_barrier_destroy(&start);
    for (int t = 0; t < 2; t++)
        cr_expect_str_empty(jobs[t].failure, "thread %d: %s", t, jobs[t].failure);
}
