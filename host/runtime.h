/* The runtime's insides: the OpenCL objects of one device and the table of
 * kernels built for it. */
#ifndef CLN_RUNTIME_H
#define CLN_RUNTIME_H

#include "cl_util.h"
#include "../include/clinception.h"

/* Every kernel the engine launches, with the .cl file that defines it. */
typedef enum {
    KERNEL_INPUT_TO_CHANNEL_MAJOR,
    KERNEL_IM2COL,
    KERNEL_IM2COL_PANELS,
    KERNEL_BIAS_ACT,
    KERNEL_CONV2D_DIRECT,
    KERNEL_MAX_POOL2D,
    KERNEL_AVG_POOL2D,
    KERNEL_GLOBAL_AVG_POOL,
    KERNEL_GEMM_TILED,
    KERNEL_GEMM_FEW_COLUMNS,
    KERNEL_GEMM_BATCHED,
    KERNEL_GEMM_GROUPED,
    KERNEL_WINOGRAD_INPUT,
    KERNEL_WINOGRAD_OUTPUT,
    KERNEL_FMA_PEAK,
    KERNEL_COUNT
} kernel_id;

/* Kernel files other than the prelude, in the order of their programs. */
typedef enum {
    PROGRAM_INPUT,
    PROGRAM_IM2COL,
    PROGRAM_EPILOGUE,
    PROGRAM_CONV2D_DIRECT,
    PROGRAM_POOL,
    PROGRAM_GEMM_TILED,
    PROGRAM_WINOGRAD,
    PROGRAM_PEAK,
    PROGRAM_COUNT
} program_id;

/* Kernel launches recorded for profiling, with their events. */
typedef struct {
    cl_event event;
    const char *kernel;
    int layer;
} recorded_launch;

typedef struct {
    bool on;
    int layer; /* the layer being enqueued */
    recorded_launch *items;
    size_t count, cap;
} launch_recorder;

/* The kinds of device the tunables have defaults for (runtime.c). */
typedef enum {
    DEVICE_CPU_WIDE,   /* a CPU with 16-float vectors (AVX-512) */
    DEVICE_CPU_NARROW, /* a CPU with narrower ones (AVX2, NEON) */
    DEVICE_OTHER,      /* GPUs and the rest */
    DEVICE_KIND_COUNT
} device_kind;

struct cln_runtime {
    cln_device_info info;
    device_kind kind;
    cl_platform_id platform;
    cl_device_id device;
    cl_context context;
    cl_command_queue queue; /* in order, profiling enabled */
    cl_program programs[PROGRAM_COUNT];
    cl_kernel kernels[KERNEL_COUNT];
    launch_recorder recorder;
    cln_runtime_timings timings;
};

/* Keeps ev (owned from now on) as a launch of `kernel` by the current layer;
 * on failure releases it. */
cln_status runtime_record(cln_runtime *rt, cl_event ev, const char *kernel, cln_error *err);
/* Releases every recorded event and empties the record. */
void runtime_recorder_clear(cln_runtime *rt);

/* Milliseconds on a monotonic clock. */
double runtime_now_ms(void);

/* The function name of a kernel, e.g. "im2col". */
const char *runtime_kernel_name(kernel_id k);
/* Whether a kernel's work-items loop over a row or vector tile themselves (so
 * a CPU runs them one per group). */
bool runtime_kernel_loops(kernel_id k);

/* The value of a kernel tunable (a -D option of its .cl file) from the one
 * host table that sets them. */
int runtime_tunable(const cln_runtime *rt, const char *name);

/* The device selected by a selector (see cln_device_select), with its ids;
 * origin says where a selector came from, for messages (NULL: "--device"). */
cln_status runtime_find_device(const char *selector, const char *origin, cln_device_info *info,
                               cl_platform_id *platform, cl_device_id *device, cln_error *err);

/* cln_runtime_create for a selector from origin (NULL: "--device"). */
cln_status runtime_create_from(const char *selector, const char *origin, cln_runtime **out,
                               cln_error *err);

#endif
