/* Tests of jobs/npy.c: round trips through a file, headers as numpy writes them, and one
 * malformed input per rule of the reader, each checked by a phrase of its message. */
#define _POSIX_C_SOURCE 200809L

#include "../jobs/npy.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* What np.save(f, np.zeros((2, 3), np.float32)) writes before the data. */
static const char numpy_2x3_header[] =
    "\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
    "                                                          \n";

/* Builds a .npy in buf: the preamble of version major.0, header, then data_size bytes of
 * data holding the floats 0, 1, 2, ... Returns the size. The header is used as it is, so
 * it should end in '\n'. */
static size_t build_npy(uint8_t *buf, size_t cap, int major, const char *header, size_t data_size) {
    size_t header_len = strlen(header);
    size_t preamble = major == 1 ? 10 : 12;
    cr_assert_leq(preamble + header_len + data_size, cap);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (uint8_t)major;
    buf[7] = 0;
    for (size_t i = 0; i < preamble - 8; i++)
        buf[8 + i] = (uint8_t)(header_len >> (8 * i));
    memcpy(buf + preamble, header, header_len);
    for (size_t i = 0; i < data_size; i++) {
        float value = (float)(i / sizeof(float));
        buf[preamble + header_len + i] = ((const uint8_t *)&value)[i % sizeof(float)];
    }
    return preamble + header_len + data_size;
}

/* Parses bytes that must be refused with CLN_ERR_FORMAT and a message containing phrase,
 * leaving the array zeroed. */
static void expect_format_error(const uint8_t *bytes, size_t size, const char *phrase) {
    cln_npy a;
    memset(&a, 0xab, sizeof a);
    cln_error err = {0};
    cln_status status = npy_parse_f32("bad.npy", bytes, size, &a, &err);
    cr_assert_eq(status, CLN_ERR_FORMAT, "status %s, message: %s", cln_status_name(status),
                 err.message);
    cr_assert_eq(err.status, CLN_ERR_FORMAT);
    cr_assert(strstr(err.message, "bad.npy") != NULL, "message names no file: %s", err.message);
    cr_assert(strstr(err.message, phrase) != NULL, "expected \"%s\" in: %s", phrase, err.message);
    cr_assert_eq(a.ndim, 0);
    cr_assert_eq(a.numel, 0);
    cr_assert_null(a.data);
}

/* Builds a version 1.0 file of header and data_size bytes, and expects it refused. */
static void expect_header_error(const char *header, size_t data_size, const char *phrase) {
    uint8_t buf[1024];
    size_t size = build_npy(buf, sizeof buf, 1, header, data_size);
    expect_format_error(buf, size, phrase);
}

static void parse_ok(const uint8_t *bytes, size_t size, cln_npy *a) {
    cln_error err = {0};
    cln_status status = npy_parse_f32("ok.npy", bytes, size, a, &err);
    cr_assert_eq(status, CLN_OK, "status %s, message: %s", cln_status_name(status), err.message);
}

/* Parses a version major.0 file of header and a (2, 3) array, and checks shape and data. */
static void expect_2x3(int major, const char *header) {
    uint8_t buf[1024];
    size_t size = build_npy(buf, sizeof buf, major, header, 6 * sizeof(float));
    cln_npy a;
    parse_ok(buf, size, &a);
    cr_assert_eq(a.ndim, 2);
    cr_assert_eq(a.shape[0], 2);
    cr_assert_eq(a.shape[1], 3);
    cr_assert_eq(a.numel, 6);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(a.data[i], (float)i);
    cln_npy_free(&a);
}

static void make_temp_path(char *path, size_t cap) {
    cr_assert_lt((size_t)snprintf(path, cap, "/tmp/test_npy_XXXXXX"), cap);
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
}

