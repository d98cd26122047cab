/* clinception: Inception v3 (torchvision's) on any OpenCL device.
 *
 * Overview
 *   A cln_runtime owns one OpenCL device: its context, a profiling queue and
 *   the compiled kernels. A cln_model owns the network's weights on that
 *   device (read from a .safetensors file, BatchNorm folded at load) and a
 *   memory plan for the last input shape it ran. cln_model_forward takes a
 *   float32 batch in NCHW order (N >= 1, H and W >= 75) and returns the
 *   logits, N x cln_model_num_classes (1000 for ImageNet's weights; a
 *   fine-tuned head's own count otherwise). cln_model_features returns any
 *   layer's output instead, the 2048 pooled features of "avgpool" say, and
 *   runs no layer past it.
 *
 *   Every function that can fail returns a cln_status and, when given a
 *   cln_error, fills it with a sentence naming what failed and where: the
 *   file and tensor, the layer, the OpenCL call and its error name, or the
 *   build log. Nothing is printed by the library.
 *
 * Usage
 *   cln_error err;
 *   cln_runtime *rt = NULL;
 *   cln_model *model = NULL;
 *   if (cln_runtime_create("gpu", &rt, &err) != CLN_OK ||
 *       cln_model_load(rt, "inception_v3.safetensors", &model, &err) != CLN_OK) {
 *       fprintf(stderr, "%s\n", err.message);
 *       ...
 *   }
 *   float *logits = malloc(n * cln_model_num_classes(model) * sizeof(float));
 *   cln_forward_options opts = {.transform_input = true};
 *   if (cln_model_forward(model, input, n, 299, 299, &opts, logits, &err) != CLN_OK) ...
 *   cln_model_free(model);
 *   cln_runtime_free(rt);
 *
 * Threads: a runtime and the models made on it belong to one thread at a
 * time; separate runtimes may be used on separate threads.
 */
#ifndef CLINCEPTION_H
#define CLINCEPTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* This header's version (the library's is cln_version()); meson.build's
 * project version is the same. */
#define CLN_VERSION_MAJOR 0
#define CLN_VERSION_MINOR 1
#define CLN_VERSION_PATCH 0
#define CLN_VERSION_STRING "0.1.0"

/* The version of the library linked, "MAJOR.MINOR.PATCH". */
const char *cln_version(void);

/* The classes of torchvision's ImageNet weights (a model's own count is
 * cln_model_num_classes), and the smallest input side of every network. */
#define CLN_NUM_CLASSES 1000
#define CLN_MIN_INPUT_SIZE 75

typedef enum {
    CLN_OK = 0,
    CLN_ERR_INVALID_ARGUMENT, /* a caller's value is out of range */
    CLN_ERR_IO,               /* a file could not be opened, read or written */
    CLN_ERR_FORMAT,           /* a file is malformed */
    CLN_ERR_MODEL,            /* a weight file does not fit the model */
    CLN_ERR_DEVICE,           /* no OpenCL device matches, or none exists */
    CLN_ERR_OPENCL,           /* an OpenCL call failed */
    CLN_ERR_CLBLAST,          /* a CLBlast call failed */
    CLN_ERR_OUT_OF_MEMORY,    /* a host allocation failed */
} cln_status;

#define CLN_ERROR_MESSAGE_SIZE 8192

typedef struct {
    cln_status status;
    char message[CLN_ERROR_MESSAGE_SIZE]; /* one or more lines, no trailing newline */
} cln_error;

/* The name of a status, e.g. "CLN_ERR_FORMAT". */
const char *cln_status_name(cln_status status);

/* ---- Devices ---------------------------------------------------------- */

typedef struct {
    int platform_index;
    int device_index;
    char platform_name[256];
    char device_name[256];
    char device_version[128]; /* CL_DEVICE_VERSION, e.g. "OpenCL 3.0 PoCL ..." */
    char driver_version[128];
    bool is_gpu;
    bool is_cpu;
    uint32_t compute_units;
    uint64_t global_mem_bytes;
    uint64_t max_alloc_bytes;
} cln_device_info;

/* Every device of every platform. *out is malloc'd; free it with free(). */
cln_status cln_devices_list(cln_device_info **out, size_t *count, cln_error *err);

/* The device a selector names. selector may be NULL or "" (then
 * $CLINCEPTION_DEVICE, then the first GPU, then the first device), an index
 * "P:D", "cpu", "gpu", or a case-insensitive substring of the platform or
 * device name. */
cln_status cln_device_select(const char *selector, cln_device_info *out, cln_error *err);

/* ---- Runtime ---------------------------------------------------------- */

typedef struct cln_runtime cln_runtime;

/* Opens the selected device (see cln_device_select) and builds the kernels.
 * Kernels come from the binary; with $CLINCEPTION_KERNEL_DIR set they are
 * read from that folder instead (for kernel development). */
cln_status cln_runtime_create(const char *selector, cln_runtime **out, cln_error *err);
void cln_runtime_free(cln_runtime *rt);
const cln_device_info *cln_runtime_device(const cln_runtime *rt);

