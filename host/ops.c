/* Enqueueing the network's operations: our kernels for im2col, direct
 * convolution, pooling and epilogues; CLBlast's SGEMM for the products. */
#include "ops.h"

#include "../weights/layout.h"
#include "../network/network.h"

#include <limits.h>

typedef struct {
    size_t size;
    const void *ptr;
} kernel_arg;

#define ARG(x) ((kernel_arg){sizeof(x), &(x)})

/* Sets the arguments of kernel k and enqueues it over `global` (exact sizes;
 * the kernels check their bounds). */
static cln_status launch(cln_runtime *rt, kernel_id k, const kernel_arg *args, int nargs,
                         cl_uint dims, const size_t *global, cln_error *err) {
    cln_status status = CLN_OK;
    cl_kernel kernel = rt->kernels[k];
    const char *name = runtime_kernel_name(k);
    for (cl_uint d = 0; d < dims; d++)
        if (global[d] == 0) return CLN_OK; /* nothing to do */
    for (int i = 0; i < nargs; i++)
        CL_TRY(clSetKernelArg(kernel, (cl_uint)i, args[i].size, args[i].ptr),
               "clSetKernelArg(%s, %d)", name, i);
    cl_event ev = NULL;
    /* Kernels whose work-items loop over vectors or rows themselves run one
     * item per group on a CPU, where a group's items would otherwise become
     * one more loop around theirs; elsewhere the driver chooses. */
    static const size_t one_item[3] = {1, 1, 1};
    const size_t *local = rt->info.is_cpu && runtime_kernel_loops(k) ? one_item : NULL;
    CL_TRY(clEnqueueNDRangeKernel(rt->queue, kernel, dims, NULL, global, local, 0, NULL,
                                  rt->recorder.on ? &ev : NULL),
           "clEnqueueNDRangeKernel(%s)", name);
    if (ev) status = runtime_record(rt, ev, name, err);
cleanup:
    return status;
}

/* Offsets and sizes travel to the kernels as int: the plan keeps every
 * buffer below INT_MAX floats. */
static int to_int(size_t v) {
    return v > INT_MAX ? INT_MAX : (int)v;
}

/* C (M x N, ldc) = A (M x K) * B (K x N, ldb) by CLBlast, A being a layer's
 * weights stored transposed (weights/layout.h): one product, or one per panel
 * of WEIGHT_CHANNEL_ALIGN rows when the weights are in panels. */
static cln_status gemm(cln_runtime *rt, size_t m, size_t n, size_t k, layer_params p, cl_mem b,
                       size_t b_off, size_t ldb, cl_mem c, size_t c_off, size_t ldc,
                       cln_error *err) {
    cln_status status = CLN_OK;
    const weight_strides ws = weight_layout((int)m, k, p.panels);
    const size_t rows = p.panels ? WEIGHT_CHANNEL_ALIGN : m;
    for (size_t m0 = 0; m0 < m && status == CLN_OK; m0 += rows) {
        const size_t mp = m - m0 < rows ? m - m0 : rows;
        cl_event ev = NULL;
        CLBlastStatusCode rc = CLBlastSgemm(
            CLBlastLayoutRowMajor, CLBlastTransposeYes, CLBlastTransposeNo, mp, n, k, 1.0f, p.buf,
            p.w_off + m0 / WEIGHT_CHANNEL_ALIGN * ws.group_stride, ws.tap_stride, b, b_off, ldb,
            0.0f, c, c_off + m0 * ldc, ldc, &rt->queue, rt->recorder.on ? &ev : NULL);
        if (rc != CLBlastSuccess)
            return clblast_fail(err, rc, "CLBlastSgemm (m=%zu, n=%zu, k=%zu)", mp, n, k);
        if (ev) status = runtime_record(rt, ev, "CLBlast sgemm", err);
    }
    return status;
}

/* How many tiles down a column each work-item of a batched GEMM takes: as
 * many as keep GEMM_ITEMS_PER_UNIT work-items per compute unit (at least
 * one). */
static int gemm_m_tiles(const cln_runtime *rt, size_t m_tiles, size_t other_items) {
    const size_t per_unit = (size_t)runtime_tunable(rt, "GEMM_ITEMS_PER_UNIT");
    if (per_unit == 0) return 1;
    const size_t want = per_unit * (rt->info.compute_units ? rt->info.compute_units : 1);
    size_t t = m_tiles * other_items / want;
    return (int)(t < 1 ? 1 : t > m_tiles ? m_tiles : t);
}

