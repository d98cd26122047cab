/* The clinception program: `devices` lists the OpenCL devices, `infer` runs
 * Inception v3 on a .npy batch, `classify` labels images, `bench` times
 * forwards; --profile, --csv and --trace report every kernel. */
#define _POSIX_C_SOURCE 200809L
#include "../include/clinception.h"
#include "../common/error.h"
#include "../common/file_io.h"
#include "fid.h"
#include "image.h"
#include "labels.h"
#include "npy.h"
#include "cluster.h"
#include "parallel.h"
#include "report.h"
#include "stream.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#define RANDOM_WEIGHTS_SEED 1

/* The command got to its end on this rank: every message it had to send or
 * receive went (clinception-mpi; see main). */
static bool command_finished;
#define MAX_PHASES 8

static const char *const main_usage =
    "usage: clinception COMMAND [OPTIONS]\n"
    "\n"
    "Runs torchvision's Inception v3 (and pytorch-fid's FID Inception) through\n"
    "OpenCL.\n"
    "\n"
    "commands:\n"
    "  devices   list every OpenCL platform and device, with its index\n"
    "  infer     run the network on a .npy batch and write the logits as .npy\n"
    "  classify  label images and folders of them with the model's classes\n"
    "  features  write any layer's output (the 2048 pooled features by default)\n"
    "  fid       the Frechet Inception Distance between two folders or statistics\n"
    "  bench     time whole forwards and the start-up phases\n"
    "  tune      measure the fastest way to run each convolution on a device\n"
    "  help      show this text\n"
    "\n"
    "`clinception COMMAND --help` describes a command's options.\n";

/* Options shared by infer, classify and bench. */
#define COMMON_OPTIONS_HELP                                                                        \
    "  --weights FILE     the network's torchvision state dict in .safetensors (F32,\n"            \
    "                     F16 or BF16; AuxLogits.* and num_batches_tracked are ignored)\n"         \
    "  --random-weights   seeded random weights instead (the results mean nothing)\n"              \
    "  --network NET      inception_v3 (torchvision's Inception v3, the default) or\n"             \
    "                     fid (pytorch-fid's FID Inception, the TensorFlow graph's\n"              \
    "                     port: weights pt_inception-2015-12-05, 1008 classes)\n"                  \
    "  --device D         OpenCL device: P:D index (see `clinception devices`), cpu,\n"            \
    "                     gpu, or part of the platform or device name; default\n"                  \
    "                     $CLINCEPTION_DEVICE, then the first GPU, then the first device.\n"       \
    "                     Several, comma-separated, or all: each gets its own runtime\n"           \
    "                     and model on a thread of its own, and batches go to whichever\n"         \
    "                     is free, results in input order (infer splits its batch,\n"              \
    "                     bench runs every device at once; not with --profile)\n"                  \
    "  --conv ALGO        how convolutions run: auto (the default, below), gemm\n"                 \
    "                     (im2col + CLBlast's GEMM), tiled (im2col +\n"                            \
    "                     our tiled GEMM), direct (our direct kernel, for those\n"                 \
    "                     larger than 1x1) or winograd (Winograd F(2x2, 3x3) for the\n"            \
    "                     3x3 stride-1 ones, the rest tiled); auto follows the\n"                  \
    "                     device's tuning file (clinception tune) where there is one,\n"           \
    "                     else on CPUs winograd for 3x3 stride-1 ones of >= 64 input\n"            \
    "                     channels and tiled for the rest, gemm on other devices\n"                \
    "  --profile          print a per-layer table of device times from OpenCL events,\n"           \
    "                     with each layer kind's share of the device's measured peak,\n"           \
    "                     of a warm forward (one unprofiled forward runs first; for\n"             \
    "                     classify and features, of the first batch)\n"                            \
    "  --csv FILE         write that table as CSV\n"                                               \
    "  --trace FILE       write a Chrome trace (Perfetto, chrome://tracing) of every\n"            \
    "                     kernel launch and the start-up phases\n"                                 \
    "  -h, --help         show this text\n"

static const char *const infer_usage =
    "usage: clinception infer (--weights W.safetensors | --random-weights) --input X.npy\n"
    "                         --output Y.npy [--transform-input] [--batch B] [--repeat K]\n"
    "                         [OPTIONS]\n"
    "\n"
    "Reads X, a float32 C-order .npy of shape (N, 3, H, W) with N >= 1 and H, W >= 75,\n"
    "runs the network (Inception v3, or --network's) in eval mode and writes the\n"
    "logits to Y, float32 (N, K) for the model's K classes (the rows of its\n"
    "fc.weight: 1000 for ImageNet's weights, 1008 for the FID Inception's).\n"
    "Prints each image's five highest logits (class index:logit) on standard output,\n"
    "and the device, load and forward times on standard error.\n"
    "\n"
    "  --input FILE       the input batch, .npy float32 (N, 3, H, W)\n"
    "  --output FILE      where the logits go, .npy float32 (N, K)\n"
    "  --transform-input  apply the network's input transform: torchvision's\n"
    "                     transform_input for Inception v3 (on for its pretrained\n"
    "                     weights: the input is then normalized with ImageNet's\n"
    "                     mean/std); 2x - 1 for the FID Inception (the input in [0, 1])\n"
    "  --batch B          run the input B images at a time (default: all at once,\n"
    "                     or split evenly over the devices or ranks); each image's\n"
    "                     logits are those of the batch it is in\n"
    "  --repeat K         run the forward K times (default 1) and print each "
    "time\n" COMMON_OPTIONS_HELP;

static const char *const bench_usage =
    "usage: clinception bench (--weights W.safetensors | --random-weights) [--batch N]\n"
    "                         [--size S] [--iters K] [--warmup K] [--json] [OPTIONS]\n"
    "\n"
    "Times whole forwards (input upload, every kernel, logits read-back) after warm-up\n"
    "on a seeded random batch: median, p10, p90, images/s; and the start-up phases:\n"
    "device set-up, program build (first time, with no driver cache, and as cached),\n"
    "weight read and upload, first forward; the peak device memory held; and the\n"
    "device's own FMA rate, measured with a small kernel, against the forward's.\n"
    "\n"
    "  --batch N          images per forward (default 1)\n"
    "  --size S           input height and width (default 299)\n"
    "  --iters K          timed forwards (default 10)\n"
    "  --warmup K         untimed forwards first (default 2)\n"
    "  --json             also print the figures as one JSON object on the last "
    "line\n" COMMON_OPTIONS_HELP;

static const char *const tune_usage =
    "usage: clinception tune [--batch N] [--size S] [--repeats K] [--device D]\n"
    "\n"
    "Runs every convolution of the network every way it can run on the device\n"
    "(CLBlast's GEMM, our tiled GEMM, our direct kernel) at an N x 3 x S x S input,\n"
    "best of K profiled forwards each, and writes the fastest per layer to the\n"
    "device's tuning file in the cache ($CLINCEPTION_CACHE_DIR, else\n"
    "$XDG_CACHE_HOME/clinception, else ~/.cache/clinception). Every later run on that\n"
    "device with --conv auto (the default) uses it for inputs of that shape; without\n"
    "it, the defaults apply. Tune each batch size and input size you use.\n"
    "\n"
    "  --batch N          images per forward (default 1)\n"
    "  --size S           input height and width (default 299)\n"
    "  --repeats K        profiled forwards per way (default 3)\n"
    "  --device D         OpenCL device, as for the other commands\n"
    "  -h, --help         show this text\n";

static const char *const devices_usage =
    "usage: clinception devices\n"
    "\n"
    "Lists every OpenCL platform and device: its index P:D (for --device), type,\n"
    "compute units, global memory, largest allocation and OpenCL version.\n";

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int fail(const cln_error *err) {
    fprintf(stderr, "clinception: %s\n", err->message);
    return 1;
}

/* ---- What infer, classify and bench share ----------------------------- */

/* --conv values, indexed by cln_conv_algo */
static const char *const conv_names[CLN_CONV_ALGO_COUNT] = {"auto", "gemm", "tiled", "direct",
                                                            "winograd"};

typedef struct {
    const char *command;
    const char *weights, *device, *csv, *trace;
    bool random_weights, profile;
    cln_network network;
    cln_forward_options fwd;
} common_args;

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

/* A command's own options, parsed by parse_options. */
typedef enum { OPT_FLAG, OPT_COUNT, OPT_TEXT } opt_kind;

typedef struct {
    const char *name; /* without the leading dashes */
    opt_kind kind;
    void *target; /* bool *, long * or const char ** */
    long lo, hi;  /* the range of an OPT_COUNT */
} opt_spec;

#define MAX_OPTIONS 24

/* Parses argv: the options every model command shares (when common is not
 * NULL), the command's own (specs) and --help. Returns -1 to go on, with the
 * first argument that is not an option at optind, or the exit code: 0 after
 * --help, 2 after a usage error (message and usage printed). */
