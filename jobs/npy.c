/* Reading and writing NumPy .npy files of float32 in C order: a strict parser of the header
 * dict for untrusted input, and a writer that lays a file out as np.save does. */
#include "npy.h"

#include "../common/error.h"
#include "../common/file_io.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "npy.c copies '<f4' data as it is, so it needs a little-endian host"
#endif

static const uint8_t npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

#define NPY_MAX_HEADER_SIZE (1u << 20) /* bytes; anything longer is not a real header */
#define NPY_DATA_ALIGN 64              /* np.save starts the data at a multiple of this */
#define NPY_V1_PREAMBLE 10             /* magic, version, u16 header length */
#define NPY_V2_PREAMBLE 12             /* magic, version, u32 header length */
#define NPY_SHAPE_TEXT_SIZE 256        /* holds "(d0, ..., d7)" with dims of 20 characters */

/* Writes a shape as Python writes a tuple: (), (5,), (2, 3). */
static void format_shape(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t used = (size_t)snprintf(buf, cap, "(");
    for (int i = 0; i < ndim && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, i ? ", %" PRId64 : "%" PRId64, shape[i]);
    if (used < cap) snprintf(buf + used, cap - used, ndim == 1 ? ",)" : ")");
}

/* The number of elements of a shape of non-negative dimensions; false when the product
 * does not fit in size_t. */
static bool shape_numel(int ndim, const int64_t *shape, size_t *numel) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        uint64_t dim = (uint64_t)shape[i];
        if (n != 0 && dim > SIZE_MAX / n) return false;
        n *= (size_t)dim;
    }
    *numel = n;
    return true;
}

/* ---- Header parsing ----------------------------------------------------------------------- */

/* The header is a Python dict literal, e.g.
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 * with exactly these three keys in any order, strings in single or double quotes (no
 * escapes), and spaces or tabs between tokens. */
typedef struct {
    const char *name;    /* the file, for messages */
    const uint8_t *text; /* the header without its final '\n' */
    size_t len;
    size_t pos;    /* next byte of text to read */
    size_t offset; /* file offset of text[0], for messages */
    cln_error *err;
} header_parser;

enum header_key { KEY_DESCR, KEY_FORTRAN_ORDER, KEY_SHAPE, KEY_COUNT };
static const char *const header_key_names[KEY_COUNT] = {"descr", "fortran_order", "shape"};

typedef struct {
    bool seen[KEY_COUNT];
    const uint8_t *descr; /* points into the header, descr_len bytes */
    size_t descr_len;
    bool fortran_order;
    int ndim;
    int64_t shape[CLN_NPY_MAX_DIMS];
} npy_header;

static cln_status malformed(const header_parser *p, const char *expected) {
    return cln_fail(p->err, CLN_ERR_FORMAT, "%s: malformed header at byte %zu: expected %s",
                    p->name, p->offset + p->pos, expected);
}

static void skip_spaces(header_parser *p) {
    while (p->pos < p->len && (p->text[p->pos] == ' ' || p->text[p->pos] == '\t'))
        p->pos++;
}

static bool at(header_parser *p, char c) {
    skip_spaces(p);
    return p->pos < p->len && p->text[p->pos] == (uint8_t)c;
}

/* Consumes c (after spaces) when it comes next. */
static bool accept(header_parser *p, char c) {
    if (!at(p, c)) return false;
    p->pos++;
    return true;
}

/* Consumes word (after spaces) when it comes next; what follows it is left to the caller. */
static bool accept_word(header_parser *p, const char *word) {
    size_t n = strlen(word);
    skip_spaces(p);
    if (p->len - p->pos < n || memcmp(p->text + p->pos, word, n) != 0) return false;
    p->pos += n;
    return true;
}

static bool is_digit(uint8_t c) {
    return c >= '0' && c <= '9';
}

static cln_status parse_string(header_parser *p, const uint8_t **s, size_t *n) {
    if (!at(p, '\'') && !at(p, '"')) return malformed(p, "a quoted string");
    uint8_t quote = p->text[p->pos++];
    size_t start = p->pos;
    while (p->pos < p->len && p->text[p->pos] != quote) {
        uint8_t c = p->text[p->pos];
        if (c == '\\' || c < 0x20 || c > 0x7e)
            return malformed(p, "printable ASCII without escapes in a string");
        p->pos++;
    }
    if (p->pos == p->len) return malformed(p, "a closing quote");
    *s = p->text + start;
    *n = p->pos - start;
    p->pos++;
    return CLN_OK;
}

