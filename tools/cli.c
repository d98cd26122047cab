/* What the commands share (cli.h): errors, options, the session over the
 * library's device pool, the profiled forward, input batches and the batch
 * that fits every device. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include "cluster.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

bool command_finished;

double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int fail(const cln_error *err) {
    fprintf(stderr, "clinception: %s\n", err->message);
    return 1;
}

void cli_note(const char *fmt, ...) {
    cln_error message;
    va_list ap;
    va_start(ap, fmt);
    char text[CLN_ERROR_MESSAGE_SIZE];
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    cln_error_set(&message, CLN_OK, "%s", text);
    fprintf(stderr, "clinception: %s\n", message.message);
}

/* ---- Checks ------------------------------------------------------------ */

bool weights_given(const command *c, const common_args *a) {
    if (!a->weights == !a->random_weights) {
        usage_error(c, "give one of --weights FILE or --random-weights");
        return false;
    }
    return true;
}

/* Output files are checked before any work: a path whose folder cannot be
 * written fails now, not after the forward, and so does one that is not a
 * regular file or is one of the run's inputs (the weights, input). */
/* A folder that cannot take a new file fails now, not after the work. */
static cln_status folder_writable(const char *path, cln_error *err) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    if (access(dir, W_OK) != 0)
        return cln_error_set(err, CLN_ERR_IO, "%s: cannot write: its folder %s is not writable: %s",
                             path, dir, strerror(errno));
    return CLN_OK;
}

cln_status check_outputs(const common_args *a, const char *const *outputs, size_t count,
                         const char *input, cln_error *err) {
    const char *inputs[2] = {a->weights, input};
    cln_status st = cln_check_outputs(outputs, count, inputs, 2, err);
    for (size_t i = 0; i < count && st == CLN_OK; i++)
        if (outputs[i]) st = folder_writable(outputs[i], err);
    return st;
}

/* ---- The session -------------------------------------------------------- */

cln_status agree_on_batch(const common_args *a, const session *s, const cln_npy *x,
                          cln_error *err) {
    uint64_t data = fnv1a(FNV_START, x->shape, (size_t)x->ndim * sizeof *x->shape);
    data = fnv1a(data, x->data, x->numel * sizeof *x->data);
    return agree_on_run(a, s, (uint64_t)x->shape[0], data, 0, err);
}

static void add_phase(session *s, const char *name, double start, double end) {
    if (s->phase_count < MAX_PHASES) s->phases[s->phase_count++] = (cln_host_phase){name, start, end};
}