static int parse_options(common_args *common, const char *command, const char *usage,
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
static bool no_arguments_left(const char *command, const char *usage, int argc, char **argv) {
    if (optind < argc) {
        fprintf(stderr, "clinception %s: unexpected argument '%s'\n\n%s", command, argv[optind],
                usage);
        return false;
    }
    return true;
}

static bool weights_given(const common_args *a, const char *usage) {
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
static bool writable_path(const common_args *a, const char *path, const char *input) {
    const char *command = a->command;
    if (!path) return true;
    const char *inputs[2] = {a->weights, input};
    cln_error err;
    if (file_check_output(path, inputs, 2, &err) != CLN_OK) {
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
        cln_fail(&err, CLN_ERR_IO, "%s: cannot write: its folder %s is not writable: %s", path, dir,
                 strerror(errno));
        fprintf(stderr, "clinception %s: %s\n", command, err.message);
        return false;
    }
    return true;
}

/* The runtime and the model, with the host phases timed for --trace. */
typedef struct session {
    cln_runtime *rt;
    cln_model *model;
    host_phase phases[MAX_PHASES];
    size_t phase_count;
    double peak_gflops; /* the device's measured FMA rate, once measured (0: not yet) */
    bool warm;          /* a forward has run: the driver has compiled what it needed */
    const char *layer;  /* the layer whose output forward returns (NULL: the logits) */
    /* --device's other devices, each a session of its own (without others),
     * run on threads of their own by run_images, infer and bench */
    struct session *others;
    int other_count;
} session;

static void add_phase(session *s, const char *name, double start, double end) {
    if (s->phase_count < MAX_PHASES) s->phases[s->phase_count++] = (host_phase){name, start, end};
}

static cln_status open_device(const common_args *a, const char *device, session *s,
                              cln_error *err) {
    memset(s, 0, sizeof *s);
    double t0 = now_ms();
    cln_status st = cln_runtime_create(device, &s->rt, err);
    if (st != CLN_OK) return st;
    cln_runtime_timings rtt = cln_runtime_get_timings(s->rt);
    add_phase(s, "device set-up", t0, t0 + rtt.device_setup_ms);
    add_phase(s, "program build", t0 + rtt.device_setup_ms,
              t0 + rtt.device_setup_ms + rtt.program_build_ms);
    const cln_device_info *d = cln_runtime_device(s->rt);
    fprintf(stderr, "device: %s (%s): set up in %.0f ms, programs built in %.0f ms\n",
            d->device_name, d->platform_name, rtt.device_setup_ms, rtt.program_build_ms);
    double t1 = now_ms();
    if (a->random_weights) {
        fprintf(stderr,
                "no weight file: using seeded random weights (seed %d); the classes "
                "mean nothing\n",
                RANDOM_WEIGHTS_SEED);
        st = cln_model_load_random_network(s->rt, a->network, RANDOM_WEIGHTS_SEED, &s->model, err);
    } else {
        st = cln_model_load_network(s->rt, a->network, a->weights, &s->model, err);
    }
    if (st != CLN_OK) return st;
    if (cln_model_warning(s->model))
        fprintf(stderr, "clinception: warning: %s\n", cln_model_warning(s->model));
    cln_model_timings mt = cln_model_get_timings(s->model);
    add_phase(s, "weight read", t1, t1 + mt.read_ms);
    add_phase(s, "weight upload", t1 + mt.read_ms, t1 + mt.read_ms + mt.upload_ms);
    fprintf(stderr, "weights: read in %.0f ms, uploaded in %.0f ms\n", mt.read_ms, mt.upload_ms);
    return CLN_OK;
}

#define MAX_DEVICES 64

/* The devices --device names: a comma-separated list of selectors, or
 * "all" (every device, as "P:D"); one selector (or none: the default) is
 * one device. Writes malloc'd copies into list; returns the count, or -1
 * (message in err). */
static int device_selectors(const char *device, char **list, cln_error *err) {
    if (device && strcmp(device, "all") == 0) {
        cln_device_info *infos;
        size_t count;
        if (cln_devices_list(&infos, &count, err) != CLN_OK) return -1;
        int n = 0;
        for (size_t i = 0; i < count && n < MAX_DEVICES; i++) {
            char text[32];
            snprintf(text, sizeof text, "%d:%d", infos[i].platform_index, infos[i].device_index);
            list[n++] = strdup(text);
        }
        free(infos);
        return n;
    }
    if (!device || !strchr(device, ',')) {
        list[0] = device ? strdup(device) : NULL;
        return 1;
    }
    int n = 0;
    for (const char *p = device; n < MAX_DEVICES;) {
        const char *comma = strchr(p, ',');
        const size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == 0) {
            cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                     "--device \"%s\" has an empty entry: give selectors separated by commas",
                     device);
            for (int i = 0; i < n; i++)
                free(list[i]);
            return -1;
        }
        list[n++] = strndup(p, len);
        if (!comma) break;
        p = comma + 1;
    }
    return n;
}

/* Opens every device --device names, each with its own runtime and model
 * (the first in s, the rest in s->others). */
static cln_status open_session(const common_args *a, session *s, cln_error *err) {
    memset(s, 0, sizeof *s);
    char *selectors[MAX_DEVICES];
    const char *device = a->device ? a->device : getenv("CLINCEPTION_DEVICE");
    const int n = device_selectors(device && *device ? device : NULL, selectors, err);
    if (n < 0) return err->status;
    if (n == 0) return cln_fail(err, CLN_ERR_DEVICE, "--device all: there is no OpenCL device");
    if (cluster_ranks() > 1) {
        /* each rank one device: the list's entry for its rank on this machine */
        const int mine = cluster_local_rank() % n;
        cln_status st = open_device(a, selectors[mine], s, err);
        for (int i = 0; i < n; i++)
            free(selectors[i]);
        return st;
    }
    if (n > 1 && (a->profile || a->csv || a->trace)) {
        for (int i = 0; i < n; i++)
            free(selectors[i]);
        return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                        "--profile, --csv and --trace profile one device; --device names %d", n);
    }
    cln_status st = open_device(a, selectors[0], s, err);
    if (st == CLN_OK && n > 1) {
        s->others = calloc((size_t)n - 1, sizeof *s->others);
        if (!s->others) st = cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "out of memory");
    }
    for (int i = 1; i < n && st == CLN_OK; i++) {
        st = open_device(a, selectors[i], &s->others[i - 1], err);
        s->other_count = i; /* closed with the rest, even half open */
    }
    for (int i = 0; i < n; i++)
        free(selectors[i]);
    return st;
}

/* The layer whose output every device's forward returns. */
static void set_layer(session *s, const char *layer) {
    s->layer = layer;
    for (int d = 0; d < s->other_count; d++)
        s->others[d].layer = layer;
}

/* Each device's share of a run over several, on stderr. */
static void report_shares(const session *s, const size_t *images) {
    size_t total = 0;
    for (int d = 0; d <= s->other_count; d++)
        total += images[d];
    for (int d = 0; d <= s->other_count; d++) {
        const session *on = d == 0 ? s : &s->others[d - 1];
        fprintf(stderr, "  device %d, %s: %zu images (%.0f%%)\n", d,
                cln_runtime_device(on->rt)->device_name, images[d],
                total ? 100.0 * (double)images[d] / (double)total : 0.0);
    }
}

static void close_session(session *s) {
    for (int i = 0; i < s->other_count; i++)
        close_session(&s->others[i]);
    free(s->others);
    s->others = NULL;
    s->other_count = 0;
    cln_model_free(s->model);
    cln_runtime_free(s->rt);
}

/* The session's forward: to its layer, or the whole network. */
static cln_status run_model(session *s, const float *input, int n, int h, int w,
                            const cln_forward_options *fwd, float *out, cln_error *err) {
    return s->layer ? cln_model_features(s->model, s->layer, input, n, h, w, fwd, out, err)
                    : cln_model_forward(s->model, input, n, h, w, fwd, out, err);
}

/* Runs one forward and, when asked, reports its profile: of a warm forward,
 * the session's first one run unprofiled before it (on a CPU the driver
 * compiles each kernel for its launch shape the first time, which would be
 * most of the first forward's wall time). */
static cln_status forward(const common_args *a, session *s, const float *input, int n, int h, int w,
                          cln_forward_options fwd, float *logits, double *wall_ms, cln_error *err) {
    fwd.profile = a->profile || a->csv || a->trace;
    if (fwd.profile && !s->warm) {
        cln_forward_options first = fwd;
        first.profile = false;
        cln_status st = run_model(s, input, n, h, w, &first, logits, err);
        if (st != CLN_OK) return st;
        if (a->profile)
            fprintf(stderr, "profile of the second forward: the first, unprofiled, ran the "
                            "driver's compilation\n");
    }
    s->warm = true;
    double start = now_ms();
    cln_status st = run_model(s, input, n, h, w, &fwd, logits, err);
    double end = now_ms();
    if (wall_ms) *wall_ms = end - start;
    if (st != CLN_OK || !fwd.profile) return st;
    if (a->profile && s->peak_gflops == 0 &&
        (st = cln_runtime_measure_peak(s->rt, &s->peak_gflops, err)) != CLN_OK)
        return st;
    if (a->profile) report_profile_table(stderr, s->model, end - start, s->peak_gflops);
    if (a->csv && (st = report_profile_csv(a->csv, s->model, err)) != CLN_OK) return st;
    if (a->trace) {
        add_phase(s, "forward", start, end);
        st = report_trace(a->trace, s->model, s->phases, s->phase_count, start, err);
        s->phase_count--;
    }
    return st;
}

/* ---- devices ---------------------------------------------------------- */

static int cmd_devices(int argc, char **argv) {
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(devices_usage, stdout);
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "clinception devices: unexpected argument '%s'\n%s", argv[1],
                devices_usage);
        return 2;
    }
    cln_device_info *list = NULL;
    size_t n = 0;
    cln_error err;
    if (cln_devices_list(&list, &n, &err) != CLN_OK) return fail(&err);
    int last_platform = -1;
    for (size_t i = 0; i < n; i++) {
        const cln_device_info *d = &list[i];
        if (d->platform_index != last_platform) {
            printf("platform %d: %s\n", d->platform_index, d->platform_name);
            last_platform = d->platform_index;
        }
        printf("  %d:%d  %s\n", d->platform_index, d->device_index, d->device_name);
        printf("       type %s, %u compute units, %.1f GiB global memory, %.1f GiB max "
               "allocation\n",
               d->is_gpu   ? "GPU"
               : d->is_cpu ? "CPU"
                           : "other",
               d->compute_units, d->global_mem_bytes / 1073741824.0,
               d->max_alloc_bytes / 1073741824.0);
        printf("       %s, driver %s\n", d->device_version, d->driver_version);
    }
    if (n == 0) printf("no OpenCL devices\n");
    free(list);
    return 0;
}

/* ---- infer ------------------------------------------------------------ */

/* Reads an input batch (infer, features --input): a float32 .npy of shape
 * (N, 3, H, W) with 1 <= N <= 65536 and CLN_MIN_INPUT_SIZE <= H, W <= 65536.
 * On failure x is freed and err says why. */
static cln_status read_batch(const char *path, npy_array *x, cln_error *err) {
    cln_status st = npy_read_f32(path, x, err);
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
    npy_free(x);
    return cln_fail(err, CLN_ERR_FORMAT,
                    "%s: shape %s is not (N, 3, H, W) with 1 <= N <= 65536 and %d <= H, W <= 65536",
                    path, shape, CLN_MIN_INPUT_SIZE);
}

/* Indices of the k largest values, largest first. */
static void top_k(const float *v, int count, int k, int *out) {
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int c = 0; c < count; c++) {
            bool taken = false;
            for (int i = 0; i < j; i++)
                taken |= out[i] == c;
            if (!taken && (best < 0 || v[c] > v[best])) best = c;
        }
        out[j] = best;
    }
}

static void print_top5(int image, const float *logits, int classes) {
    int top[5];
    const int k = classes < 5 ? classes : 5;
    top_k(logits, classes, k, top);
    printf("image %d: top-%d classes", image, k);
    for (int j = 0; j < k; j++)
        printf(" %d:%.3f", top[j], (double)logits[top[j]]);
    printf("\n");
}

/* A whole batch over every device of the session: chunks of `chunk` images
 * (in input order, each chunk on whichever device is free), out_floats per
 * image. */
typedef struct {
    const common_args *a;
    session *s;
    const float *input;
    float *out;
    int n, h, w, next;
    size_t in_floats, out_floats;
    cln_forward_options fwd;
    int done;
} batch_run;

static int fill_chunk(void *ctx, float *input, size_t *items, int cap, bool *more, cln_error *err) {
    (void)err;
    batch_run *r = ctx;
    const int n = r->n - r->next < cap ? r->n - r->next : cap;
    memcpy(input, r->input + (size_t)r->next * r->in_floats,
           (size_t)n * r->in_floats * sizeof *input);
    for (int i = 0; i < n; i++)
        items[i] = (size_t)(r->next + i);
    r->next += n;
    *more = r->next < r->n;
    return n;
}

/* forward on device d of the session (the first, or one of its others),
 * from that device's thread; over several devices, a failure names it. */
