/* What the commands of the clinception program share, over the library's
 * public API alone: the options every command that loads a model takes
 * (options.h, their help beside them), the session (the
 * devices' pool, timed for --trace, and the profiled forward), output
 * checks, and runs of many images across devices and ranks (images.c).
 * Helpers return a cln_status with a cln_error; each command prints once. */
#ifndef CLN_CLI_H
#define CLN_CLI_H

#include "clinception.h"
#include "options.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RANDOM_WEIGHTS_SEED 1
#define MAX_PHASES 8
#define MAX_DEVICES 64

/* The command got to its end on this rank: every message it had to send or
 * receive went (clinception-mpi; see main). */
extern bool command_finished;

double now_ms(void);

/* Prints "clinception: MESSAGE" for err and returns 1, the exit status. */
int fail(const cln_error *err);
/* Prints "clinception: MESSAGE" on stderr, the control characters of the
 * paths in it escaped as the library's messages are. */
void cli_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- Options ----------------------------------------------------------- */

/* --conv values, indexed by cln_conv_algo */
extern const char *const conv_names[CLN_CONV_ALGO_COUNT];

typedef struct {
    const char *command;
    const char *weights, *device, *csv, *trace;
    bool random_weights, profile;
    cln_network network;
    cln_forward_options fwd;
} common_args;

/* The options every command that loads a model takes, into a common_args. */
#define COMMON_OPTIONS(a)                                                                              {"weights", OPT_TEXT, &(a).weights, 0, 0, "FILE",                                                   "the network's torchvision state dict in .safetensors (F32,\n"                                     "F16 or BF16; AuxLogits.* and num_batches_tracked are ignored)"},                                     {"random-weights", OPT_FLAG, &(a).random_weights, 0, 0, NULL,                                       "seeded random weights instead (the results mean nothing)"},                                      {"network", OPT_NETWORK, &(a).network, 0, 0, "NET",                                                 "inception_v3 (torchvision's Inception v3, the default) or\n"                                      "fid (pytorch-fid's FID Inception, the TensorFlow graph's\n"                                       "port: weights pt_inception-2015-12-05, 1008 classes)"},                                          {"device", OPT_TEXT, &(a).device, 0, 0, "D",                                                        "OpenCL device: P:D index (see `clinception devices`), cpu,\n"                                     "gpu, or part of the platform or device name; default\n"                                           "$CLINCEPTION_DEVICE, then the first GPU, then the first device.\n"                                "Several, comma-separated, or all: each gets its own runtime\n"                                    "and model on a thread of its own, and batches go to whichever\n"                                  "is free, results in input order (infer splits its batch,\n"                                       "bench runs every device at once; not with --profile)"},                                          {"conv", OPT_CONV, &(a).fwd.conv_algo, 0, 0, "ALGO",                                                "how convolutions run: auto (the default, below), gemm\n"                                          "(im2col + CLBlast's GEMM), tiled (im2col +\n"                                                     "our tiled GEMM), direct (our direct kernel, for those\n"                                          "larger than 1x1) or winograd (Winograd F(2x2, 3x3) for the\n"                                     "3x3 stride-1 ones, the rest tiled); auto follows the\n"                                           "device's tuning file (clinception tune) where there is one,\n"                                    "else on CPUs winograd for 3x3 stride-1 ones of >= 64 input\n"                                     "channels and tiled for the rest, gemm on other devices"},                                        {"profile", OPT_FLAG, &(a).profile, 0, 0, NULL,                                                     "print a per-layer table of device times from OpenCL events,\n"                                    "with each layer kind's share of the device's measured peak,\n"                                    "of a warm forward (one unprofiled forward runs first; for\n"                                      "classify and features, of the first batch)"},                                                    {"csv", OPT_TEXT, &(a).csv, 0, 0, "FILE", "write that table as CSV"}, {                            "trace", OPT_TEXT, &(a).trace, 0, 0, "FILE",                                                       "write a Chrome trace (Perfetto, chrome://tracing) of every\n"                                     "kernel launch and the start-up phases"                                                        }