typedef struct {
    double device_setup_ms;  /* platform, context and queue */
    double program_build_ms; /* our kernels, as built by cln_runtime_create (the driver's
                                cache may have served them) */
} cln_runtime_timings;

cln_runtime_timings cln_runtime_get_timings(const cln_runtime *rt);

/* The device's own multiply-add rate in GFLOP/s (2 flops per FMA), measured
 * with a small kernel of independent FMA chains (cl_kernels/peak.cl): the
 * limit the profile's GFLOP/s figures are set against. Takes a few tenths of
 * a second. */
cln_status cln_runtime_measure_peak(cln_runtime *rt, double *gflops, cln_error *err);

/* Builds every kernel program again with a unique option, so that no driver
 * cache can serve it, and returns the time: what a first run on a machine
 * pays. Diagnostic only; the runtime's own programs are untouched. */
cln_status cln_runtime_time_cold_build(cln_runtime *rt, double *ms, cln_error *err);

/* ---- Model ------------------------------------------------------------ */

typedef struct cln_model cln_model;

typedef enum {
    CLN_CONV_AUTO = 0, /* the best known for the device */
    CLN_CONV_GEMM,     /* CLBlast's GEMM: 1x1 on the activations, the rest after im2col */
    CLN_CONV_TILED,    /* the same with our tiled GEMM, bias and ReLU fused */
    CLN_CONV_DIRECT,   /* our direct kernel for every convolution larger than 1x1 */
    CLN_CONV_WINOGRAD, /* Winograd F(2x2, 3x3) for the 3x3 stride-1 ones, the rest tiled */
} cln_conv_algo;

#define CLN_CONV_ALGO_COUNT 5

/* Reads torchvision's Inception v3 state dict from a .safetensors file
 * (with or without AuxLogits.* and num_batches_tracked; F32, F16 or BF16),
 * folds BatchNorm into the convolutions and uploads the weights. The class
 * count is the file's: the rows of fc.weight, [classes, 2048] (a model
 * fine-tuned with fc = nn.Linear(2048, K) has K). */
cln_status cln_model_load(cln_runtime *rt, const char *path, cln_model **out, cln_error *err);

/* The same network with seeded random weights and 1000 classes (for trying
 * the engine without a weight file: its classes mean nothing). */
cln_status cln_model_load_random(cln_runtime *rt, uint64_t seed, cln_model **out, cln_error *err);

/* The networks a model can be:
 *   CLN_NETWORK_INCEPTION_V3  torchvision's Inception3, as above;
 *   CLN_NETWORK_FID           pytorch-fid's FID Inception (the TensorFlow
 *     2015 graph ported, pt_inception-2015-12-05): the pool branches of
 *     Mixed_5b-5d, 6b-6e and 7b average without counting the padding,
 *     Mixed_7c's takes the maximum, 1008 classes, no auxiliary head. Its
 *     input transform is pytorch-fid's normalize_input, 2x - 1, for images
 *     scaled to [0, 1]. */
typedef enum { CLN_NETWORK_INCEPTION_V3 = 0, CLN_NETWORK_FID = 1 } cln_network;
#define CLN_NETWORK_COUNT 2
/* "inception_v3" or "fid". */
const char *cln_network_name(cln_network network);
/* The network of that name; CLN_ERR_INVALID_ARGUMENT, naming the networks,
 * for another. */
cln_status cln_network_from_name(const char *name, cln_network *out, cln_error *err);
/* cln_model_load and cln_model_load_random for either network (the random
 * one with the network's own classes: 1000, or 1008 for the FID one). */
cln_status cln_model_load_network(cln_runtime *rt, cln_network network, const char *path,
                                  cln_model **out, cln_error *err);
cln_status cln_model_load_random_network(cln_runtime *rt, cln_network network, uint64_t seed,
                                         cln_model **out, cln_error *err);
cln_network cln_model_network(const cln_model *model);
void cln_model_free(cln_model *model);

typedef struct {
    /* the network's input transform: torchvision's transform_input for
     * Inception v3 (on for its pretrained weights), 2x - 1 for the FID one */
    bool transform_input;
    cln_conv_algo conv_algo; /* how convolutions run */
    bool profile;            /* record every kernel launch (see cln_model_profile) */
} cln_forward_options;

/* input: n x 3 x h x w floats (NCHW); logits: n x cln_model_num_classes
 * floats. options may be NULL (all defaults, transform_input off). */
cln_status cln_model_forward(cln_model *model, const float *input, int n, int h, int w,
                             const cln_forward_options *options, float *logits, cln_error *err);

/* The classes the model's fc layer has: its logits per image. */
int cln_model_num_classes(const cln_model *model);

/* ---- Features --------------------------------------------------------- */

/* The layers whose outputs cln_model_features returns, by torchvision module
 * name, in the order the network completes them: "Conv2d_1a_3x3" ...
 * "Conv2d_4a_3x3", "maxpool1", "maxpool2", each block "Mixed_5b" ...
 * "Mixed_7c" (its whole concatenated output) after the convolutions inside
 * it ("Mixed_5b.branch1x1", ...), then "avgpool" (the 2048 pooled features)
 * and "fc" (the logits). The array is the model's, valid while it lives. */
