/* Every device op against its plain-C reference on random data, at odd sizes:
 * channels not a multiple of 4, H != W, stride 2, each padding, batch > 1,
 * and outputs written into a channel slice of a larger tensor (concat). */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>

#include "../weights/layout.h"
#include "../weights/model_weights.h"
#include "../host/ops.h"
#include "reference_ops.h"

#include <stdlib.h>
#include <string.h>

#define TOL 1e-5
#define SENTINEL 12345.0f

static cln_runtime *rt;

static void open_runtime(void) {
    cln_error err;
    cr_assert_eq(cln_runtime_create(NULL, &rt, &err), CLN_OK, "%s", err.message);
}

static void close_runtime(void) {
    cln_runtime_free(rt);
}

TestSuite(ops, .init = open_runtime, .fini = close_runtime, .timeout = 300);

static uint64_t rng_state = 42;

static float rand_pm1(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng_state >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
}

static float *random_floats(size_t count) {
    float *p = malloc(count * sizeof *p);
    cr_assert(p);
    for (size_t i = 0; i < count; i++)
        p[i] = rand_pm1();
    return p;
}

/* With the slack after its end that a GEMM's B needs (ops.h), as the arena has. */
static cl_mem device_buffer(size_t floats, const float *init) {
    cl_int rc;
    cl_mem m = clCreateBuffer(rt->context, CL_MEM_READ_WRITE,
                              (floats + GEMM_READ_SLACK_FLOATS) * sizeof(float), NULL, &rc);
    cr_assert_eq(rc, CL_SUCCESS, "clCreateBuffer: %s", cl_error_name(rc));
    if (init) {
        rc = clEnqueueWriteBuffer(rt->queue, m, CL_TRUE, 0, floats * sizeof(float), init, 0, NULL,
                                  NULL);
        cr_assert_eq(rc, CL_SUCCESS, "clEnqueueWriteBuffer: %s", cl_error_name(rc));
    }
    return m;
}

static void read_buffer(cl_mem m, size_t floats, float *dst) {
    cl_int rc =
        clEnqueueReadBuffer(rt->queue, m, CL_TRUE, 0, floats * sizeof(float), dst, 0, NULL, NULL);
    cr_assert_eq(rc, CL_SUCCESS, "clEnqueueReadBuffer: %s", cl_error_name(rc));
}

/* A destination tensor of `total` channels whose slice [first, first+count)
 * an op writes: filled with a sentinel so writes outside the slice show. */
typedef struct {
    int total, first;
    float *host; /* channel-major, total x n x hw */
    cl_mem buf;
    size_t floats;
} slice_dst;

static slice_dst make_dst(int total, int first, int n, int h, int w) {
    slice_dst d = {total, first, NULL, NULL, (size_t)total * n * h * w};
    d.host = malloc(d.floats * sizeof(float));
    cr_assert(d.host);
    for (size_t i = 0; i < d.floats; i++)
        d.host[i] = SENTINEL;
    d.buf = device_buffer(d.floats, d.host);
    return d;
}

static tensor_view dst_view(const slice_dst *d, int count, int n, int h, int w) {
    tensor_view v = {d->buf, (size_t)d->first * n * h * w, count, n, h, w};
    return v;
}

/* Reads the slice back as NCHW (n x count x h x w) and checks that every
 * channel outside it still holds the sentinel. */
static float *read_slice_nchw(slice_dst *d, int count, int n, int h, int w) {
    read_buffer(d->buf, d->floats, d->host);
    size_t plane = (size_t)n * h * w;
    for (int c = 0; c < d->total; c++) {
        if (c >= d->first && c < d->first + count) continue;
        for (size_t i = 0; i < plane; i++)
            cr_assert_eq(d->host[c * plane + i], SENTINEL, "channel %d outside the slice written",
                         c);
    }
    float *out = malloc((size_t)count * plane * sizeof(float));
    cr_assert(out);
    channel_major_to_nchw(d->host + d->first * plane, n, count, h * w, out);
    return out;
}

static void free_dst(slice_dst *d) {
    clReleaseMemObject(d->buf);
    free(d->host);
}

/* Whether upload_params lays the weights out in panels (weights/layout.h), as
 * the model does on CPUs, or plainly, as elsewhere. */