/* C (M x N, ldc) = relu(A (M x K) * B (K x N, ldb) + bias) by gemm_tiled.cl. */
static cln_status gemm_tiled(cln_runtime *rt, int m, int n, int k, layer_params p, cl_mem b,
                             size_t b_off, size_t ldb, cl_mem c, size_t c_off, size_t ldc,
                             bool relu, cln_error *err) {
    const int tile_m = runtime_tunable(rt, "TILE_M"), tile_n = runtime_tunable(rt, "TILE_N");
    const weight_strides ws = weight_layout(m, (size_t)k, p.panels);
    int ao = to_int(p.w_off), lda = to_int(ws.tap_stride), ag = to_int(ws.group_stride);
    int bo = to_int(p.b_off), bof = to_int(b_off), ldbi = to_int(ldb), co = to_int(c_off);
    int ldci = to_int(ldc), r = relu;
    kernel_arg args[] = {ARG(m),  ARG(n),     ARG(k),    ARG(p.buf), ARG(ao),  ARG(lda),
                         ARG(ag), ARG(p.buf), ARG(bo),   ARG(b),     ARG(bof), ARG(ldbi),
                         ARG(c),  ARG(co),    ARG(ldci), ARG(r)};
    if (n < tile_n && ldb) { /* a vector per column would be mostly padding */
        size_t global[2] = {(size_t)(m + tile_n - 1) / tile_n, (size_t)n};
        return launch(rt, KERNEL_GEMM_FEW_COLUMNS, args, 16, 2, global, err);
    }
    const int cols = tile_n * runtime_tunable(rt, "TILE_V");
    size_t global[2] = {(size_t)(m + tile_m - 1) / tile_m, (size_t)(n + cols - 1) / cols};
    return launch(rt, KERNEL_GEMM_TILED, args, 16, 2, global, err);
}

static cln_status bias_act(cln_runtime *rt, cl_mem x, size_t x_off, size_t ld, int rows, int cols,
                           layer_params p, bool relu, cln_error *err) {
    int xo = to_int(x_off), ldi = to_int(ld), bo = to_int(p.b_off), r = relu;
    kernel_arg args[] = {ARG(x), ARG(xo), ARG(ldi), ARG(cols), ARG(p.buf), ARG(bo), ARG(r)};
    size_t global[2] = {(size_t)cols, (size_t)rows};
    return launch(rt, KERNEL_BIAS_ACT, args, 7, 2, global, err);
}

int conv_out_size(int in, int k, int stride, int pad) {
    if (stride < 1 || in + 2 * pad < k) return 0;
    return (in + 2 * pad - k) / stride + 1;
}

size_t conv_im2col_floats(int cin, conv_geometry g, int ho, int wo) {
    const size_t k = (size_t)cin * g.kh * g.kw;
    const size_t cols =
        ((size_t)ho * wo + IM2COL_PANEL_MAX - 1) / IM2COL_PANEL_MAX * IM2COL_PANEL_MAX;
    const size_t least = k * ((size_t)wo > IM2COL_PANEL_MAX ? (size_t)wo : IM2COL_PANEL_MAX);
    const size_t want = k * cols < CONV_SCRATCH_FLOATS ? k * cols : CONV_SCRATCH_FLOATS;
    return want > least ? want : least;
}

/* Winograd's scratch for `tiles` tiles: V in whole panels, then M. */
static size_t winograd_floats(int cin, int cout, size_t tiles, size_t panel) {
    return WINOGRAD_POSITIONS *
           ((size_t)cin * ((tiles + panel - 1) / panel * panel) + (size_t)cout * tiles);
}

size_t conv_winograd_floats(int cin, int cout, conv_geometry g, int ho, int wo) {
    if (!winograd_applies(g.kh, g.kw, g.sh, g.sw)) return 0;
    const size_t tiles = (size_t)((ho + 1) / 2) * ((wo + 1) / 2);
    const size_t want = winograd_floats(cin, cout, tiles, IM2COL_PANEL_MAX);
    const size_t least = winograd_floats(cin, cout, IM2COL_PANEL_MAX, IM2COL_PANEL_MAX);
    return want < CONV_SCRATCH_FLOATS    ? want
           : least > CONV_SCRATCH_FLOATS ? least
                                         : CONV_SCRATCH_FLOATS;
}