static cln_status forward_on(const common_args *a, session *all, int d, const float *input, int n,
                             int h, int w, cln_forward_options fwd, float *out, cln_error *err) {
    session *s = d == 0 ? all : &all->others[d - 1];
    cln_status st = forward(a, s, input, n, h, w, fwd, out, NULL, err);
    if (st != CLN_OK && all->other_count > 0) {
        cln_error why = *err;
        cln_fail(err, st, "device %d (%s): %s", d, cln_runtime_device(s->rt)->device_name,
                 why.message);
    }
    return st;
}

static cln_status run_chunk(void *ctx, int d, const float *input, int n, float *out,
                            cln_error *err) {
    batch_run *r = ctx;
    return forward_on(r->a, r->s, d, input, n, r->h, r->w, r->fwd, out, err);
}

static cln_status emit_chunk(void *ctx, const size_t *items, int n, const float *out,
                             cln_error *err) {
    (void)items;
    (void)err;
    batch_run *r = ctx;
    memcpy(r->out + (size_t)r->done * r->out_floats, out, (size_t)n * r->out_floats * sizeof *out);
    r->done += n;
    return CLN_OK;
}

static cln_status forward_on_devices(const common_args *a, session *s, const float *input, int n,
                                     int h, int w, int chunk, cln_forward_options fwd, float *out,
                                     size_t out_floats, size_t *images, cln_error *err) {
    const int devices = 1 + s->other_count;
    const size_t in_floats = 3 * (size_t)h * w;
    if (devices == 1) { /* no threads: each chunk straight from input to out */
        if (images) images[0] = (size_t)n;
        for (int first = 0; first < n; first += chunk) {
            const int count = n - first < chunk ? n - first : chunk;
            cln_status st = forward(a, s, input + (size_t)first * in_floats, count, h, w, fwd,
                                    out + (size_t)first * out_floats, NULL, err);
            if (st != CLN_OK) return st;
        }
        return CLN_OK;
    }
    batch_run r = {.a = a, .s = s, .input = input, .out = out, .n = n, .h = h, .w = w, .fwd = fwd};
    r.in_floats = in_floats;
    r.out_floats = out_floats;
    parallel_job job = {&r,      fill_chunk, run_chunk, emit_chunk,
                        devices, chunk,      in_floats, out_floats};
    return parallel_run(&job, images, err);
}

static int cmd_infer(int argc, char **argv) {
    common_args a = {.command = "infer"};
    const char *input = NULL, *output = NULL;
    long repeat = 1, batch = 0;
    const opt_spec specs[] = {
        {"input", OPT_TEXT, &input, 0, 0},
        {"output", OPT_TEXT, &output, 0, 0},
        {"transform-input", OPT_FLAG, &a.fwd.transform_input, 0, 0},
        {"repeat", OPT_COUNT, &repeat, 1, 100000},
        {"batch", OPT_COUNT, &batch, 1, 65536},
    };
    int rc = parse_options(&a, "infer", infer_usage, specs, (int)(sizeof specs / sizeof specs[0]),
                           argc, argv);
    if (rc >= 0) return rc;
    if (!no_arguments_left("infer", infer_usage, argc, argv)) return 2;
    if (!input || !output) {
        fprintf(stderr, "clinception infer: give --input and --output\n\n%s", infer_usage);
        return 2;
    }
    if (!weights_given(&a, infer_usage)) return 2;
    if (!writable_path(&a, output, input) || !writable_path(&a, a.csv, input) ||
        !writable_path(&a, a.trace, input))
        return 1;

    cln_error err;
    npy_array x = {0};
    session s = {0};
    float *logits = NULL;
    rc = 1;
    if (read_batch(input, &x, &err) != CLN_OK) goto done;
    const int all = (int)x.shape[0], h = (int)x.shape[2], w = (int)x.shape[3];
    if (open_session(&a, &s, &err) != CLN_OK) goto done;
    /* batches of B: by default all at once, or one per device or rank;
     * over several ranks, rank r takes a run of whole batches, rows
     * [first, first + n) */
    const int ranks = cluster_ranks(), parts = ranks > 1 ? ranks : 1 + s.other_count;
    if (!batch) batch = (all + parts - 1) / parts;
    const int64_t batches = (all + batch - 1) / batch;
    const int64_t lo = batches * cluster_rank() / ranks * batch;
    const int64_t hi = batches * (cluster_rank() + 1) / ranks * batch;
    const int first = (int)(lo < all ? lo : all), n = (int)(hi < all ? hi : all) - first;
    const int classes = cln_model_num_classes(s.model);
    logits = malloc(((size_t)all * classes + 1) * sizeof *logits);
    if (!logits) {
        snprintf(err.message, sizeof err.message, "out of memory for the logits");
        goto done;
    }
    size_t images[MAX_DEVICES];
    const float *rows = x.data + (size_t)first * 3 * h * w;
    for (long k = 0; k < repeat && n > 0; k++) {
        double start = now_ms();
        if (forward_on_devices(&a, &s, rows, n, h, w, (int)batch, a.fwd, logits, (size_t)classes,
                               images, &err) != CLN_OK)
            goto done;
        const double ms = now_ms() - start;
        fprintf(stderr, "forward %ld: %d x 3 x %d x %d in %.1f ms (%.1f ms per image)\n", k + 1, n,
                h, w, ms, ms / n);
    }
    if (s.other_count > 0) report_shares(&s, images);
    if (ranks > 1) { /* every rank's logits to rank 0, in order */
        if (cluster_rank() > 0) {
            cluster_send(logits, (size_t)n * classes * sizeof *logits);
            rc = 0;
            command_finished = true;
            goto done;
        }
        for (int from = 1, at = n; from < ranks; from++) {
            size_t size;
            float *part = cluster_receive(from, &size);
            const int64_t end = batches * (from + 1) / ranks * batch;
            const int rows_from = (int)(end < all ? end : all) - at;
            if (size != (size_t)rows_from * classes * sizeof *part) {
                free(part);
                snprintf(err.message, sizeof err.message, "rank %d sent malformed logits", from);
                goto done;
            }
            memcpy(logits + (size_t)at * classes, part, size);
            free(part);
            at += rows_from;
        }
    }
    for (size_t i = 0; i < (size_t)all * classes; i++)
        if (!isfinite(logits[i])) {
            snprintf(err.message, sizeof err.message,
                     "the logits of image %zu are not finite (NaN or infinity): the weights "
                     "overflow float on this input; %s is not written",
                     i / (size_t)classes, output);
            goto done;
        }
    int64_t shape[2] = {all, classes};
    if (npy_write_f32(output, logits, 2, shape, &err) != CLN_OK) goto done;
    fprintf(stderr, "wrote %s (%d x %d)\n", output, all, classes);
    for (int b = 0; b < all; b++)
        print_top5(b, logits + (size_t)b * classes, classes);
    rc = 0;
    command_finished = true;
done:
    if (rc != 0) fail(&err);
    free(logits);
    close_session(&s);
    npy_free(&x);
    return rc;
}

/* ---- Many images: classify and features ------------------------------ */

#define DEFAULT_BATCH 8       /* images per forward, unless fewer fit the device */
#define MAX_DEFAULT_WORKERS 4 /* decoding threads by default, at most one per CPU */
#define PROGRESS_EVERY_MS 1000.0
#define MAX_TOP (1 << 20) /* --top's bound before the model's classes are known */

/* What classify and features share: where the images come from, how they
 * are read, how they are batched. */
typedef struct {
    long resize, crop, batch, workers;
    const char *files_from;
    bool progress;
} image_args;

#define IMAGE_OPTION_SPECS(ia)                                                                     \
    {"resize", OPT_COUNT, &(ia).resize, 1, 4096}, {"crop", OPT_COUNT, &(ia).crop, 75, 4096},       \
        {"batch", OPT_COUNT, &(ia).batch, 1, 4096}, {"workers", OPT_COUNT, &(ia).workers, 1, 64},  \
        {"files-from", OPT_TEXT, &(ia).files_from, 0, 0}, {                                        \
        "progress", OPT_FLAG, &(ia).progress, 0, 0                                                 \
    }

#define IMAGE_OPTIONS_HELP                                                                         \
    "  --files-from LIST  also read the paths (files or folders) from LIST, one per\n"             \
    "                     line; - for standard input\n"                                            \
    "  --resize S         shorter side before cropping (default 342)\n"                            \
    "  --crop C           center crop (default 299; at least 75)\n"                                \
    "  --batch B          images per forward (default 8, or the most that fit the\n"               \
    "                     device if fewer)\n"                                                      \
    "  --workers N        threads decoding and preprocessing ahead of the device\n"                \
    "                     (default: one per CPU, at most 4)\n"                                     \
    "  --progress         print progress on standard error (images done, images/s,\n"              \
    "                     time left) also when it is not a terminal\n"

#define IMAGE_INPUT_HELP                                                                           \
    "\n"                                                                                           \
    "Images are JPEG and PNG files (and BMP and GIF) and folders, read recursively\n"              \
    "for files with those extensions (.jpg, .jpeg, .png, .bmp, .gif, any case), in\n"              \
    "sorted path order. They are preprocessed as torchvision does for its\n"                       \
    "pretrained Inception v3: RGB, shorter side resized to S (bilinear with\n"                     \
    "antialiasing, as PIL), center crop C x C, scaled to [0, 1], normalized with\n"                \
    "the ImageNet mean/std and transform_input (together: each channel to [-1, 1]).\n"             \
    "With --network fid they are preprocessed as pytorch-fid does instead: RGB,\n"                 \
    "scaled to [0, 1], the whole image resized to C x C (bilinear without\n"                       \
    "antialiasing, as torch's F.interpolate; --resize does not apply), then 2x - 1.\n"             \
    "Worker threads decode them while the device runs, in batches, with memory\n"                  \
    "bounded whatever their number. An image that cannot be read gets an error\n"                  \
    "naming it and is skipped; the others go on (the exit status is then 1). A\n"                  \
    "summary (images, failures, seconds, images/s) ends the run on standard error,\n"              \
    "with progress on the way when standard error is a terminal.\n"

/* Refuses an output (NULLs skipped) that is one of the images, or the list
 * they were read from (NULL: none): it would replace an input. */
static cln_status outputs_not_inputs(const char *const *outputs, size_t count,
                                     const path_list *paths, const char *list, cln_error *err) {
    cln_status st = CLN_OK;
    for (size_t i = 0; i < count && st == CLN_OK; i++)
        if (outputs[i] && (st = file_check_output(outputs[i], (const char *const *)paths->paths,
                                                  paths->count, err)) == CLN_OK)
            st = file_check_output(outputs[i], &list, 1, err);
    return st;
}

/* The images of the arguments and --files-from; false (message printed) when
 * out of memory, the list cannot be read, or one of the run's outputs (NULLs
 * skipped) is one of the images or the list: it is refused before any work,
 * so that no image is replaced by what is written. */