static bool weight_panels;
/* check_conv's scratch when not 0, instead of scratch_images images' */
static size_t scratch_floats;

/* A layer's parameters on the device: weights (cout x k, as torchvision lays
 * them out) in the layout of layout.h, then the bias, then for a 3x3
 * convolution of cin channels its Winograd filters (weights/). */
static layer_params upload_params(const float *weights, const float *bias, int cout, size_t k,
                                  int cin) {
    const size_t wsize = k * weight_ld(cout);
    const size_t usize =
        k == (size_t)cin * 9 ? WINOGRAD_POSITIONS * (size_t)cin * weight_ld(cout) : 0;
    float *packed = calloc(wsize + cout + usize, sizeof *packed);
    cr_assert(packed);
    for (int o = 0; o < cout; o++) {
        for (size_t j = 0; j < k; j++)
            packed[weight_index(cout, o, j)] = weights[o * k + j];
        packed[wsize + o] = bias[o];
    }
    if (usize) winograd_filters(packed, cout, cin, packed + wsize + cout);
    if (weight_panels) { /* the weights, and each Winograd matrix, as the model does */
        float *plain = malloc(wsize * sizeof *plain);
        cr_assert(plain);
        weights_block_to_panels(packed, cout, k, plain);
        for (int xi = 0; usize && xi < WINOGRAD_POSITIONS; xi++)
            weights_block_to_panels(packed + wsize + cout + (size_t)xi * cin * weight_ld(cout),
                                    cout, (size_t)cin, plain);
        free(plain);
    }
    layer_params p = {device_buffer(wsize + cout + usize, packed), 0, wsize, wsize + cout,
                      weight_panels};
    free(packed);
    return p;
}

typedef enum { BY_GEMM, BY_TILED, BY_DIRECT, BY_WINOGRAD } conv_path;
static const char *const path_names[] = {"gemm", "tiled", "direct", "winograd"};

/* One convolution case: random input, weights and bias; the device result
 * (written into channels [3, 3+cout) of a cout+5 channel tensor) against
 * ref_conv2d. scratch_images sets how many images im2col or Winograd may
 * batch. */
static void check_conv(conv_path path, int n, int cin, int h, int w, int cout, conv_geometry g,
                       int scratch_images) {
    const int ho = conv_out_size(h, g.kh, g.sh, g.ph), wo = conv_out_size(w, g.kw, g.sw, g.pw);
    cr_assert(ho > 0 && wo > 0);
    const size_t in_count = (size_t)n * cin * h * w, k = (size_t)cin * g.kh * g.kw;
    float *in = random_floats(in_count), *weights = random_floats(cout * k + cout);
    float *bias = weights + cout * k, *expect = malloc((size_t)n * cout * ho * wo * sizeof(float));
    float *in_cm = malloc(in_count * sizeof(float));
    cr_assert(expect && in_cm);
    ref_conv2d(in, n, cin, h, w, weights, bias, cout, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, true,
               expect, ho, wo);
    nchw_to_channel_major(in, n, cin, h * w, in_cm);

    /* the input sits at an offset inside its buffer, as a value in the arena does */
    const size_t in_off = 7;
    float *in_padded = calloc(in_off + in_count, sizeof(float));
    cr_assert(in_padded);
    memcpy(in_padded + in_off, in_cm, in_count * sizeof(float));
    cl_mem src_buf = device_buffer(in_off + in_count, in_padded);

    slice_dst d = make_dst(cout + 5, 3, n, ho, wo);
    tensor_view src = {src_buf, in_off, cin, n, h, w};
    layer_params p = upload_params(weights, bias, cout, k, cin);
    cln_error err;
    cln_status st;
    scratch_buffer scratch = {NULL, 0};
    if (path == BY_WINOGRAD)
        scratch.floats = conv_winograd_floats(cin, cout, g, ho, wo) * scratch_images;
    else if (path != BY_DIRECT)
        scratch.floats = conv_im2col_floats(cin, g, ho, wo) * scratch_images;
    if (scratch_floats && path != BY_DIRECT)
        scratch.floats = scratch_floats; /* less than one image's: in chunks of one */
    if (scratch.floats) scratch.buf = device_buffer(scratch.floats, NULL);
    if (path == BY_WINOGRAD) {
        st = op_conv_winograd(rt, src, g, p, dst_view(&d, cout, n, ho, wo), true, scratch, &err);
    } else if (path != BY_DIRECT) {
        st = op_conv_gemm(rt, src, g, p, dst_view(&d, cout, n, ho, wo), true, scratch,
                          path == BY_GEMM ? GEMM_CLBLAST : GEMM_TILED, &err);
    } else {
        st = op_conv_direct(rt, src, g, p, dst_view(&d, cout, n, ho, wo), true, &err);
    }
    cr_assert_eq(st, CLN_OK, "%s", err.message);
    float *got = read_slice_nchw(&d, cout, n, ho, wo);
    double diff = max_rel_diff(got, expect, (size_t)n * cout * ho * wo);
    cr_expect_leq(diff, TOL, "%s conv %dx%d s%d p%d,%d n=%d cin=%d %dx%d cout=%d: diff %g",
                  path_names[path], g.kh, g.kw, g.sh, g.ph, g.pw, n, cin, h, w, cout, diff);
    free(got);
    free_dst(&d);
    if (scratch.buf) clReleaseMemObject(scratch.buf);
    clReleaseMemObject(src_buf);
    clReleaseMemObject(p.buf);
    free(in_padded);
    free(in_cm);
    free(expect);
    free(weights);
    free(in);
}