cln_status op_input(cln_runtime *rt, cl_mem src, const float scale[3], const float shift[3],
                    tensor_view dst, cln_error *err) {
    cl_float4 sc = {{scale[0], scale[1], scale[2], 1.0f}};
    cl_float4 sh = {{shift[0], shift[1], shift[2], 0.0f}};
    int hw = dst.h * dst.w, off = to_int(dst.off);
    kernel_arg args[] = {ARG(src),     ARG(dst.n), ARG(dst.c), ARG(hw),
                         ARG(dst.buf), ARG(off),   ARG(sc),    ARG(sh)};
    const size_t run = (size_t)runtime_tunable(rt, "INPUT_RUN");
    size_t global[2] = {((size_t)hw + run - 1) / run, (size_t)dst.n * dst.c};
    return launch(rt, KERNEL_INPUT_TO_CHANNEL_MAJOR, args, 8, 2, global, err);
}

/* The most images (up to `images`) whose im2col fits in scratch at once,
 * columns padded to whole panels when panel > 0; 0 when not even one does. */
static size_t im2col_batch(size_t scratch, size_t k, size_t howo, size_t panel, size_t images) {
    for (size_t nb = images; nb > 0; nb--) {
        size_t cols = panel ? (nb * howo + panel - 1) / panel * panel : nb * howo;
        if (cols * k <= scratch) return nb;
    }
    return 0;
}

static bool pointwise(conv_geometry g) {
    return g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0;
}

/* Columns that im2col writes and a GEMM multiplies at a time, in panels: as
 * many whole panels as IM2COL_CHUNK_FLOATS holds (0: all of them), and
 * scratch; 0 when not even one panel fits. */
static size_t chunk_columns(cln_runtime *rt, size_t k, int panel, size_t cols,
                            size_t scratch_floats) {
    const size_t panel_floats = k * (size_t)panel;
    const size_t cap = (size_t)runtime_tunable(rt, "IM2COL_CHUNK_FLOATS");
    size_t panels = (cols + panel - 1) / panel;
    if (cap && cap / panel_floats < panels) panels = cap / panel_floats ? cap / panel_floats : 1;
    if (scratch_floats / panel_floats < panels) panels = scratch_floats / panel_floats;
    return panels * (size_t)panel;
}

/* im2col of images n0 .. n0+nb-1 into scratch, their columns q0 ..
 * q0+cols-1: in panels of `panel` columns, or row-major (CLBlast's) when
 * panel is 0, q0 and cols then whole output rows. */
static cln_status unroll(cln_runtime *rt, tensor_view src, conv_geometry g, int ho, int wo, int n0,
                         int nb, size_t q0, size_t cols, int panel, size_t k, cl_mem scratch,
                         cln_error *err) {
    int so = to_int(src.off), rows = to_int(k), q = to_int(q0);
    kernel_arg args[] = {ARG(src.buf), ARG(so),   ARG(src.n), ARG(src.h),   ARG(src.w), ARG(n0),
                         ARG(nb),      ARG(g.kh), ARG(g.kw),  ARG(g.sh),    ARG(g.sw),  ARG(g.ph),
                         ARG(g.pw),    ARG(ho),   ARG(wo),    ARG(scratch), ARG(q),     ARG(rows)};
    if (panel) {
        size_t global[1] = {(cols + panel - 1) / panel};
        return launch(rt, KERNEL_IM2COL_PANELS, args, 18, 1, global, err);
    }
    int t0 = to_int(q0 / (size_t)wo);
    args[16] = ARG(t0); /* after the first 16, the first output row */
    size_t global[2] = {cols / (size_t)wo, k};
    return launch(rt, KERNEL_IM2COL, args, 17, 2, global, err);
}