static cln_status parse_dim(header_parser *p, int64_t *dim) {
    skip_spaces(p);
    size_t start = p->pos;
    bool negative = p->pos < p->len && p->text[p->pos] == '-';
    if (negative) p->pos++;
    if (p->pos == p->len || !is_digit(p->text[p->pos])) return malformed(p, "a dimension");
    int64_t value = 0;
    bool too_large = false;
    for (; p->pos < p->len && is_digit(p->text[p->pos]); p->pos++) {
        int digit = p->text[p->pos] - '0';
        if (value > (INT64_MAX - digit) / 10)
            too_large = true;
        else
            value = value * 10 + digit;
    }
    int digits_len = (int)(p->pos - start);
    const char *digits = (const char *)p->text + start;
    if (negative)
        return cln_fail(p->err, CLN_ERR_FORMAT, "%s: shape has a negative dimension %.*s", p->name,
                        digits_len, digits);
    if (too_large)
        return cln_fail(p->err, CLN_ERR_FORMAT, "%s: shape dimension %.*s does not fit in 64 bits",
                        p->name, digits_len, digits);
    *dim = value;
    return CLN_OK;
}

/* A tuple of dimensions: (), (5,), (2, 3) or (2, 3,). */
static cln_status parse_shape(header_parser *p, npy_header *h) {
    if (!accept(p, '(')) return malformed(p, "'(' opening the shape tuple");
    if (accept(p, ')')) return CLN_OK;
    for (;;) {
        int64_t dim = 0;
        cln_status status = parse_dim(p, &dim);
        if (status != CLN_OK) return status;
        if (h->ndim == CLN_NPY_MAX_DIMS)
            return cln_fail(p->err, CLN_ERR_FORMAT, "%s: shape has more than %d dimensions",
                            p->name, CLN_NPY_MAX_DIMS);
        h->shape[h->ndim++] = dim;
        if (accept(p, ',')) {
            if (accept(p, ')')) return CLN_OK;
        } else if (h->ndim > 1 && accept(p, ')')) {
            return CLN_OK;
        } else {
            return malformed(p, h->ndim == 1 ? "',' after the only dimension, as in (5,)"
                                             : "',' or ')' in the shape tuple");
        }
    }
}

static bool key_is(const uint8_t *key, size_t len, const char *name) {
    return len == strlen(name) && memcmp(key, name, len) == 0;
}

static cln_status parse_entry(header_parser *p, npy_header *h) {
    const uint8_t *key;
    size_t key_len;
    cln_status status = parse_string(p, &key, &key_len);
    if (status != CLN_OK) return status;
    enum header_key k = KEY_DESCR;
    while (k < KEY_COUNT && !key_is(key, key_len, header_key_names[k]))
        k++;
    if (k == KEY_COUNT)
        return cln_fail(p->err, CLN_ERR_FORMAT,
                        "%s: header has an unknown key '%.*s' (a .npy header holds only "
                        "'descr', 'fortran_order' and 'shape')",
                        p->name, (int)key_len, (const char *)key);
    if (h->seen[k])
        return cln_fail(p->err, CLN_ERR_FORMAT, "%s: header has a duplicate key '%s'", p->name,
                        header_key_names[k]);
    h->seen[k] = true;
    if (!accept(p, ':')) return malformed(p, "':' after a key");

    if (k == KEY_DESCR) {
        if (!at(p, '\'') && !at(p, '"'))
            return cln_fail(p->err, CLN_ERR_FORMAT,
                            "%s: 'descr' is not a string such as '<f4' (structured dtypes are "
                            "not supported)",
                            p->name);
        return parse_string(p, &h->descr, &h->descr_len);
    }
    if (k == KEY_FORTRAN_ORDER) {
        if (accept_word(p, "True"))
            h->fortran_order = true;
        else if (!accept_word(p, "False"))
            return malformed(p, "True or False for 'fortran_order'");
        return CLN_OK;
    }
    return parse_shape(p, h);
}