/* Every convolution shape the network has, on odd sizes. */
static const struct {
    int n, cin, h, w, cout;
    conv_geometry g;
} conv_cases[] = {
    {2, 5, 6, 9, 7, {1, 1, 1, 1, 0, 0}},     /* 1x1 */
    {3, 3, 11, 8, 6, {3, 3, 2, 2, 0, 0}},    /* 3x3 stride 2, unpadded */
    {2, 7, 7, 10, 5, {3, 3, 1, 1, 1, 1}},    /* 3x3 padded */
    {1, 6, 9, 9, 9, {3, 3, 1, 1, 0, 0}},     /* 3x3 unpadded */
    {2, 4, 8, 7, 3, {5, 5, 1, 1, 2, 2}},     /* 5x5 padded */
    {2, 5, 6, 11, 6, {1, 7, 1, 1, 0, 3}},    /* 1x7 */
    {2, 5, 11, 6, 6, {7, 1, 1, 1, 3, 0}},    /* 7x1 */
    {3, 9, 5, 4, 10, {1, 3, 1, 1, 0, 1}},    /* 1x3 */
    {3, 9, 4, 5, 10, {3, 1, 1, 1, 1, 0}},    /* 3x1 */
    {1, 13, 17, 13, 11, {3, 3, 2, 2, 0, 0}}, /* stride 2, odd sizes */
};

Test(ops, conv_gemm_every_shape) {
    for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++)
        check_conv(BY_GEMM, conv_cases[i].n, conv_cases[i].cin, conv_cases[i].h, conv_cases[i].w,
                   conv_cases[i].cout, conv_cases[i].g, 8);
}

Test(ops, conv_tiled_every_shape) {
    for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++)
        check_conv(BY_TILED, conv_cases[i].n, conv_cases[i].cin, conv_cases[i].h, conv_cases[i].w,
                   conv_cases[i].cout, conv_cases[i].g, 8);
}

Test(ops, conv_tiled_full_and_partial_tiles) {
    conv_geometry one = {1, 1, 1, 1, 0, 0};
    check_conv(BY_TILED, 2, 19, 4, 8, 16, one, 0); /* columns a multiple of the tile */
    check_conv(BY_TILED, 1, 33, 5, 7, 17, one, 0); /* one row past a tile, 35 columns */
    check_conv(BY_TILED, 3, 1, 3, 3, 1, one, 0);   /* a single channel */
    check_conv(BY_TILED, 1, 6, 3, 4, 20, one, 0);  /* 12 columns: the few-columns kernel */
}

/* im2col and our GEMM a chunk of column panels at a time
 * (IM2COL_CHUNK_FLOATS): one or two panels a chunk here, chunks crossing
 * from one image to the next and a partial last one. */