cln_status op_conv_gemm(cln_runtime *rt, tensor_view src, conv_geometry g, layer_params p,
                        tensor_view dst, bool relu, scratch_buffer scratch, gemm_engine engine,
                        cln_error *err) {
    cln_status status = CLN_OK;
    const size_t k = (size_t)src.c * g.kh * g.kw;
    const size_t howo = (size_t)dst.h * dst.w;
    const size_t ld = (size_t)dst.n * howo; /* row stride of the channel-major output */
    /* our GEMM reads im2col in panels of its tile width; CLBlast row-major */
    const int panel = engine == GEMM_TILED ? runtime_tunable(rt, "TILE_N") : 0;
    /* B: im2col of `batch` images at a time; for a 1x1, the activations as
     * they lie, or copied into panels (PACK_1X1), which our GEMM streams
     * faster, unless they are too few columns for one tile */
    const bool unrolled =
        !pointwise(g) || (panel && runtime_tunable(rt, "PACK_1X1") &&
                          ld >= (size_t)panel * runtime_tunable(rt, "TILE_V") &&
                          im2col_batch(scratch.floats, k, howo, (size_t)panel, (size_t)dst.n) > 0);
    /* as many images at a time as scratch holds, else one in chunks */
    size_t batch = (size_t)dst.n;
    if (unrolled) {
        batch = im2col_batch(scratch.floats, k, howo, (size_t)panel, (size_t)dst.n);
        if (batch == 0) batch = 1;
        const size_t least = k * (panel ? (size_t)panel : (size_t)dst.w);
        if (scratch.floats < least)
            return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                            "im2col needs %zu floats of scratch for one %s, %zu given", least,
                            panel ? "panel" : "output row", scratch.floats);
    }
    for (size_t n0 = 0; n0 < (size_t)dst.n && status == CLN_OK; n0 += batch) {
        const int nb = (int)(dst.n - n0 < batch ? dst.n - n0 : batch);
        const size_t cols = unrolled ? nb * howo : ld;
        /* im2col and the GEMM take the columns a chunk at a time: in panels,
         * so that what im2col writes is still in cache when the GEMM reads
         * it; row-major, whole output rows, when the batch's are more than
         * scratch holds */
        size_t chunk = cols;
        if (unrolled && panel) chunk = chunk_columns(rt, k, panel, cols, scratch.floats);
        if (unrolled && !panel && cols * k > scratch.floats)
            chunk = scratch.floats / (k * (size_t)dst.w) * (size_t)dst.w;
        for (size_t q0 = 0; q0 < cols && status == CLN_OK; q0 += chunk) {
            const size_t chunk_cols = cols - q0 < chunk ? cols - q0 : chunk;
            cl_mem b = src.buf;
            size_t b_off = src.off, ldb = (size_t)src.n * src.h * src.w;
            if (unrolled) {
                status = unroll(rt, src, g, dst.h, dst.w, (int)n0, nb, q0, chunk_cols, panel, k,
                                scratch.buf, err);
                b = scratch.buf;
                b_off = 0;
                ldb = panel ? 0 : chunk_cols; /* 0: panels */
            }
            if (status != CLN_OK) break;
            const size_t c_off = dst.off + n0 * howo + q0;
            if (engine == GEMM_TILED)
                status = gemm_tiled(rt, dst.c, to_int(chunk_cols), to_int(k), p, b, b_off, ldb,
                                    dst.buf, c_off, ld, relu, err);
            else
                status = gemm(rt, dst.c, chunk_cols, k, p, b, b_off, ldb, dst.buf, c_off, ld, err);
        }
        if (!unrolled) break; /* one GEMM covers the whole batch */
    }
    if (status != CLN_OK || engine == GEMM_TILED) return status;
    return bias_act(rt, dst.buf, dst.off, ld, dst.c, to_int(ld), p, relu, err);
}