/* Writes an array of shape, reads it back and compares. */
static void round_trip(int ndim, const int64_t *shape, size_t numel) {
    float *data = malloc((numel > 0 ? numel : 1) * sizeof(float));
    cr_assert_not_null(data);
    for (size_t i = 0; i < numel; i++)
        data[i] = (float)i * 0.25f - 3.0f;
    char path[64];
    make_temp_path(path, sizeof path);
    cln_error err = {0};
    cr_assert_eq(cln_npy_write(path, data, ndim, shape, &err), CLN_OK, "%s", err.message);

    cln_npy a;
    cr_assert_eq(cln_npy_read(path, &a, &err), CLN_OK, "%s", err.message);
    remove(path);
    cr_assert_eq(a.ndim, ndim);
    for (int i = 0; i < ndim; i++)
        cr_assert_eq(a.shape[i], shape[i]);
    cr_assert_eq(a.numel, numel);
    cr_assert_not_null(a.data);
    cr_assert_eq(memcmp(a.data, data, numel * sizeof(float)), 0);
    cln_npy_free(&a);
    free(data);
}

/* ---- Round trips -------------------------------------------------------------------------- */

Test(npy_round_trip, four_dims) {
    round_trip(4, (const int64_t[]){2, 3, 4, 5}, 120);
}

Test(npy_round_trip, zero_dims_holds_one_element) {
    round_trip(0, NULL, 1);
}

Test(npy_round_trip, empty) {
    round_trip(1, (const int64_t[]){0}, 0);
}

Test(npy_round_trip, one_dim) {
    round_trip(1, (const int64_t[]){7}, 7);
}

Test(npy_write, matches_numpy_byte_for_byte) {
    float zeros[6] = {0};
    char path[64];
    make_temp_path(path, sizeof path);
    cln_error err = {0};
    cr_assert_eq(cln_npy_write(path, zeros, 2, (const int64_t[]){2, 3}, &err), CLN_OK, "%s",
                 err.message);
    uint8_t file[256];
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    size_t size = fread(file, 1, sizeof file, f);
    fclose(f);
    remove(path);
    size_t header_size = sizeof numpy_2x3_header - 1;
    cr_assert_eq(size, header_size + sizeof zeros);
    cr_assert_eq(memcmp(file, numpy_2x3_header, header_size), 0);
    cr_assert_eq(memcmp(file + header_size, zeros, sizeof zeros), 0);
}

Test(npy_write, starts_data_at_a_multiple_of_64) {
    /* Headers of every length from () to eight 13-digit dimensions; all but the 0-d array
     * have a zero dimension, so no data. */
    for (int ndim = 0; ndim <= CLN_NPY_MAX_DIMS; ndim++) {
        int64_t shape[CLN_NPY_MAX_DIMS];
        for (int i = 0; i < ndim; i++)
            shape[i] = i == 0 ? 0 : 1000000000000;
        float one = 1.0f;
        size_t data_size = ndim == 0 ? sizeof one : 0;
        char path[64];
        make_temp_path(path, sizeof path);
        cln_error err = {0};
        cr_assert_eq(cln_npy_write(path, &one, ndim, shape, &err), CLN_OK, "%s", err.message);
        uint8_t file[512];
        FILE *f = fopen(path, "rb");
        cr_assert_not_null(f);
        size_t size = fread(file, 1, sizeof file, f);
        fclose(f);

        cln_npy a;
        cr_assert_eq(cln_npy_read(path, &a, &err), CLN_OK, "%s", err.message);
        remove(path);
        cr_assert_eq((size - data_size) % 64, 0, "ndim %d: %zu bytes", ndim, size);
        cr_assert_eq(file[size - data_size - 1], '\n');
        cr_assert_eq(a.ndim, ndim);
        for (int i = 0; i < ndim; i++)
            cr_assert_eq(a.shape[i], shape[i]);
        cln_npy_free(&a);
    }
}