Test(ops, conv_tiled_im2col_in_chunks) {
    setenv("CLINCEPTION_TUNABLES", "IM2COL_CHUNK_FLOATS=700", 1);
    for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++)
        check_conv(BY_TILED, conv_cases[i].n, conv_cases[i].cin, conv_cases[i].h, conv_cases[i].w,
                   conv_cases[i].cout, conv_cases[i].g, 8);
    check_conv(BY_TILED, 5, 6, 9, 7, 5, (conv_geometry){3, 3, 1, 1, 1, 1}, 2);
    unsetenv("CLINCEPTION_TUNABLES");
}

/* Scratch for less than one image: with 8-column panels (AVX2), CLBlast's
 * row-major im2col two output rows at a time (14 of an image's 63 columns,
 * a partial last chunk), ours two panels at a time, and a stride-2 and a
 * 1x7 case; Winograd 16 of an image's 42 tiles at a time. The scratch grows
 * with the device's panel so that one panel always fits and one image never
 * does. */
Test(ops, conv_less_than_an_image_at_a_time) {
    const conv_geometry padded = {3, 3, 1, 1, 1, 1}, strided = {3, 3, 2, 2, 0, 0},
                        wide = {1, 7, 1, 1, 0, 3};
    scratch_floats = 1000 * (size_t)runtime_tunable(rt, "TILE_N") / 8;
    check_conv(BY_GEMM, 2, 6, 9, 7, 5, padded, 0);
    check_conv(BY_TILED, 2, 6, 9, 7, 5, padded, 0);
    check_conv(BY_GEMM, 1, 13, 17, 13, 11, strided, 0);
    check_conv(BY_TILED, 1, 13, 17, 13, 11, strided, 0);
    check_conv(BY_GEMM, 2, 5, 6, 11, 6, wide, 0);
    check_conv(BY_TILED, 2, 5, 6, 11, 6, wide, 0);
    scratch_floats = 15000;
    check_conv(BY_WINOGRAD, 3, 33, 13, 11, 20, padded, 0);
    check_conv(BY_WINOGRAD, 1, 6, 9, 9, 9, (conv_geometry){3, 3, 1, 1, 0, 0}, 0);
}

Test(ops, conv_gemm_im2col_one_image_at_a_time) {
    conv_geometry g = {3, 3, 1, 1, 1, 1};
    check_conv(BY_GEMM, 3, 6, 9, 7, 5, g, 1);
    check_conv(BY_GEMM, 5, 6, 9, 7, 5, g, 2); /* chunks of 2, 2, 1 */
    check_conv(BY_TILED, 5, 6, 9, 7, 5, g, 2);
}

/* The weights in panels of 16 output channels, as on CPUs: every shape by
 * every way that reads them, with channels over several panels and a
 * partial last one. */
Test(ops, conv_weights_in_panels_every_way) {
    weight_panels = true;
    const conv_geometry one = {1, 1, 1, 1, 0, 0}, padded = {3, 3, 1, 1, 1, 1};
    for (conv_path path = BY_GEMM; path <= BY_DIRECT; path++) {
        for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++)
            check_conv(path, conv_cases[i].n, conv_cases[i].cin, conv_cases[i].h, conv_cases[i].w,
                       conv_cases[i].cout + 30, conv_cases[i].g, 8);
        check_conv(path, 1, 6, 3, 4, 37, one, 0); /* 12 columns: the few-columns kernel */
        check_conv(path, 2, 9, 7, 7, 48, padded, 8);
    }
    check_conv(BY_WINOGRAD, 2, 7, 7, 10, 37, padded, 2); /* its 16 matrices in panels too */
    check_conv(BY_WINOGRAD, 2, 40, 18, 17, 70, (conv_geometry){3, 3, 1, 1, 0, 0}, 2);
}

Test(ops, conv_direct_every_shape) {
    for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++)
        check_conv(BY_DIRECT, conv_cases[i].n, conv_cases[i].cin, conv_cases[i].h, conv_cases[i].w,
                   conv_cases[i].cout, conv_cases[i].g, 0);
}

/* Winograd F(2x2, 3x3) on the 3x3 stride-1 shapes: padded and not, outputs of
 * odd height and width (partial tiles), channels past one GEMM tile, and the
 * images in chunks of what scratch holds. */
