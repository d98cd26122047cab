/* NumPy .npy files: float32 ones read and written (cln_npy_* in the public
 * header), and parsed from memory, float64 ones for FID statistics. */
#ifndef CLN_NPY_H
#define CLN_NPY_H

#include "../include/clinception.h"

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

/* The same from memory; name is used in messages. */
/* The internals of .npy files beside the public cln_npy_* functions: parsing
 * from memory, and the float64 arrays of statistics files. */
cln_status npy_parse_f32(const char *name, const uint8_t *bytes, size_t size, cln_npy *out,
                         cln_error *err);
/* A float64 array: read from '<f8' or '<f4' (widened) .npy bytes, as
 * statistics files hold them. */
typedef struct {
    int ndim;
    int64_t shape[CLN_NPY_MAX_DIMS];
    size_t numel;
    double *data; /* malloc'd */
} npy_f64;
cln_status npy_parse_f64(const char *name, const uint8_t *bytes, size_t size, npy_f64 *out,
                         cln_error *err);
void npy_f64_free(npy_f64 *a);
/* A '<f8' C-order .npy (version 1.0) of data in memory: *bytes malloc'd. */
cln_status npy_format_f64(const double *data, int ndim, const int64_t *shape, uint8_t **bytes,
                          size_t *size, cln_error *err);

#endif