Test(npy_write, refuses_a_negative_dimension) {
    cln_error err = {0};
    float data[1] = {0};
    cr_assert_eq(cln_npy_write("/tmp/unused.npy", data, 2, (const int64_t[]){2, -1}, &err),
                 CLN_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(err.message, "negative") != NULL, "%s", err.message);
}

Test(npy_write, reports_an_unwritable_path) {
    cln_error err = {0};
    float data[1] = {0};
    const char *path = "/nonexistent-directory/out.npy";
    cr_assert_eq(cln_npy_write(path, data, 1, (const int64_t[]){1}, &err), CLN_ERR_IO);
    cr_assert(strstr(err.message, path) != NULL, "%s", err.message);
}

/* ---- Valid headers ------------------------------------------------------------------------ */

Test(npy_parse, numpy_bytes) {
    uint8_t buf[256];
    size_t header_size = sizeof numpy_2x3_header - 1;
    memcpy(buf, numpy_2x3_header, header_size);
    for (int i = 0; i < 6; i++) {
        float value = (float)i;
        memcpy(buf + header_size + i * sizeof(float), &value, sizeof value);
    }
    cln_npy a;
    parse_ok(buf, header_size + 6 * sizeof(float), &a);
    cr_assert_eq(a.ndim, 2);
    cr_assert_eq(a.shape[0], 2);
    cr_assert_eq(a.shape[1], 3);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(a.data[i], (float)i);
    cln_npy_free(&a);
}

Test(npy_parse, other_key_orders_and_quotes) {
    expect_2x3(1, "{'shape': (2, 3), 'fortran_order': False, 'descr': '<f4', }  \n");
    expect_2x3(1, "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2, 3)}\n");
    expect_2x3(1, "{'fortran_order':False,\"shape\":(2,3,),'descr':\"<f4\"}\n");
    expect_2x3(1, "\t{ 'descr' : '<f4' , 'shape' : ( 2 , 3 ) , 'fortran_order' : False , } \n");
}

Test(npy_parse, versions_2_and_3) {
    expect_2x3(2, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n");
    expect_2x3(3, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n");
}

Test(npy_parse, zero_dims_and_empty_shapes) {
    uint8_t buf[256];
    cln_npy a;
    size_t size = build_npy(buf, sizeof buf, 1,
                            "{'descr': '<f4', 'fortran_order': False, 'shape': (), }\n", 4);
    parse_ok(buf, size, &a);
    cr_assert_eq(a.ndim, 0);
    cr_assert_eq(a.numel, 1);
    cln_npy_free(&a);

    size = build_npy(buf, sizeof buf, 1,
                     "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 0, 5), }\n", 0);
    parse_ok(buf, size, &a);
    cr_assert_eq(a.ndim, 3);
    cr_assert_eq(a.numel, 0);
    cr_assert_not_null(a.data);
    cln_npy_free(&a);
}

Test(cln_npy_free, is_safe_on_a_zeroed_array_and_twice) {
    cln_npy a = {0};
    cln_npy_free(&a);
    cln_npy_free(&a);
    cln_npy_free(NULL);
}

/* ---- Refused files: one per rule ---------------------------------------------------------- */

Test(npy_refuse, bad_magic) {
    expect_format_error((const uint8_t *)"\x93NUMPX\x01\x00\x00\x00", 10, "bad magic");
    expect_format_error((const uint8_t *)"\x93NUM", 4, "bad magic");
    expect_format_error(NULL, 0, "bad magic");
}

Test(npy_refuse, truncated_preamble) {
    expect_format_error((const uint8_t *)"\x93NUMPY\x01", 7, "truncated preamble");
    expect_format_error((const uint8_t *)"\x93NUMPY\x01\x00v", 9, "truncated preamble");
    expect_format_error((const uint8_t *)"\x93NUMPY\x02\x00v\x00\x00", 11, "truncated preamble");
}

Test(npy_refuse, unknown_version) {
    expect_format_error((const uint8_t *)"\x93NUMPY\x04\x00\x00\x00", 10, "version 4.0");
    expect_format_error((const uint8_t *)"\x93NUMPY\x01\x01\x00\x00", 10, "version 1.1");
    expect_format_error((const uint8_t *)"\x93NUMPY\x00\x00\x00\x00", 10, "version 0.0");
}

Test(npy_refuse, absurd_header_length) {
    /* 2 MB claimed in a short file: the size limit speaks before the end of the file. */
    expect_format_error((const uint8_t *)"\x93NUMPY\x02\x00\x00\x00\x20\x00\n", 13,
                        "over the 1 MB limit");
}

Test(npy_refuse, header_past_the_end_of_the_file) {
    expect_format_error((const uint8_t *)"\x93NUMPY\x01\x00\x10\x00{}\n", 13, "past the end");
    expect_format_error((const uint8_t *)"\x93NUMPY\x03\x00\x00\x01\x00\x00{}\n", 15,
                        "past the end");
}

Test(npy_refuse, header_without_final_newline) {
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }   ", 24,
                        "does not end with a newline");
    expect_header_error("", 0, "does not end with a newline");
}