Test(ops, conv_winograd_3x3_stride_1) {
    const conv_geometry padded = {3, 3, 1, 1, 1, 1}, unpadded = {3, 3, 1, 1, 0, 0};
    check_conv(BY_WINOGRAD, 2, 7, 7, 10, 5, padded, 2);
    check_conv(BY_WINOGRAD, 1, 6, 9, 9, 9, unpadded, 1);   /* 7x7 out: partial tiles */
    check_conv(BY_WINOGRAD, 3, 33, 13, 11, 20, padded, 3); /* 3 x 7 x 6 tiles */
    check_conv(BY_WINOGRAD, 1, 1, 3, 3, 1, unpadded, 1);   /* one output pixel */
    check_conv(BY_WINOGRAD, 5, 6, 9, 7, 13, padded, 2);    /* chunks of 2, 2, 1 */
    check_conv(BY_WINOGRAD, 2, 40, 18, 17, 70, unpadded, 2);
    /* rows of tiles wider than a panel: the transforms' whole-vector paths */
    check_conv(BY_WINOGRAD, 2, 5, 9, 75, 6, padded, 2);
    check_conv(BY_WINOGRAD, 1, 4, 10, 77, 3, unpadded, 1);
}

Test(ops, conv_winograd_refuses_other_shapes_and_small_scratch) {
    cl_mem b = device_buffer(64, NULL);
    tensor_view src = {b, 0, 2, 1, 4, 4}, dst = {b, 32, 1, 1, 2, 2};
    layer_params p = {b, 0, 18, 20, false};
    scratch_buffer scratch = {b, 10};
    cln_error err;
    const conv_geometry stride_2 = {3, 3, 2, 2, 0, 0}, g = {3, 3, 1, 1, 0, 0};
    cr_expect_eq(op_conv_winograd(rt, src, stride_2, p, dst, true, scratch, &err),
                 CLN_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "stride"), "%s", err.message);
    cr_expect_eq(op_conv_winograd(rt, src, g, p, dst, true, scratch, &err),
                 CLN_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "scratch"), "%s", err.message);
    clReleaseMemObject(b);
}

Test(ops, conv_gemm_refuses_small_scratch) {
    cl_mem b = device_buffer(64, NULL);
    tensor_view src = {b, 0, 2, 1, 4, 4}, dst = {b, 32, 1, 1, 2, 2};
    conv_geometry g = {3, 3, 1, 1, 0, 0};
    layer_params p = {b, 0, 18, 0, false};
    scratch_buffer scratch = {b, 10};
    cln_error err;
    cr_expect_eq(op_conv_gemm(rt, src, g, p, dst, true, scratch, GEMM_TILED, &err),
                 CLN_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "scratch"), "%s", err.message);
    clReleaseMemObject(b);
}

/* A group of 1x1 convolutions on one input as one GEMM (op_conv_group):
 * members of 16, 32 and 16 channels into slices of one buffer, the last raw
 * (no bias, no ReLU) and then pooled with its bias and ReLU by the average
 * pool's epilogue, as the pool branch runs: against the convolutions of the
 * input, and of its pool, by the reference. */
