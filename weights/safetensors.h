/* The safetensors reader: reads a whole .safetensors file and validates its
 * header and layout before any tensor is handed out. A file is untrusted. */
#ifndef CLN_SAFETENSORS_H
#define CLN_SAFETENSORS_H

#include "../include/clinception.h"

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#define ST_MAX_DIMS 8
#define ST_MAX_HEADER_BYTES 100000000u

typedef enum {
    ST_BOOL,
    ST_U8,
    ST_I8,
    ST_U16,
    ST_I16,
    ST_F16,
    ST_BF16,
    ST_U32,
    ST_I32,
    ST_F32,
    ST_U64,
    ST_I64,
    ST_F64,
} st_dtype;

typedef struct {
    char *name; /* NUL-terminated tensor name */
    st_dtype dtype;
    int ndim; /* 0 for a scalar */
    int64_t shape[ST_MAX_DIMS];
    size_t numel;        /* product of shape (1 for a scalar) */
    size_t nbytes;       /* numel * dtype size */
    size_t offset;       /* where its data begins in the data section */
    const uint8_t *data; /* into st_file.bytes when the file is in memory, else NULL */
} st_tensor;

typedef struct {
    char *path;         /* copy of the path, for messages */
    uint8_t *bytes;     /* the whole file (st_open_memory), or its length and header (st_open) */
    size_t size;        /* of the whole file */
    st_tensor *tensors; /* sorted by data offset */
    size_t count;
    FILE *fp;          /* st_open's file, which tensors are read from, else NULL */
    size_t data_start; /* the data section's offset in the file */
} st_file;

/* Reads and validates path's length field and header, and checks that the
 * tensors they describe tile the rest of the file; the tensors' data stays
 * in the file, read by st_read only for the tensors asked for. On failure
 * *out is left empty (st_close-safe) and err names the file and, where one
 * is at fault, the tensor. */
cln_status st_open(const char *path, st_file *out, cln_error *err);
/* Same, from bytes already in memory (copied); name is used in messages. */
cln_status st_open_memory(const char *name, const uint8_t *bytes, size_t size, st_file *out,
                          cln_error *err);
void st_close(st_file *f);

const st_tensor *st_find(const st_file *f, const char *name);
const char *st_dtype_name(st_dtype dtype);
size_t st_dtype_size(st_dtype dtype);

/* Copies a tensor's t->nbytes bytes of data into dst. */
cln_status st_read(const st_file *f, const st_tensor *t, void *dst, cln_error *err);

/* Converts an F32, F16 or BF16 tensor to float32 (dst holds t->numel floats);
 * any other dtype is refused with a message naming the file and tensor. */
cln_status st_to_f32(const st_file *f, const st_tensor *t, float *dst, cln_error *err);

#endif
