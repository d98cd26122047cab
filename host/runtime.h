/* The runtime's insides: the OpenCL objects of one device and the table of
 * kernels built for it. */
#ifndef CLN_RUNTIME_H
#define CLN_RUNTIME_H

#include "cl_util.h"
#include "clinception.h"

/* Every kernel the engine launches, with the .cl file that defines it. */
typedef enum {
    KERNEL_INPUT_TO_CHANNEL_MAJOR,
    KERNEL_IM2COL,
    KERNEL_BIAS_ACT,
    KERNEL_CONV2D_DIRECT,
    KERNEL_MAX_POOL2D,
    KERNEL_AVG_POOL2D,
    KERNEL_GLOBAL_AVG_POOL,
    KERNEL_COUNT
} kernel_id;

/* Kernel files other than the prelude, in the order of their programs. */
typedef enum {
    PROGRAM_INPUT,
    PROGRAM_IM2COL,
    PROGRAM_EPILOGUE,
    PROGRAM_CONV2D_DIRECT,
    PROGRAM_POOL,
    PROGRAM_COUNT
} program_id;

struct cln_runtime {
    cln_device_info info;
    cl_platform_id platform;
    cl_device_id device;
    cl_context context;
    cl_command_queue queue; /* in order, profiling enabled */
    cl_program programs[PROGRAM_COUNT];
    cl_kernel kernels[KERNEL_COUNT];
};

/* The value of a kernel tunable (a -D option of its .cl file) from the one
 * host table that sets them. */
int runtime_tunable(const char *name);

/* The device selected by a selector (see cln_device_select), with its ids. */
cln_status runtime_find_device(const char *selector, cln_device_info *info,
                               cl_platform_id *platform, cl_device_id *device, cln_error *err);

#endif
