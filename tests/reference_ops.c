/* Plain-C references of the network's operations (see reference_ops.h). */
#include "reference_ops.h"

#include <math.h>

void ref_conv2d(const float *in, int n, int cin, int h, int w, const float *weights,
                const float *bias, int cout, int kh, int kw, int sh, int sw, int ph, int pw,
                bool relu, float *out, int ho, int wo) {
    for (int b = 0; b < n; b++)
        for (int o = 0; o < cout; o++)
            for (int oy = 0; oy < ho; oy++)
                for (int ox = 0; ox < wo; ox++) {
                    double acc = bias ? bias[o] : 0.0;
                    for (int c = 0; c < cin; c++)
                        for (int ky = 0; ky < kh; ky++)
                            for (int kx = 0; kx < kw; kx++) {
                                int y = oy * sh - ph + ky, x = ox * sw - pw + kx;
                                if (y < 0 || y >= h || x < 0 || x >= w) continue;
                                acc += (double)in[((b * cin + c) * h + y) * w + x] *
                                       weights[((o * cin + c) * kh + ky) * kw + kx];
                            }
                    if (relu && acc < 0) acc = 0;
                    out[((b * cout + o) * ho + oy) * wo + ox] = (float)acc;
                }
}

static void pool(const float *in, int n, int c, int h, int w, int k, int s, int pad, float *out,
                 int ho, int wo, bool max, bool count_pad) {
    for (int p = 0; p < n * c; p++)
        for (int oy = 0; oy < ho; oy++)
            for (int ox = 0; ox < wo; ox++) {
                double acc = max ? -INFINITY : 0.0;
                int y0 = oy * s - pad, x0 = ox * s - pad, real = 0;
                for (int y = y0; y < y0 + k; y++)
                    for (int x = x0; x < x0 + k; x++) {
                        if (y < 0 || y >= h || x < 0 || x >= w) continue;
                        double v = in[(p * h + y) * w + x];
                        acc = max ? fmax(acc, v) : acc + v;
                        real++;
                    }
                if (!max && !count_pad) acc /= real; /* the pixels inside the input */
                if (!max && count_pad) {             /* the window clipped to the padded input */
                    int ye = y0 + k < h + pad ? y0 + k : h + pad;
                    int xe = x0 + k < w + pad ? x0 + k : w + pad;
                    acc /= (double)((ye - y0) * (xe - x0));
                }
                out[(p * ho + oy) * wo + ox] = (float)acc;
            }
}

void ref_max_pool(const float *in, int n, int c, int h, int w, int k, int s, int pad, float *out,
                  int ho, int wo) {
    pool(in, n, c, h, w, k, s, pad, out, ho, wo, true, false);
}

void ref_avg_pool(const float *in, int n, int c, int h, int w, int k, int s, int pad,
                  bool count_pad, float *out, int ho, int wo) {
    pool(in, n, c, h, w, k, s, pad, out, ho, wo, false, count_pad);
}

void ref_global_avg_pool(const float *in, int n, int c, int h, int w, float *out) {
    for (int p = 0; p < n * c; p++) {
        double acc = 0;
        for (int i = 0; i < h * w; i++)
            acc += in[p * h * w + i];
        out[p] = (float)(acc / (h * w));
    }
}

void ref_linear(const float *in, int n, int cin, const float *weights, const float *bias, int cout,
                float *out) {
    for (int b = 0; b < n; b++)
        for (int o = 0; o < cout; o++) {
            double acc = bias[o];
            for (int c = 0; c < cin; c++)
                acc += (double)in[b * cin + c] * weights[o * cin + c];
            out[b * cout + o] = (float)acc;
        }
}

void nchw_to_channel_major(const float *in, int n, int c, int hw, float *out) {
    for (int b = 0; b < n; b++)
        for (int ch = 0; ch < c; ch++)
            for (int i = 0; i < hw; i++)
                out[(ch * n + b) * hw + i] = in[(b * c + ch) * hw + i];
}

void channel_major_to_nchw(const float *in, int n, int c, int hw, float *out) {
    for (int b = 0; b < n; b++)
        for (int ch = 0; ch < c; ch++)
            for (int i = 0; i < hw; i++)
                out[(b * c + ch) * hw + i] = in[(ch * n + b) * hw + i];
}

double max_rel_diff(const float *a, const float *b, size_t count) {
    double worst = 0;
    for (size_t i = 0; i < count; i++) {
        double d = fabs((double)a[i] - b[i]) / (1.0 + fabs((double)b[i]));
        if (!(d <= worst)) worst = d; /* NaN counts as worst */
    }
    return worst;
}