static cln_status parse_header(header_parser *p, npy_header *h) {
    if (!accept(p, '{')) return malformed(p, "'{' opening the header dict");
    while (!accept(p, '}')) {
        cln_status status = parse_entry(p, h);
        if (status != CLN_OK) return status;
        if (accept(p, ',')) continue;
        if (accept(p, '}')) break;
        return malformed(p, "',' or '}' after a value");
    }
    skip_spaces(p);
    if (p->pos != p->len) return malformed(p, "only spaces after the header dict");

    for (int k = 0; k < KEY_COUNT; k++)
        if (!h->seen[k])
            return cln_fail(p->err, CLN_ERR_FORMAT, "%s: header is missing the key '%s'", p->name,
                            header_key_names[k]);
    return CLN_OK;
}

/* ---- Reading ------------------------------------------------------------------------------ */

static size_t read_u16_le(const uint8_t *b) {
    return (size_t)b[0] | (size_t)b[1] << 8;
}

static size_t read_u32_le(const uint8_t *b) {
    return (size_t)b[0] | (size_t)b[1] << 8 | (size_t)b[2] << 16 | (size_t)b[3] << 24;
}

/* Checks the preamble and finds the header: *header_start and *header_len (which includes
 * the final '\n') lie within size. */
static cln_status parse_preamble(const char *name, const uint8_t *bytes, size_t size,
                                 size_t *header_start, size_t *header_len, cln_error *err) {
    if (size < sizeof npy_magic || memcmp(bytes, npy_magic, sizeof npy_magic) != 0)
        return cln_fail(err, CLN_ERR_FORMAT,
                        "%s: not a .npy file (bad magic: it does not start with \\x93NUMPY)", name);
    if (size < sizeof npy_magic + 2)
        return cln_fail(err, CLN_ERR_FORMAT, "%s: truncated preamble (%zu bytes)", name, size);
    int major = bytes[6], minor = bytes[7];
    if (major < 1 || major > 3 || minor != 0)
        return cln_fail(err, CLN_ERR_FORMAT,
                        "%s: unsupported .npy version %d.%d (expected 1.0, 2.0 or 3.0)", name,
                        major, minor);
    size_t preamble = major == 1 ? NPY_V1_PREAMBLE : NPY_V2_PREAMBLE;
    if (size < preamble)
        return cln_fail(err, CLN_ERR_FORMAT, "%s: truncated preamble (%zu bytes)", name, size);
    size_t len = major == 1 ? read_u16_le(bytes + 8) : read_u32_le(bytes + 8);
    if (len > NPY_MAX_HEADER_SIZE)
        return cln_fail(err, CLN_ERR_FORMAT, "%s: header length %zu is over the 1 MB limit", name,
                        len);
    if (len > size - preamble)
        return cln_fail(err, CLN_ERR_FORMAT,
                        "%s: header length %zu runs past the end of the file (%zu bytes)", name,
                        len, size);
    if (len == 0 || bytes[preamble + len - 1] != '\n')
        return cln_fail(err, CLN_ERR_FORMAT, "%s: header does not end with a newline", name);
    *header_start = preamble;
    *header_len = len;
    return CLN_OK;
}

/* Checks the preamble and header in the first `avail` bytes of a file of `size` bytes
 * (avail < size only when the header cannot reach past avail) and that the rest holds
 * exactly the shape's data, float32 (or float64 when f8_too; *elem is its size):
 * *data_start is where it begins. */
