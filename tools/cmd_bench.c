/* clinception bench: whole forwards timed, the start-up phases, the peak. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include "cluster.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted values. */
static double percentile(const double *sorted, size_t n, double p) {
    size_t rank = (size_t)ceil(p / 100.0 * (double)n);
    return sorted[rank ? rank - 1 : 0];
}

/* Counts this device warm, then waits for go (true) or abort (false). */
/* bench over several devices: every device runs the same batch `warmup`
 * then `iters` times on its own thread, all at once. */
typedef struct {
    session *s;
    int d; /* the device */
    const common_args *a;
    const float *input;
    float *logits;
    int batch, size;
    long warmup, iters;
    double seconds; /* of its timed forwards */
    cln_status status;
    cln_error err;
    struct bench_start *start;
} bench_device;

/* The devices start their timed forwards together, once all are warm (or
 * not at all, when a thread could not be started). */
typedef struct bench_start {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int warm;
    bool go, abort;
} bench_start;

/* Counts this device warm, then waits for go (true) or abort (false). */
static bool bench_wait_start(bench_start *st) {
    pthread_mutex_lock(&st->lock);
    st->warm++;
    pthread_cond_broadcast(&st->changed);
    while (!st->go && !st->abort)
        pthread_cond_wait(&st->changed, &st->lock);
    const bool go = st->go;
    pthread_mutex_unlock(&st->lock);
    return go;
}

static void *bench_device_run(void *arg) {
    bench_device *b = arg;
    common_args timed = *b->a;
    timed.profile = false;
    timed.csv = timed.trace = NULL;
    double ms;
    for (long i = 0; i < b->warmup && b->status == CLN_OK; i++)
        b->status = forward_on(&timed, b->s, b->d, b->input, b->batch, b->size, b->size,
                               b->a->fwd, b->logits, &ms, &b->err);
    if (!bench_wait_start(b->start)) return NULL;
    const double t0 = now_ms();
    for (long i = 0; i < b->iters && b->status == CLN_OK; i++)
        b->status = forward_on(&timed, b->s, b->d, b->input, b->batch, b->size, b->size,
                               b->a->fwd, b->logits, &ms, &b->err);
    b->seconds = (now_ms() - t0) / 1000.0;
    return NULL;
}

