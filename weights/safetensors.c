/* The safetensors reader: parses the JSON header with jansson, checks every tensor entry and
 * the layout of the data section against the file, and converts F16/BF16 tensors to F32. */
#define _POSIX_C_SOURCE 200809L

#include "safetensors.h"

#include "../common/file_io.h"

#include "../common/error.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const struct {
    const char *name;
    size_t size; /* bytes per element */
} dtypes[] = {
    [ST_BOOL] = {"BOOL", 1}, [ST_U8] = {"U8", 1},   [ST_I8] = {"I8", 1},     [ST_U16] = {"U16", 2},
    [ST_I16] = {"I16", 2},   [ST_F16] = {"F16", 2}, [ST_BF16] = {"BF16", 2}, [ST_U32] = {"U32", 4},
    [ST_I32] = {"I32", 4},   [ST_F32] = {"F32", 4}, [ST_U64] = {"U64", 8},   [ST_I64] = {"I64", 8},
    [ST_F64] = {"F64", 8},
};
#define DTYPE_COUNT (sizeof dtypes / sizeof dtypes[0])

/* Room for "[d0, d1, ...]" with ST_MAX_DIMS dims of up to 19 digits each. */
#define SHAPE_TEXT_SIZE (ST_MAX_DIMS * 21 + 3)

const char *st_dtype_name(st_dtype dtype) {
    return (size_t)dtype < DTYPE_COUNT ? dtypes[dtype].name : "unknown";
}

size_t st_dtype_size(st_dtype dtype) {
    return (size_t)dtype < DTYPE_COUNT ? dtypes[dtype].size : 0;
}

static const char *format_shape(const st_tensor *t, char text[SHAPE_TEXT_SIZE]) {
    int used = snprintf(text, SHAPE_TEXT_SIZE, "[");
    for (int i = 0; i < t->ndim; i++)
        used +=
            snprintf(text + used, SHAPE_TEXT_SIZE - used, "%s%" PRId64, i ? ", " : "", t->shape[i]);
    snprintf(text + used, SHAPE_TEXT_SIZE - used, "]");
    return text;
}

static const char *json_kind(const json_t *value) {
    switch (json_typeof(value)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "real number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        return "null";
    }
    return "value";
}

/* Turns a jansson parse error into a message with jansson's text and position. */
static cln_status json_failure(const char *path, const json_error_t *jerr, cln_error *err) {
    cln_status status = CLN_ERR_FORMAT;
    const char *what = "header is not valid JSON";
    switch (json_error_code(jerr)) {
    case json_error_invalid_utf8:
        what = "header is not valid UTF-8";
        break;
    case json_error_duplicate_key:
        what = "duplicate tensor name in the header";
        break;
    case json_error_end_of_input_expected:
        what = "garbage after the header's JSON";
        break;
    case json_error_out_of_memory:
        status = CLN_ERR_OUT_OF_MEMORY;
        what = "out of memory parsing the header";
        break;
    default:
        break;
    }
    return cln_fail(err, status, "%s: %s (jansson: %s, at line %d, column %d, byte %d)", path, what,
                    jerr->text, jerr->line, jerr->column, jerr->position);
}

static cln_status check_metadata(const char *path, json_t *meta, cln_error *err) {
    if (!json_is_object(meta))
        return cln_fail(err, CLN_ERR_FORMAT, "%s: \"__metadata__\" is a JSON %s, not an object",
                        path, json_kind(meta));
    const char *key;
    const json_t *value;
    json_object_foreach(meta, key, value) {
        if (!json_is_string(value))
            return cln_fail(err, CLN_ERR_FORMAT,
                            "%s: \"__metadata__\" value \"%s\" is a JSON %s, not a string", path,
                            key, json_kind(value));
    }
    return CLN_OK;
}

/* Reads element `index` of the array `what` of tensor `name` as a non-negative integer. */
static cln_status read_count(const char *path, const char *name, const char *what,
                             const json_t *array, size_t index, int64_t *out, cln_error *err) {
    const json_t *value = json_array_get(array, index);
    if (!json_is_integer(value))
        return cln_fail(err, CLN_ERR_FORMAT,
                        "%s: tensor \"%s\": %s[%zu] is a JSON %s, not an integer", path, name, what,
                        index, json_kind(value));
    json_int_t count = json_integer_value(value);
    if (count < 0)
        return cln_fail(err, CLN_ERR_FORMAT, "%s: tensor \"%s\": %s[%zu] is negative (%lld)", path,
                        name, what, index, (long long)count);
    *out = count;
    return CLN_OK;
}

