/* Tests of the safetensors reader: a valid file read back tensor by tensor, and one malformed
 * file per validation rule, each checked for the message that rule gives. */
#define _POSIX_C_SOURCE 200809L

#include "../weights/safetensors.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FILE_NAME "test.safetensors"

/* A safetensors file in memory: the 8-byte little-endian length of header, header, then
 * data_size bytes copied from data (zeros when data is NULL). Free with free(). */
static uint8_t *make_file(const char *header, const void *data, size_t data_size, size_t *size) {
    size_t header_size = strlen(header);
    *size = 8 + header_size + data_size;
    uint8_t *bytes = calloc(*size, 1);
    cr_assert_not_null(bytes);
    for (int i = 0; i < 8; i++)
        bytes[i] = (uint8_t)((uint64_t)header_size >> (8 * i));
    memcpy(bytes + 8, header, header_size);
    if (data) memcpy(bytes + 8 + header_size, data, data_size);
    return bytes;
}

/* Asserts that bytes are refused as malformed with a message naming the file and holding each
 * of the phrases (the second may be NULL), and that nothing is left in the st_file. */
static void expect_refused_bytes(const uint8_t *bytes, size_t size, const char *phrase,
                                 const char *phrase2) {
    st_file f;
    cln_error err = {0};
    cln_status status = st_open_memory(FILE_NAME, bytes, size, &f, &err);
    cr_assert_eq(status, CLN_ERR_FORMAT, "status %s, message: %s", cln_status_name(status),
                 err.message);
    cr_assert_eq(err.status, CLN_ERR_FORMAT);
    cr_assert(strstr(err.message, FILE_NAME ": "), "no file name in: %s", err.message);
    cr_assert(strstr(err.message, phrase), "\"%s\" not in: %s", phrase, err.message);
    if (phrase2) cr_assert(strstr(err.message, phrase2), "\"%s\" not in: %s", phrase2, err.message);
    cr_assert_null(f.bytes);
    cr_assert_null(f.path);
    cr_assert_null(f.tensors);
    cr_assert_eq(f.count, 0);
    st_close(&f);
}

static void expect_refused(const char *header, size_t data_size, const char *phrase,
                           const char *phrase2) {
    size_t size;
    uint8_t *bytes = make_file(header, NULL, data_size, &size);
    expect_refused_bytes(bytes, size, phrase, phrase2);
    free(bytes);
}

static void put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

/* Tensors listed out of data order; "e.empty" has no elements. */
static const char valid_header[] =
    "{\"c.bf16\": {\"dtype\": \"BF16\", \"shape\": [4], \"data_offsets\": [52, 60]},"
    " \"__metadata__\": {\"format\": \"pt\"},"
    " \"a.f32\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 24]},"
    " \"e.empty\": {\"dtype\": \"F32\", \"shape\": [0, 4], \"data_offsets\": [52, 52]},"
    " \"d.step\": {\"dtype\": \"I64\", \"shape\": [], \"data_offsets\": [44, 52]},"
    " \"b.f16\": {\"dtype\": \"F16\", \"shape\": [2, 5], \"data_offsets\": [24, 44]}}"
    "      "; /* writers pad the header with spaces */

static const float a_values[6] = {1.5f, -2.0f, 0.0f, 3.25f, 1e-3f, 100.0f};
/* 1, -2, smallest subnormal, largest subnormal, +inf, -inf, NaN, -0, largest finite, ~1/3 */
static const uint16_t b_bits[10] = {0x3c00, 0xc000, 0x0001, 0x03ff, 0x7c00,
                                    0xfc00, 0x7e00, 0x8000, 0x7bff, 0x3555};
/* 1, -3, 3.140625, +inf */
static const uint16_t c_bits[4] = {0x3f80, 0xc040, 0x4049, 0x7f80};