static bool list_images(const char *command, const image_args *ia, int argc, char **argv,
                        const char *const *outputs, size_t output_count, path_list *paths,
                        size_t *unreadable) {
    cln_error err;
    cln_status st = CLN_OK;
    for (int i = optind; i < argc && st == CLN_OK; i++)
        st = paths_add_argument(paths, argv[i], unreadable, &err);
    if (st == CLN_OK && ia->files_from)
        st = paths_add_list_file(paths, ia->files_from, unreadable, &err);
    if (st == CLN_OK) st = outputs_not_inputs(outputs, output_count, paths, ia->files_from, &err);
    if (st != CLN_OK) {
        fprintf(stderr, "clinception %s: %s\n", command, err.message);
        return false;
    }
    if (paths->count == 0) {
        fprintf(stderr,
                "clinception %s: no images: the folders and lists given hold no file with an "
                "image extension%s\n",
                command, *unreadable ? " that could be read" : "");
        return false;
    }
    return true;
}

/* Where each batch's outputs go, in input order. */
typedef struct batch_sink {
    cln_status (*emit)(struct batch_sink *sink, const char *const *names, int n, const float *out,
                       cln_error *err);
    void *ctx;
    size_t out_floats; /* per image */
    size_t failures;   /* images it could not take (reported by it) */
    bool completed;    /* every image went through or was reported */
    /* Over several ranks (clinception-mpi), rank 0's sink takes every
     * rank's batches in input order, unless it is local: then each rank's
     * takes its own, and pack (on the others) and merge (on rank 0) bring
     * their state together at the end. */
    bool local;
    cln_status (*pack)(struct batch_sink *sink, void **bytes, size_t *size, cln_error *err);
    cln_status (*merge)(struct batch_sink *sink, const void *bytes, size_t size, cln_error *err);
} batch_sink;

static void print_progress(size_t done, size_t total, double elapsed_ms, bool terminal) {
    const double rate = elapsed_ms > 0 ? 1000.0 * (double)done / elapsed_ms : 0;
    char eta[32] = "?";
    if (rate > 0) snprintf(eta, sizeof eta, "%.0f s", (double)(total - done) / rate);
    fprintf(stderr, "%s%zu/%zu images, %.1f images/s, %s left%s", terminal ? "\r" : "", done, total,
            rate, eta, terminal ? "   " : "\n");
    fflush(stderr);
}

/* run_images' state, shared with parallel_run's callbacks. */
typedef struct {
    const common_args *a;
    session *s;
    const path_list *paths; /* every image of the run */
    path_list mine;         /* this rank's: its batches of paths (all of them on one rank) */
    size_t *global;         /* mine's index in paths of each of mine */
    image_stream stream;
    cln_forward_options fwd;
    common_args reported; /* --profile, --csv and --trace: of the first batch */
    batch_sink *sink;
    size_t per_image, done, failures, taken, batches_emitted;
    const char **names; /* a batch's, for the sink */
    int crop, batch;
    bool progress, terminal;
    double start, shown;
} image_run;

/* The next batch of this rank's images: over one rank, the next readable
 * ones (up to cap); over several, exactly the images of its next batch of
 * the run (those that cannot be read left out, so a batch may be empty).
 * Those that cannot be read are named on stderr and counted. */
static int fill_images(void *ctx, float *input, size_t *items, int cap, bool *more,
                       cln_error *err) {
    image_run *r = ctx;
    const bool exact = cluster_ranks() > 1;
    const size_t end =
        r->taken + (size_t)cap < r->mine.count ? r->taken + (size_t)cap : r->mine.count;
    int n = 0;
    size_t index;
    const float *pixels;
    while ((exact ? r->taken < end : n < cap) &&
           image_stream_next(&r->stream, &index, &pixels, err)) {
        r->taken++;
        if (pixels) {
            memcpy(input + n * r->per_image, pixels, r->per_image * sizeof *input);
            items[n++] = r->global[index];
        } else {
            if (r->progress && r->terminal) fputc('\n', stderr);
            fprintf(stderr, "clinception: %s\n", err->message);
            r->failures++;
            r->done++;
        }
        image_stream_release(&r->stream);
    }
    *more = r->taken < r->mine.count;
    return n;
}

/* A batch on device d: the session of that device (the first, or one of
 * its others), on that device's thread. */
static cln_status run_batch(void *ctx, int d, const float *input, int n, float *out,
                            cln_error *err) {
    image_run *r = ctx;
    const cln_status st = forward_on(d == 0 ? &r->reported : r->a, r->s, d, input, n, r->crop,
                                     r->crop, r->fwd, out, err);
    if (d == 0) {
        r->reported.profile = false; /* only the first batch is profiled */
        r->reported.csv = r->reported.trace = NULL;
    }
    return st;
}

/* One batch into the sink, its images named by their index in the run. */
static cln_status sink_batch(image_run *r, const size_t *items, int n, const float *out,
                             cln_error *err) {
    for (int i = 0; i < n; i++)
        r->names[i] = r->paths->paths[items[i]];
    cln_status st = r->sink->emit(r->sink, r->names, n, out, err);
    if (st != CLN_OK) return st;
    fflush(stdout);
    r->done += (size_t)n;
    const double now = now_ms();
    if (r->progress && now - r->shown >= PROGRESS_EVERY_MS) {
        print_progress(r->done, r->paths->count, now - r->start, r->terminal);
        r->shown = now;
    }
    return CLN_OK;
}

/* A batch's message to rank 0: its image count, their indices in the run,
 * their outputs. */
static void send_batch(const image_run *r, const size_t *items, int n, const float *out) {
    const size_t floats = (size_t)n * r->sink->out_floats;
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

/* Rank 0: rank `from`'s next batch, into the sink. */
static cln_status receive_batch(image_run *r, int from, cln_error *err) {
    size_t size;
    unsigned char *bytes = cluster_receive(from, &size);
    int64_t n = -1;
    if (size >= sizeof n) memcpy(&n, bytes, sizeof n);
    const size_t head = sizeof(int64_t) * (1 + (size_t)(n > 0 ? n : 0));
    cln_status st = CLN_OK;
    size_t items[n > 0 && n <= r->batch ? n : 1];
    /* its size first, then every index within the run */
    bool valid =
        n >= 0 && n <= r->batch && size == head + (size_t)n * r->sink->out_floats * sizeof(float);
    for (int64_t i = 0; valid && i < n; i++) {
        int64_t item;
        memcpy(&item, bytes + sizeof(int64_t) * (1 + (size_t)i), sizeof item);
        valid = item >= 0 && (size_t)item < r->paths->count;
        items[i] = (size_t)item;
    }
    if (!valid) {
        st = cln_fail(err, CLN_ERR_INVALID_ARGUMENT, "rank %d sent a malformed batch", from);
    } else { /* the outputs as they came: malloc'd, and head is a multiple of 8 bytes */
        st = sink_batch(r, items, (int)n, (const float *)(bytes + head), err);
    }
    free(bytes);
    return st;
}

/* Over several ranks, run batch k is rank k % R's: round j holds batch
 * j * R + r of each rank r, and every round has rank 0's. */
static bool rank_has_batch(const image_run *r, size_t round, int rank) {
    const size_t batches = (r->paths->count + (size_t)r->batch - 1) / (size_t)r->batch;
    return round * (size_t)cluster_ranks() + (size_t)rank < batches;
}

static cln_status emit_batch(void *ctx, const size_t *items, int n, const float *out,
                             cln_error *err) {
    image_run *r = ctx;
    if (cluster_ranks() == 1 || r->sink->local) return sink_batch(r, items, n, out, err);
    if (cluster_rank() > 0) {
        send_batch(r, items, n, out);
        return CLN_OK;
    }
    /* rank 0: its batch of this round, then the others' */
    cln_status st = sink_batch(r, items, n, out, err);
    for (int from = 1; from < cluster_ranks() && st == CLN_OK; from++)
        if (rank_has_batch(r, r->batches_emitted, from)) st = receive_batch(r, from, err);
    r->batches_emitted++;
    return st;
}

/* This rank's images: over one rank, all; over several, batch k of the run
 * when k % R is this rank. */
static bool take_my_images(image_run *r) {
    const size_t count = r->paths->count, ranks = (size_t)cluster_ranks();
    r->mine.paths = malloc((count ? count : 1) * sizeof *r->mine.paths);
    r->global = malloc((count ? count : 1) * sizeof *r->global);
    if (!r->mine.paths || !r->global) return false;
    for (size_t i = 0; i < count; i++)
        if ((i / (size_t)r->batch) % ranks == (size_t)cluster_rank()) {
            r->global[r->mine.count] = i;
            r->mine.paths[r->mine.count++] = r->paths->paths[i];
        }
    return true;
}

/* After the batches, over several ranks: each other rank's failures (and
 * a local sink's state) to rank 0. */
static cln_status gather_ranks(image_run *r, cln_error *err) {
    if (cluster_ranks() == 1) return CLN_OK;
    if (cluster_rank() > 0) {
        void *state = NULL;
        size_t state_size = 0;
        if (r->sink->local && r->sink->pack(r->sink, &state, &state_size, err) != CLN_OK)
            return err->status;
        const int64_t failures = (int64_t)(r->failures + r->sink->failures);
        unsigned char *bytes = malloc(sizeof failures + state_size);
        if (!bytes) {
            free(state);
            return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "out of memory for the results");
        }
        memcpy(bytes, &failures, sizeof failures);
        if (state_size) memcpy(bytes + sizeof failures, state, state_size);
        cluster_send(bytes, sizeof failures + state_size);
        free(bytes);
        free(state);
        return CLN_OK;
    }
    cln_status st = CLN_OK;
    for (int from = 1; from < cluster_ranks() && st == CLN_OK; from++) {
        size_t size;
        unsigned char *bytes = cluster_receive(from, &size);
        int64_t failures = 0;
        if (size < sizeof failures) {
            st = cln_fail(err, CLN_ERR_INVALID_ARGUMENT, "rank %d sent malformed results", from);
        } else {
            memcpy(&failures, bytes, sizeof failures);
            r->failures += (size_t)failures;
            r->done += (size_t)failures;
            if (r->sink->local)
                st = r->sink->merge(r->sink, bytes + sizeof failures, size - sizeof failures, err);
        }
        free(bytes);
    }
    return st;
}

/* Streams paths through the model in batches of ia->batch, decoded on
 * ia->workers threads and run on every device of the session (each batch
 * on whichever is free): each batch's outputs to sink in input order,
 * failures reported by name, progress and a summary on stderr. Returns the
 * exit status: 0 when every image went through, 1 otherwise or on an error
 * that stops the run (its message printed). */
