/* Reading and writing NumPy .npy files of float32 in C order (the format of
 * `clinception infer`'s input and output). */
#ifndef CLN_NPY_H
#define CLN_NPY_H

#include "../include/clinception.h"
#include "../common/file_io.h"

#include <stddef.h>
#include <stdio.h>
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
/* Writes data as a '<f4' C-order .npy (version 1.0) of the given shape,
 * through a temp_file: a file already at path is replaced whole or kept. */
cln_status npy_write_f32(const char *path, const float *data, int ndim, const int64_t *shape,
                         cln_error *err);
void npy_free(npy_array *a);

/* A float64 array: read from '<f8' or '<f4' (widened) .npy bytes, as
 * statistics files hold them. */
typedef struct {
    int ndim;
    int64_t shape[NPY_MAX_DIMS];
    size_t numel;
    double *data; /* malloc'd */
} npy_f64;
cln_status npy_parse_f64(const char *name, const uint8_t *bytes, size_t size, npy_f64 *out,
                         cln_error *err);
void npy_f64_free(npy_f64 *a);
/* A '<f8' C-order .npy (version 1.0) of data in memory: *bytes malloc'd. */
cln_status npy_format_f64(const double *data, int ndim, const int64_t *shape, uint8_t **bytes,
                          size_t *size, cln_error *err);

/* A '<f4' .npy written row by row, whose first dimension is the rows
 * appended, fixed in the header at the end (a temp_file). */
typedef struct {
    temp_file file;
    int ndim;
    int64_t shape[NPY_MAX_DIMS]; /* shape[0]: the rows so far */
    size_t row_floats, header_bytes;
} npy_writer;

/* row_shape: the ndim - 1 dimensions after the first. */
cln_status npy_writer_open(npy_writer *w, const char *path, int ndim, const int64_t *row_shape,
                           cln_error *err);
cln_status npy_writer_append(npy_writer *w, const float *rows, size_t count, cln_error *err);
/* Writes the header with the row count and commits the file. */
cln_status npy_writer_close(npy_writer *w, cln_error *err);
void npy_writer_abort(npy_writer *w);

#endif