static uint8_t *make_valid_file(size_t *size) {
    uint8_t data[60] = {0};
    memcpy(data, a_values, sizeof a_values);
    for (int i = 0; i < 10; i++)
        put_u16(data + 24 + 2 * i, b_bits[i]);
    data[44] = 7; /* d.step = 7 */
    for (int i = 0; i < 4; i++)
        put_u16(data + 52 + 2 * i, c_bits[i]);
    return make_file(valid_header, data, sizeof data, size);
}

/* The tensor's data where it lies: in memory, where its offset says; from
 * a file, not read yet (NULL). */
static void expect_at(const st_file *f, const st_tensor *t, const uint8_t *data, size_t offset) {
    cr_assert_eq(t->offset, offset, "%s at %zu, not %zu", t->name, t->offset, offset);
    if (f->fp)
        cr_assert_null(t->data);
    else
        cr_assert_eq(t->data, data + offset);
}

static void check_valid_file(const st_file *f, size_t header_size) {
    cr_assert_eq(f->count, 5);
    const uint8_t *data = f->bytes + 8 + header_size;
    cr_assert_eq(f->data_start, 8 + header_size);
    /* sorted by offset; the zero-size tensor before the one at the same offset */
    const char *order[] = {"a.f32", "b.f16", "d.step", "e.empty", "c.bf16"};
    for (int i = 0; i < 5; i++)
        cr_assert_str_eq(f->tensors[i].name, order[i]);
    cr_assert_null(st_find(f, "__metadata__"));
    cr_assert_null(st_find(f, "missing"));

    const st_tensor *a = st_find(f, "a.f32");
    cr_assert_not_null(a);
    cr_assert_eq(a->dtype, ST_F32);
    cr_assert_eq(a->ndim, 2);
    cr_assert_eq(a->shape[0], 2);
    cr_assert_eq(a->shape[1], 3);
    cr_assert_eq(a->numel, 6);
    cr_assert_eq(a->nbytes, 24);
    expect_at(f, a, data, 0);

    const st_tensor *b = st_find(f, "b.f16");
    cr_assert_eq(b->dtype, ST_F16);
    cr_assert_eq(b->numel, 10);
    cr_assert_eq(b->nbytes, 20);
    expect_at(f, b, data, 24);

    const st_tensor *c = st_find(f, "c.bf16");
    cr_assert_eq(c->dtype, ST_BF16);
    cr_assert_eq(c->ndim, 1);
    cr_assert_eq(c->numel, 4);
    expect_at(f, c, data, 52);

    const st_tensor *d = st_find(f, "d.step");
    cr_assert_eq(d->dtype, ST_I64);
    cr_assert_eq(d->ndim, 0);
    cr_assert_eq(d->numel, 1);
    cr_assert_eq(d->nbytes, 8);
    expect_at(f, d, data, 44);
    uint8_t step[8];
    cln_error read_err = {0};
    cr_assert_eq(st_read(f, d, step, &read_err), CLN_OK, "%s", read_err.message);
    cr_assert_eq(step[0], 7);

    const st_tensor *e = st_find(f, "e.empty");
    cr_assert_eq(e->ndim, 2);
    cr_assert_eq(e->numel, 0);
    cr_assert_eq(e->nbytes, 0);
    expect_at(f, e, data, 52);

    cln_error err = {0};
    float a_out[6];
    cr_assert_eq(st_to_f32(f, a, a_out, &err), CLN_OK);
    cr_assert_arr_eq(a_out, a_values, sizeof a_values);

    float b_out[10];
    cr_assert_eq(st_to_f32(f, b, b_out, &err), CLN_OK);
    cr_assert_eq(b_out[0], 1.0f);
    cr_assert_eq(b_out[1], -2.0f);
    cr_assert_eq(b_out[2], 0x1p-24f);     /* 1 * 2^-24 */
    cr_assert_eq(b_out[3], 0x1.ff8p-15f); /* 1023 * 2^-24 */
    cr_assert(isinf(b_out[4]) && b_out[4] > 0);
    cr_assert(isinf(b_out[5]) && b_out[5] < 0);
    cr_assert(isnan(b_out[6]));
    cr_assert(b_out[7] == 0.0f && signbit(b_out[7]));
    cr_assert_eq(b_out[8], 65504.0f);
    cr_assert_eq(b_out[9], 1365.0f / 4096.0f); /* 2^-2 * (1 + 341/1024) */

    float c_out[4];
    cr_assert_eq(st_to_f32(f, c, c_out, &err), CLN_OK);
    cr_assert_eq(c_out[0], 1.0f);
    cr_assert_eq(c_out[1], -3.0f);
    cr_assert_eq(c_out[2], 3.140625f);
    cr_assert(isinf(c_out[3]) && c_out[3] > 0);
}

