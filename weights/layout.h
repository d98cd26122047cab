/* The device layout of a layer's weights, shared by the loader and the ops:
 * transposed, K x ld with K = Cin*kh*kw and ld = Cout rounded up to
 * WEIGHT_CHANNEL_ALIGN (the extra columns are zeros), so that a kernel reads
 * the weights of consecutive output channels at one tap as one contiguous run
 * and may read a whole tile of channels past Cout. */
#ifndef CLN_LAYOUT_H
#define CLN_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>

#define WEIGHT_CHANNEL_ALIGN 16 /* a multiple of every channel tile (TILE_M, DIRECT_TILE_M) */

static inline size_t weight_ld(int cout) {
    return ((size_t)cout + WEIGHT_CHANNEL_ALIGN - 1) / WEIGHT_CHANNEL_ALIGN * WEIGHT_CHANNEL_ALIGN;
}

/* Winograd F(2x2, 3x3) (cl_kernels/winograd.cl) runs the 3x3 stride-1
 * convolutions. Such a layer also keeps its filters transformed, U = G g G^T
 * per (output channel, input channel): 16 matrices, one per position xi of
 * the 4x4 tile, each cin x padded cout like the layout below. */
#define WINOGRAD_POSITIONS 16

static inline int winograd_applies(int kh, int kw, int sh, int sw) {
    return kh == 3 && kw == 3 && sh == 1 && sw == 1;
}

static inline size_t winograd_weight_index(int cout, int cin, int xi, int o, int c) {
    return ((size_t)xi * cin + (size_t)c) * weight_ld(cout) + (size_t)o;
}

/* Where weight (output channel o, tap j) of a layer with cout channels lies. */
static inline size_t weight_index(int cout, int o, size_t j) {
    return j * weight_ld(cout) + (size_t)o;
}

/* On CPUs the device holds each layer's weights, and each of its 16 Winograd
 * matrices (K = cin), instead in panels of WEIGHT_CHANNEL_ALIGN output
 * channels, panel g being a K x WEIGHT_CHANNEL_ALIGN block at
 * g * K * WEIGHT_CHANNEL_ALIGN: a tile of channels then walks K through one
 * contiguous run instead of touching a new cache line per tap. The size is
 * the same. Where weight (o, tap j) of a layer of k taps lies then: */
static inline size_t weight_panel_index(size_t k, int o, size_t j) {
    return ((size_t)o / WEIGHT_CHANNEL_ALIGN * k + j) * WEIGHT_CHANNEL_ALIGN +
           (size_t)o % WEIGHT_CHANNEL_ALIGN;
}

/* What a kernel needs to find the weights in either layout
 * (cl_kernels/prelude.cl's weight_at): floats from one group of
 * WEIGHT_CHANNEL_ALIGN channels to the next, and from one tap to the next. */
typedef struct {
    size_t group_stride, tap_stride;
} weight_strides;

static inline weight_strides weight_layout(int cout, size_t k, bool panels) {
    if (panels) return (weight_strides){k * WEIGHT_CHANNEL_ALIGN, WEIGHT_CHANNEL_ALIGN};
    return (weight_strides){WEIGHT_CHANNEL_ALIGN, weight_ld(cout)};
}

#endif