const char *const *cln_model_feature_layers(const cln_model *model, size_t *count);

/* The output shape per image of the named layer for an h x w input: c x oh x
 * ow (1 x 1 for avgpool and fc). An unknown name is CLN_ERR_INVALID_ARGUMENT,
 * with a message that lists the names. */
cln_status cln_model_feature_shape(const cln_model *model, const char *layer, int h, int w, int *c,
                                   int *oh, int *ow, cln_error *err);

/* Runs the network on input (as cln_model_forward) up to the named layer and
 * no further, and writes that layer's output to out: n x c x oh x ow floats
 * (NCHW), the shape cln_model_feature_shape gives. */
cln_status cln_model_features(cln_model *model, const char *layer, const float *input, int n, int h,
                              int w, const cln_forward_options *options, float *out,
                              cln_error *err);

/* ---- Introspection and profiling ------------------------------------- */

typedef struct {
    double read_ms;   /* reading, checking and folding the weights (0 for random ones) */
    double upload_ms; /* creating the device buffer and copying the weights */
} cln_model_timings;

cln_model_timings cln_model_get_timings(const cln_model *model);

/* The largest batch of h x w images, at most limit, whose buffers fit the
 * device with the model's weights (a larger one is refused by
 * cln_model_forward); 0 if not even one image fits, -1 if out of host
 * memory. */
int cln_model_largest_batch(const cln_model *model, int limit, int h, int w);

/* Device memory the model holds now and at most so far: weights, input,
 * activation arena and im2col scratch (CLBlast's own temporary buffers are
 * not counted). */
size_t cln_model_device_bytes(const cln_model *model);
size_t cln_model_peak_device_bytes(const cln_model *model);

typedef struct {
    const char *name;   /* torchvision module name, e.g. "Mixed_6b.branch7x7_2" */
    const char *kind;   /* "conv 3x3", "conv 1x7", ..., "max pool", "avg pool",
                           "global avg pool", "fc", "input" */
    int n, c, h, w;     /* output shape of the last forward (c: channels written) */
    double flops;       /* floating-point operations at that shape (2 per multiply-add) */
    cln_conv_algo algo; /* how a conv or fc ran in the last forward (AUTO: other layers) */
    int ran_with;       /* the layer whose kernels also computed this one in the last forward
                           (on CPUs, the first of the 1x1 convolutions that read one input and
                           run as one GEMM), else -1 */
} cln_layer_info;

/* The layers in execution order, with the shapes of the last forward (all
 * zero before the first). */
const cln_layer_info *cln_model_layers(const cln_model *model, size_t *count);

typedef struct {
    int layer;          /* index into cln_model_layers */
    const char *kernel; /* our kernel's name, or "CLBlast sgemm" */
    double start_ms;    /* device clock, from the start of the forward's first kernel */
    double end_ms;
} cln_kernel_event;

/* Every kernel launch of the last forward run with options->profile, in
 * order; NULL and 0 when there is none. Valid until the next forward. */
const cln_kernel_event *cln_model_profile(const cln_model *model, size_t *count);

/* ---- Tuning ----------------------------------------------------------- */

typedef struct {
    double ms[CLN_CONV_ALGO_COUNT]; /* device time by cln_conv_algo, from the end of the layer
                           before to the end of this one (best of the repeats; 0: not tried) */
    cln_conv_algo best;             /* the fastest (AUTO for layers that are not convolutions) */
} cln_tune_layer;

#define CLN_XGEMM_CANDIDATES_MAX 8

typedef struct {
    cln_tune_layer *layers; /* the caller's array, one per cln_model_layers entry, or NULL */
    int xgemm_candidates;   /* CLBlast Xgemm parameter sets tried (0 off a CPU) */
    double xgemm_ms[CLN_XGEMM_CANDIDATES_MAX]; /* the convolutions through CLBlast with each */
    int xgemm_best;                            /* the set chosen, -1 when none was tried */
} cln_tune_report;

/* Tunes the model's device for an n x 3 x h x w input, best of `repeats`
 * profiled forwards for each measurement: on a CPU, first CLBlast's GEMM
 * parameters (a few sets found by CLBlast's tuner on CPUs, timed on this
 * network's GEMMs, applied with CLBlastOverrideParameters); then every
 * convolution every way it can run (CLBlast's GEMM, our tiled GEMM, our
 * direct kernel), keeping the fastest per layer for CLN_CONV_AUTO. Writes
 * both to the device's tuning file, which every model on the device loads
 * from then on. report may be NULL. */
cln_status cln_model_tune(cln_model *model, int n, int h, int w, int repeats,
                          cln_tune_report *report, cln_error *err);

/* The device's tuning file (which may not exist yet). */
const char *cln_model_tuning_path(const cln_model *model);

/* Why the device's tuning file was ignored when the model was loaded, or
 * NULL. The file is a cache: one that cannot be read, is malformed anywhere
 * or is too large leaves the model on the defaults, with this sentence
 * (path, line, reason) for the caller to show. */
const char *cln_model_warning(const cln_model *model);

#ifdef __cplusplus
}
#endif

#endif /* CLINCEPTION_H */