Test(safetensors, valid_file_from_memory) {
    size_t size;
    uint8_t *bytes = make_valid_file(&size);
    st_file f;
    cln_error err = {0};
    cr_assert_eq(st_open_memory(FILE_NAME, bytes, size, &f, &err), CLN_OK, "%s", err.message);
    free(bytes); /* st_open_memory keeps its own copy */
    cr_assert_str_eq(f.path, FILE_NAME);
    cr_assert_eq(f.size, size);
    check_valid_file(&f, strlen(valid_header));
    st_close(&f);
    cr_assert_null(f.tensors);
    st_close(&f); /* a closed file may be closed again */
}

Test(safetensors, valid_file_from_disk) {
    char path[] = "/tmp/test_safetensors_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_neq(fd, -1);
    FILE *fp = fdopen(fd, "wb");
    cr_assert_not_null(fp);
    size_t size;
    uint8_t *bytes = make_valid_file(&size);
    cr_assert_eq(fwrite(bytes, 1, size, fp), size);
    cr_assert_eq(fclose(fp), 0);
    free(bytes);

    st_file f;
    cln_error err = {0};
    cln_status status = st_open(path, &f, &err);
    unlink(path);
    cr_assert_eq(status, CLN_OK, "%s", err.message);
    cr_assert_str_eq(f.path, path);
    check_valid_file(&f, strlen(valid_header));
    st_close(&f);
}

Test(safetensors, missing_file_is_io_error) {
    st_file f;
    cln_error err = {0};
    const char *path = "/nonexistent/dir/model.safetensors";
    cr_assert_eq(st_open(path, &f, &err), CLN_ERR_IO);
    cr_assert_eq(err.status, CLN_ERR_IO);
    cr_assert(strstr(err.message, path), "%s", err.message);
    cr_assert_null(f.bytes);
    st_close(&f);
}

Test(safetensors, zeroed_file_closes) {
    st_file f = {0};
    st_close(&f);
    cr_assert_eq(f.count, 0);
}

Test(safetensors, empty_header_object_is_valid) {
    size_t size;
    uint8_t *bytes = make_file("{\"__metadata__\": {}}", NULL, 0, &size);
    st_file f;
    cln_error err = {0};
    cr_assert_eq(st_open_memory(FILE_NAME, bytes, size, &f, &err), CLN_OK, "%s", err.message);
    cr_assert_eq(f.count, 0);
    st_close(&f);
    free(bytes);
}

Test(safetensors, zero_size_tensors_share_an_offset) {
    size_t size;
    uint8_t *bytes =
        make_file("{\"z2\": {\"dtype\": \"F32\", \"shape\": [3, 0], \"data_offsets\": [4, 4]},"
                  " \"x\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
                  " \"z1\": {\"dtype\": \"U8\", \"shape\": [0], \"data_offsets\": [4, 4]}}",
                  NULL, 4, &size);
    st_file f;
    cln_error err = {0};
    cr_assert_eq(st_open_memory(FILE_NAME, bytes, size, &f, &err), CLN_OK, "%s", err.message);
    cr_assert_eq(f.count, 3);
    cr_assert_str_eq(f.tensors[0].name, "x");
    cr_assert_str_eq(f.tensors[1].name, "z1");
    cr_assert_str_eq(f.tensors[2].name, "z2");
    st_close(&f);
    free(bytes);
}