static int bench_devices(const common_args *a, session *s, const float *input, int batch, int size,
                         long warmup, long iters, bool json) {
    const int devices = s->devices;
    bench_device *b = calloc((size_t)devices, sizeof *b);
    pthread_t *threads = calloc((size_t)devices, sizeof *threads);
    const size_t classes = (size_t)cln_model_num_classes(s->model);
    bench_start start = {0};
    int rc = 1, started = 0;
    if (!b || !threads) {
        fprintf(stderr, "clinception: out of memory for %d devices\n", devices);
        free(b);
        free(threads);
        return 1;
    }
    pthread_mutex_init(&start.lock, NULL);
    pthread_cond_init(&start.changed, NULL);
    for (int d = 0; d < devices; d++) {
        b[d] = (bench_device){.s = s,
                              .d = d,
                              .a = a,
                              .input = input,
                              .batch = batch,
                              .size = size,
                              .warmup = warmup,
                              .iters = iters,
                              .start = &start};
        b[d].logits = malloc((size_t)batch * classes * sizeof *b[d].logits);
    }
    for (; started < devices; started++)
        if (!b[started].logits ||
            pthread_create(&threads[started], NULL, bench_device_run, &b[started]) != 0)
            break;
    double wall = 0;
    pthread_mutex_lock(&start.lock);
    while (started == devices && start.warm < devices) /* every device warm */
        pthread_cond_wait(&start.changed, &start.lock);
    start.go = started == devices;
    start.abort = !start.go;
    pthread_cond_broadcast(&start.changed);
    pthread_mutex_unlock(&start.lock);
    const double t0 = now_ms();
    for (int d = 0; d < started; d++)
        pthread_join(threads[d], NULL);
    wall = (now_ms() - t0) / 1000.0;
    pthread_cond_destroy(&start.changed);
    pthread_mutex_destroy(&start.lock);
    if (started == devices) {
        rc = 0;
    } else {
        fprintf(stderr, "clinception: cannot start %d device threads\n", devices);
        rc = 1;
        started = -1; /* nothing to report */
    }
    double sum_rate = 0;
    for (int d = 0; d < devices && started > 0; d++) {
        if (b[d].status != CLN_OK) {
            fprintf(stderr, "clinception: device %d (%s): %s\n", d,
                    cln_runtime_device(cln_pool_runtime(s->pool, d))->device_name,
                    b[d].err.message);
            rc = 1;
        }
        sum_rate += b[d].seconds > 0 ? (double)batch * iters / b[d].seconds : 0;
    }
    const double total_rate = wall > 0 ? (double)devices * batch * iters / wall : 0;
    if (rc == 0) {
        printf("devices         %d, each %ld forwards of %d x 3 x %d x %d after %ld warm-up, all "
               "at once\n",
               devices, iters, batch, size, size, warmup);
        printf("aggregate       %.2f images/s over %.2f s\n", total_rate, wall);
        json_t *list = json ? json_array() : NULL;
        for (int d = 0; d < devices; d++) {
            const double rate = (double)batch * iters / b[d].seconds;
            const char *name = cln_runtime_device(cln_pool_runtime(s->pool, d))->device_name;
            printf("  device %d      %s: %.2f images/s (%.0f%% of the work's pace)\n", d, name,
                   rate, 100.0 * rate / sum_rate);
            if (list)
                json_array_append_new(list,
                                      json_pack("{s:i, s:s, s:f, s:f}", "index", d, "device", name,
                                                "images_per_s", rate, "share", rate / sum_rate));
        }
        if (json) {
            json_t *obj = json_pack("{s:i, s:i, s:i, s:f, s:o}", "batch", batch, "size", size,
                                    "iters", (int)iters, "images_per_s", total_rate, "devices",
                                    list ? list : json_null());
            char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
            if (text)
                printf("%s\n", text);
            else
                rc = 1;
            free(text);
            json_decref(obj);
        }
    }
    for (int d = 0; d < devices; d++)
        free(b[d].logits);
    free(b);
    free(threads);
    return rc;
}

/* bench over several ranks, each on its device at once: rank 0 prints
 * every rank's rate (from its median forward) and their sum. */
static int bench_ranks(const session *s, int batch, double median_ms, bool json) {
    const double rate = 1000.0 * batch / median_ms;
    if (cluster_rank() > 0) {
        cluster_send_floats(&rate, 1, sizeof rate);
        command_finished = true;
        return 0;
    }
    double total = rate;
    printf("ranks           %d, each on one device, all at once\n", cluster_ranks());
    printf("  rank 0        %s: %.2f images/s\n", cln_runtime_device(s->rt)->device_name, rate);
    json_t *list = json ? json_array() : NULL;
    if (list) json_array_append_new(list, json_real(rate));
    for (int from = 1; from < cluster_ranks(); from++) {
        double r = 0;
        cln_error err;
        if (cluster_receive_floats(from, &r, 1, sizeof r, &err) != CLN_OK) {
            fail(&err);
            r = 0;
        }
        printf("  rank %d        %.2f images/s\n", from, r);
        if (list) json_array_append_new(list, json_real(r));
        total += r;
    }
    printf("aggregate       %.2f images/s\n", total);
    int rc = 0;
    if (json) {
        json_t *obj =
            json_pack("{s:i, s:i, s:f, s:o}", "batch", batch, "ranks", cluster_ranks(),
                      "images_per_s", total, "rank_images_per_s", list ? list : json_null());
        char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
        if (text) printf("%s\n", text);
        rc = text ? 0 : 1;
        free(text);
        json_decref(obj);
    }
    command_finished = true;
    return rc;
}