cln_status op_conv_direct(cln_runtime *rt, tensor_view src, conv_geometry g, layer_params p,
                          tensor_view dst, bool relu, cln_error *err) {
    const int tile_m = runtime_tunable(rt, "DIRECT_TILE_M"),
              tile_n = runtime_tunable(rt, "DIRECT_TILE_N");
    const weight_strides ws = weight_layout(dst.c, (size_t)src.c * g.kh * g.kw, p.panels);
    int so = to_int(src.off), wo = to_int(p.w_off), ldw = to_int(ws.tap_stride);
    int wg = to_int(ws.group_stride), bo = to_int(p.b_off), dof = to_int(dst.off), r = relu;
    kernel_arg args[] = {ARG(src.buf), ARG(so),    ARG(src.c),   ARG(src.n), ARG(src.h), ARG(src.w),
                         ARG(p.buf),   ARG(wo),    ARG(ldw),     ARG(wg),    ARG(bo),    ARG(dst.c),
                         ARG(g.kh),    ARG(g.kw),  ARG(g.sh),    ARG(g.sw),  ARG(g.ph),  ARG(g.pw),
                         ARG(dst.h),   ARG(dst.w), ARG(dst.buf), ARG(dof),   ARG(r)};
    size_t tiles = (size_t)(dst.w + tile_n - 1) / tile_n;
    size_t global[2] = {tiles * dst.h * dst.n, (size_t)(dst.c + tile_m - 1) / tile_m};
    return launch(rt, KERNEL_CONV2D_DIRECT, args, 23, 2, global, err);
}

cln_status op_conv_winograd(cln_runtime *rt, tensor_view src, conv_geometry g, layer_params p,
                            tensor_view dst, bool relu, scratch_buffer scratch, cln_error *err) {
    cln_status status = CLN_OK;
    const int th = (dst.h + 1) / 2, tw = (dst.w + 1) / 2;
    const int tile_m = runtime_tunable(rt, "TILE_M"), panel = runtime_tunable(rt, "TILE_N");
    if (!winograd_applies(g.kh, g.kw, g.sh, g.sw))
        return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                        "Winograd runs only 3x3 stride-1 convolutions, not %dx%d stride %dx%d",
                        g.kh, g.kw, g.sh, g.sw);
    /* one panel of tiles, or one image's tiles if fewer */
    const size_t image_tiles = (size_t)th * tw;
    const size_t least = winograd_floats(
        src.c, dst.c, image_tiles < (size_t)panel ? image_tiles : (size_t)panel, (size_t)panel);
    if (least > scratch.floats)
        return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                        "Winograd needs %zu floats of scratch for one panel of tiles, %zu given",
                        least, scratch.floats);
    const int cols = panel * runtime_tunable(rt, "TILE_V");
    int batch = dst.n; /* the most images at a time that scratch holds */
    while (batch > 1 &&
           winograd_floats(src.c, dst.c, (size_t)batch * th * tw, (size_t)panel) > scratch.floats)
        batch--;
    /* else the most tiles at a time, whole panels, whose V and M fit */
    const size_t per_tile = (size_t)WINOGRAD_POSITIONS * (src.c + dst.c);
    const int chunk_tiles = to_int(scratch.floats / per_tile / (size_t)panel * (size_t)panel);
    /* the GEMMs' A: the filters, in the weights' layout; and the epilogue's */
    const weight_strides ws = weight_layout(dst.c, (size_t)src.c, p.panels);
    int m = dst.c, k = src.c, wo = to_int(p.winograd_off), lda = to_int(ws.tap_stride);
    int ag = to_int(ws.group_stride), a_stride = to_int((size_t)src.c * weight_ld(dst.c));
    int zero = 0, so = to_int(src.off), bo = to_int(p.b_off), dof = to_int(dst.off), r = relu;
    const size_t m_tiles = (size_t)(m + tile_m - 1) / tile_m;
    for (int n0 = 0; n0 < dst.n && status == CLN_OK; n0 += batch) {
        const int nb = dst.n - n0 < batch ? dst.n - n0 : batch, tiles = nb * th * tw;
        const int chunk =
            winograd_floats(src.c, dst.c, (size_t)tiles, (size_t)panel) <= scratch.floats
                ? tiles
                : chunk_tiles;
        for (int tc0 = 0; tc0 < tiles && status == CLN_OK; tc0 += chunk) {
            /* V (16 x cin x tp, in panels) then M (16 x cout x t) in scratch,
             * t tiles from tile tc0, tp rounded up to whole panels */
            int t = tiles - tc0 < chunk ? tiles - tc0 : chunk, tp = (t + panel - 1) / panel * panel;
            int m_off = to_int((size_t)WINOGRAD_POSITIONS * src.c * tp);
            kernel_arg in_args[] = {ARG(src.buf),     ARG(so),    ARG(src.c), ARG(src.n),
                                    ARG(src.h),       ARG(src.w), ARG(g.ph),  ARG(g.pw),
                                    ARG(n0),          ARG(nb),    ARG(th),    ARG(tw),
                                    ARG(scratch.buf), ARG(tp),    ARG(tc0)};
            size_t in_global[2] = {(size_t)(tp / panel), (size_t)src.c};
            status = launch(rt, KERNEL_WINOGRAD_INPUT, in_args, 15, 2, in_global, err);
            if (status != CLN_OK) break;
            /* B in panels (ldb 0), as gemm_tiled reads im2col's */
            int b_stride = k * tp, c_stride = m * t;
            const size_t n_tiles = (size_t)(t + cols - 1) / cols;
            int per_item = gemm_m_tiles(rt, m_tiles, n_tiles * WINOGRAD_POSITIONS);
            kernel_arg gemm_args[] = {ARG(m),           ARG(t),        ARG(k),        ARG(p.buf),
                                      ARG(wo),          ARG(a_stride), ARG(lda),      ARG(ag),
                                      ARG(scratch.buf), ARG(zero),     ARG(b_stride), ARG(zero),
                                      ARG(scratch.buf), ARG(m_off),    ARG(c_stride), ARG(t),
                                      ARG(per_item)};
            size_t gemm_global[3] = {(m_tiles + per_item - 1) / per_item, n_tiles,
                                     WINOGRAD_POSITIONS};
            status = launch(rt, KERNEL_GEMM_BATCHED, gemm_args, 17, 3, gemm_global, err);
            if (status != CLN_OK) break;
            kernel_arg out_args[] = {
                ARG(scratch.buf), ARG(m_off),   ARG(t),   ARG(dst.c), ARG(p.buf), ARG(bo),
                ARG(n0),          ARG(nb),      ARG(th),  ARG(tw),    ARG(dst.n), ARG(dst.h),
                ARG(dst.w),       ARG(dst.buf), ARG(dof), ARG(r),     ARG(tc0)};
            size_t out_global[2] = {(size_t)((t + panel - 1) / panel), (size_t)dst.c};
            status = launch(rt, KERNEL_WINOGRAD_OUTPUT, out_args, 17, 2, out_global, err);
        }
    }
    return status;
}