/* One of --weights and --random-weights (message and usage printed if not). */
bool weights_given(const command *c, const common_args *a);
/* The run's outputs are checked before any work: one whose folder cannot be
 * written fails now, not after the forward, and so does one that is not a
 * regular file, is read-only, is one of the run's inputs (the weights,
 * input) or is another of the outputs (cln_check_outputs). NULLs pass. */
cln_status check_outputs(const common_args *a, const char *const *outputs, size_t count,
                         const char *input, cln_error *err);

/* ---- The session -------------------------------------------------------- */

/* The devices' pool, with the host phases timed for --trace. */
typedef struct {
    cln_pool *pool;
    cln_runtime *rt;  /* the first device's */
    cln_model *model; /* the first device's */
    int devices;
    cln_host_phase phases[MAX_PHASES];
    size_t phase_count;
    double peak_gflops;       /* the device's measured FMA rate, once measured (0: not yet) */
    bool warm[MAX_DEVICES];   /* a forward has run: the driver has compiled what it needed */
    const char *layer;        /* the layer whose output forward returns (NULL: the logits) */
    uint64_t weights_hash;    /* over several ranks, of the weight file's bytes (random: 1) */
} session;

/* Opens every device --device (or $CLINCEPTION_DEVICE) names, each with its
 * own runtime and model; over several ranks, this rank's one. */
cln_status open_session(const common_args *a, session *s, cln_error *err);
void close_session(session *s);

/* Runs one forward on device d and, when a asks, reports its profile: of a
 * warm forward, the device's first one run unprofiled before it. */
cln_status forward_on(const common_args *a, session *s, int d, const float *input, int n, int h,
                      int w, cln_forward_options fwd, float *out, double *wall_ms, cln_error *err);

/* n images of h x w over every device of the session, chunk at a time
 * (each on whichever device is free), to its layer: out gets each image's
 * outputs in input order. profile: each chunk reports as a asks (else
 * none does); a failure names the device when there are several. */
cln_status run_input(const common_args *a, session *s, const float *input, int n, int h, int w,
                     int chunk, cln_forward_options fwd, bool profile, float *out, size_t *images,
                     cln_error *err);

/* FNV-1a, 64 bits, of n bytes after h (start from FNV_START). */
#define FNV_START 0xcbf29ce484222325ull
uint64_t fnv1a(uint64_t h, const void *bytes, size_t n);

/* Over several ranks, before any work: every rank must see the run rank 0
 * sees (cluster_agree): `count` inputs whose paths or data hash to
 * `inputs`, the same weights (their content), network, layer,
 * preprocessing (a hash of its settings) and options that change results;
 * a failure names the rank and what differs. One rank: nothing to do. */
cln_status agree_on_run(const common_args *a, const session *s, uint64_t count, uint64_t inputs,
                        uint64_t preprocessing, cln_error *err);

/* agree_on_run for an input batch (infer, features --input): its shape and
 * data. */
cln_status agree_on_batch(const common_args *a, const session *s, const cln_npy *x,
                          cln_error *err);

/* Each device's share of a run over several, on stderr. */
void report_shares(const session *s, const size_t *images);

/* Reads an input batch (infer, features --input): a float32 .npy of shape
 * (N, 3, H, W) with 1 <= N <= 65536 and CLN_MIN_INPUT_SIZE <= H, W <= 65536.
 * On failure x is freed and err says why. */
cln_status read_batch(const char *path, cln_npy *x, cln_error *err);

/* *batch: as asked, else DEFAULT_BATCH or the most that fit if fewer, the
 * same on every rank; a failure when the batch asked for, or a single
 * image, does not fit a device. */
cln_status fitting_batch(const session *s, long asked, int h, int w, long *batch, cln_error *err);

/* ---- Many images (images.c) ------------------------------------------- */

