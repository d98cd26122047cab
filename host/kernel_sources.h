/* The OpenCL sources of cl_kernels/, embedded in the binary at build time by
 * tools/embed_cl.py. */
#ifndef CLN_KERNEL_SOURCES_H
#define CLN_KERNEL_SOURCES_H

#include <stddef.h>

typedef struct {
    const char *name; /* file name without .cl, e.g. "pool" */
    const unsigned char *text;
    size_t size;
} kernel_source;

extern const kernel_source cln_kernel_sources[];
extern const size_t cln_kernel_source_count;

#endif