static cln_status parse_header_of(const char *name, const uint8_t *bytes, size_t avail, size_t size,
                                  bool f8_too, npy_header *h, size_t *elem, size_t *data_start,
                                  cln_error *err) {
    size_t header_start = 0, header_len = 0;
    cln_status status = parse_preamble(name, bytes, avail, &header_start, &header_len, err);
    if (status != CLN_OK) return status;
    header_parser parser = {.name = name,
                            .text = bytes + header_start,
                            .len = header_len - 1,
                            .offset = header_start,
                            .err = err};
    memset(h, 0, sizeof *h);
    status = parse_header(&parser, h);
    if (status != CLN_OK) return status;

    *elem = key_is(h->descr, h->descr_len, "<f4")             ? 4
            : f8_too && key_is(h->descr, h->descr_len, "<f8") ? 8
                                                              : 0;
    if (!*elem && f8_too)
        return cln_fail(err, CLN_ERR_FORMAT,
                        "%s: dtype '%.*s' is not float32 or float64 ('<f4', '<f8')", name,
                        (int)h->descr_len, (const char *)h->descr);
    if (!*elem)
        return cln_fail(err, CLN_ERR_FORMAT,
                        "%s: dtype '%.*s' is not float32 ('<f4'); save the array with "
                        ".astype(np.float32)",
                        name, (int)h->descr_len, (const char *)h->descr);
    if (h->fortran_order)
        return cln_fail(err, CLN_ERR_FORMAT,
                        "%s: the array is in Fortran order; save np.ascontiguousarray(a) instead",
                        name);
    char shape_text[NPY_SHAPE_TEXT_SIZE];
    format_shape(shape_text, sizeof shape_text, h->ndim, h->shape);
    size_t numel;
    if (!shape_numel(h->ndim, h->shape, &numel))
        return cln_fail(err, CLN_ERR_FORMAT, "%s: the element count of shape %s overflows", name,
                        shape_text);
    if (numel > SIZE_MAX / 8)
        return cln_fail(err, CLN_ERR_FORMAT, "%s: the byte size of shape %s overflows", name,
                        shape_text);
    *data_start = header_start + header_len;
    if (size - *data_start != numel * *elem)
        return cln_fail(err, CLN_ERR_FORMAT,
                        "%s: data size is %zu bytes but shape %s of float%d needs %zu", name,
                        size - *data_start, shape_text, (int)*elem * 8, numel * *elem);
    return CLN_OK;
}

static cln_status parse_f32_header(const char *name, const uint8_t *bytes, size_t avail,
                                   size_t size, npy_header *h, size_t *data_start, cln_error *err) {
    size_t elem;
    return parse_header_of(name, bytes, avail, size, false, h, &elem, data_start, err);
}

/* An array of h's shape with room for its data (never NULL, even for no elements). */
static cln_status array_alloc(const char *name, const npy_header *h, cln_npy *out,
                              cln_error *err) {
    size_t numel = 0;
    shape_numel(h->ndim, h->shape, &numel); /* checked by parse_f32_header */
    float *data = malloc(numel > 0 ? numel * sizeof(float) : 1);
    if (!data)
        return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes of data", name,
                        numel * sizeof(float));
    out->ndim = h->ndim;
    memcpy(out->shape, h->shape, sizeof h->shape);
    out->numel = numel;
    out->data = data;
    return CLN_OK;
}

cln_status npy_parse_f32(const char *name, const uint8_t *bytes, size_t size, cln_npy *out,
                         cln_error *err) {
    if (out) memset(out, 0, sizeof *out);
    if (!name || !out || (!bytes && size > 0))
        return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                        "npy_parse_f32: name, out and bytes must not be NULL");
    npy_header h;
    size_t data_start;
    cln_status status = parse_f32_header(name, bytes, size, size, &h, &data_start, err);
    if (status == CLN_OK) status = array_alloc(name, &h, out, err);
    if (status == CLN_OK) memcpy(out->data, bytes + data_start, out->numel * sizeof(float));
    return status;
}

/* The header is read first, and the data only once the file's size matches its shape:
 * a file far larger than its header says is refused before it is read. */
cln_status cln_npy_read(const char *path, cln_npy *out, cln_error *err) {
    if (out) memset(out, 0, sizeof *out);
    if (!path || !out)
        return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                        "cln_npy_read: path and out must not be NULL");
    FILE *f;
    size_t size;
    cln_status status = file_open_regular(path, &f, &size, err);
    if (status != CLN_OK) return status;
    size_t avail =
        size < NPY_V2_PREAMBLE + NPY_MAX_HEADER_SIZE ? size : NPY_V2_PREAMBLE + NPY_MAX_HEADER_SIZE;
    uint8_t *head = malloc(avail > 0 ? avail : 1);
    npy_header h;
    size_t data_start = 0;
    if (!head)
        status = cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "%s: out of memory reading its header", path);
    else if (fread(head, 1, avail, f) != avail)
        status = cln_fail(err, CLN_ERR_IO, "%s: cannot read: %s", path,
                          ferror(f) ? strerror(errno) : "the file changed size while it was read");
    else
        status = parse_f32_header(path, head, avail, size, &h, &data_start, err);
    if (status == CLN_OK) status = array_alloc(path, &h, out, err);
    if (status == CLN_OK) {
        /* the header's dict is gone with head: out holds what it said */
        size_t bytes = out->numel * sizeof(float);
        if (fseek(f, (long)data_start, SEEK_SET) != 0 || fread(out->data, 1, bytes, f) != bytes ||
            fgetc(f) != EOF)
            status =
                cln_fail(err, CLN_ERR_IO, "%s: cannot read: %s", path,
                         ferror(f) ? strerror(errno) : "the file changed size while it was read");
    }
    free(head);
    fclose(f);
    if (status != CLN_OK) cln_npy_free(out);
    return status;
}

