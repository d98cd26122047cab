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

const char *const conv_names[CLN_CONV_ALGO_COUNT] = {"auto", "gemm", "tiled", "direct", "winograd"};

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

/* ---- Options ----------------------------------------------------------- */

/* Handles an option common to the commands; returns 1 if it was one, 0 if
 * not, -1 for a bad value (message printed). */
static int common_option(common_args *a, int opt) {
    switch (opt) {
    case 'w':
        a->weights = optarg;
        return 1;
    case 'r':
        a->random_weights = true;
        return 1;
    case 'd':
        a->device = optarg;
        return 1;
    case 'N':
        if (cln_network_from_name(optarg, &a->network, NULL) == CLN_OK) return 1;
        fprintf(stderr, "clinception %s: --network takes inception_v3 or fid, not '%s'\n",
                a->command, optarg);
        return -1;
    case 'P':
        a->profile = true;
        return 1;
    case 'C':
        a->csv = optarg;
        return 1;
    case 'T':
        a->trace = optarg;
        return 1;
    case 'c':
        for (int i = 0; i < (int)(sizeof conv_names / sizeof conv_names[0]); i++)
            if (strcmp(optarg, conv_names[i]) == 0) {
                a->fwd.conv_algo = (cln_conv_algo)i;
                return 1;
            }
        fprintf(stderr,
                "clinception %s: --conv takes auto, gemm, tiled, direct or winograd, not '%s'\n",
                a->command, optarg);
        return -1;
    }
    return 0;
}

/* A whole-number option value in [lo, hi], or -1 (message printed). */
static long count_arg(const char *command, const char *option, const char *text, long lo, long hi) {
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < lo || v > hi) {
        fprintf(stderr, "clinception %s: %s takes a whole number from %ld to %ld, not '%s'\n",
                command, option, lo, hi, text);
        return -1;
    }
    return v;
}

static int unknown_option(const char *command, char **argv, const char *usage) {
    fprintf(stderr, "clinception %s: unknown option or missing value '%s'\n\n%s", command,
            argv[optind - 1], usage);
    return 2;
}

#define MAX_OPTIONS 24

/* Parses argv: the options every model command shares (when common is not
 * NULL), the command's own (specs) and --help. Returns -1 to go on, with the
 * first argument that is not an option at optind, or the exit code: 0 after
 * --help, 2 after a usage error (message and usage printed). */
int parse_options(common_args *common, const char *command, const char *usage,
                         const opt_spec *specs, int nspecs, int argc, char **argv) {
    static const struct option shared[] = {
        {"weights", required_argument, NULL, 'w'}, {"random-weights", no_argument, NULL, 'r'},
        {"device", required_argument, NULL, 'd'},  {"conv", required_argument, NULL, 'c'},
        {"profile", no_argument, NULL, 'P'},       {"csv", required_argument, NULL, 'C'},
        {"trace", required_argument, NULL, 'T'},   {"network", required_argument, NULL, 'N'},
    };
    struct option options[MAX_OPTIONS];
    int n = 0;
    if (common)
        for (size_t i = 0; i < sizeof shared / sizeof shared[0]; i++)
            options[n++] = shared[i];
    for (int i = 0; i < nspecs && n < MAX_OPTIONS - 2; i++)
        options[n++] = (struct option){specs[i].name,
                                       specs[i].kind == OPT_FLAG ? no_argument : required_argument,
                                       NULL, 256 + i};
    options[n++] = (struct option){"help", no_argument, NULL, 'h'};
    options[n] = (struct option){NULL, 0, NULL, 0};
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (opt == 'h') {
            fputs(usage, stdout);
            return 0;
        }
        if (opt >= 256 && opt < 256 + nspecs) {
            const opt_spec *o = &specs[opt - 256];
            char flag[64];
            snprintf(flag, sizeof flag, "--%s", o->name);
            if (o->kind == OPT_FLAG)
                *(bool *)o->target = true;
            else if (o->kind == OPT_TEXT)
                *(const char **)o->target = optarg;
            else if ((*(long *)o->target = count_arg(command, flag, optarg, o->lo, o->hi)) < 0)
                return 2;
            continue;
        }
        int r = common ? common_option(common, opt) : 0;
        if (r < 0) return 2;
        if (r == 0) return unknown_option(command, argv, usage);
    }
    return -1;
}