Test(safetensors, to_f32_refuses_i64) {
    size_t size;
    uint8_t *bytes =
        make_file("{\"step\": {\"dtype\": \"I64\", \"shape\": [], \"data_offsets\": [0, 8]}}", NULL,
                  8, &size);
    st_file f;
    cln_error err = {0};
    cr_assert_eq(st_open_memory(FILE_NAME, bytes, size, &f, &err), CLN_OK, "%s", err.message);
    float out;
    cr_assert_eq(st_to_f32(&f, st_find(&f, "step"), &out, &err), CLN_ERR_FORMAT);
    cr_assert(strstr(err.message, FILE_NAME ": tensor \"step\": dtype I64 cannot be converted"),
              "%s", err.message);
    st_close(&f);
    free(bytes);
}

/* ---- The file as a whole ------------------------------------------------ */

Test(safetensors, refuses_file_shorter_than_length_field) {
    const uint8_t bytes[5] = {0};
    expect_refused_bytes(bytes, sizeof bytes, "5 bytes, shorter than the 8-byte header length",
                         NULL);
}

Test(safetensors, refuses_empty_file) {
    expect_refused_bytes((const uint8_t *)"", 0, "0 bytes, shorter than", NULL);
}

Test(safetensors, refuses_header_length_over_limit) {
    size_t size;
    uint8_t *bytes = make_file("{}", NULL, 0, &size);
    const uint64_t length = ST_MAX_HEADER_BYTES + 1ull;
    for (int i = 0; i < 8; i++)
        bytes[i] = (uint8_t)(length >> (8 * i));
    expect_refused_bytes(bytes, size, "header length 100000001 is over the limit", NULL);
    free(bytes);
}

Test(safetensors, refuses_huge_header_length) {
    size_t size;
    uint8_t *bytes = make_file("{}", NULL, 0, &size);
    memset(bytes, 0xff, 8); /* 2^64 - 1: must not wrap when added to 8 */
    expect_refused_bytes(bytes, size, "header length 18446744073709551615 is over the limit", NULL);
    free(bytes);
}

Test(safetensors, refuses_header_length_past_end_of_file) {
    size_t size;
    uint8_t *bytes = make_file("{}", NULL, 0, &size);
    bytes[0] = 3; /* 3 bytes claimed, 2 present */
    expect_refused_bytes(bytes, size, "header length 3 runs past the end of the file", NULL);
    free(bytes);
}

Test(safetensors, refuses_bad_utf8) {
    expect_refused("{\"w\xff\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [0, 0]}}", 0,
                   "header is not valid UTF-8", "line 1");
}

Test(safetensors, refuses_bad_json) {
    expect_refused("{\"w\": }", 0, "header is not valid JSON", "column 7");
}

Test(safetensors, refuses_empty_header) {
    expect_refused("", 0, "header is not valid JSON", NULL);
}

Test(safetensors, refuses_garbage_after_json) {
    expect_refused("{} x", 0, "garbage after the header's JSON", NULL);
}

Test(safetensors, refuses_top_level_array) {
    expect_refused("[]", 0, "top level is a JSON array, not an object", NULL);
}

Test(safetensors, refuses_top_level_string) {
    expect_refused("\"w\"", 0, "top level is a JSON string, not an object", NULL);
}

Test(safetensors, refuses_duplicate_name) {
    expect_refused("{\"w\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [0, 0]},"
                   " \"w\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [0, 0]}}",
                   0, "duplicate tensor name", "\"w\"");
}

/* ---- __metadata__ ------------------------------------------------------- */

Test(safetensors, refuses_metadata_not_object) {
    expect_refused("{\"__metadata__\": [\"pt\"]}", 0,
                   "\"__metadata__\" is a JSON array, not an object", NULL);
}

Test(safetensors, refuses_metadata_value_not_string) {
    expect_refused("{\"__metadata__\": {\"format\": \"pt\", \"epoch\": 3}}", 0,
                   "\"__metadata__\" value \"epoch\" is a JSON integer, not a string", NULL);
}