static void check_group(size_t scratch_floats, bool count_pad) {
    enum { n = 2, cin = 21, h = 7, w = 9, hw = h * w, members = 3, total = 100 };
    const int couts[members] = {16, 32, 16}, firsts[members] = {2, 20, 60}, pooled_first = 80;
    const int rows = 16 + 32 + 16;
    float *in = random_floats((size_t)n * cin * hw), *weights = random_floats((size_t)rows * cin);
    float *bias = random_floats(rows), *in_cm = malloc((size_t)n * cin * hw * sizeof(float));
    cr_assert(in_cm);
    nchw_to_channel_major(in, n, cin, hw, in_cm);
    cl_mem src_buf = device_buffer((size_t)n * cin * hw, in_cm);

    /* the members' rows stacked: weights in panels, then the biases */
    const size_t wsize = (size_t)cin * weight_ld(rows);
    float *packed = calloc(wsize + rows, sizeof *packed), *plain = malloc(wsize * sizeof *plain);
    cr_assert(packed && plain);
    for (int o = 0; o < rows; o++) {
        for (int j = 0; j < cin; j++)
            packed[weight_index(rows, o, (size_t)j)] = weights[o * cin + j];
        packed[wsize + o] = bias[o];
    }
    weights_block_to_panels(packed, rows, (size_t)cin, plain);
    layer_params p = {device_buffer(wsize + rows, packed), 0, wsize, 0, true};

    float *out = malloc((size_t)total * n * hw * sizeof *out);
    cr_assert(out);
    for (size_t i = 0; i < (size_t)total * n * hw; i++)
        out[i] = SENTINEL;
    cl_mem dst_buf = device_buffer((size_t)total * n * hw, out);
    tensor_view dst[members];
    bool raw[members] = {false, false, true};
    for (int i = 0; i < members; i++)
        dst[i] = (tensor_view){dst_buf, (size_t)firsts[i] * n * hw, couts[i], n, h, w};
    cln_error err;
    scratch_buffer scratch = {device_buffer(scratch_floats, NULL), scratch_floats};
    cr_assert_eq(op_conv_group(rt, (tensor_view){src_buf, 0, cin, n, h, w}, p, dst, raw, members,
                               scratch, &err),
                 CLN_OK, "%s", err.message);
    layer_params last = {p.buf, 0, wsize + 48, 0, true};
    tensor_view pooled = {dst_buf, (size_t)pooled_first * n * hw, 16, n, h, w};
    cr_assert_eq(op_avg_pool(rt, dst[2], 3, 1, 1, count_pad, pooled, &last, &err), CLN_OK, "%s",
                 err.message);
    read_buffer(dst_buf, (size_t)total * n * hw, out);

    float *expect = malloc((size_t)n * 32 * hw * sizeof *expect);
    float *got = malloc((size_t)n * 32 * hw * sizeof *got);
    float *in_pool = malloc((size_t)n * cin * hw * sizeof *in_pool);
    cr_assert(expect && got && in_pool);
    for (int i = 0; i < 2; i++) { /* the two plain members */
        const int start = i ? 16 : 0;
        ref_conv2d(in, n, cin, h, w, weights + start * cin, bias + start, couts[i], 1, 1, 1, 1, 0,
                   0, true, expect, h, w);
        channel_major_to_nchw(out + (size_t)firsts[i] * n * hw, n, couts[i], hw, got);
        cr_expect_leq(max_rel_diff(got, expect, (size_t)n * couts[i] * hw), TOL, "member %d", i);
    }
    /* the raw member: relu(conv(avg_pool(x)) + bias) */
    ref_avg_pool(in, n, cin, h, w, 3, 1, 1, count_pad, in_pool, h, w);
    ref_conv2d(in_pool, n, cin, h, w, weights + 48 * cin, bias + 48, 16, 1, 1, 1, 1, 0, 0, true,
               expect, h, w);
    channel_major_to_nchw(out + (size_t)pooled_first * n * hw, n, 16, hw, got);
    cr_expect_leq(max_rel_diff(got, expect, (size_t)n * 16 * hw), TOL, "pooled member");
    /* nothing outside the slices written */
    for (int c = 0; c < total; c++) {
        bool inside = c >= pooled_first && c < pooled_first + 16;
        for (int i = 0; i < members; i++)
            inside = inside || (c >= firsts[i] && c < firsts[i] + couts[i]);
        for (int q = 0; q < n * hw && !inside; q++)
            cr_assert_eq(out[(size_t)c * n * hw + q], SENTINEL, "channel %d written", c);
    }
    clReleaseMemObject(scratch.buf);
    clReleaseMemObject(src_buf);
    clReleaseMemObject(dst_buf);
    clReleaseMemObject(p.buf);
    free(in_pool);
    free(got);
    free(expect);
    free(out);
    free(plain);
    free(packed);
    free(in_cm);
    free(bias);
    free(weights);
    free(in);
}

/* Its input copied into panels a few at a time (scratch for 3 panels of
 * 21 rows), and as it lies (no scratch); the pool after it counting the
 * padding (torchvision's) or not (the FID Inception's). */
Test(ops, conv_group_and_pool_after) {
    check_group(600, true);
    check_group(0, true);
    check_group(600, false);
}

typedef enum { POOL_MAX, POOL_AVG, POOL_AVG_EXCLUDING_PAD } pool_kind;

