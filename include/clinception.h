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
 *   The jobs built on them are here too, so that a program or the Python
 *   package does each as the clinception program does: images decoded as
 *   PIL does and preprocessed as torchvision or pytorch-fid does
 *   (cln_image_*); sets of images from files, folders and lists, streamed by
 *   worker threads in bounded memory (cln_image_set_*, cln_image_stream_*);
 *   a pool of devices, each with its own runtime and model, that runs a set
 *   or a batch with callbacks for each batch's outputs in input order and for
 *   each image that could not be read (cln_pool_*); classes and labels; FID
 *   statistics streamed in float64, their .npz files and the distance
 *   (cln_fid_*); .npy files and the profile reports.
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
 *   Many images, on every device, into FID statistics:
 *   cln_pool_params pp = cln_pool_default_params();
 *   pp.devices = "all";
 *   pp.network = CLN_NETWORK_FID;
 *   pp.weights = "pt_inception.safetensors";
 *   cln_image_set *set; cln_pool *pool; cln_fid_accumulator *acc;
 *   cln_fid_stats stats;
 *   cln_image_set_create(NULL, NULL, &set, &err);
 *   cln_image_set_add(set, "images/", &err);
 *   cln_pool_create(&pp, &pool, &err);
 *   cln_fid_accumulator_create(2048, &acc, &err);
 *   cln_pool_fid_accumulate(pool, cln_image_set_paths(set), cln_image_set_count(set), NULL,
 *                           acc, &err);
 *   cln_fid_stats_from(acc, &stats, &err);  (each status checked as above)
 *
 * Threads: a runtime and the models made on it belong to one thread at a
 * time; separate runtimes may be used on separate threads. A pool keeps that
 * promise for its devices: each runtime is used by its own thread while a
 * run lasts; on_batch and on_failure come on the caller's thread, run on its
 * device's. Two runs on one pool must not overlap.
 */
#ifndef CLINCEPTION_H
#define CLINCEPTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the library's exported functions: the shared library is built with
 * hidden visibility, and exports these alone. */
#if defined(_WIN32)
#define CLN_API
#elif defined(__GNUC__)
#define CLN_API __attribute__((visibility("default")))
#else
#define CLN_API
#endif

/* This header's version (the library's is cln_version()); meson.build's
 * project version is the same. */
#define CLN_VERSION_MAJOR 0
#define CLN_VERSION_MINOR 1
#define CLN_VERSION_PATCH 0
#define CLN_VERSION_STRING "0.1.0"

/* The version of the library linked, "MAJOR.MINOR.PATCH". */
CLN_API const char *cln_version(void);

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
    CLN_ERR_GEMM,             /* a call of the GEMM library (CLBlast) failed */
    CLN_ERR_OUT_OF_MEMORY,    /* a host allocation failed */
} cln_status;

#define CLN_ERROR_MESSAGE_SIZE 8192

typedef struct {
    cln_status status;
    char message[CLN_ERROR_MESSAGE_SIZE]; /* one or more lines, no trailing newline */
} cln_error;

/* Fills err (when not NULL) with a formatted message, its control
 * characters (line breaks too, so that no quoted name can forge a line;
 * tabs stay) written as \xNN as every message's are, and returns status:
 * for callbacks, and programs that report as the library does. */