/* ---- Tensor entries ----------------------------------------------------- */

Test(safetensors, refuses_entry_not_object) {
    expect_refused("{\"w\": [1]}", 0, "tensor \"w\": entry is a JSON array, not an object", NULL);
}

Test(safetensors, refuses_missing_dtype) {
    expect_refused("{\"w\": {\"shape\": [0], \"data_offsets\": [0, 0]}}", 0,
                   "tensor \"w\": missing \"dtype\"", NULL);
}

Test(safetensors, refuses_missing_shape) {
    expect_refused("{\"w\": {\"dtype\": \"F32\", \"data_offsets\": [0, 0]}}", 0,
                   "tensor \"w\": missing \"shape\"", NULL);
}

Test(safetensors, refuses_missing_data_offsets) {
    expect_refused("{\"w\": {\"dtype\": \"F32\", \"shape\": [0]}}", 0,
                   "tensor \"w\": missing \"data_offsets\"", NULL);
}

Test(safetensors, refuses_dtype_not_string) {
    expect_refused("{\"w\": {\"dtype\": 9, \"shape\": [0], \"data_offsets\": [0, 0]}}", 0,
                   "tensor \"w\": \"dtype\" is a JSON integer, not a string", NULL);
}

Test(safetensors, refuses_shape_not_array) {
    expect_refused("{\"w\": {\"dtype\": \"F32\", \"shape\": \"4\", \"data_offsets\": [0, 16]}}", 16,
                   "tensor \"w\": \"shape\" is a JSON string, not an array", NULL);
}

Test(safetensors, refuses_data_offsets_not_array) {
    expect_refused("{\"w\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": {}}}", 0,
                   "tensor \"w\": \"data_offsets\" is a JSON object, not an array", NULL);
}

Test(safetensors, refuses_unknown_dtype) {
    expect_refused("{\"w\": {\"dtype\": \"F8\", \"shape\": [0], \"data_offsets\": [0, 0]}}", 0,
                   "tensor \"w\": unknown dtype \"F8\"", NULL);
}

/* A name holding terminal control sequences is quoted with them escaped:
 * the message cannot clear the screen or rewrite the line it is on. */
Test(safetensors, control_characters_in_names_are_escaped) {
    expect_refused("{\"\\u001b[2J\\rok\": {\"dtype\": \"F8\", \"shape\": [0], "
                   "\"data_offsets\": [0, 0]}}",
                   0, "tensor \"\\x1b[2J\\x0dok\": unknown dtype \"F8\"", NULL);
}

Test(safetensors, refuses_lowercase_dtype) {
    expect_refused("{\"w\": {\"dtype\": \"f32\", \"shape\": [0], \"data_offsets\": [0, 0]}}", 0,
                   "tensor \"w\": unknown dtype \"f32\"", NULL);
}

Test(safetensors, refuses_too_many_dims) {
    expect_refused("{\"w\": {\"dtype\": \"U8\", \"shape\": [1, 1, 1, 1, 1, 1, 1, 1, 1],"
                   " \"data_offsets\": [0, 1]}}",
                   1, "tensor \"w\": shape has 9 dims, more than the 8 allowed", NULL);
}

Test(safetensors, refuses_negative_dim) {
    expect_refused("{\"w\": {\"dtype\": \"F32\", \"shape\": [2, -3], \"data_offsets\": [0, 0]}}", 0,
                   "tensor \"w\": shape[1] is negative (-3)", NULL);
}

Test(safetensors, refuses_non_integer_dim) {
    expect_refused("{\"w\": {\"dtype\": \"F32\", \"shape\": [2.5], \"data_offsets\": [0, 8]}}", 8,
                   "tensor \"w\": shape[0] is a JSON real number, not an integer", NULL);
}