/* Looks up key in the entry of tensor name and checks its JSON type. */
static cln_status get_field(const char *path, const char *name, const json_t *entry,
                            const char *key, json_type type, const char *kind, const json_t **out,
                            cln_error *err) {
    const json_t *value = json_object_get(entry, key);
    if (!value)
        return cln_fail(err, CLN_ERR_FORMAT, "%s: tensor \"%s\": missing \"%s\"", path, name, key);
    if (json_typeof(value) != type)
        return cln_fail(err, CLN_ERR_FORMAT, "%s: tensor \"%s\": \"%s\" is a JSON %s, not %s", path,
                        name, key, json_kind(value), kind);
    *out = value;
    return CLN_OK;
}

static cln_status parse_dtype(const char *path, const char *name, const json_t *entry,
                              st_dtype *out, cln_error *err) {
    const json_t *dtype;
    cln_status status = get_field(path, name, entry, "dtype", JSON_STRING, "a string", &dtype, err);
    if (status != CLN_OK) return status;
    for (size_t i = 0; i < DTYPE_COUNT; i++) {
        if (strcmp(json_string_value(dtype), dtypes[i].name) == 0) {
            *out = (st_dtype)i;
            return CLN_OK;
        }
    }
    return cln_fail(err, CLN_ERR_FORMAT, "%s: tensor \"%s\": unknown dtype \"%s\"", path, name,
                    json_string_value(dtype));
}

/* Fills t->ndim, t->shape, t->numel and t->nbytes (t->dtype already set). */
static cln_status parse_shape(const char *path, const char *name, const json_t *entry, st_tensor *t,
                              cln_error *err) {
    const json_t *shape;
    cln_status status = get_field(path, name, entry, "shape", JSON_ARRAY, "an array", &shape, err);
    if (status != CLN_OK) return status;
    size_t ndim = json_array_size(shape);
    if (ndim > ST_MAX_DIMS)
        return cln_fail(err, CLN_ERR_FORMAT,
                        "%s: tensor \"%s\": shape has %zu dims, more than the %d allowed", path,
                        name, ndim, ST_MAX_DIMS);
    t->ndim = (int)ndim;
    for (size_t i = 0; i < ndim; i++) {
        status = read_count(path, name, "shape", shape, i, &t->shape[i], err);
        if (status != CLN_OK) return status;
    }

    char text[SHAPE_TEXT_SIZE];
    t->numel = 1;
    for (int i = 0; i < t->ndim; i++) {
        if (__builtin_mul_overflow(t->numel, t->shape[i], &t->numel))
            return cln_fail(err, CLN_ERR_FORMAT,
                            "%s: tensor \"%s\": element count of shape %s overflows size_t", path,
                            name, format_shape(t, text));
    }
    if (__builtin_mul_overflow(t->numel, st_dtype_size(t->dtype), &t->nbytes))
        return cln_fail(err, CLN_ERR_FORMAT,
                        "%s: tensor \"%s\": byte size of shape %s of %s overflows size_t", path,
                        name, format_shape(t, text), st_dtype_name(t->dtype));
    return CLN_OK;
}