static int run_images(const char *command, const common_args *a, session *s, const image_args *ia,
                      const path_list *paths, size_t unreadable, batch_sink *sink) {
    image_run r = {.a = a, .s = s, .paths = paths, .sink = sink};
    r.crop = (int)ia->crop;
    r.batch = (int)ia->batch;
    r.per_image = 3 * (size_t)r.crop * r.crop;
    r.terminal = isatty(STDERR_FILENO);
    r.progress = (ia->progress || r.terminal) && cluster_rank() == 0;
    r.reported = *a;
    cln_error err;
    int rc = 1;
    size_t *images = NULL;
    r.names = malloc((size_t)r.batch * sizeof *r.names);
    if (!r.names || !take_my_images(&r)) {
        fprintf(stderr, "clinception: out of memory listing the images\n");
        goto done;
    }
    /* torchvision's preprocessing does transform_input itself; pytorch-fid's
     * leaves its 2x - 1 to the FID Inception's input transform */
    const image_pipeline pipeline =
        a->network == CLN_NETWORK_FID ? PIPELINE_FID : PIPELINE_TORCHVISION;
    if (image_stream_start(&r.stream, &r.mine, pipeline, (int)ia->resize, r.crop, (int)ia->workers,
                           2 * (size_t)ia->batch, &err) != CLN_OK) {
        fprintf(stderr, "clinception: %s\n", err.message);
        goto done;
    }
    r.fwd = a->fwd;
    r.fwd.transform_input = pipeline == PIPELINE_FID;
    const int devices = 1 + s->other_count;
    images = calloc((size_t)devices, sizeof *images);
    parallel_job job = {&r,      fill_images, run_batch,   emit_batch,
                        devices, r.batch,     r.per_image, sink->out_floats};
    r.start = r.shown = now_ms();
    cln_status st = images ? parallel_run(&job, images, &err)
                           : cln_fail(&err, CLN_ERR_OUT_OF_MEMORY, "out of memory");
    image_stream_stop(&r.stream);
    if (st == CLN_OK) st = gather_ranks(&r, &err);
    if (r.progress && r.terminal) fputc('\n', stderr);
    if (st != CLN_OK) {
        fprintf(stderr, "clinception: %s\n", err.message);
        goto done;
    }
    sink->completed = true;
    const size_t failures = r.failures + sink->failures;
    rc = failures || unreadable ? 1 : 0;
    if (cluster_rank() > 0) goto done; /* rank 0 reports the run */
    if (r.progress) print_progress(r.done, paths->count, now_ms() - r.start, r.terminal);
    if (r.progress && r.terminal) fputc('\n', stderr);
    const double seconds = (now_ms() - r.start) / 1000.0;
    fprintf(stderr, "%s: %zu images, %zu failed, %.1f s, %.2f images/s", command, paths->count,
            failures, seconds, seconds > 0 ? (double)(paths->count - failures) / seconds : 0.0);
    if (unreadable) fprintf(stderr, "; %zu folders could not be read", unreadable);
    if (cluster_ranks() > 1) fprintf(stderr, " over %d ranks", cluster_ranks());
    fputc('\n', stderr);
    if (devices > 1) report_shares(s, images);
done:
    free(images);
    free(r.names);
    free(r.mine.paths);
    free(r.global);
    return rc;
}

/* The batch: as asked, else DEFAULT_BATCH or the most that fit if fewer;
 * -1 (message printed) when the batch asked for, or a single image, does not
 * fit the device: checked before anything is allocated for it. */
static long fitting_batch_here(const session *all, long asked, int h, int w) {
    const long want = asked ? asked : DEFAULT_BATCH;
    /* the device that holds the fewest */
    const session *s = all;
    int fits = cln_model_largest_batch(all->model, (int)want, h, w);
    for (int d = 0; d < all->other_count; d++) {
        const int f = cln_model_largest_batch(all->others[d].model, (int)want, h, w);
        if (f < fits) {
            fits = f;
            s = &all->others[d];
        }
    }
    if (fits >= (asked ? want : 1)) return asked ? asked : fits;
    if (fits < 0)
        fprintf(stderr, "clinception: out of memory planning a batch\n");
    else if (fits == 0)
        fprintf(stderr, "clinception: not even one %d x %d image fits %s\n", h, w,
                cln_runtime_device(s->rt)->device_name);
    else
        fprintf(stderr,
                "clinception: a batch of %ld images of %d x %d does not fit %s; the largest "
                "that fits is %d\n",
                want, h, w, cln_runtime_device(s->rt)->device_name, fits);
    return -1;
}

/* fitting_batch_here on every rank: the smallest, so that every rank runs
 * the same batches; -1 on all of them if one has none. */
static long fitting_batch(const session *s, long asked, int h, int w) {
    const long here = fitting_batch_here(s, asked, h, w);
    if (cluster_ranks() == 1) return here;
    const long least = cluster_min(here);
    if (least < 0 && here >= 0)
        fprintf(stderr, "clinception: another rank's device cannot hold the batch\n");
    return least;
}

static long default_workers(void) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return cpus < 1 ? 1 : cpus > MAX_DEFAULT_WORKERS ? MAX_DEFAULT_WORKERS : cpus;
}

/* ---- classify --------------------------------------------------------- */

static const char *const classify_usage =
    "usage: clinception classify (--weights W.safetensors | --random-weights) [--top K]\n"
    "                            [--labels FILE] [--json] [--files-from LIST]\n"
    "                            [--resize S] [--crop C] [--batch B] [--workers N]\n"
    "                            [--progress] [OPTIONS] [IMAGE|FOLDER ...]\n"
    "\n"
    "Prints each image's most likely classes, in input order as the batches finish.\n"
    "A model with 1000 classes is labelled with ImageNet's names, unless --labels\n"
    "gives others; a model with another number of classes (a fine-tuned head) shows\n"
    "each class by its index, unless --labels names them. A control character in a\n"
    "path (a line break, an escape) is printed as \\xNN; --json gives paths "
    "exactly.\n" IMAGE_INPUT_HELP "\n"
    "  --top K            classes per image (default 5, or all the model's classes if\n"
    "                     fewer; at most the model's classes)\n"
    "  --labels FILE      class names, one per line of UTF-8 text, as many as the\n"
    "                     model has classes\n"
    "  --json             one JSON object per image and line: {\"image\": PATH, \"top\":\n"
    "                     [{\"class\": INDEX, \"label\": NAME or null, \"prob\": P}, "
    "...]}\n" IMAGE_OPTIONS_HELP COMMON_OPTIONS_HELP;

static void softmax(const float *logits, int count, double *probs) {
    double max = logits[0], sum = 0;
    for (int c = 1; c < count; c++)
        if (logits[c] > max) max = logits[c];
    for (int c = 0; c < count; c++)
        sum += probs[c] = exp((double)logits[c] - max);
    for (int c = 0; c < count; c++)
        probs[c] /= sum;
}

typedef struct {
    int classes, top;
    bool json;
    const label_list *labels; /* NULL: ImageNet's for 1000 classes, else none */
    double *probs;            /* classes */
    int *best;                /* top */
} classify_sink;

static const char *class_label(const classify_sink *c, int index) {
    if (c->labels) return c->labels->names[index];
    return c->classes == CLN_NUM_CLASSES ? imagenet_label(index) : NULL;
}

/* A path on its own line of the text results, with its control characters
 * (a line break, an escape sequence) as \xNN, so that no file name can
 * forge a result line or rewrite the terminal; --json gives it exactly. */
static void print_escaped(const char *name) {
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            printf("\\x%02x", *p);
        else
            putchar(*p);
    putchar('\n');
}

static cln_status print_classes(batch_sink *sink, const char *const *names, int n,
                                const float *logits, cln_error *err) {
    classify_sink *c = sink->ctx;
    for (int i = 0; i < n; i++) {
        const float *l = logits + (size_t)i * c->classes;
        bool finite = true;
        for (int k = 0; k < c->classes; k++)
            finite &= isfinite(l[k]) != 0;
        if (!finite || (c->json && !utf8_valid(names[i], strlen(names[i])))) {
            stream_note("%s: skipped: %s", names[i],
                        finite ? "its name is not UTF-8, which JSON cannot hold"
                               : "its logits are not finite (NaN or infinity)");
            sink->failures++;
            continue;
        }
        softmax(l, c->classes, c->probs);
        top_k(l, c->classes, c->top, c->best);
        if (!c->json) {
            print_escaped(names[i]);
            for (int j = 0; j < c->top; j++) {
                const char *label = class_label(c, c->best[j]);
                printf("  %d. %4d  %-30s %.4f\n", j + 1, c->best[j], label ? label : "",
                       c->probs[c->best[j]]);
            }
            continue;
        }
        json_t *list = json_array();
        for (int j = 0; j < c->top && list; j++) {
            const char *label = class_label(c, c->best[j]);
            json_t *entry =
                json_pack("{s:i, s:o, s:f}", "class", c->best[j], "label",
                          label ? json_string(label) : json_null(), "prob", c->probs[c->best[j]]);
            if (!entry || json_array_append_new(list, entry) != 0) {
                json_decref(list);
                list = NULL;
            }
        }
        json_t *obj = list ? json_pack("{s:s, s:o}", "image", names[i], "top", list) : NULL;
        char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
        json_decref(obj);
        if (!text)
            return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "out of memory printing the results of %s",
                            names[i]);
        printf("%s\n", text);
        free(text);
    }
    return CLN_OK;
}

static int cmd_classify(int argc, char **argv) {
    common_args a = {.command = "classify"};
    image_args ia = {.resize = 342, .crop = 299};
    long top = 0; /* 0: not given, 5 or the model's classes if fewer */
    bool json = false;
    const char *labels_path = NULL;
    const opt_spec specs[] = {
        {"top", OPT_COUNT, &top, 1, MAX_TOP},
        {"json", OPT_FLAG, &json, 0, 0},
        {"labels", OPT_TEXT, &labels_path, 0, 0},
        IMAGE_OPTION_SPECS(ia),
    };
    int parsed = parse_options(&a, "classify", classify_usage, specs,
                               (int)(sizeof specs / sizeof specs[0]), argc, argv);
    if (parsed >= 0) return parsed;
    if (optind == argc && !ia.files_from) {
        fprintf(stderr, "clinception classify: give at least one image or folder\n\n%s",
                classify_usage);
        return 2;
    }
    if (!weights_given(&a, classify_usage)) return 2;
    if (!writable_path(&a, a.csv, labels_path) || !writable_path(&a, a.trace, labels_path))
        return 1;
    if (!ia.workers) ia.workers = default_workers();

    cln_error err;
    session s = {0};
    path_list paths = {0};
    label_list labels = {0};
    classify_sink c = {.top = (int)top, .json = json};
    size_t unreadable = 0;
    int rc = 1;
    if (labels_path && labels_read(labels_path, &labels, &err) != CLN_OK) {
        fail(&err);
        goto done;
    }
    const char *outputs[] = {a.csv, a.trace};
    if (!list_images("classify", &ia, argc, argv, outputs, 2, &paths, &unreadable)) goto done;
    if (open_session(&a, &s, &err) != CLN_OK) {
        fail(&err);
        goto done;
    }
    c.classes = cln_model_num_classes(s.model);
    if (labels_path && labels.count != c.classes) {
        cln_fail(&err, CLN_ERR_FORMAT,
                 "%s: wrong number of labels: it holds %d, the model has %d classes", labels_path,
                 labels.count, c.classes);
        fail(&err);
        goto done;
    }
    if (c.top == 0) c.top = c.classes < 5 ? c.classes : 5;
    if (c.top > c.classes) {
        fprintf(stderr, "clinception classify: --top %d is more than the model's %d classes\n",
                c.top, c.classes);
        rc = 2;
        goto done;
    }
    c.labels = labels_path ? &labels : NULL;
    c.probs = malloc((size_t)c.classes * sizeof *c.probs);
    c.best = malloc((size_t)c.top * sizeof *c.best);
    if (!c.probs || !c.best) {
        fprintf(stderr, "clinception classify: out of memory for %d classes\n", c.classes);
        goto done;
    }
    if ((ia.batch = fitting_batch(&s, ia.batch, (int)ia.crop, (int)ia.crop)) < 0) goto done;
    batch_sink sink = {print_classes, &c, (size_t)c.classes, 0, false, false, NULL, NULL};
    rc = run_images("classify", &a, &s, &ia, &paths, unreadable, &sink);
    command_finished = sink.completed;
done:
    free(c.probs);
    free(c.best);
    close_session(&s);
    labels_free(&labels);
    paths_free(&paths);
    return rc;
}