/* No arguments may follow the options. */
bool no_arguments_left(const char *command, const char *usage, int argc, char **argv) {
    if (optind < argc) {
        fprintf(stderr, "clinception %s: unexpected argument '%s'\n\n%s", command, argv[optind],
                usage);
        return false;
    }
    return true;
}

bool weights_given(const common_args *a, const char *usage) {
    if (!a->weights == !a->random_weights) {
        fprintf(stderr, "clinception %s: give one of --weights FILE or --random-weights\n\n%s",
                a->command, usage);
        return false;
    }
    return true;
}

/* Output files are checked before any work: a path whose folder cannot be
 * written fails now, not after the forward, and so does one that is not a
 * regular file or is one of the run's inputs (the weights, input). */
bool writable_path(const common_args *a, const char *path, const char *input) {
    const char *command = a->command;
    if (!path) return true;
    const char *inputs[2] = {a->weights, input};
    cln_error err;
    if (cln_check_output(path, inputs, 2, &err) != CLN_OK) {
        fprintf(stderr, "clinception %s: %s\n", command, err.message);
        return false;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    if (access(dir, W_OK) != 0) {
        cln_error_set(&err, CLN_ERR_IO, "%s: cannot write: its folder %s is not writable: %s", path, dir,
                 strerror(errno));
        fprintf(stderr, "clinception %s: %s\n", command, err.message);
        return false;
    }
    return true;
}

/* ---- The session -------------------------------------------------------- */

static void add_phase(session *s, const char *name, double start, double end) {
    if (s->phase_count < MAX_PHASES) s->phases[s->phase_count++] = (cln_host_phase){name, start, end};
}

/* Opens every device --device names, each with its own runtime and model;
 * over several ranks, the list's entry for this rank on its machine. */
cln_status open_session(const common_args *a, session *s, cln_error *err) {
    memset(s, 0, sizeof *s);
    const char *device = a->device ? a->device : getenv("CLINCEPTION_DEVICE");
    cln_pool_params p = cln_pool_default_params();
    p.devices = device && *device ? device : NULL;
    p.only = cluster_ranks() > 1 ? cluster_local_rank() : -1;
    p.network = a->network;
    p.weights = a->random_weights ? NULL : a->weights;
    p.seed = RANDOM_WEIGHTS_SEED;
    if (cluster_ranks() == 1 && (a->profile || a->csv || a->trace) && p.devices &&
        (strchr(p.devices, ',') || strcmp(p.devices, "all") == 0)) {
        cln_device_info *infos = NULL;
        size_t count = 0;
        int n = 1;
        if (strcmp(p.devices, "all") == 0) {
            if (cln_devices_list(&infos, &count, err) != CLN_OK) return err->status;
            free(infos);
            n = (int)count;
        } else {
            for (const char *c = p.devices; (c = strchr(c, ',')) != NULL; c++)
                n++;
        }
        if (n > 1)
            return cln_error_set(err, CLN_ERR_INVALID_ARGUMENT,
                                 "--profile, --csv and --trace profile one device; --device "
                                 "names %d",
                                 n);
    }
    const double t0 = now_ms();
    cln_status st = cln_pool_create(&p, &s->pool, err);
    if (st != CLN_OK) return st;
    s->devices = cln_pool_size(s->pool);
    s->rt = cln_pool_runtime(s->pool, 0);
    s->model = cln_pool_model(s->pool, 0);
    /* each device's phases, one after the other as the pool made them */
    double at = t0;
    for (int d = 0; d < s->devices; d++) {
        const cln_runtime_timings rtt = cln_runtime_get_timings(cln_pool_runtime(s->pool, d));
        const cln_model_timings mt = cln_model_get_timings(cln_pool_model(s->pool, d));
        const cln_device_info *info = cln_runtime_device(cln_pool_runtime(s->pool, d));
        if (d == 0) {
            add_phase(s, "device set-up", at, at + rtt.device_setup_ms);
            add_phase(s, "program build", at + rtt.device_setup_ms,
                      at + rtt.device_setup_ms + rtt.program_build_ms);
            add_phase(s, "weight read", at + rtt.device_setup_ms + rtt.program_build_ms,
                      at + rtt.device_setup_ms + rtt.program_build_ms + mt.read_ms);
            add_phase(s, "weight upload",
                      at + rtt.device_setup_ms + rtt.program_build_ms + mt.read_ms,
                      at + rtt.device_setup_ms + rtt.program_build_ms + mt.read_ms + mt.upload_ms);
        }
        at += rtt.device_setup_ms + rtt.program_build_ms + mt.read_ms + mt.upload_ms;
        fprintf(stderr, "device: %s (%s): set up in %.0f ms, programs built in %.0f ms\n",
                info->device_name, info->platform_name, rtt.device_setup_ms,
                rtt.program_build_ms);
        if (a->random_weights)
            fprintf(stderr,
                    "no weight file: using seeded random weights (seed %d); the classes "
                    "mean nothing\n",
                    RANDOM_WEIGHTS_SEED);
        const char *warning = cln_model_warning(cln_pool_model(s->pool, d));
        if (warning) fprintf(stderr, "clinception: warning: %s\n", warning);
        fprintf(stderr, "weights: read in %.0f ms, uploaded in %.0f ms\n", mt.read_ms,
                mt.upload_ms);
    }
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
    cln_status st = forward(a, s, d, input, n, h, w, fwd, out, wall_ms, err);
    if (st != CLN_OK && s->devices > 1) {
        cln_error why = *err;
        cln_error_set(err, st, "device %d (%s): %s", d,
                      cln_runtime_device(cln_pool_runtime(s->pool, d))->device_name, why.message);
    }
    return st;
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
 * -1 (message printed) when the batch asked for, or a single image, does not
 * fit the device: checked before anything is allocated for it. */
static long fitting_batch_here(const session *all, long asked, int h, int w) {
    const long want = asked ? asked : DEFAULT_BATCH;
    int least; /* the device that holds the fewest */
    const int fits = cln_pool_largest_batch(all->pool, (int)want, h, w, &least);
    const cln_runtime *rt = cln_pool_runtime(all->pool, least);
    if (fits >= (asked ? want : 1)) return asked ? asked : fits;
    if (fits < 0)
        fprintf(stderr, "clinception: out of memory planning a batch\n");
    else if (fits == 0)
        fprintf(stderr, "clinception: not even one %d x %d image fits %s\n", h, w,
                cln_runtime_device(rt)->device_name);
    else
        fprintf(stderr,
                "clinception: a batch of %ld images of %d x %d does not fit %s; the largest "
                "that fits is %d\n",
                want, h, w, cln_runtime_device(rt)->device_name, fits);
    return -1;
}

/* fitting_batch_here on every rank: the smallest, so that every rank runs
 * the same batches; -1 on all of them if one has none. */
long fitting_batch(const session *s, long asked, int h, int w) {
    const long here = fitting_batch_here(s, asked, h, w);
    if (cluster_ranks() == 1) return here;
    const long least = cluster_min(here);
    if (least < 0 && here >= 0)
        fprintf(stderr, "clinception: another rank's device cannot hold the batch\n");
    return least;
}

/* run_input's forward: forward_on with the command's options, --profile and
 * the rest for the first chunk only. */
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
    cln_status st = forward(d == 0 ? &r->reported : r->a, r->s, d, input, n, h, w, r->fwd, out,
                            NULL, err);
    if (d == 0) {
        r->reported.profile = false;
        r->reported.csv = r->reported.trace = NULL;
    }
    return st;
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