/* Checks "data_offsets" against t->nbytes and the data section and points t->data at it. */
static cln_status parse_offsets(const char *path, const char *name, const json_t *entry,
                                const uint8_t *data, size_t data_size, st_tensor *t,
                                cln_error *err) {
    const json_t *offsets;
    cln_status status =
        get_field(path, name, entry, "data_offsets", JSON_ARRAY, "an array", &offsets, err);
    if (status != CLN_OK) return status;
    if (json_array_size(offsets) != 2)
        return cln_fail(err, CLN_ERR_FORMAT,
                        "%s: tensor \"%s\": \"data_offsets\" holds %zu values, not 2", path, name,
                        json_array_size(offsets));
    int64_t begin, end;
    status = read_count(path, name, "data_offsets", offsets, 0, &begin, err);
    if (status == CLN_OK) status = read_count(path, name, "data_offsets", offsets, 1, &end, err);
    if (status != CLN_OK) return status;

    if (begin > end)
        return cln_fail(err, CLN_ERR_FORMAT,
                        "%s: tensor \"%s\": data_offsets [%" PRId64 ", %" PRId64
                        "] are reversed (begin after end)",
                        path, name, begin, end);
    uint64_t held = (uint64_t)(end - begin);
    if (held != t->nbytes) {
        char text[SHAPE_TEXT_SIZE];
        return cln_fail(err, CLN_ERR_FORMAT,
                        "%s: tensor \"%s\": data_offsets [%" PRId64 ", %" PRId64 "] hold %" PRIu64
                        " bytes but shape %s of %s needs %zu bytes",
                        path, name, begin, end, held, format_shape(t, text),
                        st_dtype_name(t->dtype), t->nbytes);
    }
    if ((uint64_t)end > data_size)
        return cln_fail(err, CLN_ERR_FORMAT,
                        "%s: tensor \"%s\": data_offsets [%" PRId64 ", %" PRId64
                        "] run past the end of the data section (%zu bytes)",
                        path, name, begin, end, data_size);
    t->offset = (size_t)begin;
    t->data = data ? data + begin : NULL;
    return CLN_OK;
}

/* Validates the entry of tensor name into t; t owns a copy of name only on success. */
static cln_status parse_tensor(const char *path, const char *name, const json_t *entry,
                               const uint8_t *data, size_t data_size, st_tensor *t,
                               cln_error *err) {
    if (!json_is_object(entry))
        return cln_fail(err, CLN_ERR_FORMAT, "%s: tensor \"%s\": entry is a JSON %s, not an object",
                        path, name, json_kind(entry));
    cln_status status = parse_dtype(path, name, entry, &t->dtype, err);
    if (status == CLN_OK) status = parse_shape(path, name, entry, t, err);
    if (status == CLN_OK) status = parse_offsets(path, name, entry, data, data_size, t, err);
    if (status != CLN_OK) return status;
    t->name = strdup(name);
    if (!t->name)
        return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "%s: tensor \"%s\": out of memory", path, name);
    return CLN_OK;
}

/* Fills f->tensors from the header object root (unsorted). */
static cln_status parse_entries(st_file *f, json_t *root, const uint8_t *data, size_t data_size,
                                cln_error *err) {
    if (!json_is_object(root))
        return cln_fail(err, CLN_ERR_FORMAT,
                        "%s: the header's top level is a JSON %s, not an object", f->path,
                        json_kind(root));
    size_t count = json_object_size(root);
    json_t *meta = json_object_get(root, "__metadata__");
    if (meta) {
        cln_status status = check_metadata(f->path, meta, err);
        if (status != CLN_OK) return status;
        count--;
    }
    if (count == 0) return CLN_OK;
    f->tensors = calloc(count, sizeof *f->tensors);
    if (!f->tensors)
        return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "%s: out of memory for %zu tensors", f->path,
                        count);
    const char *name;
    json_t *entry;
    json_object_foreach(root, name, entry) {
        if (strcmp(name, "__metadata__") == 0) continue;
        cln_status status =
            parse_tensor(f->path, name, entry, data, data_size, &f->tensors[f->count], err);
        if (status != CLN_OK) return status;
        f->count++;
    }
    return CLN_OK;
}

/* Orders tensors by where their data begins, then by size (zero-size tensors first), then by
 * name, so that the order is the same on every run. */