static void check_pool(pool_kind kind, int n, int c, int h, int w, int k, int s, int pad) {
    const int ho = conv_out_size(h, k, s, pad), wo = conv_out_size(w, k, s, pad);
    const size_t count = (size_t)n * c * h * w;
    float *in = random_floats(count), *in_cm = malloc(count * sizeof(float));
    float *expect = malloc((size_t)n * c * ho * wo * sizeof(float));
    cr_assert(in_cm && expect);
    nchw_to_channel_major(in, n, c, h * w, in_cm);
    if (kind == POOL_MAX)
        ref_max_pool(in, n, c, h, w, k, s, pad, expect, ho, wo);
    else
        ref_avg_pool(in, n, c, h, w, k, s, pad, kind == POOL_AVG, expect, ho, wo);
    cl_mem src_buf = device_buffer(count, in_cm);
    slice_dst d = make_dst(c + 4, 2, n, ho, wo);
    tensor_view src = {src_buf, 0, c, n, h, w};
    cln_error err;
    cln_status st = kind == POOL_MAX
                        ? op_max_pool(rt, src, k, s, pad, dst_view(&d, c, n, ho, wo), &err)
                        : op_avg_pool(rt, src, k, s, pad, kind == POOL_AVG,
                                      dst_view(&d, c, n, ho, wo), NULL, &err);
    cr_assert_eq(st, CLN_OK, "%s", err.message);
    float *got = read_slice_nchw(&d, c, n, ho, wo);
    double diff = max_rel_diff(got, expect, (size_t)n * c * ho * wo);
    cr_expect_leq(diff, TOL, "%s pool k%d s%d p%d n=%d c=%d %dx%d: diff %g",
                  kind == POOL_MAX   ? "max"
                  : kind == POOL_AVG ? "avg"
                                     : "avg excluding padding",
                  k, s, pad, n, c, h, w, diff);
    free(got);
    free_dst(&d);
    clReleaseMemObject(src_buf);
    free(expect);
    free(in_cm);
    free(in);
}

Test(ops, max_pool_3x3_stride_2) {
    check_pool(POOL_MAX, 2, 5, 9, 12, 3, 2, 0);
    check_pool(POOL_MAX, 3, 3, 8, 7, 3, 2, 0);
    /* 8 outputs or more a row: the vector path, its last run overlapping */
    check_pool(POOL_MAX, 2, 3, 17, 17, 3, 2, 0);
    check_pool(POOL_MAX, 1, 4, 9, 36, 3, 2, 0);
    check_pool(POOL_MAX, 2, 2, 7, 147, 3, 2, 0);
}

Test(ops, avg_pool_3x3_counts_padding) {
    check_pool(POOL_AVG, 2, 5, 9, 12, 3, 1, 1);
    check_pool(POOL_AVG, 1, 7, 4, 3, 3, 1, 1);
    /* rows of 8 or more: the vector path, with either end's padding */
    check_pool(POOL_AVG, 2, 3, 8, 8, 3, 1, 1);
    check_pool(POOL_AVG, 1, 4, 17, 17, 3, 1, 1);
    check_pool(POOL_AVG, 2, 3, 6, 35, 3, 1, 1);
}

/* The FID Inception's average pools: a border window's divisor is its real
 * pixels (4 at a corner, 6 along an edge), on every path, and in other
 * windows and strides. */
Test(ops, avg_pool_excluding_padding) {
    check_pool(POOL_AVG_EXCLUDING_PAD, 2, 5, 9, 12, 3, 1, 1);
    check_pool(POOL_AVG_EXCLUDING_PAD, 1, 7, 4, 3, 3, 1, 1);
    check_pool(POOL_AVG_EXCLUDING_PAD, 2, 3, 8, 8, 3, 1, 1);
    check_pool(POOL_AVG_EXCLUDING_PAD, 1, 4, 17, 17, 3, 1, 1);
    check_pool(POOL_AVG_EXCLUDING_PAD, 2, 3, 6, 35, 3, 1, 1);
    check_pool(POOL_AVG_EXCLUDING_PAD, 1, 3, 9, 9, 5, 2, 2);
    check_pool(POOL_AVG, 1, 3, 9, 9, 5, 2, 2);
}

/* The FID Inception's Mixed_7c pool branch, 3x3 stride 1 padding 1: the
 * padding never wins (it is -infinity, as PyTorch pads), on rows of either
 * path's widths; and a stride-2 padded one. */