/* ---- features --------------------------------------------------------- */

static const char *const features_usage =
    "usage: clinception features (--weights W.safetensors | --random-weights)\n"
    "                            (--input X.npy | IMAGE|FOLDER ... | --files-from LIST)\n"
    "                            --output F.npy [--layer NAME] [OPTIONS]\n"
    "       clinception features (--weights W.safetensors | --random-weights)\n"
    "                            --list-layers [--crop C | --input X.npy]\n"
    "\n"
    "Writes the output of one layer for every image to F, float32, one row per image\n"
    "in input order: (N, 2048) for avgpool (the default: the pooled features), (N, K)\n"
    "for fc (the logits), (N, C, H, W) for any other layer. The network runs up to\n"
    "that layer and no further. For images, F's rows are those that could be read,\n"
    "and their paths, one per line in the same order, go to F's name with .npy\n"
    "replaced by .paths.txt. F (and the paths) are written under a temporary name\n"
    "and appear whole at the end.\n" IMAGE_INPUT_HELP "\n"
    "  --output FILE      the .npy to write\n"
    "  --layer NAME       the layer, by its torchvision module name: Conv2d_1a_3x3,\n"
    "                     Conv2d_2a_3x3, Conv2d_2b_3x3, maxpool1, Conv2d_3b_1x1,\n"
    "                     Conv2d_4a_3x3, maxpool2, Mixed_5b ... Mixed_7c (a block's\n"
    "                     concatenated output), a convolution inside a block (e.g.\n"
    "                     Mixed_6b.branch7x7_2), avgpool or fc (default avgpool)\n"
    "  --list-layers      print every layer's name and output shape (C x H x W) at\n"
    "                     the crop size (or --input's height and width), and stop\n"
    "  --input FILE       a float32 (N, 3, H, W) .npy instead of images, run as by\n"
    "                     `clinception infer`\n"
    "  --transform-input  with --input: apply the network's input transform (as\n"
    "                     `clinception infer --help` says)\n" IMAGE_OPTIONS_HELP
        COMMON_OPTIONS_HELP;

/* The paths list beside F: F's name with .npy replaced by (or, without it,
 * followed by) .paths.txt; malloc'd. */
static char *paths_list_name(const char *output) {
    size_t len = strlen(output);
    if (len >= 4 && strcmp(output + len - 4, ".npy") == 0) len -= 4;
    char *name = malloc(len + sizeof ".paths.txt");
    if (name) {
        memcpy(name, output, len);
        memcpy(name + len, ".paths.txt", sizeof ".paths.txt");
    }
    return name;
}

typedef struct {
    npy_writer npy;
    temp_file paths; /* f NULL for an --input batch */
} features_sink;

static cln_status write_rows(batch_sink *sink, const char *const *names, int n, const float *out,
                             cln_error *err) {
    features_sink *f = sink->ctx;
    for (int i = 0; i < n; i++) {
        if (f->paths.f && strpbrk(names[i], "\n\r")) {
            stream_note("%s: skipped: its name holds a line break, which the paths list cannot",
                        names[i]);
            sink->failures++;
            continue;
        }
        cln_status st = npy_writer_append(&f->npy, out + i * f->npy.row_floats, 1, err);
        if (st != CLN_OK) return st;
        if (f->paths.f && fprintf(f->paths.f, "%s\n", names[i]) < 0)
            return cln_fail(err, CLN_ERR_IO, "%s: cannot write: %s", f->paths.path,
                            strerror(errno));
    }
    return CLN_OK;
}

/* The output's dimensions after the first: (2048) for avgpool, (K) for fc,
 * (C, H, W) for the rest. */
static int row_shape(const char *layer, int c, int h, int w, int64_t *shape) {
    shape[0] = c;
    if (strcmp(layer, "avgpool") == 0 || strcmp(layer, "fc") == 0) return 1;
    shape[1] = h;
    shape[2] = w;
    return 3;
}

static int list_layers(const session *s, int h, int w) {
    size_t count;
    const char *const *names = cln_model_feature_layers(s->model, &count);
    cln_error err;
    printf("layers at a %d x %d input (output channels x height x width):\n", h, w);
    for (size_t i = 0; i < count; i++) {
        int c, oh, ow;
        if (cln_model_feature_shape(s->model, names[i], h, w, &c, &oh, &ow, &err) != CLN_OK)
            return fail(&err);
        printf("  %-32s %5d x %3d x %3d\n", names[i], c, oh, ow);
    }
    return 0;
}

/* An --input batch, run ia->batch images at a time. */
static int features_of_batch(const common_args *a, session *s, const npy_array *x, long batch,
                             features_sink *f) {
    const int n = (int)x->shape[0], h = (int)x->shape[2], w = (int)x->shape[3];
    const size_t per_image = 3 * (size_t)h * w;
    /* batches of `batch`, as many at a time as there are devices */
    const long group = batch * (1 + s->other_count);
    cln_error err;
    float *out = malloc((size_t)group * f->npy.row_floats * sizeof *out);
    if (!out) {
        fprintf(stderr, "clinception: out of memory for a batch of %ld\n", batch);
        return 1;
    }
    common_args reported = *a;
    for (int first = 0; first < n; first += (int)group) {
        const int count = n - first < group ? n - first : (int)group;
        if (forward_on_devices(&reported, s, x->data + first * per_image, count, h, w, (int)batch,
                               a->fwd, out, f->npy.row_floats, NULL, &err) != CLN_OK ||
            npy_writer_append(&f->npy, out, (size_t)count, &err) != CLN_OK) {
            free(out);
            return fail(&err);
        }
        reported.profile = false; /* --profile, --csv and --trace: of the first batch */
        reported.csv = reported.trace = NULL;
    }
    free(out);
    return 0;
}

static int cmd_features(int argc, char **argv) {
    common_args a = {.command = "features"};
    image_args ia = {.resize = 342, .crop = 299};
    const char *output = NULL, *input = NULL, *layer = "avgpool";
    bool list = false;
    const opt_spec specs[] = {
        {"output", OPT_TEXT, &output, 0, 0},
        {"layer", OPT_TEXT, &layer, 0, 0},
        {"list-layers", OPT_FLAG, &list, 0, 0},
        {"input", OPT_TEXT, &input, 0, 0},
        {"transform-input", OPT_FLAG, &a.fwd.transform_input, 0, 0},
        IMAGE_OPTION_SPECS(ia),
    };
    int parsed = parse_options(&a, "features", features_usage, specs,
                               (int)(sizeof specs / sizeof specs[0]), argc, argv);
    if (parsed >= 0) return parsed;
    const bool images = optind < argc || ia.files_from;
    if (!list && (!output || images == !!input)) {
        fprintf(stderr,
                "clinception features: give --output and either --input or images (not both)\n\n%s",
                features_usage);
        return 2;
    }
    if (list && (output || images)) {
        fprintf(stderr, "clinception features: --list-layers takes no --output or images\n\n%s",
                features_usage);
        return 2;
    }
    if (!weights_given(&a, features_usage)) return 2;
    if (!writable_path(&a, output, input) || !writable_path(&a, a.csv, input) ||
        !writable_path(&a, a.trace, input))
        return 1;
    if (!ia.workers) ia.workers = default_workers();

    cln_error err;
    session s = {0};
    path_list paths = {0};
    npy_array x = {0};
    features_sink f = {0};
    char *paths_name = NULL;
    size_t unreadable = 0;
    int rc = 1, h = (int)ia.crop, w = (int)ia.crop;
    if (input) {
        if (read_batch(input, &x, &err) != CLN_OK) {
            fail(&err);
            goto done;
        }
        h = (int)x.shape[2];
        w = (int)x.shape[3];
    } else if (images) {
        paths_name = paths_list_name(output);
        if (!paths_name) {
            fprintf(stderr, "clinception features: out of memory\n");
            goto done;
        }
        const char *outputs[] = {output, paths_name, a.csv, a.trace};
        if (!writable_path(&a, paths_name, NULL) ||
            !list_images("features", &ia, argc, argv, outputs, 4, &paths, &unreadable))
            goto done;
    }
    if (open_session(&a, &s, &err) != CLN_OK) {
        fail(&err);
        goto done;
    }
    if (list) {
        rc = list_layers(&s, h, w);
        goto done;
    }
    int c, oh, ow;
    int64_t shape[3];
    if (cln_model_feature_shape(s.model, layer, h, w, &c, &oh, &ow, &err) != CLN_OK) {
        fail(&err);
        goto done;
    }
    set_layer(&s, layer);
    if (input && cluster_ranks() > 1) {
        fprintf(stderr, "clinception-mpi features: takes images, not --input (run infer, or "
                        "clinception features, for a batch)\n");
        command_finished = true; /* every rank refuses alike */
        goto done;
    }
    /* over several ranks, rank 0 writes what every rank computes */
    const bool writer = cluster_rank() == 0;
    if (writer && npy_writer_open(&f.npy, output, 1 + row_shape(layer, c, oh, ow, shape), shape,
                                  &err) != CLN_OK) {
        fail(&err);
        goto done;
    }
    if (input) {
        const long batch = fitting_batch(&s, ia.batch, h, w);
        rc = batch < 0 ? 1 : features_of_batch(&a, &s, &x, batch, &f);
    } else {
        if (writer && temp_file_open(&f.paths, paths_name, &err) != CLN_OK) {
            fail(&err);
            goto done;
        }
        if ((ia.batch = fitting_batch(&s, ia.batch, h, w)) < 0) goto done;
        batch_sink sink = {write_rows, &f, (size_t)c * oh * ow, 0, false, false, NULL, NULL};
        rc = run_images("features", &a, &s, &ia, &paths, unreadable, &sink);
        if (!sink.completed) goto done;
        if (!writer) {
            command_finished = true;
            goto done;
        }
    }
    if (rc == 0 || !input) { /* images: the rows of those that could be read */
        const int64_t rows = f.npy.shape[0];
        /* the paths first: if the array then fails, the message says so */
        if (f.paths.f && temp_file_commit(&f.paths, &err) != CLN_OK) {
            rc = fail(&err);
            goto done;
        }
        if (npy_writer_close(&f.npy, &err) != CLN_OK) {
            if (paths_name)
                cln_error_append(&err, " (%s was written already and lists rows %s lacks)",
                                 paths_name, output);
            rc = fail(&err);
            goto done;
        }
        fprintf(stderr, "wrote %s (%lld rows of layer %s)%s%s\n", output, (long long)rows, layer,
                paths_name ? " and " : "", paths_name ? paths_name : "");
    }
    command_finished = true;
done:
    npy_writer_abort(&f.npy);
    temp_file_abort(&f.paths);
    free(paths_name);
    npy_free(&x);
    close_session(&s);
    paths_free(&paths);
    return rc;
}