cln_status npy_parse_f64(const char *name, const uint8_t *bytes, size_t size, npy_f64 *out,
                         cln_error *err) {
    memset(out, 0, sizeof *out);
    npy_header h;
    size_t elem, data_start, numel = 0;
    cln_status status = parse_header_of(name, bytes, size, size, true, &h, &elem, &data_start, err);
    if (status != CLN_OK) return status;
    shape_numel(h.ndim, h.shape, &numel);
    double *data = malloc(numel > 0 ? numel * sizeof *data : 1);
    if (!data)
        return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes of data", name,
                        numel * sizeof *data);
    for (size_t i = 0; i < numel; i++) {
        if (elem == 8) {
            memcpy(&data[i], bytes + data_start + 8 * i, 8);
        } else {
            float f;
            memcpy(&f, bytes + data_start + 4 * i, 4);
            data[i] = f;
        }
    }
    out->ndim = h.ndim;
    memcpy(out->shape, h.shape, sizeof h.shape);
    out->numel = numel;
    out->data = data;
    return CLN_OK;
}

void npy_f64_free(npy_f64 *a) {
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* ---- Writing ------------------------------------------------------------------------------ */

/* Writes the v1.0 header of a '<f4' C-order array of the given shape (dims
 * checked, >= 0) into header: preamble, dict, spaces, '\n', padded to
 * NPY_DATA_ALIGN, or to `total` bytes when that is larger. Returns its
 * length. The dict is the shape's text plus 53 characters, so it fits in
 * NPY_HEADER_MAX bytes. */
#define NPY_HEADER_MAX 384
static size_t format_header_of(char *header, const char *descr, int ndim, const int64_t *shape,
                               size_t total) {
    char shape_text[NPY_SHAPE_TEXT_SIZE];
    format_shape(shape_text, sizeof shape_text, ndim, shape);
    int dict_len =
        snprintf(header + NPY_V1_PREAMBLE, NPY_HEADER_MAX - NPY_V1_PREAMBLE,
                 "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape_text);
    size_t unpadded = NPY_V1_PREAMBLE + (size_t)dict_len + 1;
    size_t natural = (unpadded + NPY_DATA_ALIGN - 1) / NPY_DATA_ALIGN * NPY_DATA_ALIGN;
    if (total < natural) total = natural;
    size_t header_len = total - NPY_V1_PREAMBLE;
    memcpy(header, npy_magic, sizeof npy_magic);
    header[6] = 1;
    header[7] = 0;
    header[8] = (char)(header_len & 0xff);
    header[9] = (char)(header_len >> 8);
    memset(header + NPY_V1_PREAMBLE + dict_len, ' ', total - unpadded);
    header[total - 1] = '\n';
    return total;
}

static size_t format_header(char *header, int ndim, const int64_t *shape, size_t total) {
    return format_header_of(header, "<f4", ndim, shape, total);
}

cln_status npy_format_f64(const double *data, int ndim, const int64_t *shape, uint8_t **bytes,
                          size_t *size, cln_error *err) {
    size_t numel = 0;
    if (ndim < 0 || ndim > CLN_NPY_MAX_DIMS || !shape_numel(ndim, shape, &numel) ||
        numel > (SIZE_MAX - NPY_HEADER_MAX) / 8)
        return cln_fail(err, CLN_ERR_INVALID_ARGUMENT, "npy_format_f64: a bad shape");
    char header[NPY_HEADER_MAX];
    const size_t head = format_header_of(header, "<f8", ndim, shape, 0);
    *size = head + 8 * numel;
    *bytes = malloc(*size);
    if (!*bytes) return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "out of memory writing an array");
    memcpy(*bytes, header, head);
    if (numel) memcpy(*bytes + head, data, 8 * numel);
    return CLN_OK;
}

cln_status cln_npy_write(const char *path, const float *data, int ndim, const int64_t *shape,
                         cln_error *err) {
    if (!path || ndim < 0 || ndim > CLN_NPY_MAX_DIMS || (ndim > 0 && !shape))
        return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                        "cln_npy_write: needs a path and a shape of 0 to %d dimensions",
                        CLN_NPY_MAX_DIMS);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0)
            return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                            "%s: cannot write a shape with a negative dimension %" PRId64, path,
                            shape[i]);
    char shape_text[NPY_SHAPE_TEXT_SIZE];
    format_shape(shape_text, sizeof shape_text, ndim, shape);
    size_t numel;
    if (!shape_numel(ndim, shape, &numel) || numel > SIZE_MAX / sizeof(float))
        return cln_fail(err, CLN_ERR_INVALID_ARGUMENT, "%s: the size of shape %s overflows", path,
                        shape_text);
    if (!data && numel > 0)
        return cln_fail(err, CLN_ERR_INVALID_ARGUMENT, "%s: no data to write", path);

    char header[NPY_HEADER_MAX];
    size_t total = format_header(header, ndim, shape, 0);
    temp_file out;
    cln_status status = temp_file_open(&out, path, err);
    if (status != CLN_OK) return status;
    if (fwrite(header, 1, total, out.f) != total ||
        (numel > 0 && fwrite(data, sizeof(float), numel, out.f) != numel)) {
        status = cln_fail(err, CLN_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
        temp_file_abort(&out);
        return status;
    }
    return temp_file_commit(&out, err);
}

