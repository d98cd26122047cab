/* Plain-C references of the network's operations, in the usual NCHW layout,
 * accumulating in double: what the device kernels are tested against. */
#ifndef CLN_REFERENCE_OPS_H
#define CLN_REFERENCE_OPS_H

#include <stdbool.h>
#include <stddef.h>

/* in: n x cin x h x w; weights: cout x cin x kh x kw; out: n x cout x ho x wo */
void ref_conv2d(const float *in, int n, int cin, int h, int w, const float *weights,
                const float *bias, int cout, int kh, int kw, int sh, int sw, int ph, int pw,
                bool relu, float *out, int ho, int wo);
/* k x k pools on n x c x h x w; max pads with -infinity; avg counts the
 * padding in the divisor when count_pad (count_include_pad), else divides
 * by the pixels inside the input. */
void ref_max_pool(const float *in, int n, int c, int h, int w, int k, int s, int pad, float *out,
                  int ho, int wo);
void ref_avg_pool(const float *in, int n, int c, int h, int w, int k, int s, int pad,
                  bool count_pad, float *out, int ho, int wo);
/* out: n x c */
void ref_global_avg_pool(const float *in, int n, int c, int h, int w, float *out);
/* in: n x cin; weights: cout x cin; out: n x cout */
void ref_linear(const float *in, int n, int cin, const float *weights, const float *bias, int cout,
                float *out);

/* NCHW <-> channel-major C x (N*H*W) */
void nchw_to_channel_major(const float *in, int n, int c, int hw, float *out);
void channel_major_to_nchw(const float *in, int n, int c, int hw, float *out);

/* Largest |a - b| / (1 + |b|) over count values. */
double max_rel_diff(const float *a, const float *b, size_t count);

#endif