/* ---- bench ------------------------------------------------------------ */

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted values. */
static double percentile(const double *sorted, size_t n, double p) {
    size_t rank = (size_t)ceil(p / 100.0 * (double)n);
    return sorted[rank ? rank - 1 : 0];
}

/* ---- FID ------------------------------------------------------------- */

static const char *const fid_usage =
    "usage: clinception fid (--weights W.safetensors | --random-weights) [--dims D]\n"
    "                       [--batch B] [--workers N] [--json] [--progress] [OPTIONS] A B\n"
    "       clinception fid --save-stats [--dims D] [OPTIONS] IMAGES OUT.npz\n"
    "\n"
    "Prints the Frechet Inception Distance between A and B as pytorch-fid computes\n"
    "it, on any OpenCL device. A and B are each a folder of images (read\n"
    "recursively, as classify reads one), a list of image paths (a file ending in\n"
    ".txt, one path or folder per line, or - for standard input), or a .npz of\n"
    "statistics (pytorch-fid's: mu and sigma; no weights are needed for two).\n"
    "The FID Inception (--network fid; weights pt_inception-2015-12-05 converted by\n"
    "tools/pth_to_safetensors.py, see the README) runs on each image as\n"
    "pytorch-fid's does: RGB, scaled to [0, 1], resized to 299 x 299 (bilinear\n"
    "without antialiasing), 2x - 1; the features are those of --dims, averaged\n"
    "over space; their mean and covariance (N - 1) are taken in float64, and\n"
    "d^2 = |mu1 - mu2|^2 + tr(s1 + s2 - 2 sqrtm(s1 s2)), with 1e-6 added to both\n"
    "diagonals where the product has no finite square root, as pytorch-fid does.\n"
    "An image that cannot be read is named and left out (the exit status is then\n"
    "1). With --save-stats, IMAGES' statistics are written to OUT.npz instead,\n"
    "which pytorch-fid reads (and fid reads pytorch-fid's).\n"
    "\n"
    "  --dims D           the features: 2048 (the final average pool, the default),\n"
    "                     768 (Mixed_6e), 192 (maxpool2) or 64 (maxpool1)\n"
    "  --save-stats       write the statistics of IMAGES to OUT.npz\n"
    "  --json             end with one JSON line: {\"fid\": VALUE, \"dims\": D,\n"
    "                     \"images\": [NA, NB] (null for a statistics file),\n"
    "                     \"failed\": K, \"offset\": BOOL (1e-6 was added)}\n"
    "  --batch B          images per forward (default 8, or the most that fit)\n"
    "  --workers N        decoding threads (default: one per CPU, at most 4)\n"
    "  --progress         print progress on standard error even when it is not a\n"
    "                     terminal\n" COMMON_OPTIONS_HELP;

/* pytorch-fid's blocks by --dims, and our layer each ends with */
static const struct {
    int dims;
    const char *layer;
} fid_blocks[] = {{2048, "avgpool"}, {768, "Mixed_6e"}, {192, "maxpool2"}, {64, "maxpool1"}};

/* Each image's features averaged over space (as pytorch-fid's
 * adaptive_avg_pool2d) into the accumulator, in float64. */
typedef struct {
    fid_accumulator acc;
    int channels, pixels;
    double *rows; /* a batch of averaged rows */
} fid_sink;

static cln_status add_features(batch_sink *sink, const char *const *names, int n, const float *out,
                               cln_error *err) {
    (void)names;
    (void)err;
    fid_sink *f = sink->ctx;
    const size_t per_image = (size_t)f->channels * f->pixels;
    for (int i = 0; i < n; i++)
        for (int c = 0; c < f->channels; c++) {
            const float *plane = out + i * per_image + (size_t)c * f->pixels;
            double sum = 0.0;
            for (int p = 0; p < f->pixels; p++)
                sum += plane[p];
            f->rows[(size_t)i * f->channels + c] = sum / f->pixels;
        }
    fid_accumulate(&f->acc, f->rows, (size_t)n);
    return CLN_OK;
}

static cln_status pack_features(batch_sink *sink, void **bytes, size_t *size, cln_error *err) {
    return fid_accumulator_pack(&((fid_sink *)sink->ctx)->acc, bytes, size, err);
}

static cln_status merge_features(batch_sink *sink, const void *bytes, size_t size, cln_error *err) {
    return fid_accumulator_merge(&((fid_sink *)sink->ctx)->acc, bytes, size, err);
}

static bool is_stats_file(const char *arg) {
    const size_t n = strlen(arg);
    return n >= 4 && strcasecmp(arg + n - 4, ".npz") == 0;
}

static bool is_list_file(const char *arg) {
    const size_t n = strlen(arg);
    return strcmp(arg, "-") == 0 || (n >= 4 && strcasecmp(arg + n - 4, ".txt") == 0);
}

#define FID_SIZE 299 /* pytorch-fid resizes every image to this */

/* The statistics of one set: read from a .npz, or made from its images on
 * the session (opened on first use); *failed counts images left out.
 * false (message printed) on an error that stops the run. */
static bool set_statistics(const common_args *a, image_args ia, session *s, const char *arg,
                           int dims, const char *const *outputs, size_t output_count,
                           fid_stats *out, size_t *failed) {
    cln_error err;
    if (is_stats_file(arg)) {
        if (fid_stats_read(arg, out, &err) != CLN_OK) return fail(&err), false;
        if (out->dims != dims) {
            fprintf(stderr, "clinception fid: %s holds statistics of %d dims, not --dims %d\n", arg,
                    out->dims, dims);
            return false;
        }
        return true;
    }
    path_list paths = {0};
    size_t unreadable = 0;
    fid_sink f = {0};
    bool ok = false;
    const char *layer = NULL;
    for (size_t i = 0; i < sizeof fid_blocks / sizeof fid_blocks[0]; i++)
        if (fid_blocks[i].dims == dims) layer = fid_blocks[i].layer;
    cln_status st = is_list_file(arg) ? paths_add_list_file(&paths, arg, &unreadable, &err)
                                      : paths_add_argument(&paths, arg, &unreadable, &err);
    if (st == CLN_OK)
        st =
            outputs_not_inputs(outputs, output_count, &paths, is_list_file(arg) ? arg : NULL, &err);
    if (st != CLN_OK) {
        fail(&err);
        goto done;
    }
    if (paths.count == 0) {
        fprintf(stderr,
                "clinception fid: %s: no images: it holds no file with an image extension\n", arg);
        goto done;
    }
    if (!s->model && open_session(a, s, &err) != CLN_OK) {
        fail(&err);
        goto done;
    }
    int c, oh, ow;
    if (cln_model_feature_shape(s->model, layer, FID_SIZE, FID_SIZE, &c, &oh, &ow, &err) !=
            CLN_OK ||
        fid_accumulator_init(&f.acc, c, &err) != CLN_OK) {
        fail(&err);
        goto done;
    }
    set_layer(s, layer);
    f.channels = c;
    f.pixels = oh * ow;
    if ((ia.batch = fitting_batch(s, ia.batch, FID_SIZE, FID_SIZE)) < 0) goto done;
    f.rows = malloc((size_t)ia.batch * c * sizeof *f.rows);
    if (!f.rows) {
        fprintf(stderr, "clinception fid: out of memory\n");
        goto done;
    }
    ia.crop = FID_SIZE;
    /* over several ranks, each adds up its own images, and rank 0 their sums */
    batch_sink sink = {add_features, &f,   (size_t)c * oh * ow, 0,
                       false,        true, pack_features,       merge_features};
    const int rc = run_images("fid", a, s, &ia, &paths, unreadable, &sink);
    if (!sink.completed) goto done;
    if (cluster_rank() > 0) { /* its sums went to rank 0 */
        ok = true;
        goto done;
    }
    *failed += rc ? paths.count - f.acc.count : 0;
    if (fid_stats_from(&f.acc, out, &err) != CLN_OK) {
        cln_error_append(&err, " (%s gave %zu)", arg, f.acc.count);
        fail(&err);
        goto done;
    }
    ok = true;
done:
    free(f.rows);
    fid_accumulator_free(&f.acc);
    paths_free(&paths);
    return ok;
}

static int cmd_fid(int argc, char **argv) {
    common_args a = {.command = "fid", .network = CLN_NETWORK_FID};
    image_args ia = {0};
    long dims = 2048;
    bool json = false, save = false;
    const opt_spec specs[] = {
        {"dims", OPT_COUNT, &dims, 1, 2048},        {"json", OPT_FLAG, &json, 0, 0},
        {"save-stats", OPT_FLAG, &save, 0, 0},      {"batch", OPT_COUNT, &ia.batch, 1, 4096},
        {"workers", OPT_COUNT, &ia.workers, 1, 64}, {"progress", OPT_FLAG, &ia.progress, 0, 0},
    };
    int parsed = parse_options(&a, "fid", fid_usage, specs, (int)(sizeof specs / sizeof specs[0]),
                               argc, argv);
    if (parsed >= 0) return parsed;
    if (a.network != CLN_NETWORK_FID) {
        fprintf(stderr, "clinception fid: FID runs the FID Inception; --network does not apply\n");
        return 2;
    }
    if (dims != 2048 && dims != 768 && dims != 192 && dims != 64) {
        fprintf(stderr, "clinception fid: --dims takes 2048, 768, 192 or 64, not %ld\n", dims);
        return 2;
    }
    if (argc - optind != 2) {
        fprintf(stderr,
                "clinception fid: give two sets: A B (or IMAGES OUT.npz with --save-stats)\n\n%s",
                fid_usage);
        return 2;
    }
    const char *first = argv[optind], *second = argv[optind + 1];
    if (save && (is_stats_file(first) || !is_stats_file(second))) {
        fprintf(stderr, "clinception fid: --save-stats takes images and then the .npz to write\n");
        return 2;
    }
    const bool images = !is_stats_file(first) || (!save && !is_stats_file(second));
    if (images && !weights_given(&a, fid_usage)) return 2;
    if (save && !writable_path(&a, second, NULL)) return 1;
    if (!writable_path(&a, a.csv, NULL) || !writable_path(&a, a.trace, NULL)) return 1;
    if (!ia.workers) ia.workers = default_workers();

    session s = {0};
    fid_stats sa = {0}, sb = {0};
    size_t failed = 0;
    int rc = 1;
    const char *outputs[] = {save ? second : NULL, a.csv, a.trace};
    if (!set_statistics(&a, ia, &s, first, (int)dims, outputs, 3, &sa, &failed)) goto done;
    cln_error err;
    if (save && cluster_rank() > 0) { /* rank 0 writes */
        rc = 0;
        command_finished = true;
        goto done;
    }
    if (save) {
        if (fid_stats_write(second, &sa, &err) != CLN_OK) {
            fail(&err);
            goto done;
        }
        fprintf(stderr, "wrote %s (statistics of %zu images, %ld dims)\n", second, sa.count, dims);
        rc = failed ? 1 : 0;
        command_finished = true;
        goto done;
    }
    a.profile = false; /* a second set: profile and trace only the first */
    a.csv = a.trace = NULL;
    if (!set_statistics(&a, ia, &s, second, (int)dims, outputs, 3, &sb, &failed)) goto done;
    if (cluster_rank() > 0) { /* rank 0 compares the sums of every rank */
        rc = 0;
        command_finished = true;
        goto done;
    }
    double fid;
    bool offset;
    if (fid_distance(&sa, &sb, &fid, &offset, &err) != CLN_OK) {
        fail(&err);
        goto done;
    }
    if (offset)
        fprintf(stderr,
                "clinception fid: the covariances' product is singular; %g was added to "
                "their diagonals, as pytorch-fid does\n",
                FID_EPS);
    if (json) {
        char na[32] = "null", nb[32] = "null"; /* the images behind a set; null for a file */
        if (sa.count) snprintf(na, sizeof na, "%zu", sa.count);
        if (sb.count) snprintf(nb, sizeof nb, "%zu", sb.count);
        printf("{\"fid\": %.17g, \"dims\": %ld, \"images\": [%s, %s], \"failed\": %zu, "
               "\"offset\": %s}\n",
               fid, dims, na, nb, failed, offset ? "true" : "false");
    } else {
        printf("FID: %.6f\n", fid);
    }
    rc = failed ? 1 : 0;
    command_finished = true;
done:
    fid_stats_free(&sa);
    fid_stats_free(&sb);
    close_session(&s);
    return rc;
}