cln_status op_conv_group(cln_runtime *rt, tensor_view src, layer_params p, const tensor_view *dst,
                         const bool *raw, int members, scratch_buffer scratch, cln_error *err) {
    cln_status status = CLN_OK;
    if (members < 1 || members > NET_GROUP_MAX || !p.panels)
        return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                        "a group of convolutions needs 1 to %d members and its weights in panels",
                        NET_GROUP_MAX);
    const int tile_m = runtime_tunable(rt, "TILE_M"), panel = runtime_tunable(rt, "TILE_N");
    const size_t n = (size_t)src.n * src.h * src.w, k = (size_t)src.c;
    cl_int4 ends = {{0}}, outs = {{0}};
    int rows = 0, raw_bits = 0;
    for (int i = 0; i < NET_GROUP_MAX; i++) {
        if (i < members) {
            if (dst[i].c % WEIGHT_CHANNEL_ALIGN != 0 || dst[i].buf != dst[0].buf ||
                (size_t)dst[i].n * dst[i].h * dst[i].w != n)
                return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                                "a group member needs a multiple of %d channels, the input's "
                                "pixels and the others' buffer (it has %d x %d)",
                                WEIGHT_CHANNEL_ALIGN, dst[i].c, dst[i].h * dst[i].w);
            rows += dst[i].c;
            raw_bits |= raw[i] ? 1 << i : 0;
        }
        ends.s[i] = rows;
    }
    /* B: the input copied into panels (PACK_1X1) a chunk of columns at a
     * time, or as it lies */
    size_t chunk =
        runtime_tunable(rt, "PACK_1X1") ? chunk_columns(rt, k, panel, n, scratch.floats) : 0;
    const bool pack = chunk > 0; /* else scratch holds not even one panel */
    if (!pack) chunk = n;
    const weight_strides ws = weight_layout(rows, k, true);
    const conv_geometry one = {1, 1, 1, 1, 0, 0};
    for (size_t q0 = 0; q0 < n && status == CLN_OK; q0 += chunk) {
        const size_t cols = n - q0 < chunk ? n - q0 : chunk;
        cl_mem b = src.buf;
        int bo = to_int(src.off), ldb = to_int(n);
        if (pack) {
            status =
                unroll(rt, src, one, src.h, src.w, 0, src.n, q0, cols, panel, k, scratch.buf, err);
            if (status != CLN_OK) break;
            b = scratch.buf;
            bo = ldb = 0;
        }
        for (int i = 0; i < members; i++)
            outs.s[i] = to_int(dst[i].off + q0);
        int ni = to_int(cols), ki = to_int(k), ao = to_int(p.w_off), lda = to_int(ws.tap_stride);
        int ag = to_int(ws.group_stride), pb = to_int(p.b_off), ldc = to_int(n);
        kernel_arg args[] = {ARG(ni),   ARG(ki),   ARG(p.buf), ARG(ao),
                             ARG(lda),  ARG(ag),   ARG(p.buf), ARG(pb),
                             ARG(b),    ARG(bo),   ARG(ldb),   ARG(dst[0].buf),
                             ARG(ends), ARG(outs), ARG(ldc),   ARG(raw_bits)};
        const int tile_cols = panel * runtime_tunable(rt, "TILE_V");
        size_t global[2] = {(size_t)(rows + tile_m - 1) / tile_m,
                            (cols + tile_cols - 1) / tile_cols};
        status = launch(rt, KERNEL_GEMM_GROUPED, args, 16, 2, global, err);
    }
    return status;
}

