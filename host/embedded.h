/* Files embedded in the binary at build time by tools/embed.py: the kernels
 * of cl_kernels/ (cln_kernel_sources) and, for the program, the class labels. */
#ifndef CLN_EMBEDDED_H
#define CLN_EMBEDDED_H

#include <stddef.h>

typedef struct {
    const char *name;          /* file name without its extension, e.g. "pool" */
    const unsigned char *data; /* size bytes, then a NUL */
    size_t size;
} embedded_file;

extern const embedded_file cln_kernel_sources[];
extern const size_t cln_kernel_sources_count;

#endif