uint64_t fnv1a(uint64_t h, const void *bytes, size_t n) {
    for (const unsigned char *p = bytes; n--; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    return h;
}

/* The weight file's content, for the ranks to compare (not its path). */
static cln_status hash_file(const char *path, uint64_t *out, cln_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return cln_error_set(err, CLN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    static unsigned char chunk[1 << 16];
    uint64_t h = FNV_START;
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
        h = fnv1a(h, chunk, got);
    const bool failed = ferror(f);
    fclose(f);
    if (failed) return cln_error_set(err, CLN_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    *out = h;
    return CLN_OK;
}

cln_status agree_on_run(const common_args *a, const session *s, uint64_t count, uint64_t inputs,
                        uint64_t preprocessing, cln_error *err) {
    if (cluster_ranks() == 1) return CLN_OK;
    static const char *const names[] = {
        "the number of inputs",
        "the inputs (a hash of their paths, or of the batch's data)",
        "the weights (a hash of the file's content)",
        "the network",
        "the layer",
        "the preprocessing (a hash of its settings)",
        "the options that change results (--conv, --transform-input)",
    };
    const char *layer = s->layer ? s->layer : "";
    const uint64_t values[] = {
        count,
        inputs,
        s->weights_hash,
        (uint64_t)a->network,
        fnv1a(FNV_START, layer, strlen(layer)),
        preprocessing,
        (uint64_t)a->fwd.conv_algo * 2 + (a->fwd.transform_input ? 1 : 0),
    };
    return cluster_agree(names, values, (int)(sizeof values / sizeof values[0]), err);
}

/* A device of the pool made: its lines on stderr, and the first one's
 * phases for --trace, laid one after the other from the session's start. */
typedef struct {
    const common_args *a;
    session *s;
    double at;
} opening;

static void device_opened(void *ctx, int d, cln_runtime *rt, cln_model *model) {
    opening *o = ctx;
    const cln_runtime_timings rtt = cln_runtime_get_timings(rt);
    const cln_model_timings mt = cln_model_get_timings(model);
    const cln_device_info *info = cln_runtime_device(rt);
    const double built = o->at + rtt.device_setup_ms + rtt.program_build_ms;
    if (d == 0) {
        add_phase(o->s, "device set-up", o->at, o->at + rtt.device_setup_ms);
        add_phase(o->s, "program build", o->at + rtt.device_setup_ms, built);
        add_phase(o->s, "weight read", built, built + mt.read_ms);
        add_phase(o->s, "weight upload", built + mt.read_ms, built + mt.read_ms + mt.upload_ms);
    }
    o->at = built + mt.read_ms + mt.upload_ms;
    fprintf(stderr, "device: %s (%s): set up in %.0f ms, programs built in %.0f ms\n",
            info->device_name, info->platform_name, rtt.device_setup_ms, rtt.program_build_ms);
    if (o->a->random_weights)
        fprintf(stderr,
                "no weight file: using seeded random weights (seed %d); the classes mean "
                "nothing\n",
                RANDOM_WEIGHTS_SEED);
    if (cln_model_warning(model))
        fprintf(stderr, "clinception: warning: %s\n", cln_model_warning(model));
    fprintf(stderr, "weights: read in %.0f ms, uploaded in %.0f ms\n", mt.read_ms, mt.upload_ms);
}

/* Opens every device --device names, each with its own runtime and model;
 * over several ranks, the list's entry for this rank on its machine. */
cln_status open_session(const common_args *a, session *s, cln_error *err) {
    memset(s, 0, sizeof *s);
    opening o = {a, s, now_ms()};
    cln_pool_params p = cln_pool_default_params();
    p.devices = a->device; /* NULL: the pool reads $CLINCEPTION_DEVICE */
    p.only = cluster_ranks() > 1 ? cluster_local_rank() : -1;
    p.network = a->network;
    p.weights = a->random_weights ? NULL : a->weights;
    p.seed = RANDOM_WEIGHTS_SEED;
    p.on_open = device_opened;
    p.ctx = &o;
    cln_status st = cln_pool_create(&p, &s->pool, err);
    if (st != CLN_OK) return st;
    s->weights_hash = 1;
    if (cluster_ranks() > 1 && p.weights && (st = hash_file(p.weights, &s->weights_hash, err)) != CLN_OK)
        return st;
    s->devices = cln_pool_size(s->pool);
    s->rt = cln_pool_runtime(s->pool, 0);
    s->model = cln_pool_model(s->pool, 0);
    if (s->devices > 1 && (a->profile || a->csv || a->trace))
        return cln_error_set(err, CLN_ERR_INVALID_ARGUMENT,
                             "--profile, --csv and --trace profile one device; --device names %d",
                             s->devices);
    return CLN_OK;
}

void report_shares(const session *s, const size_t *images) {
    size_t total = 0;
    for (int d = 0; d < s->devices; d++)
        total += images[d];
    for (int d = 0; d < s->devices; d++)
        fprintf(stderr, "  device %d, %s: %zu images (%.0f%%)\n", d,
                cln_runtime_device(cln_pool_runtime(s->pool, d))->device_name, images[d],
                total ? 100.0 * (double)images[d] / (double)total : 0.0);
}

void close_session(session *s) {
    cln_pool_free(s->pool);
    memset(s, 0, sizeof *s);
}

/* Device d's forward: to the session's layer, or the whole network. */
static cln_status run_model(session *s, int d, const float *input, int n, int h, int w,
                            const cln_forward_options *fwd, float *out, cln_error *err) {
    cln_model *model = cln_pool_model(s->pool, d);
    return s->layer ? cln_model_features(model, s->layer, input, n, h, w, fwd, out, err)
                    : cln_model_forward(model, input, n, h, w, fwd, out, err);
}

/* On a CPU the driver compiles each kernel for its launch shape the first
 * time, which would be most of the first forward's wall time: a profile is
 * of the second. */
static cln_status forward(const common_args *a, session *s, int d, const float *input, int n,
                          int h, int w, cln_forward_options fwd, float *logits, double *wall_ms,
                          cln_error *err) {
    fwd.profile = a->profile || a->csv || a->trace;
    if (fwd.profile && !s->warm[d]) {
        cln_forward_options first = fwd;
        first.profile = false;
        cln_status st = run_model(s, d, input, n, h, w, &first, logits, err);
        if (st != CLN_OK) return st;
        if (a->profile)
            fprintf(stderr, "profile of the second forward: the first, unprofiled, ran the "
                            "driver's compilation\n");
    }
    s->warm[d] = true;
    double start = now_ms();
    cln_status st = run_model(s, d, input, n, h, w, &fwd, logits, err);
    double end = now_ms();
    if (wall_ms) *wall_ms = end - start;
    if (st != CLN_OK || !fwd.profile) return st;
    cln_model *model = cln_pool_model(s->pool, d);
    if (a->profile && s->peak_gflops == 0 &&
        (st = cln_runtime_measure_peak(cln_pool_runtime(s->pool, d), &s->peak_gflops, err)) !=
            CLN_OK)
        return st;
    if (a->profile) cln_profile_print(stderr, model, end - start, s->peak_gflops);
    if (a->csv && (st = cln_profile_write_csv(a->csv, model, err)) != CLN_OK) return st;
    if (a->trace) {
        add_phase(s, "forward", start, end);
        st = cln_profile_write_trace(a->trace, model, s->phases, s->phase_count, start, err);
        s->phase_count--;
    }
    return st;
}

cln_status forward_on(const common_args *a, session *s, int d, const float *input, int n, int h,
                      int w, cln_forward_options fwd, float *out, double *wall_ms, cln_error *err) {
    return forward(a, s, d, input, n, h, w, fwd, out, wall_ms, err);
}

/* Reads an input batch (infer, features --input): a float32 .npy of shape
 * (N, 3, H, W) with 1 <= N <= 65536 and CLN_MIN_INPUT_SIZE <= H, W <= 65536.
 * On failure x is freed and err says why. */
cln_status read_batch(const char *path, cln_npy *x, cln_error *err) {
    cln_status st = cln_npy_read(path, x, err);
    if (st != CLN_OK) return st;
    if (x->ndim == 4 && x->shape[1] == 3 && x->shape[0] >= 1 && x->shape[0] <= 65536 &&
        x->shape[2] >= CLN_MIN_INPUT_SIZE && x->shape[3] >= CLN_MIN_INPUT_SIZE &&
        x->shape[2] <= 65536 && x->shape[3] <= 65536)
        return CLN_OK;
    char shape[160] = "(";
    for (int d = 0; d < x->ndim; d++)
        snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%lld", d ? ", " : "",
                 (long long)x->shape[d]);
    snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s)", x->ndim == 1 ? "," : "");
    cln_npy_free(x);
    return cln_error_set(err, CLN_ERR_FORMAT,
                    "%s: shape %s is not (N, 3, H, W) with 1 <= N <= 65536 and %d <= H, W <= 65536",
                    path, shape, CLN_MIN_INPUT_SIZE);
}

/* The batch: as asked, else DEFAULT_BATCH or the most that fit if fewer;
 * -1 (err says why) when the batch asked for, or a single image, does not
 * fit a device: checked before anything is allocated for it. */
static long fitting_batch_here(const session *all, long asked, int h, int w, cln_error *err) {
    const long want = asked ? asked : DEFAULT_BATCH;
    int least; /* the device that holds the fewest */
    const int fits = cln_pool_largest_batch(all->pool, (int)want, h, w, &least);
    const char *name = cln_runtime_device(cln_pool_runtime(all->pool, least))->device_name;
    if (fits >= (asked ? want : 1)) return asked ? asked : fits;
    if (fits < 0)
        cln_error_set(err, CLN_ERR_OUT_OF_MEMORY, "out of memory planning a batch");
    else if (fits == 0)
        cln_error_set(err, CLN_ERR_DEVICE, "not even one %d x %d image fits %s", h, w, name);
    else
        cln_error_set(err, CLN_ERR_DEVICE,
                      "a batch of %ld images of %d x %d does not fit %s; the largest that fits "
                      "is %d",
                      want, h, w, name, fits);
    return -1;
}

/* fitting_batch_here on every rank: the smallest, so that every rank runs
 * the same batches; a failure on all of them if one has none. */
cln_status fitting_batch(const session *s, long asked, int h, int w, long *batch, cln_error *err) {
    const long here = fitting_batch_here(s, asked, h, w, err);
    *batch = cluster_ranks() == 1 ? here : cluster_min(here);
    if (*batch >= 0) return CLN_OK;
    if (here >= 0)
        cln_error_set(err, CLN_ERR_DEVICE, "another rank's device cannot hold the batch");
    return err->status;
}

/* run_input's forward: the command's options, --profile and the rest on
 * the first device when asked. */
typedef struct {
    common_args reported;
    const common_args *a;
    session *s;
    cln_forward_options fwd;
} input_run;

static cln_status run_chunk(void *ctx, int d, cln_model *model, const float *input, int n, int h,
                            int w, float *out, cln_error *err) {
    (void)model;
    input_run *r = ctx;
    return forward(d == 0 ? &r->reported : r->a, r->s, d, input, n, h, w, r->fwd, out, NULL,
                   err);
}

cln_status run_input(const common_args *a, session *s, const float *input, int n, int h, int w,
                     int chunk, cln_forward_options fwd, bool profile, float *out, size_t *images,
                     cln_error *err) {
    input_run r = {.reported = *a, .a = a, .s = s, .fwd = fwd};
    if (!profile) {
        r.reported.profile = false;
        r.reported.csv = r.reported.trace = NULL;
    }
    cln_run_params p = cln_run_default_params();
    p.layer = s->layer;
    p.forward = fwd;
    p.batch = chunk;
    p.run = run_chunk;
    p.ctx = &r;
    return cln_pool_run_input(s->pool, input, n, h, w, &p, out, images, err);
}