Test(npy_refuse, missing_key) {
    expect_header_error("{'descr': '<f4', 'shape': (2, 3), }\n", 24,
                        "missing the key 'fortran_order'");
    expect_header_error("{}\n", 24, "missing the key 'descr'");
}

Test(npy_refuse, duplicate_key) {
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'descr': '<f4', 'shape': (2, "
                        "3), }\n",
                        24, "duplicate key 'descr'");
}

Test(npy_refuse, unknown_key) {
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'order': 1}\n",
                        24, "unknown key 'order'");
}

Test(npy_refuse, fortran_order) {
    expect_header_error("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }\n", 24,
                        "np.ascontiguousarray");
}

Test(npy_refuse, other_dtypes) {
    expect_header_error("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }\n", 48,
                        "dtype '<f8' is not float32");
    expect_header_error("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }\n", 24,
                        "dtype '>f4' is not float32");
    expect_header_error("{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }\n", 6,
                        ".astype(np.float32)");
}

Test(npy_refuse, structured_dtype) {
    expect_header_error("{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (6,), }\n", 24,
                        "structured dtypes");
}

Test(npy_refuse, negative_dimension) {
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }\n", 24,
                        "negative dimension -3");
}

Test(npy_refuse, too_many_dimensions) {
    expect_header_error("{'descr': '<f4', 'fortran_order': False, "
                        "'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1), }\n",
                        4, "more than 8 dimensions");
}

Test(npy_refuse, dimension_past_int64) {
    expect_header_error("{'descr': '<f4', 'fortran_order': False, "
                        "'shape': (9223372036854775808,), }\n",
                        4, "does not fit in 64 bits");
}

Test(npy_refuse, element_count_overflow) {
    expect_header_error("{'descr': '<f4', 'fortran_order': False, "
                        "'shape': (4294967296, 4294967296), }\n",
                        0, "element count of shape (4294967296, 4294967296) overflows");
}

Test(npy_refuse, byte_size_overflow) {
    expect_header_error("{'descr': '<f4', 'fortran_order': False, "
                        "'shape': (4611686018427387904,), }\n",
                        0, "byte size of shape (4611686018427387904,) overflows");
}

Test(npy_refuse, data_too_short) {
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", 20,
                        "data size is 20 bytes but shape (2, 3) of float32 needs 24");
}

Test(npy_refuse, trailing_data) {
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", 28,
                        "data size is 28 bytes but shape (2, 3) of float32 needs 24");
}

