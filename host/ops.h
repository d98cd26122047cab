/* The operations of the network, each enqueued on a runtime's queue: the
 * executor chains them and the op tests run them one by one against plain-C
 * references. All activations are channel-major, C x (N*H*W) (prelude.cl). */
#ifndef CLN_OPS_H
#define CLN_OPS_H

#include "runtime.h"

#include <stdbool.h>

/* A channel-major activation tensor, or a channel slice of one: channel c of
 * image n starts at off + (c*n_images + n)*h*w floats into buf. */
typedef struct {
    cl_mem buf;
    size_t off;
    int c, n, h, w;
} tensor_view;

typedef struct {
    int kh, kw; /* kernel */
    int sh, sw; /* stride */
    int ph, pw; /* zero padding */
} conv_geometry;

/* Where a layer's parameters sit in a device buffer: the weights at w_off in
 * the layout of layout.h (in panels when `panels`), the bias [Cout] at b_off,
 * and for a 3x3 stride-1 convolution its Winograd filters at winograd_off
 * (floats). */
typedef struct {
    cl_mem buf;
    size_t w_off, b_off, winograd_off;
    bool panels;
} layer_params;

/* Scratch for im2col: a buffer of `floats` floats. */
typedef struct {
    cl_mem buf;
    size_t floats;
} scratch_buffer;

/* Output size of a convolution or pool along one axis; < 1 when the input is
 * too small. */
int conv_out_size(int in, int k, int stride, int pad);

/* NCHW input (in src, n*3*h*w floats) to channel-major dst, as
 * x*scale[c] + shift[c]. */
cln_status op_input(cln_runtime *rt, cl_mem src, const float scale[3], const float shift[3],
                    tensor_view dst, cln_error *err);

/* Which GEMM a convolution uses: CLBlast's, then our bias + ReLU kernel; or
 * ours (gemm_tiled.cl) with the epilogue fused. */
typedef enum { GEMM_CLBLAST, GEMM_TILED } gemm_engine;

/* Convolution + bias (+ ReLU) as a GEMM: a 1x1 convolution multiplies the
 * activations in place; any other goes through im2col into scratch, as many
 * images at a time as scratch holds (at least one image's (Cin*kh*kw) x
 * (Ho*Wo) must fit). */
cln_status op_conv_gemm(cln_runtime *rt, tensor_view src, conv_geometry g, layer_params p,
                        tensor_view dst, bool relu, scratch_buffer scratch, gemm_engine engine,
                        cln_error *err);

/* The same convolution by the direct kernel (conv2d_direct.cl). */
cln_status op_conv_direct(cln_runtime *rt, tensor_view src, conv_geometry g, layer_params p,
                          tensor_view dst, bool relu, cln_error *err);

/* The same 3x3 stride-1 convolution by Winograd F(2x2, 3x3) (winograd.cl):
 * the input transform into scratch, 16 GEMMs, then the output transform with
 * bias and ReLU, as many images at a time as scratch holds, or one image a
 * chunk of its tiles at a time (at least one panel of tiles must fit). */
cln_status op_conv_winograd(cln_runtime *rt, tensor_view src, conv_geometry g, layer_params p,
                            tensor_view dst, bool relu, scratch_buffer scratch, cln_error *err);

/* A group of 1x1 convolutions that read src (network/network.h), as one GEMM:
 * weights in panels, member i's rows stacked after member i-1's from p.w_off
 * and its bias after theirs from p.b_off, each member's channels a multiple
 * of WEIGHT_CHANNEL_ALIGN, at most NET_GROUP_MAX members. Member i writes
 * dst[i] (its channels are dst[i].c), with bias and ReLU unless raw[i]. */
cln_status op_conv_group(cln_runtime *rt, tensor_view src, layer_params p, const tensor_view *dst,
                         const bool *raw, int members, scratch_buffer scratch, cln_error *err);

/* k x k pools with stride s and padding pad; dst has the same channels. The
 * max pool's padding is -infinity; the average pool's counts in the divisor
 * when count_pad (PyTorch's count_include_pad), else a window's divisor is
 * its real pixels. The average pool adds bias p.b_off (one per channel) and
 * applies ReLU after when `epilogue`. */
cln_status op_max_pool(cln_runtime *rt, tensor_view src, int k, int s, int pad, tensor_view dst,
                       cln_error *err);
cln_status op_avg_pool(cln_runtime *rt, tensor_view src, int k, int s, int pad, bool count_pad,
                       tensor_view dst, const layer_params *epilogue, cln_error *err);
/* Adaptive average pool to 1x1: dst is c x n. */
cln_status op_global_avg_pool(cln_runtime *rt, tensor_view src, tensor_view dst, cln_error *err);

/* Fully connected: dst (Cout x n, channel-major) = W (Cout x Cin) * src (Cin x n) + bias. */
cln_status op_linear(cln_runtime *rt, tensor_view src, layer_params p, tensor_view dst,
                     gemm_engine engine, cln_error *err);

/* Floats that every buffer holding a GEMM's row-major B keeps after its end:
 * gemm_tiled.cl reads a last partial tile of columns as whole vectors, up to
 * TILE_N * TILE_V - 1 floats past the last row (those lanes are never
 * stored); so does winograd.cl's output transform past its products in
 * scratch, which keeps them too. */
#define GEMM_READ_SLACK_FLOATS 64

/* The widest column panel im2col writes (the largest TILE_N). */
#define IM2COL_PANEL_MAX 16

/* The most floats of scratch a convolution asks for, unless one panel or
 * output row needs more: one whose image needs more takes its columns (im2col:
 * whole panels, or whole output rows for CLBlast) or its tiles (Winograd) a
 * chunk at a time, so that the largest layer does not set the scratch
 * buffer's size (8 MiB here instead of the stem's 32 MiB for Winograd). */
#define CONV_SCRATCH_FLOATS ((size_t)2 << 20)

/* Floats of scratch this convolution's im2col needs: one image's, its columns
 * padded to whole panels (for a 1x1, its input copied into panels), or
 * CONV_SCRATCH_FLOATS if that is less, and at least one panel or output
 * row's. */
size_t conv_im2col_floats(int cin, conv_geometry g, int ho, int wo);

/* Floats one image's Winograd scratch needs (0 where it does not apply):
 * the transformed input and the products, 16 x (cin + cout) x tiles. */
size_t conv_winograd_floats(int cin, int cout, conv_geometry g, int ho, int wo);

#endif