Test(safetensors, refuses_three_data_offsets) {
    expect_refused("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4, 8]}}", 8,
                   "tensor \"w\": \"data_offsets\" holds 3 values, not 2", NULL);
}

Test(safetensors, refuses_one_data_offset) {
    expect_refused("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4]}}", 4,
                   "tensor \"w\": \"data_offsets\" holds 1 values, not 2", NULL);
}

Test(safetensors, refuses_negative_offset) {
    expect_refused("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-4, 0]}}", 0,
                   "tensor \"w\": data_offsets[0] is negative (-4)", NULL);
}

Test(safetensors, refuses_non_integer_offset) {
    expect_refused("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, \"4\"]}}", 4,
                   "tensor \"w\": data_offsets[1] is a JSON string, not an integer", NULL);
}

Test(safetensors, refuses_reversed_offsets) {
    expect_refused("{\"w\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [8, 4]}}", 8,
                   "tensor \"w\": data_offsets [8, 4] are reversed", NULL);
}

/* ---- Sizes -------------------------------------------------------------- */

Test(safetensors, refuses_element_count_that_wraps_to_zero) {
    /* 2^32 * 2^32 is 0 modulo 2^64: accepted as 0 bytes if the product is not checked */
    expect_refused(
        "{\"w\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296],"
        " \"data_offsets\": [0, 0]}}",
        0, "tensor \"w\": element count of shape [4294967296, 4294967296] overflows size_t", NULL);
}

Test(safetensors, refuses_byte_size_overflow) {
    /* 2^62 elements fit in size_t; 2^62 * 4 bytes wrap to 0 */
    expect_refused("{\"w\": {\"dtype\": \"F32\", \"shape\": [4611686018427387904],"
                   " \"data_offsets\": [0, 0]}}",
                   0, "tensor \"w\": byte size of shape [4611686018427387904] of F32 overflows",
                   NULL);
}

Test(safetensors, refuses_byte_size_mismatch) {
    expect_refused(
        "{\"fc.weight\": {\"dtype\": \"F32\", \"shape\": [1000, 2048],"
        " \"data_offsets\": [0, 12]}}",
        12,
        "tensor \"fc.weight\": data_offsets [0, 12] hold 12 bytes but shape [1000, 2048] "
        "of F32 needs 8192000 bytes",
        NULL);
}

Test(safetensors, refuses_offsets_past_data_section) {
    expect_refused("{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", 8,
                   "tensor \"w\": data_offsets [0, 16] run past the end of the data section (8 "
                   "bytes)",
                   NULL);
}

/* ---- Layout of the data section ----------------------------------------- */

Test(safetensors, refuses_overlap) {
    expect_refused("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                   " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}",
                   12, "tensor \"b\": data_offsets [4, 12] overlap tensor \"a\" at [0, 8]", NULL);
}

Test(safetensors, refuses_zero_size_tensor_inside_another) {
    expect_refused("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                   " \"z\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [4, 4]}}",
                   8, "tensor \"z\": data_offsets [4, 4] overlap tensor \"a\"", NULL);
}

Test(safetensors, refuses_same_data_twice) {
    expect_refused("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
                   " \"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}",
                   4, "tensor \"b\": data_offsets [0, 4] overlap tensor \"a\"", NULL);
}

Test(safetensors, refuses_hole_between_tensors) {
    expect_refused("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
                   " \"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 12]}}",
                   12, "tensor \"b\": data_offsets [8, 12] leave a hole: bytes [4, 8)", NULL);
}

Test(safetensors, refuses_hole_at_start) {
    expect_refused("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", 8,
                   "tensor \"a\": data_offsets [4, 8] leave a hole: bytes [0, 4)", NULL);
}

Test(safetensors, refuses_trailing_bytes) {
    expect_refused("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 8,
                   "4 trailing bytes after the tensor data", NULL);
}

Test(safetensors, refuses_data_without_tensors) {
    expect_refused("{\"__metadata__\": {\"format\": \"pt\"}}", 3,
                   "3 trailing bytes after the tensor data", NULL);
}