Test(ops, max_pool_padded) {
    check_pool(POOL_MAX, 2, 5, 8, 8, 3, 1, 1);
    check_pool(POOL_MAX, 1, 3, 9, 17, 3, 1, 1);
    check_pool(POOL_MAX, 2, 2, 5, 3, 3, 1, 1);
    check_pool(POOL_MAX, 1, 3, 9, 11, 3, 2, 1);
}

Test(ops, global_avg_pool) {
    const int n = 3, c = 6, h = 5, w = 7;
    const size_t count = (size_t)n * c * h * w;
    float *in = random_floats(count), *in_cm = malloc(count * sizeof(float));
    float expect[18], got_cm[18], got[18];
    cr_assert(in_cm);
    nchw_to_channel_major(in, n, c, h * w, in_cm);
    ref_global_avg_pool(in, n, c, h, w, expect);
    cl_mem src_buf = device_buffer(count, in_cm), dst_buf = device_buffer(n * c, NULL);
    tensor_view src = {src_buf, 0, c, n, h, w}, dst = {dst_buf, 0, c, n, 1, 1};
    cln_error err;
    cr_assert_eq(op_global_avg_pool(rt, src, dst, &err), CLN_OK, "%s", err.message);
    read_buffer(dst_buf, n * c, got_cm);
    channel_major_to_nchw(got_cm, n, c, 1, got);
    cr_expect_leq(max_rel_diff(got, expect, n * c), TOL);
    clReleaseMemObject(src_buf);
    clReleaseMemObject(dst_buf);
    free(in_cm);
    free(in);
}

Test(ops, linear) {
    const int n = 3, cin = 33, cout = 21;
    float *in = random_floats(n * cin), *weights = random_floats(cout * cin + cout);
    float in_cm[99], expect[63], got_cm[63], got[63];
    ref_linear(in, n, cin, weights, weights + cout * cin, cout, expect);
    nchw_to_channel_major(in, n, cin, 1, in_cm);
    cl_mem src_buf = device_buffer(n * cin, in_cm), dst_buf = device_buffer(n * cout, NULL);

    tensor_view src = {src_buf, 0, cin, n, 1, 1}, dst = {dst_buf, 0, cout, n, 1, 1};
    cln_error err;
    for (int panels = 0; panels <= 1; panels++) {
        weight_panels = panels;
        layer_params p = upload_params(weights, weights + cout * cin, cout, cin, cin);
        for (int engine = GEMM_CLBLAST; engine <= GEMM_TILED; engine++) {
            cr_assert_eq(op_linear(rt, src, p, dst, (gemm_engine)engine, &err), CLN_OK, "%s",
                         err.message);
            read_buffer(dst_buf, n * cout, got_cm);
            channel_major_to_nchw(got_cm, n, cout, 1, got);
            cr_expect_leq(max_rel_diff(got, expect, n * cout), TOL, "engine %d, panels %d", engine,
                          panels);
        }
        clReleaseMemObject(p.buf);
    }
    clReleaseMemObject(src_buf);
    clReleaseMemObject(dst_buf);
    free(weights);
    free(in);
}

/* An input whose planes are several of the kernel's runs of pixels and a
 * partial one. */
Test(ops, input_layout_and_transform) {
    enum { n = 2, h = 23, w = 29, hw = h * w };
    const float scale[3] = {0.5f, 2.0f, -1.0f}, shift[3] = {0.25f, -1.0f, 3.0f};
    float *in = random_floats(n * 3 * hw), expect[n * 3 * hw], got_cm[n * 3 * hw], got[n * 3 * hw];
    for (int b = 0; b < n; b++)
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < hw; i++)
                expect[(b * 3 + c) * hw + i] = in[(b * 3 + c) * hw + i] * scale[c] + shift[c];
    cl_mem src_buf = device_buffer(n * 3 * hw, in), dst_buf = device_buffer(n * 3 * hw, NULL);
    tensor_view dst = {dst_buf, 0, 3, n, h, w};
    cln_error err;
    cr_assert_eq(op_input(rt, src_buf, scale, shift, dst, &err), CLN_OK, "%s", err.message);
    read_buffer(dst_buf, n * 3 * hw, got_cm);
    channel_major_to_nchw(got_cm, n, 3, hw, got);
    cr_expect_leq(max_rel_diff(got, expect, n * 3 * hw), TOL);
    clReleaseMemObject(src_buf);
    clReleaseMemObject(dst_buf);
    free(in);
}
