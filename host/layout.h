/* The device layout of a layer's weights, shared by the loader and the ops:
 * transposed, K x ld with K = Cin*kh*kw and ld = Cout rounded up to
 * WEIGHT_CHANNEL_ALIGN (the extra columns are zeros), so that a kernel reads
 * the weights of consecutive output channels at one tap as one contiguous run
 * and may read a whole tile of channels past Cout. */
#ifndef CLN_LAYOUT_H
#define CLN_LAYOUT_H

#include <stddef.h>

#define WEIGHT_CHANNEL_ALIGN 16 /* a multiple of every channel tile (TILE_M, DIRECT_TILE_M) */

static inline size_t weight_ld(int cout) {
    return ((size_t)cout + WEIGHT_CHANNEL_ALIGN - 1) / WEIGHT_CHANNEL_ALIGN * WEIGHT_CHANNEL_ALIGN;
}

/* Where weight (output channel o, tap j) of a layer with cout channels lies. */
static inline size_t weight_index(int cout, int o, size_t j) {
    return j * weight_ld(cout) + (size_t)o;
}

#endif