/* bench over several devices: every device runs the same batch `warmup`
 * then `iters` times on its own thread, all at once. */
typedef struct {
    session *s;
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
        b->status = forward(&timed, b->s, b->input, b->batch, b->size, b->size, b->a->fwd,
                            b->logits, &ms, &b->err);
    if (!bench_wait_start(b->start)) return NULL;
    const double t0 = now_ms();
    for (long i = 0; i < b->iters && b->status == CLN_OK; i++)
        b->status = forward(&timed, b->s, b->input, b->batch, b->size, b->size, b->a->fwd,
                            b->logits, &ms, &b->err);
    b->seconds = (now_ms() - t0) / 1000.0;
    return NULL;
}

static int bench_devices(const common_args *a, session *s, const float *input, int batch, int size,
                         long warmup, long iters, bool json) {
    const int devices = 1 + s->other_count;
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
        b[d] = (bench_device){.s = d == 0 ? s : &s->others[d - 1],
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
                    cln_runtime_device(b[d].s->rt)->device_name, b[d].err.message);
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
            const char *name = cln_runtime_device(b[d].s->rt)->device_name;
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
        cluster_send(&rate, sizeof rate);
        command_finished = true;
        return 0;
    }
    double total = rate;
    printf("ranks           %d, each on one device, all at once\n", cluster_ranks());
    printf("  rank 0        %s: %.2f images/s\n", cln_runtime_device(s->rt)->device_name, rate);
    json_t *list = json ? json_array() : NULL;
    if (list) json_array_append_new(list, json_real(rate));
    for (int from = 1; from < cluster_ranks(); from++) {
        size_t size;
        double *theirs = cluster_receive(from, &size);
        const double r = size == sizeof *theirs ? *theirs : 0;
        free(theirs);
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

static int cmd_bench(int argc, char **argv) {
    common_args a = {.command = "bench"};
    long batch = 1, size = 299, iters = 10, warmup = 2;
    bool json = false;
    const opt_spec specs[] = {
        {"batch", OPT_COUNT, &batch, 1, 4096},
        {"size", OPT_COUNT, &size, CLN_MIN_INPUT_SIZE, 4096},
        {"iters", OPT_COUNT, &iters, 1, 100000},
        {"warmup", OPT_COUNT, &warmup, 0, 100000},
        {"json", OPT_FLAG, &json, 0, 0},
    };
    int parsed = parse_options(&a, "bench", bench_usage, specs,
                               (int)(sizeof specs / sizeof specs[0]), argc, argv);
    if (parsed >= 0) return parsed;
    if (!no_arguments_left("bench", bench_usage, argc, argv)) return 2;
    if (!weights_given(&a, bench_usage)) return 2;
    if (!writable_path(&a, a.csv, NULL) || !writable_path(&a, a.trace, NULL)) return 1;

    cln_error err = {.message = ""};
    session s = {0};
    int rc = 1;
    const size_t count = (size_t)batch * 3 * size * size;
    float *input = NULL, *logits = NULL;
    double *times = NULL;
    if (open_session(&a, &s, &err) != CLN_OK) goto done;
    /* the batch must fit the device before its input is made */
    if (fitting_batch(&s, batch, (int)size, (int)size) < 0) {
        err.message[0] = '\0';
        goto done;
    }
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
    if (s.other_count > 0) {
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
        if (forward(&timed, &s, input, (int)batch, (int)size, (int)size, a.fwd, logits, &ms,
                    &err) != CLN_OK)
            goto done;
        if (i == 0) first_ms = ms;
    }
    if (cluster_ranks() > 1) cluster_min(0); /* every rank warm: all start together */
    for (long i = 0; i < iters; i++) {
        if (forward(&timed, &s, input, (int)batch, (int)size, (int)size, a.fwd, logits, &times[i],
                    &err) != CLN_OK)
            goto done;
        if (warmup == 0 && i == 0) first_ms = times[i];
    }
    if (cln_runtime_measure_peak(s.rt, &s.peak_gflops, &err) != CLN_OK) goto done;
    if ((a.profile || a.csv || a.trace) && forward(&a, &s, input, (int)batch, (int)size, (int)size,
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

/* ---- tune ------------------------------------------------------------- */

static int cmd_tune(int argc, char **argv) {
    common_args a = {.command = "tune", .random_weights = true};
    long batch = 1, size = 299, repeats = 3;
    const opt_spec specs[] = {
        {"batch", OPT_COUNT, &batch, 1, 4096},
        {"size", OPT_COUNT, &size, CLN_MIN_INPUT_SIZE, 4096},
        {"repeats", OPT_COUNT, &repeats, 1, 1000},
        {"device", OPT_TEXT, &a.device, 0, 0},
    };
    int parsed = parse_options(NULL, "tune", tune_usage, specs,
                               (int)(sizeof specs / sizeof specs[0]), argc, argv);
    if (parsed >= 0) return parsed;
    if (!no_arguments_left("tune", tune_usage, argc, argv)) return 2;
    cln_error err;
    session s = {0};
    int rc = 1;
    size_t count;
    cln_tune_layer *t = NULL;
    if (open_session(&a, &s, &err) != CLN_OK) goto done;
    const cln_layer_info *layers = cln_model_layers(s.model, &count);
    t = calloc(count, sizeof *t);
    if (!t) {
        snprintf(err.message, sizeof err.message, "out of memory for the tuning report");
        goto done;
    }
    cln_tune_report report = {.layers = t};
    if (cln_model_tune(s.model, (int)batch, (int)size, (int)size, (int)repeats, &report, &err) !=
        CLN_OK)
        goto done;
    for (int c = 0; c < report.xgemm_candidates && c < CLN_XGEMM_CANDIDATES_MAX; c++)
        printf("CLBlast Xgemm parameter set %d: convolutions through CLBlast %.3f ms%s\n", c,
               report.xgemm_ms[c], c == report.xgemm_best ? " (chosen)" : "");
    if (report.xgemm_candidates) printf("\n");
    printf("%-30s %-10s %10s %10s %10s %11s  %s\n", "layer", "kind", "gemm ms", "tiled ms",
           "direct ms", "winograd ms", "chosen");
    double chosen = 0, tiled = 0;
    for (size_t i = 0; i < count; i++) {
        if (t[i].best == CLN_CONV_AUTO) continue;
        printf("%-30s %-10s", layers[i].name, layers[i].kind);
        for (int w = CLN_CONV_GEMM; w < CLN_CONV_ALGO_COUNT; w++)
            if (t[i].ms[w] > 0)
                printf(" %*.3f", w == CLN_CONV_WINOGRAD ? 11 : 10, t[i].ms[w]);
            else
                printf(" %*s", w == CLN_CONV_WINOGRAD ? 11 : 10, "-");
        printf("  %s\n", conv_names[t[i].best]);
        chosen += t[i].ms[t[i].best];
        tiled += t[i].ms[CLN_CONV_TILED];
    }
    printf("\nconvolutions: %.3f ms as chosen, %.3f ms all tiled\n", chosen, tiled);
    printf("wrote %s\n", cln_model_tuning_path(s.model));
    rc = 0;
done:
    if (rc != 0) fail(&err);
    free(t);
    close_session(&s);
    return rc;
}

static int run_command(int argc, char **argv) {
    if (argc < 2) {
        fputs(main_usage, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(main_usage, stdout);
        return 0;
    }
    if (strcmp(cmd, "devices") == 0)
        return command_finished = true, cmd_devices(argc - 1, argv + 1);
    if (cluster_ranks() > 1 && strcmp(cmd, "classify") != 0 && strcmp(cmd, "features") != 0 &&
        strcmp(cmd, "fid") != 0 && strcmp(cmd, "infer") != 0 && strcmp(cmd, "bench") != 0) {
        fprintf(stderr,
                "clinception-mpi: runs classify, features, fid, infer and bench, not '%s'\n", cmd);
        command_finished = true; /* every rank refuses alike */
        return 2;
    }
    if (strcmp(cmd, "infer") == 0) return cmd_infer(argc - 1, argv + 1);
    if (strcmp(cmd, "classify") == 0) return cmd_classify(argc - 1, argv + 1);
    if (strcmp(cmd, "features") == 0) return cmd_features(argc - 1, argv + 1);
    if (strcmp(cmd, "fid") == 0) return cmd_fid(argc - 1, argv + 1);
    if (strcmp(cmd, "bench") == 0) return cmd_bench(argc - 1, argv + 1);
    if (strcmp(cmd, "tune") == 0) return cmd_tune(argc - 1, argv + 1);
    fprintf(stderr, "clinception: unknown command '%s'\n\n%s", cmd, main_usage);
    return 2;
}

/* The results go to standard output: one that could not take them all (a
 * full disk, a closed pipe) fails the run. */
int main(int argc, char **argv) {
    cluster_start(&argc, &argv);
    int rc = run_command(argc, argv);
    errno = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "clinception: cannot write standard output%s%s\n", errno ? ": " : "",
                errno ? strerror(errno) : "");
        rc = 1;
        command_finished = false;
    }
    /* over several ranks, a rank that failed before its command's end may
     * leave the others waiting for it: that ends them all */
    if (rc == 1 && !command_finished) cluster_abort();
    return cluster_end(rc);
}