int cmd_bench(int argc, char **argv) {
    common_args a = {.command = "bench"};
    long batch = 1, size = 299, iters = 10, warmup = 2;
    bool json = false;
    const opt_spec specs[] = {
        {"batch", OPT_COUNT, &batch, 1, 4096, "N", "images per forward (default 1)"},
        {"size", OPT_COUNT, &size, CLN_MIN_INPUT_SIZE, 4096, "S",
         "input height and width (default 299)"},
        {"iters", OPT_COUNT, &iters, 1, 100000, "K", "timed forwards (default 10)"},
        {"warmup", OPT_COUNT, &warmup, 0, 100000, "K", "untimed forwards first (default 2)"},
        {"json", OPT_FLAG, &json, 0, 0, NULL,
         "also print the figures as one JSON object on the last line"},
        COMMON_OPTIONS(a),
    };
    const command cmd = {
        "bench",
        "bench (--weights W.safetensors | --random-weights) [--batch N]\n"
        "      [--size S] [--iters K] [--warmup K] [--json] [OPTIONS]",
        "Times whole forwards (input upload, every kernel, logits read-back) after warm-up\n"
        "on a seeded random batch: median, p10, p90, images/s; and the start-up phases:\n"
        "device set-up, program build (first time, with no driver cache, and as cached),\n"
        "weight read and upload, first forward; the peak device memory held; and the\n"
        "device's own FMA rate, measured with a small kernel, against the forward's.\n",
        specs,
        (int)(sizeof specs / sizeof specs[0]),
    };
    int parsed = parse_options(&cmd, argc, argv);
    if (parsed >= 0) return parsed;
    if (!no_arguments_left(&cmd, argc, argv)) return 2;
    if (!weights_given(&cmd, &a)) return 2;
    cln_error err = {.message = ""};
    const char *outputs[] = {a.csv, a.trace};
    if (check_outputs(&a, outputs, 2, NULL, &err) != CLN_OK)
        return fail(&err);

    session s = {0};
    int rc = 1;
    const size_t count = (size_t)batch * 3 * size * size;
    float *input = NULL, *logits = NULL;
    double *times = NULL;
    if (open_session(&a, &s, &err) != CLN_OK) goto done;
    /* the batch must fit the device before its input is made */
    long fits;
    if (fitting_batch(&s, batch, (int)size, (int)size, &fits, &err) != CLN_OK) goto done;
    input = malloc(count * sizeof *input);
    times = malloc((size_t)iters * sizeof *times);
    logits = malloc((size_t)batch * cln_model_num_classes(s.model) * sizeof *logits);
    uint64_t state = 12345; /* a seeded input in [-1, 1) */
    for (size_t i = 0; input && i < count; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        input[i] = (float)((state >> 40) / 8388608.0 - 1.0);
    }
    if (!input || !times || !logits) {
        snprintf(err.message, sizeof err.message, "out of memory for a batch of %ld", batch);
        goto done;
    }
    if (s.devices > 1) {
        rc = bench_devices(&a, &s, input, (int)batch, (int)size, warmup > 0 ? warmup : 1, iters,
                           json);
        command_finished = true;
        goto done;
    }
    double cold_build_ms;
    if (cln_runtime_time_cold_build(s.rt, &cold_build_ms, &err) != CLN_OK) goto done;
    common_args timed = a; /* profiling adds work: only the extra last forward records */
    timed.profile = false;
    timed.csv = timed.trace = NULL;
    double first_ms = 0, ms;
    for (long i = 0; i < warmup; i++) {
        if (forward_on(&timed, &s, 0, input, (int)batch, (int)size, (int)size, a.fwd, logits, &ms,
                    &err) != CLN_OK)
            goto done;
        if (i == 0) first_ms = ms;
    }
    if (cluster_ranks() > 1) cluster_min(0); /* every rank warm: all start together */
    for (long i = 0; i < iters; i++) {
        if (forward_on(&timed, &s, 0, input, (int)batch, (int)size, (int)size, a.fwd, logits, &times[i],
                    &err) != CLN_OK)
            goto done;
        if (warmup == 0 && i == 0) first_ms = times[i];
    }
    if (cln_runtime_measure_peak(s.rt, &s.peak_gflops, &err) != CLN_OK) goto done;
    if ((a.profile || a.csv || a.trace) && forward_on(&a, &s, 0, input, (int)batch, (int)size, (int)size,
                                                   a.fwd, logits, &ms, &err) != CLN_OK)
        goto done;
    qsort(times, (size_t)iters, sizeof *times, compare_double);
    double median = (times[(iters - 1) / 2] + times[iters / 2]) / 2;
    if (cluster_ranks() > 1) {
        rc = bench_ranks(&s, (int)batch, median, json);
        goto done;
    }
    double p10 = percentile(times, (size_t)iters, 10), p90 = percentile(times, (size_t)iters, 90);
    cln_runtime_timings rt = cln_runtime_get_timings(s.rt);
    cln_model_timings mt = cln_model_get_timings(s.model);
    const cln_device_info *dev = cln_runtime_device(s.rt);
    double peak_mib = cln_model_peak_device_bytes(s.model) / 1048576.0;
    size_t nlayers;
    const cln_layer_info *layers = cln_model_layers(s.model, &nlayers);
    double flops = 0;
    for (size_t i = 0; i < nlayers; i++)
        flops += layers[i].flops;
    const double rate = flops / median / 1e6;
    printf("device          %s (%s)\n", dev->device_name, dev->platform_name);
    printf("input           %ld x 3 x %ld x %ld, %s weights, conv %s\n", batch, size, size,
           a.random_weights ? "random" : "file", conv_names[a.fwd.conv_algo]);
    printf("forward         median %.2f ms, p10 %.2f ms, p90 %.2f ms over %ld (after %ld "
           "warm-up)\n",
           median, p10, p90, iters, warmup);
    printf("per image       %.2f ms, %.2f images/s\n", median / batch, 1000.0 * batch / median);
    printf("start-up        device set-up %.1f ms, program build %.1f ms first time / %.1f ms "
           "this run, weight read %.1f ms, upload %.1f ms, first forward %.1f ms\n",
           rt.device_setup_ms, cold_build_ms, rt.program_build_ms, mt.read_ms, mt.upload_ms,
           first_ms);
    printf(
        "device memory   %.1f MiB peak (weights, input, activations, im2col or Winograd scratch)\n",
        peak_mib);
    printf("device peak     %.1f GFLOP/s measured (FMA chains, cl_kernels/peak.cl); the median "
           "forward does %.1f GFLOP/s (%.1f GFLOP as direct convolutions count them), %.1f%% of "
           "it\n",
           s.peak_gflops, rate, flops / 1e9, 100 * rate / s.peak_gflops);
    if (json) {
        json_t *obj = json_pack(
            "{s:i, s:i, s:i, s:i, s:f, s:f, s:f, s:f, s:f, s:s, s:s, s:s, s:f, s:f, s:f, s:f, "
            "s:f, s:f, s:f, s:f, s:f}",
            "batch", (int)batch, "height", (int)size, "width", (int)size, "iters", (int)iters,
            "median_ms", median, "p10_ms", p10, "p90_ms", p90, "per_image_ms", median / batch,
            "images_per_s", 1000.0 * batch / median, "device", dev->device_name, "platform",
            dev->platform_name, "conv", conv_names[a.fwd.conv_algo], "device_setup_ms",
            rt.device_setup_ms, "program_build_first_ms", cold_build_ms, "program_build_ms",
            rt.program_build_ms, "weight_read_ms", mt.read_ms, "weight_upload_ms", mt.upload_ms,
            "first_forward_ms", first_ms, "peak_device_mib", peak_mib, "device_peak_gflops",
            s.peak_gflops, "forward_gflops", rate);
        char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
        if (!text) {
            json_decref(obj);
            snprintf(err.message, sizeof err.message, "out of memory printing the figures");
            goto done;
        }
        printf("%s\n", text);
        free(text);
        json_decref(obj);
    }
    rc = 0;
    command_finished = true;
done:
    if (rc != 0 && err.message[0]) fail(&err);
    close_session(&s);
    free(times);
    free(logits);
    free(input);
    return rc;
}
