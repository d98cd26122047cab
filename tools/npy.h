/* Reading and writing NumPy .npy files of float32 in C order (the format of
 * `clinception infer`'s input and output). */
#ifndef CLN_NPY_H
#define CLN_NPY_H

#include "../host/clinception.h"

#include <stddef.h>
#include <stdint.h>

#define NPY_MAX_DIMS 8

typedef struct {
    int ndim;
    int64_t shape[NPY_MAX_DIMS];
    size_t numel;
    float *data; /* malloc'd, numel floats */
} npy_array;

/* Reads a float32 ('<f4'), C-order .npy. Anything else (bad magic, version,
 * header, dtype, Fortran order, a shape whose product overflows, a data size
 * that does not match the shape) is refused with a message naming the file. */
cln_status npy_read_f32(const char *path, npy_array *out, cln_error *err);
/* The same from memory; name is used in messages. */
cln_status npy_parse_f32(const char *name, const uint8_t *bytes, size_t size, npy_array *out,
                         cln_error *err);
/* Writes data as a '<f4' C-order .npy (version 1.0) of the given shape. */
cln_status npy_write_f32(const char *path, const float *data, int ndim, const int64_t *shape,
                         cln_error *err);
void npy_free(npy_array *a);

#endif