static cln_status pool(cln_runtime *rt, kernel_id kernel, tensor_view src, int k, int s, int pad,
                       bool count_pad, tensor_view dst, const layer_params *epilogue,
                       cln_error *err) {
    int so = to_int(src.off), dof = to_int(dst.off), counted = count_pad;
    int bo = epilogue ? to_int(epilogue->b_off) : 0, on = epilogue != NULL;
    cl_mem bias = epilogue ? epilogue->buf : src.buf; /* read only with the epilogue */
    kernel_arg args[] = {ARG(src.buf), ARG(so),    ARG(src.h), ARG(src.w),   ARG(k),   ARG(s),
                         ARG(pad),     ARG(dst.h), ARG(dst.w), ARG(dst.buf), ARG(dof), ARG(bias),
                         ARG(bo),      ARG(src.n), ARG(on),    ARG(counted)};
    size_t global[2] = {(size_t)dst.h, (size_t)src.c * src.n};
    return launch(rt, kernel, args, kernel == KERNEL_AVG_POOL2D ? 16 : 11, 2, global, err);
}

cln_status op_max_pool(cln_runtime *rt, tensor_view src, int k, int s, int pad, tensor_view dst,
                       cln_error *err) {
    return pool(rt, KERNEL_MAX_POOL2D, src, k, s, pad, false, dst, NULL, err);
}

cln_status op_avg_pool(cln_runtime *rt, tensor_view src, int k, int s, int pad, bool count_pad,
                       tensor_view dst, const layer_params *epilogue, cln_error *err) {
    return pool(rt, KERNEL_AVG_POOL2D, src, k, s, pad, count_pad, dst, epilogue, err);
}

cln_status op_global_avg_pool(cln_runtime *rt, tensor_view src, tensor_view dst, cln_error *err) {
    int so = to_int(src.off), dof = to_int(dst.off), hw = src.h * src.w;
    kernel_arg args[] = {ARG(src.buf), ARG(so), ARG(hw), ARG(dst.buf), ARG(dof)};
    size_t global[1] = {(size_t)src.c * src.n};
    return launch(rt, KERNEL_GLOBAL_AVG_POOL, args, 5, 1, global, err);
}

cln_status op_linear(cln_runtime *rt, tensor_view src, layer_params p, tensor_view dst,
                     gemm_engine engine, cln_error *err) {
    const size_t n = (size_t)src.n * src.h * src.w;
    if (engine == GEMM_TILED)
        return gemm_tiled(rt, dst.c, (int)n, src.c, p, src.buf, src.off, n, dst.buf, dst.off, n,
                          false, err);
    cln_status status = gemm(rt, dst.c, n, src.c, p, src.buf, src.off, n, dst.buf, dst.off, n, err);
    if (status != CLN_OK) return status;
    return bias_act(rt, dst.buf, dst.off, n, dst.c, (int)n, p, false, err);
}