CLN_API cln_status cln_error_set(cln_error *err, cln_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Appends formatted text to the message of an error already set (context
 * such as the input that caused it), escaped the same way. */
CLN_API void cln_error_append(cln_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The name of a status, e.g. "CLN_ERR_FORMAT". */
CLN_API const char *cln_status_name(cln_status status);

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
CLN_API cln_status cln_devices_list(cln_device_info **out, size_t *count, cln_error *err);

/* The device a selector names. selector may be NULL or "" (then
 * $CLINCEPTION_DEVICE, then the first GPU, then the first device), an index
 * "P:D", "cpu", "gpu", or a case-insensitive substring of the platform or
 * device name. */
CLN_API cln_status cln_device_select(const char *selector, cln_device_info *out, cln_error *err);

/* ---- Runtime ---------------------------------------------------------- */

typedef struct cln_runtime cln_runtime;

/* Opens the selected device (see cln_device_select) and builds the kernels.
 * Kernels come from the binary; with $CLINCEPTION_KERNEL_DIR set they are
 * read from that folder instead (for kernel development). */
CLN_API cln_status cln_runtime_create(const char *selector, cln_runtime **out, cln_error *err);
CLN_API void cln_runtime_free(cln_runtime *rt);
CLN_API const cln_device_info *cln_runtime_device(const cln_runtime *rt);

typedef struct {
    double device_setup_ms;  /* platform, context and queue */
    double program_build_ms; /* our kernels, as built by cln_runtime_create (the driver's
                                cache may have served them) */
} cln_runtime_timings;

CLN_API cln_runtime_timings cln_runtime_get_timings(const cln_runtime *rt);

/* The device's own multiply-add rate in GFLOP/s (2 flops per FMA), measured
 * with a small kernel of independent FMA chains (cl_kernels/peak.cl): the
 * limit the profile's GFLOP/s figures are set against. Takes a few tenths of
 * a second. */
CLN_API cln_status cln_runtime_measure_peak(cln_runtime *rt, double *gflops, cln_error *err);

/* Builds every kernel program again with a unique option, so that no driver
 * cache can serve it, and returns the time: what a first run on a machine
 * pays. Diagnostic only; the runtime's own programs are untouched. */
CLN_API cln_status cln_runtime_time_cold_build(cln_runtime *rt, double *ms, cln_error *err);

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
CLN_API cln_status cln_model_load(cln_runtime *rt, const char *path, cln_model **out, cln_error *err);

/* The same network with seeded random weights and 1000 classes (for trying
 * the engine without a weight file: its classes mean nothing). */
CLN_API cln_status cln_model_load_random(cln_runtime *rt, uint64_t seed, cln_model **out, cln_error *err);

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
CLN_API const char *cln_network_name(cln_network network);
/* The network of that name; CLN_ERR_INVALID_ARGUMENT, naming the networks,
 * for another. */
CLN_API cln_status cln_network_from_name(const char *name, cln_network *out, cln_error *err);
/* cln_model_load and cln_model_load_random for either network (the random
 * one with the network's own classes: 1000, or 1008 for the FID one). */
CLN_API cln_status cln_model_load_network(cln_runtime *rt, cln_network network, const char *path,
                                  cln_model **out, cln_error *err);
CLN_API cln_status cln_model_load_random_network(cln_runtime *rt, cln_network network, uint64_t seed,
                                         cln_model **out, cln_error *err);
CLN_API cln_network cln_model_network(const cln_model *model);
CLN_API void cln_model_free(cln_model *model);

typedef struct {
    /* the network's input transform: torchvision's transform_input for
     * Inception v3 (on for its pretrained weights), 2x - 1 for the FID one */
    bool transform_input;
    cln_conv_algo conv_algo; /* how convolutions run */
    bool profile;            /* record every kernel launch (see cln_model_profile) */
} cln_forward_options;

/* input: n x 3 x h x w floats (NCHW); logits: n x cln_model_num_classes
 * floats. options may be NULL (all defaults, transform_input off). */
CLN_API cln_status cln_model_forward(cln_model *model, const float *input, int n, int h, int w,
                             const cln_forward_options *options, float *logits, cln_error *err);

/* The classes the model's fc layer has: its logits per image. */
CLN_API int cln_model_num_classes(const cln_model *model);

/* ---- Features --------------------------------------------------------- */

/* The layers whose outputs cln_model_features returns, by torchvision module
 * name, in the order the network completes them: "Conv2d_1a_3x3" ...
 * "Conv2d_4a_3x3", "maxpool1", "maxpool2", each block "Mixed_5b" ...
 * "Mixed_7c" (its whole concatenated output) after the convolutions inside
 * it ("Mixed_5b.branch1x1", ...), then "avgpool" (the 2048 pooled features)
 * and "fc" (the logits). The array is the model's, valid while it lives. */
CLN_API const char *const *cln_model_feature_layers(const cln_model *model, size_t *count);

/* The output shape per image of the named layer for an h x w input: c x oh x
 * ow (1 x 1 for avgpool and fc). An unknown name is CLN_ERR_INVALID_ARGUMENT,
 * with a message that lists the names. */
CLN_API cln_status cln_model_feature_shape(const cln_model *model, const char *layer, int h, int w, int *c,
                                   int *oh, int *ow, cln_error *err);

/* Runs the network on input (as cln_model_forward) up to the named layer and
 * no further, and writes that layer's output to out: n x c x oh x ow floats
 * (NCHW), the shape cln_model_feature_shape gives. */
CLN_API cln_status cln_model_features(cln_model *model, const char *layer, const float *input, int n, int h,
                              int w, const cln_forward_options *options, float *out,
                              cln_error *err);

/* ---- Introspection and profiling ------------------------------------- */

typedef struct {
    double read_ms;   /* reading, checking and folding the weights (0 for random ones) */
    double upload_ms; /* creating the device buffer and copying the weights */
} cln_model_timings;

CLN_API cln_model_timings cln_model_get_timings(const cln_model *model);

/* The largest batch of h x w images, at most limit, whose buffers fit the
 * device with the model's weights (a larger one is refused by
 * cln_model_forward); 0 if not even one image fits, -1 if out of host
 * memory. */
CLN_API int cln_model_largest_batch(const cln_model *model, int limit, int h, int w);

/* Device memory the model holds now and at most so far: weights, input,
 * activation arena and im2col scratch (CLBlast's own temporary buffers are
 * not counted). */
CLN_API size_t cln_model_device_bytes(const cln_model *model);
CLN_API size_t cln_model_peak_device_bytes(const cln_model *model);

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
CLN_API const cln_layer_info *cln_model_layers(const cln_model *model, size_t *count);

typedef struct {
    int layer;          /* index into cln_model_layers */
    const char *kernel; /* our kernel's name, or "CLBlast sgemm" */
    double start_ms;    /* device clock, from the start of the forward's first kernel */
    double end_ms;
} cln_kernel_event;

/* Every kernel launch of the last forward run with options->profile, in
 * order; NULL and 0 when there is none. Valid until the next forward. */
CLN_API const cln_kernel_event *cln_model_profile(const cln_model *model, size_t *count);

/* ---- Tuning ----------------------------------------------------------- */

typedef struct {
    double ms[CLN_CONV_ALGO_COUNT]; /* device time by cln_conv_algo, from the end of the layer
                           before to the end of this one (best of the repeats; 0: not tried) */
    cln_conv_algo best;             /* the fastest (AUTO for layers that are not convolutions) */
} cln_tune_layer;

#define CLN_GEMM_CANDIDATES_MAX 8

typedef struct {
    cln_tune_layer *layers; /* the caller's array, one per cln_model_layers entry, or NULL */
    int gemm_candidates;   /* CLBlast Xgemm parameter sets tried (0 off a CPU) */
    double gemm_ms[CLN_GEMM_CANDIDATES_MAX]; /* the convolutions through CLBlast with each */
    int gemm_best;                            /* the set chosen, -1 when none was tried */
} cln_tune_report;

/* Tunes the model's device for an n x 3 x h x w input, best of `repeats`
 * profiled forwards for each measurement: on a CPU, first CLBlast's GEMM
 * parameters (a few sets found by CLBlast's tuner on CPUs, timed on this
 * network's GEMMs, applied with CLBlastOverrideParameters); then every
 * convolution every way it can run (CLBlast's GEMM, our tiled GEMM, our
 * direct kernel), keeping the fastest per layer for CLN_CONV_AUTO. Writes
 * both to the device's tuning file, which every model on the device loads
 * from then on. report may be NULL. */
CLN_API cln_status cln_model_tune(cln_model *model, int n, int h, int w, int repeats,
                          cln_tune_report *report, cln_error *err);

/* The device's tuning file (which may not exist yet). */
CLN_API const char *cln_model_tuning_path(const cln_model *model);

/* Why the device's tuning file was ignored when the model was loaded, or
 * NULL. The file is a cache: one that cannot be read, is malformed anywhere
 * or is too large leaves the model on the defaults, with this sentence
 * (path, line, reason) for the caller to show. */
CLN_API const char *cln_model_warning(const cln_model *model);

/* ---- Output files ------------------------------------------------------ */

/* Refuses an output path that exists and is not a regular file (a device,
 * a named pipe, a folder), that is read-only (its user meant it), or that is
 * the same file as one of inputs[count] (NULLs skipped): writing it would
 * destroy an input. */
CLN_API cln_status cln_check_output(const char *path, const char *const *inputs, size_t count,
                                    cln_error *err);
/* cln_check_output for each of outputs[count] (NULLs skipped), and no two
 * of them the same file (existing or not): one would be lost. */
CLN_API cln_status cln_check_outputs(const char *const *outputs, size_t count,
                                     const char *const *inputs, size_t input_count,
                                     cln_error *err);

/* A file written under a temporary name beside its path (PATH.XXXXXX) and
 * renamed into place when committed: what was at the path is replaced
 * whole or kept. */
typedef struct cln_output cln_output;
/* Refuses (as cln_check_output) and opens; *stream is where to write. */
CLN_API cln_status cln_output_open(const char *path, cln_output **out, FILE **stream,
                                   cln_error *err);
/* Flushes, syncs, closes and renames, and frees the output whatever the
 * outcome (on failure the temporary file is removed). */
CLN_API cln_status cln_output_commit(cln_output *out, cln_error *err);
/* Closes and removes the temporary file and frees the output; NULL is
 * ignored. */
CLN_API void cln_output_abort(cln_output *out);

/* Removes every temporary file the library has open now (of cln_output_*,
 * cln_npy_writer_*, cln_npy_write, cln_fid_stats_write), and nothing else:
 * async-signal-safe, for a program's SIGINT and SIGTERM handler, after which
 * the program ends. What SIGKILL interrupts can leave PATH.XXXXXX files. */
CLN_API void cln_remove_temporaries(void);

/* ---- Images ----------------------------------------------------------- */

#define CLN_IMAGE_MAX_SIDE 16384             /* pixels; a wider or taller image is refused */
#define CLN_IMAGE_MAX_PIXELS 100000000       /* width x height; a larger image is refused */
#define CLN_IMAGE_MAX_FILE_BYTES (1 << 30)   /* a larger file is refused before decoding */
#define CLN_IMAGE_MAX_RESIZE 4096            /* the largest short side cln_image_preprocess makes */
#define CLN_IMAGE_MAX_CROP 4096              /* the largest center crop */
#define CLN_IMAGE_MAX_RESIZED_SIDE (1 << 20) /* the largest long side after resizing */

typedef struct {
    int width, height;
    unsigned char *rgb; /* (height, width, 3): 8-bit R, G, B; owned, release with cln_image_free */
} cln_image;

/* Decodes an image file as cln_image_load_memory does. A file that cannot be
 * opened or read is CLN_ERR_IO, with a message naming it. */
CLN_API cln_status cln_image_load(const char *path, cln_image *out, cln_error *err);

/* Decodes an image in memory (JPEG, PNG, BMP, GIF) to 8-bit RGB as PIL's
 * Image.open(...).convert('RGB') does: grey replicated, alpha dropped,
 * palettes expanded (a GIF's transparent colour too), 16-bit samples reduced
 * to their high byte but 16-bit grey clipped at 255 as PIL 9.4 does, a
 * top-down BMP read top down, a JPEG to PIL's bytes (CMYK included). What PIL
 * refuses is refused: a BMP or GIF cut short, a GIF whose first frame does
 * not cover its screen. A corrupt, truncated, empty or unsupported file, or
 * one larger than the limits above, is CLN_ERR_FORMAT with a message naming
 * it (name) and the decoder's reason. *out is zeroed on failure. */
CLN_API cln_status cln_image_load_memory(const char *name, const unsigned char *bytes, size_t size,
                                         cln_image *out, cln_error *err);

/* Releases an image and zeroes it; NULL is ignored. */
CLN_API void cln_image_free(cln_image *img);

/* Whether a file name ends in the extension of an image cln_image_load
 * reads (.jpg, .jpeg, .png, .bmp, .gif; any case). */
CLN_API bool cln_path_is_image(const char *name);

/* torchvision's eval transform for Inception v3 with transform_input:
 *   Resize(resize): the short side to resize, the long side to
 *     int(resize * long / short), by PIL's antialiased bilinear resampling
 *     (Pillow 9.4, uint8 results after each pass);
 *   CenterCrop(crop): offsets int(round((size - crop) / 2.0)), zero padding
 *     where the resized image is smaller than crop;
 *   ToTensor, Normalize(ImageNet mean, std) and transform_input, which
 *     together map a value v to (v / 255 - 0.5) / 0.5.
 * So the result goes to cln_model_forward with transform_input off. resize in
 * [1, CLN_IMAGE_MAX_RESIZE], crop in [1, CLN_IMAGE_MAX_CROP]; out: 3 x crop x
 * crop floats (CHW). Anything else is CLN_ERR_INVALID_ARGUMENT. */
CLN_API cln_status cln_image_preprocess(const cln_image *img, int resize, int crop, float *out,
                                        cln_error *err);

/* pytorch-fid's preprocessing: ToTensor (v / 255), then the whole image
 * resized to size x size by torch's F.interpolate(mode="bilinear",
 * align_corners=False), without antialiasing. Its 2x - 1 is left to the FID
 * Inception's input transform (cln_forward_options.transform_input). out: 3 x
 * size x size floats in [0, 1]; size in [1, CLN_IMAGE_MAX_CROP]. */
CLN_API cln_status cln_image_preprocess_fid(const cln_image *img, int size, float *out,
                                            cln_error *err);

/* ---- Image sets ------------------------------------------------------- */

/* A list of image paths, from files, folders and lists of them. */
typedef struct cln_image_set cln_image_set;

/* Told of something skipped while listing (a folder that cannot be read, a
 * link to a folder listed already), on the caller's thread. */
typedef void (*cln_warning_fn)(void *ctx, const char *message);

/* An empty set; warn (may be NULL) hears what is skipped. */
CLN_API cln_status cln_image_set_create(cln_warning_fn warn, void *ctx, cln_image_set **out,
                                        cln_error *err);
CLN_API void cln_image_set_free(cln_image_set *set);

/* Adds a folder's image files (cln_path_is_image), walked recursively
 * (symbolic links followed, a folder reached twice walked once), in sorted
 * path order; anything else as it is (a file that is not there is the
 * decoder's to report when it is read). A folder that cannot be read is
 * told to warn and counted (cln_image_set_unreadable). Fails only when out of
 * memory. */
CLN_API cln_status cln_image_set_add(cln_image_set *set, const char *path, cln_error *err);

/* Adds each line of the file list ("-": standard input) as cln_image_set_add
 * does; blank lines are skipped, a line may end in CRLF, a UTF-8 byte-order
 * mark before the first is dropped. */
CLN_API cln_status cln_image_set_add_list(cln_image_set *set, const char *list, cln_error *err);

CLN_API size_t cln_image_set_count(const cln_image_set *set);
/* The paths in order: count entries, valid until the set changes. */
CLN_API const char *const *cln_image_set_paths(const cln_image_set *set);
/* Folders that could not be read. */
CLN_API size_t cln_image_set_unreadable(const cln_image_set *set);

/* How images become a network's input: torchvision's eval transform for
 * Inception v3 (cln_image_preprocess), or pytorch-fid's for the FID Inception
 * (cln_image_preprocess_fid, the network's input transform after it). */
typedef enum { CLN_PREPROCESS_TORCHVISION = 0, CLN_PREPROCESS_FID = 1 } cln_preprocess;

typedef struct {
    cln_preprocess preprocess; /* TORCHVISION */
    int resize;                /* 342: the short side (TORCHVISION only) */
    int crop;                  /* 299: each image's side as the network sees it */
    int workers;               /* decoding threads; 0: one per CPU, at most 4 */
    size_t slots;              /* images decoded ahead, at least workers + 1; 0: 16 */
} cln_stream_params;

CLN_API cln_stream_params cln_stream_default_params(void);

/* Decodes and preprocesses images on worker threads ahead of the consumer,
 * into a bounded ring of slots taken in input order. */
typedef struct cln_image_stream cln_image_stream;

/* Starts the workers over paths[count] (the caller's, kept until the stream
 * is freed). params may be NULL (the defaults). */
CLN_API cln_status cln_image_stream_start(const char *const *paths, size_t count,
                                          const cln_stream_params *params,
                                          cln_image_stream **out, cln_error *err);
/* Waits for the next image in input order. Returns false at the end;
 * otherwise *index is its index in paths, and either *pixels its
 * preprocessed floats (3 x crop x crop, valid until
 * cln_image_stream_release) or, for an image that could not be read, *pixels
 * NULL and err its message. */
CLN_API bool cln_image_stream_next(cln_image_stream *s, size_t *index, const float **pixels,
                                   cln_error *err);
/* Gives the slot of the image last taken back to the workers. */
CLN_API void cln_image_stream_release(cln_image_stream *s);
/* Stops and joins the workers and frees everything; NULL is ignored. */
CLN_API void cln_image_stream_free(cln_image_stream *s);

/* ---- Several devices: the pool ---------------------------------------- */

/* A model on each of several devices: a runtime and a model per device,
 * each used by one thread at a time (the promise above), so that a batch
 * runs on whichever device is free. */
typedef struct cln_pool cln_pool;

typedef struct {
    const char *devices; /* one selector (cln_device_select), several separated by commas, or
                            "all"; NULL or "": $CLINCEPTION_DEVICE's, read the same way
                            (messages name it), else the default device */
    int only;            /* -1: every device named; k >= 0: only entry k mod their count
                            (one process per device, e.g. by its rank on the machine) */
    cln_network network; /* CLN_NETWORK_INCEPTION_V3 */
    const char *weights; /* the .safetensors file; NULL: seeded random weights */
    uint64_t seed;       /* of random weights: 1 */
    /* told of each device once its runtime and model are made (progress,
     * their timings and warnings), on the caller's thread; may be NULL */
    void (*on_open)(void *ctx, int device, cln_runtime *rt, cln_model *model);
    void *ctx;
} cln_pool_params;

CLN_API cln_pool_params cln_pool_default_params(void);
/* Opens every device and loads the model on each, one after the other; a
 * failure names the device when there are several. At most 64 entries;
 * with only -1, every entry must name a device, and none the same twice,
 * before any is opened (with only >= 0, the process's own entry alone is
 * opened, and checked). */
CLN_API cln_status cln_pool_create(const cln_pool_params *params, cln_pool **out, cln_error *err);
CLN_API void cln_pool_free(cln_pool *pool);
CLN_API int cln_pool_size(const cln_pool *pool);
CLN_API cln_runtime *cln_pool_runtime(cln_pool *pool, int device);
CLN_API cln_model *cln_pool_model(cln_pool *pool, int device);

/* The largest batch of h x w images, at most limit, that every device holds
 * (cln_model_largest_batch's least); *device (may be NULL) is the one that
 * holds the fewest. */
CLN_API int cln_pool_largest_batch(const cln_pool *pool, int limit, int h, int w, int *device);

/* A batch's outputs, in input order: n images, their indices in the run,
 * out_floats each (cln_run_output_floats). On the caller's thread; a status
 * other than CLN_OK stops the run. */
typedef cln_status (*cln_batch_fn)(void *ctx, const size_t *indices, int n, const float *out,
                                   cln_error *err);
/* An image that could not be read or preprocessed, in input order, on the
 * caller's thread; the run goes on without it. */
typedef void (*cln_failure_fn)(void *ctx, size_t index, const cln_error *why);
/* Runs n images on device d's model into out: by default
 * cln_model_features(layer) or cln_model_forward. On device d's thread. */
typedef cln_status (*cln_forward_fn)(void *ctx, int device, cln_model *model, const float *input,
                                     int n, int h, int w, float *out, cln_error *err);

typedef struct {
    const char *layer;            /* whose output (cln_model_feature_layers); NULL: the logits */
    cln_forward_options forward;  /* zeroed: the defaults; transform_input is set for images */
    int batch;                    /* images per forward; 0: 8, or the most that fit if fewer */
    cln_stream_params stream;     /* how images are read (cln_pool_run_images; its slots
                                     0: two batches) */
    bool exact_batches;           /* each batch is exactly the next `batch` images, less those
                                     that fail (so a batch may be empty); else batches are
                                     filled with images that could be read */
    cln_batch_fn on_batch;        /* may be NULL */
    cln_failure_fn on_failure;    /* may be NULL */
    cln_forward_fn run;           /* NULL: the model's forward to layer */
    void *ctx;                    /* given to every callback */
} cln_run_params;

CLN_API cln_run_params cln_run_default_params(void);

/* The floats per image a run's on_batch gets for h x w inputs. */
CLN_API cln_status cln_run_output_floats(cln_pool *pool, const cln_run_params *params, int h, int w,
                                         size_t *floats, cln_error *err);

/* Streams paths[count] through the pool: decoded by params->stream's
 * workers, batched, each batch on whichever device is free (two batches in
 * flight per device at most, so memory does not grow with count), outputs
 * to on_batch in input order, each image that cannot be read to on_failure
 * (and left out). For CLN_PREPROCESS_TORCHVISION the preprocessing does the
 * input transform itself, for CLN_PREPROCESS_FID the network does it.
 * per_device (may be NULL) counts the images each device ran. The first
 * failure of a device or a callback stops the run and is returned. */
CLN_API cln_status cln_pool_run_images(cln_pool *pool, const char *const *paths, size_t count,
                                       const cln_run_params *params, size_t *per_device,
                                       cln_error *err);

/* The same for an n x 3 x h x w batch in memory, params->batch images at a
 * time (0: all at once, or split evenly over the devices); out gets n x
 * cln_run_output_floats floats in input order (on_batch is called too when
 * set). On one device no thread is started. */
CLN_API cln_status cln_pool_run_input(cln_pool *pool, const float *input, int n, int h, int w,
                                      const cln_run_params *params, float *out, size_t *per_device,
                                      cln_error *err);

/* ---- Classes ---------------------------------------------------------- */

/* The name of ImageNet class index (0..999), e.g. 281 -> "tabby"; NULL if out
 * of range. */
CLN_API const char *cln_imagenet_label(int index);

#define CLN_LABELS_MAX_FILE_BYTES (64 << 20) /* a larger labels file is refused */

typedef struct {
    int count;
    char **names; /* count NUL-terminated UTF-8 strings */
    char *text;   /* the file, which names point into */
} cln_labels;

/* Reads one label per line (LF or CRLF; a last line without a newline counts)
 * of UTF-8 text; a byte-order mark at its start is dropped. A file that cannot be read is CLN_ERR_IO; one that is not
 * UTF-8, holds a blank line or a NUL, or is larger than
 * CLN_LABELS_MAX_FILE_BYTES is CLN_ERR_FORMAT, naming the file and the line.
 * *out is zeroed on failure. */
CLN_API cln_status cln_labels_read(const char *path, cln_labels *out, cln_error *err);
CLN_API void cln_labels_free(cln_labels *labels);
/* Whether the n bytes at s are UTF-8: no overlong forms, surrogates, code
 * points past U+10FFFF or NUL. */
CLN_API bool cln_utf8_valid(const char *s, size_t n);

/* The k most likely classes of one image's logits (softmax in double),
 * most likely first: best[k] their indices, prob[k] (may be NULL) their
 * probabilities. k in [1, classes]. */
CLN_API void cln_top_classes(const float *logits, int classes, int k, int *best, double *prob);

/* ---- FID -------------------------------------------------------------- */

#define CLN_FID_MAX_DIMS 4096                    /* the widest statistics read or made */
#define CLN_FID_MAX_FILE_BYTES ((size_t)1 << 30) /* a larger statistics file is refused unread */
#define CLN_FID_EPS 1e-6                         /* pytorch-fid's offset for a singular product */
#define CLN_FID_SIZE 299                         /* pytorch-fid resizes every image to this */

/* pytorch-fid's block for its dims: "avgpool" (2048), "Mixed_6e" (768),
 * "maxpool2" (192), "maxpool1" (64); NULL for any other. */
CLN_API const char *cln_fid_layer(int dims);

/* Feature rows' mean and covariance, streamed: float64 sums of the rows
 * minus the first (which keeps the covariance's subtraction well
 * conditioned) and of their outer products. */
typedef struct cln_fid_accumulator cln_fid_accumulator;

CLN_API cln_status cln_fid_accumulator_create(int dims, cln_fid_accumulator **out, cln_error *err);
CLN_API void cln_fid_accumulator_free(cln_fid_accumulator *a);
CLN_API int cln_fid_accumulator_dims(const cln_fid_accumulator *a);
CLN_API size_t cln_fid_accumulator_count(const cln_fid_accumulator *a);
/* Adds n rows of dims doubles. */
CLN_API void cln_fid_accumulate(cln_fid_accumulator *a, const double *rows, size_t n);
/* Adds n images' features: each dims x pixels floats, averaged over the
 * pixels (pytorch-fid's adaptive_avg_pool2d) in float64. */
CLN_API cln_status cln_fid_accumulate_features(cln_fid_accumulator *a, const float *features,
                                               size_t n, int pixels, cln_error *err);
/* The count and sums as bytes (malloc'd), and another's (of the same dims,
 * from another process) added to a. */
CLN_API cln_status cln_fid_accumulator_pack(const cln_fid_accumulator *a, void **bytes,
                                            size_t *size, cln_error *err);
CLN_API cln_status cln_fid_accumulator_merge(cln_fid_accumulator *a, const void *bytes,
                                             size_t size, cln_error *err);

/* Runs paths[count] through the pool's FID Inception (a pool of another
 * network is refused) to the block of the accumulator's dims (cln_fid_layer)
 * and adds each image's features. params (may be NULL) says how: its batch,
 * workers, on_failure and run; the layer, on_batch and the preprocessing
 * (pytorch-fid's, at CLN_FID_SIZE) are this function's. */
CLN_API cln_status cln_pool_fid_accumulate(cln_pool *pool, const char *const *paths, size_t count,
                                           const cln_run_params *params, cln_fid_accumulator *a,
                                           cln_error *err);

typedef struct {
    int dims;
    size_t count;       /* the images behind them; 0 when read from a file */
    double *mu, *sigma; /* dims, dims x dims; malloc'd */
} cln_fid_stats;

/* mu and sigma (np.cov, N - 1) of what a holds: CLN_ERR_INVALID_ARGUMENT with
 * fewer than 2 rows. */
CLN_API cln_status cln_fid_stats_from(const cln_fid_accumulator *a, cln_fid_stats *out,
                                      cln_error *err);
/* Reads pytorch-fid's .npz (np.savez or np.savez_compressed: mu (D,) and
 * sigma (D, D), float32 or float64, finite); anything else is refused with
 * a message naming the file. */
CLN_API cln_status cln_fid_stats_read(const char *path, cln_fid_stats *out, cln_error *err);
/* The same from the bytes of one in memory; name is used in messages. */
CLN_API cln_status cln_fid_stats_parse(const char *name, const uint8_t *bytes, size_t size,
                                       cln_fid_stats *out, cln_error *err);
/* Writes mu and sigma as float64 into a compressed .npz pytorch-fid reads,
 * through a temporary file renamed into place. */
CLN_API cln_status cln_fid_stats_write(const char *path, const cln_fid_stats *s, cln_error *err);
CLN_API void cln_fid_stats_free(cln_fid_stats *s);

/* The distance |mu1 - mu2|^2 + tr(s1 + s2 - 2 sqrtm(s1 s2)) between two
 * statistics of the same dims: tr sqrtm(s1 s2) is the sum of the square
 * roots of the eigenvalues of s1^1/2 s2 s1^1/2 (LAPACK's dsyevd). Where that
 * is not finite, CLN_FID_EPS is added to both diagonals, as pytorch-fid does,
 * and *offset (may be NULL) says so. */
CLN_API cln_status cln_fid_distance(const cln_fid_stats *a, const cln_fid_stats *b, double *fid,
                                    bool *offset, cln_error *err);

/* ---- .npy files ------------------------------------------------------- */

#define CLN_NPY_MAX_DIMS 8

typedef struct {
    int ndim;
    int64_t shape[CLN_NPY_MAX_DIMS];
    size_t numel;
    float *data; /* malloc'd, numel floats */
} cln_npy;

/* Reads a float32 ('<f4'), C-order .npy, its header first and its data only
 * once the file's size matches the shape. Anything else (bad magic,
 * version, header, dtype, Fortran order, a shape whose product overflows, a
 * size that does not match) is refused with a message naming the file. */
CLN_API cln_status cln_npy_read(const char *path, cln_npy *out, cln_error *err);
/* Writes data as a '<f4' C-order .npy of the given shape, through a
 * temporary file renamed into place. */
CLN_API cln_status cln_npy_write(const char *path, const float *data, int ndim,
                                 const int64_t *shape, cln_error *err);
CLN_API void cln_npy_free(cln_npy *a);

/* A '<f4' .npy written rows at a time, its first dimension the rows
 * appended (fixed in the header at the end), under a temporary name until
 * it is closed. */
typedef struct cln_npy_writer cln_npy_writer;
/* row_shape: the ndim - 1 dimensions after the first. */
CLN_API cln_status cln_npy_writer_open(const char *path, int ndim, const int64_t *row_shape,
                                       cln_npy_writer **out, cln_error *err);
CLN_API cln_status cln_npy_writer_append(cln_npy_writer *w, const float *rows, size_t count,
                                         cln_error *err);
/* Writes the header with the row count, renames the file into place and
 * frees the writer, whatever the outcome. */
CLN_API cln_status cln_npy_writer_close(cln_npy_writer *w, cln_error *err);
/* Removes the temporary file and frees the writer; NULL is ignored. */
CLN_API void cln_npy_writer_abort(cln_npy_writer *w);

/* ---- Profile reports -------------------------------------------------- */

/* A host phase for a trace, in milliseconds of one monotonic clock. */
typedef struct {
    const char *name;
    double start_ms, end_ms;
} cln_host_phase;

/* The last profiled forward's per-layer table (slowest first), totals per
 * layer kind and per kernel, and the kernel sum against the forward's wall
 * time, written to out; with the device's measured peak (GFLOP/s,
 * cln_runtime_measure_peak; 0: not known) each kind's share of it. */
CLN_API void cln_profile_print(FILE *out, const cln_model *model, double wall_ms,
                               double peak_gflops);
/* The per-layer table as CSV, in execution order. */
CLN_API cln_status cln_profile_write_csv(const char *path, const cln_model *model, cln_error *err);
/* A Chrome trace ({"traceEvents": [...]}): the host phases on one track and
 * every kernel launch of the last profiled forward on another, placed so
 * that the forward starts at forward_start_ms. */
CLN_API cln_status cln_profile_write_trace(const char *path, const cln_model *model,
                                           const cln_host_phase *phases, size_t phase_count,
                                           double forward_start_ms, cln_error *err);

#ifdef __cplusplus
}
#endif

#endif /* CLINCEPTION_H */