static int compare_by_offset(const void *a, const void *b) {
    const st_tensor *x = a, *y = b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    if (x->nbytes != y->nbytes) return x->nbytes < y->nbytes ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Sorts the tensors and checks that they tile the data section exactly. */
static cln_status check_layout(st_file *f, size_t data_size, cln_error *err) {
    if (f->count > 0) qsort(f->tensors, f->count, sizeof *f->tensors, compare_by_offset);
    size_t covered = 0; /* the tensors before i tile [0, covered) */
    for (size_t i = 0; i < f->count; i++) {
        const st_tensor *t = &f->tensors[i];
        size_t begin = t->offset;
        if (begin < covered) {
            const st_tensor *prev = &f->tensors[i - 1];
            size_t prev_begin = prev->offset;
            return cln_fail(err, CLN_ERR_FORMAT,
                            "%s: tensor \"%s\": data_offsets [%zu, %zu] overlap tensor \"%s\" at "
                            "[%zu, %zu]",
                            f->path, t->name, begin, begin + t->nbytes, prev->name, prev_begin,
                            covered);
        }
        if (begin > covered)
            return cln_fail(err, CLN_ERR_FORMAT,
                            "%s: tensor \"%s\": data_offsets [%zu, %zu] leave a hole: bytes [%zu, "
                            "%zu) belong to no tensor",
                            f->path, t->name, begin, begin + t->nbytes, covered, begin);
        covered = begin + t->nbytes;
    }
    if (covered != data_size)
        return cln_fail(err, CLN_ERR_FORMAT,
                        "%s: %zu trailing bytes after the tensor data: the data section holds %zu "
                        "bytes but the tensors end at byte %zu",
                        f->path, data_size - covered, data_size, covered);
    return CLN_OK;
}

/* Validates f->bytes (f->size bytes) and fills f->tensors. */
static cln_status parse_file(st_file *f, cln_error *err) {
    if (f->size < 8)
        return cln_fail(err, CLN_ERR_FORMAT,
                        "%s: file is %zu bytes, shorter than the 8-byte header length field",
                        f->path, f->size);
    uint64_t header_size = 0;
    for (int i = 7; i >= 0; i--)
        header_size = header_size << 8 | f->bytes[i];
    if (header_size > ST_MAX_HEADER_BYTES)
        return cln_fail(err, CLN_ERR_FORMAT,
                        "%s: header length %" PRIu64 " is over the limit of %u bytes", f->path,
                        header_size, ST_MAX_HEADER_BYTES);
    if (header_size > f->size - 8)
        return cln_fail(err, CLN_ERR_FORMAT,
                        "%s: header length %" PRIu64
                        " runs past the end of the file (%zu bytes follow the length field)",
                        f->path, header_size, f->size - 8);

    const char *header = (const char *)f->bytes + 8;
    /* in memory, the data follows; from a file, it stays there */
    const uint8_t *data = f->fp ? NULL : f->bytes + 8 + header_size;
    size_t data_size = f->size - 8 - (size_t)header_size;
    f->data_start = 8 + (size_t)header_size;
    json_error_t jerr;
    json_t *root =
        json_loadb(header, (size_t)header_size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!root) return json_failure(f->path, &jerr, err);
    cln_status status = parse_entries(f, root, data, data_size, err);
    json_decref(root);
    if (status != CLN_OK) return status;
    return check_layout(f, data_size, err);
}

/* Validates bytes, which it owns from here on (freed on failure, kept in *out on success). */
static cln_status open_owned(const char *name, uint8_t *bytes, size_t size, FILE *fp, st_file *out,
                             cln_error *err) {
    st_file f = {.bytes = bytes, .size = size, .path = strdup(name), .fp = fp};
    cln_status status = f.path ? parse_file(&f, err)
                               : cln_fail(err, CLN_ERR_OUT_OF_MEMORY,
                                          "%s: out of memory copying the file name", name);
    if (status != CLN_OK) {
        st_close(&f);
        return status;
    }
    *out = f;
    return CLN_OK;
}

/* Reads n bytes at offset of the open file fp into dst. */
static cln_status read_at(FILE *fp, const char *path, size_t offset, void *dst, size_t n,
                          cln_error *err) {
    if (fseeko(fp, (off_t)offset, SEEK_SET) != 0)
        return cln_fail(err, CLN_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    size_t got = n ? fread(dst, 1, n, fp) : 0;
    if (got != n) {
        if (ferror(fp))
            return cln_fail(err, CLN_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
        return cln_fail(err, CLN_ERR_IO, "%s: cannot read: the file ended at byte %zu of %zu", path,
                        offset + got, offset + n);
    }
    return CLN_OK;
}

cln_status st_open(const char *path, st_file *out, cln_error *err) {
    *out = (st_file){0};
    FILE *fp;
    size_t size;
    cln_status status = file_open_regular(path, &fp, &size, err);
    if (status != CLN_OK) return status;
    /* the length field and the header only: a tensor's data is read when
     * it is asked for, so what the model ignores is never read */
    uint8_t length[8] = {0};
    size_t prefix = size < 8 ? size : 8;
    status = read_at(fp, path, 0, length, prefix, err);
    uint64_t header_size = 0;
    for (int i = 7; i >= 0; i--)
        header_size = header_size << 8 | length[i];
    if (status == CLN_OK && size >= 8 && header_size <= ST_MAX_HEADER_BYTES &&
        header_size <= size - 8)
        prefix = 8 + (size_t)header_size; /* else parse_file says what is wrong */
    uint8_t *bytes = status == CLN_OK ? malloc(prefix ? prefix : 1) : NULL;
    if (status == CLN_OK && !bytes)
        status = cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "%s: out of memory reading %zu bytes", path,
                          prefix);
    if (status == CLN_OK) status = read_at(fp, path, 0, bytes, prefix, err);
    if (status != CLN_OK) {
        free(bytes);
        fclose(fp);
        return status;
    }
    return open_owned(path, bytes, size, fp, out, err);
}

cln_status st_open_memory(const char *name, const uint8_t *bytes, size_t size, st_file *out,
                          cln_error *err) {
    *out = (st_file){0};
    uint8_t *copy = malloc(size > 0 ? size : 1);
    if (!copy)
        return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "%s: out of memory copying %zu bytes", name,
                        size);
    if (size > 0) memcpy(copy, bytes, size);
    return open_owned(name, copy, size, NULL, out, err);
}

void st_close(st_file *f) {
    if (f->fp) fclose(f->fp);
    for (size_t i = 0; i < f->count; i++)
        free(f->tensors[i].name);
    free(f->tensors);
    free(f->bytes);
    free(f->path);
    *f = (st_file){0};
}

const st_tensor *st_find(const st_file *f, const char *name) {
    for (size_t i = 0; i < f->count; i++) {
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    }
    return NULL;
}

static uint16_t read_u16_le(const uint8_t *p) {
    return (uint16_t)(p[0] | p[1] << 8);
}

static float f32_from_bits(uint32_t bits) {
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

/* IEEE half to single precision; exact for every value, NaN payloads kept. */
static float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exponent = (h >> 10) & 0x1f;
    uint32_t mantissa = h & 0x3ff;
    if (exponent == 0) { /* zero or subnormal: mantissa * 2^-24 */
        float magnitude = (float)mantissa * 0x1p-24f;
        return sign ? -magnitude : magnitude;
    }
    if (exponent == 0x1f) /* infinity or NaN */
        return f32_from_bits(sign | 0xffu << 23 | mantissa << 13);
    return f32_from_bits(sign | (exponent + 127 - 15) << 23 | mantissa << 13);
}

cln_status st_read(const st_file *f, const st_tensor *t, void *dst, cln_error *err) {
    if (t->data) {
        if (t->nbytes) memcpy(dst, t->data, t->nbytes);
        return CLN_OK;
    }
    return read_at(f->fp, f->path, f->data_start + t->offset, dst, t->nbytes, err);
}

cln_status st_to_f32(const st_file *f, const st_tensor *t, float *dst, cln_error *err) {
    if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16)
        return cln_fail(err, CLN_ERR_FORMAT,
                        "%s: tensor \"%s\": dtype %s cannot be converted to F32 (only F32, F16 "
                        "and BF16 can)",
                        f->path, t->name, st_dtype_name(t->dtype));
    if (t->dtype == ST_F32) return st_read(f, t, dst, err);
    /* 16-bit values: read into the upper half of dst, widened upwards in
     * place (element i is read before the write of element i reaches it) */
    uint8_t *raw = (uint8_t *)dst + t->nbytes;
    cln_status status = st_read(f, t, raw, err);
    if (status != CLN_OK) return status;
    for (size_t i = 0; i < t->numel; i++) {
        const uint16_t v = read_u16_le(raw + 2 * i);
        dst[i] = t->dtype == ST_F16 ? f16_to_f32(v) : f32_from_bits((uint32_t)v << 16);
    }
    return CLN_OK;
}