Test(npy_refuse, malformed_dict) {
    /* Each is a syntax error; the phrase names what was expected. */
    expect_header_error("\n", 0, "expected '{'");
    expect_header_error("{'descr' '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", 24,
                        "expected ':'");
    expect_header_error("{'descr': '<f4' 'fortran_order': False, 'shape': (2, 3), }\n", 24,
                        "expected ',' or '}'");
    expect_header_error("{'descr': '<f4, 'fortran_order': False, 'shape': (2, 3), }\n", 24,
                        "expected ',' or '}'");
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), \n", 24,
                        "expected a quoted string");
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x\n", 24,
                        "expected a closing quote");
    expect_header_error("{'descr': '<\\f4', 'fortran_order': False, 'shape': (2, 3), }\n", 24,
                        "without escapes");
    expect_header_error("{,}\n", 0, "expected a quoted string");
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } x\n", 24,
                        "expected only spaces after the header dict");
    expect_header_error("{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 3), }\n", 24,
                        "expected True or False");
    expect_header_error("{'descr': '<f4', 'fortran_order': Falsey, 'shape': (2, 3), }\n", 24,
                        "expected ',' or '}'");
}

Test(npy_refuse, malformed_shape) {
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3], }\n", 24,
                        "expected '(' opening the shape tuple");
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (6), }\n", 24,
                        "expected ',' after the only dimension");
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3 4), }\n", 24,
                        "expected ',' or ')'");
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (2, , 3), }\n", 24,
                        "expected a dimension");
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3L), }\n", 24,
                        "expected ',' or ')'");
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3\n", 24,
                        "expected ',' or ')'");
}

/* ---- Reading files ------------------------------------------------------------------------ */

Test(npy_read, nonexistent_file) {
    cln_npy a;
    memset(&a, 0xab, sizeof a);
    cln_error err = {0};
    const char *path = "/nonexistent-directory/in.npy";
    cr_assert_eq(cln_npy_read(path, &a, &err), CLN_ERR_IO);
    cr_assert(strstr(err.message, path) != NULL, "%s", err.message);
    cr_assert_null(a.data);
}

Test(npy_read, directory) {
    cln_npy a;
    cln_error err = {0};
    cr_assert_eq(cln_npy_read("/tmp", &a, &err), CLN_ERR_IO, "%s", err.message);
    cr_assert_null(a.data);
}

Test(npy_read, names_the_file_in_format_errors) {
    char path[64];
    make_temp_path(path, sizeof path);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fputs("not numpy", f);
    fclose(f);
    cln_npy a;
    cln_error err = {0};
    cln_status status = cln_npy_read(path, &a, &err);
    remove(path);
    cr_assert_eq(status, CLN_ERR_FORMAT);
    cr_assert(strstr(err.message, path) != NULL, "%s", err.message);
    cr_assert(strstr(err.message, "bad magic") != NULL, "%s", err.message);
}

/* A valid header followed by 64 GiB (a sparse file): refused from the header and the
 * file's size, with no more than the header read; the address space is capped at 1 GiB
 * so that reading the file whole could not pass. */
Test(npy_read, refuses_a_file_larger_than_its_header_says_before_reading_it) {
    char path[64];
    make_temp_path(path, sizeof path);
    uint8_t buf[1024];
    size_t size = build_npy(buf, sizeof buf, 1,
                            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n",
                            6 * sizeof(float));
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(buf, 1, size, f), size);
    fclose(f);
    cr_assert_eq(truncate(path, (off_t)64 << 30), 0);
    /* (AddressSanitizer reserves terabytes of shadow: there the size check alone) */
    const char *sanitize = getenv("CLN_SANITIZE");
    struct rlimit cap = {1ul << 30, 1ul << 30};
    if (!sanitize || strcmp(sanitize, "none") == 0) cr_assert_eq(setrlimit(RLIMIT_AS, &cap), 0);
    cln_npy a;
    cln_error err = {0};
    cln_status status = cln_npy_read(path, &a, &err);
    remove(path);
    cr_assert_eq(status, CLN_ERR_FORMAT, "%s", err.message);
    cr_assert(strstr(err.message, "but shape (2, 3) of float32 needs 24") != NULL, "%s",
              err.message);
    cr_assert_null(a.data);
}