#define DEFAULT_BATCH 8       /* images per forward, unless fewer fit the device */
#define MAX_TOP (1 << 20)     /* --top's bound before the model's classes are known */

/* What classify, features and fid share: where the images come from, how
 * they are read, how they are batched. */
typedef struct {
    long resize, crop, batch, workers;
    const char *files_from;
    bool progress;
} image_args;

/* --transform-input's help (infer, features --input). */
#define TRANSFORM_INPUT_HELP                                                                       \
    "apply the network's input transform: torchvision's\n"                                         \
    "transform_input for Inception v3 (on for its pretrained\n"                                    \
    "weights: the input is then normalized with ImageNet's\n"                                      \
    "mean/std); 2x - 1 for the FID Inception (the input in [0, 1])"

/* How many images run and how they are read, into an image_args. */
#define IMAGE_BATCH_OPTIONS(ia)                                                                    \
    {"batch", OPT_COUNT, &(ia).batch, 1, 4096, "B",                                                \
     "images per forward (default 8, or the most that fit the\ndevice if fewer)"},                 \
        {"workers", OPT_COUNT, &(ia).workers, 1, 64, "N",                                          \
         "threads decoding and preprocessing ahead of the device\n"                                \
         "(default: one per CPU, at most 4)"},                                                     \
    {                                                                                              \
        "progress", OPT_FLAG, &(ia).progress, 0, 0, NULL,                                          \
            "print progress on standard error (images done, images/s,\n"                           \
            "time left) also when it is not a terminal"                                            \
    }
#define IMAGE_OPTIONS(ia)                                                                          \
    {"files-from", OPT_TEXT, &(ia).files_from, 0, 0, "LIST",                                       \
     "also read the paths (files or folders) from LIST, one per\nline; - for standard input"},     \
        {"resize", OPT_COUNT, &(ia).resize, 1, 4096, "S",                                          \
         "shorter side before cropping (default 342)"},                                            \
        {"crop", OPT_COUNT, &(ia).crop, 75, 4096, "C", "center crop (default 299; at least 75)"},  \
        IMAGE_BATCH_OPTIONS(ia)

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
    "naming it and is skipped; the others go on (the exit status is then 1). A\n"                 \
    "summary (images, failures, seconds, images/s) ends the run on standard error,\n"              \
    "with progress on the way when standard error is a terminal.\n"

/* A set of images that prints what it skips. */
cln_status new_image_set(cln_image_set **out, cln_error *err);

/* The images of the arguments (argv[optind..]) and --files-from into set;
 * a failure when the list cannot be read, there are no images, or one of
 * the run's outputs (NULLs skipped) is one of the images or the list: it is
 * refused before any work, so that no image is replaced by what is
 * written. */
cln_status list_images(const image_args *ia, int argc, char **argv, const char *const *outputs,
                       size_t output_count, cln_image_set *set, cln_error *err);

/* Refuses an output (NULLs skipped) that is one of the images, or the list
 * they were read from (NULL: none): it would replace an input. */
cln_status outputs_not_inputs(const char *const *outputs, size_t count, const cln_image_set *set,
                              const char *list, cln_error *err);

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

/* Streams the set through the session's devices in batches of ia->batch,
 * decoded on ia->workers threads: each batch's outputs to sink in input
 * order, each image that cannot be read named on stderr, progress and a
 * summary on stderr. *all_read says whether every image (and folder) went
 * through; a failure is an error that stopped the run. */
cln_status run_images(const char *command, const common_args *a, session *s, const image_args *ia,
                      const cln_image_set *set, batch_sink *sink, bool *all_read, cln_error *err);

/* ---- The commands (cmd_NAME.c), each returning the exit status ---------- */

int cmd_devices(int argc, char **argv);
int cmd_infer(int argc, char **argv);
int cmd_classify(int argc, char **argv);
int cmd_features(int argc, char **argv);
int cmd_fid(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_tune(int argc, char **argv);

#endif