void cln_npy_free(cln_npy *a) {
    if (!a) return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* ---- Row by row -------------------------------------------------------- */

/* The header's room: that of the largest first dimension. */
struct cln_npy_writer {
    temp_file file;
    int ndim;
    int64_t shape[CLN_NPY_MAX_DIMS]; /* shape[0]: the rows so far */
    size_t row_floats, header_bytes;
};

static size_t writer_header_size(const cln_npy_writer *w) {
    char header[NPY_HEADER_MAX];
    int64_t shape[CLN_NPY_MAX_DIMS];
    memcpy(shape, w->shape, sizeof shape);
    shape[0] = INT64_MAX;
    return format_header(header, w->ndim, shape, 0);
}

cln_status cln_npy_writer_open(const char *path, int ndim, const int64_t *row_shape,
                               cln_npy_writer **out, cln_error *err) {
    *out = NULL;
    if (ndim < 1 || ndim > CLN_NPY_MAX_DIMS)
        return cln_fail(err, CLN_ERR_INVALID_ARGUMENT, "cln_npy_writer_open: %d dimensions", ndim);
    cln_npy_writer *w = calloc(1, sizeof *w);
    if (!w) return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    w->ndim = ndim;
    w->row_floats = 1;
    for (int d = 1; d < ndim; d++) {
        w->shape[d] = row_shape[d - 1];
        w->row_floats *= (size_t)row_shape[d - 1];
    }
    cln_status status = temp_file_open(&w->file, path, err);
    if (status != CLN_OK) {
        free(w);
        return status;
    }
    char zeros[NPY_HEADER_MAX] = {0};
    w->header_bytes = writer_header_size(w);
    if (fwrite(zeros, 1, w->header_bytes, w->file.f) != w->header_bytes) {
        status = cln_fail(err, CLN_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
        cln_npy_writer_abort(w);
        return status;
    }
    *out = w;
    return CLN_OK;
}

cln_status cln_npy_writer_append(cln_npy_writer *w, const float *rows, size_t count, cln_error *err) {
    if (count && fwrite(rows, sizeof *rows * w->row_floats, count, w->file.f) != count)
        return cln_fail(err, CLN_ERR_IO, "%s: cannot write: %s", w->file.path, strerror(errno));
    w->shape[0] += (int64_t)count;
    return CLN_OK;
}

cln_status cln_npy_writer_close(cln_npy_writer *w, cln_error *err) {
    char header[NPY_HEADER_MAX];
    format_header(header, w->ndim, w->shape, w->header_bytes);
    if (fseek(w->file.f, 0, SEEK_SET) != 0 ||
        fwrite(header, 1, w->header_bytes, w->file.f) != w->header_bytes) {
        cln_status status =
            cln_fail(err, CLN_ERR_IO, "%s: cannot write: %s", w->file.path, strerror(errno));
        cln_npy_writer_abort(w);
        return status;
    }
    cln_status status = temp_file_commit(&w->file, err);
    free(w);
    return status;
}

void cln_npy_writer_abort(cln_npy_writer *w) {
    if (!w) return;
    temp_file_abort(&w->file);
    free(w);
}
