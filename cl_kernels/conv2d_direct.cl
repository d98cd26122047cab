// Direct convolution with folded BatchNorm bias and fused ReLU, for any kernel
// shape, stride and padding, reading the activations in place (no im2col).
// Each work-item computes DIRECT_TILE_M output channels by DIRECT_TILE_N
// consecutive output pixels of one row, held in vectors: per weight tap, one
// vector of input pixels and DIRECT_TILE_M vector multiply-adds.

#ifndef DIRECT_TILE_M
#define DIRECT_TILE_M 8 // output channels per work-item
#endif
#ifndef DIRECT_TILE_N
#define DIRECT_TILE_N 16 // output pixels of a row per work-item: a vector width (4, 8 or 16)
#endif

#define CONCAT_(a, b) a##b
#define CONCAT(a, b) CONCAT_(a, b)
typedef CONCAT(float, DIRECT_TILE_N) realn;
#define vloadn CONCAT(vload, DIRECT_TILE_N)
#define vstoren CONCAT(vstore, DIRECT_TILE_N)

// weights: (Cin*KH*KW) x Cout transposed, in groups of channels (weights/layout.h,
// prelude.cl's weight_at), ldw between taps; dst channel co
// starts at dst_off + co*N*Ho*Wo.
// global: (ceil(Wo / DIRECT_TILE_N) * Ho * N, ceil(Cout / DIRECT_TILE_M))
__kernel void conv2d_direct(__global const real *src, int src_off, int Cin, int N, int H, int W,
                            __global const real *weights, int w_off, int ldw, int w_group, int b_off, int Cout,
                            int KH,
                            int KW, int SH, int SW, int PH, int PW, int Ho, int Wo,
                            __global real *dst, int dst_off, int relu) {
    const int tiles = (Wo + DIRECT_TILE_N - 1) / DIRECT_TILE_N;
    const int t = get_global_id(0);
    const int co0 = get_global_id(1) * DIRECT_TILE_M;
    if (t >= tiles * Ho * N || co0 >= Cout) return;
    const int ox0 = (t % tiles) * DIRECT_TILE_N;
    const int oy = (t / tiles) % Ho;
    const int n = t / (tiles * Ho);
    realn acc[DIRECT_TILE_M];
    #pragma unroll
    for (int i = 0; i < DIRECT_TILE_M; i++) acc[i] = (realn)ZERO;
    __global const real *w = weights + w_off + weight_at(co0, w_group); // tap 0
    const int x0 = ox0 * SW - PW; // input column of the first pixel's window
    for (int c = 0; c < Cin; c++) {
        for (int ky = 0; ky < KH; ky++) {
            const int y = oy * SH - PH + ky;
            if (y < 0 || y >= H) continue;
            __global const real *in = src + src_off + ((c * N + n) * H + y) * W;
            for (int kx = 0; kx < KW; kx++) {
                const int xs = x0 + kx;
                realn v;
                if (SW == 1 && xs >= 0 && xs + DIRECT_TILE_N <= W) {
                    v = vloadn(0, in + xs);
                } else { // a border or a stride: gather, with zeros outside
                    real part[DIRECT_TILE_N];
                    for (int j = 0; j < DIRECT_TILE_N; j++) {
                        const int x = xs + j * SW;
                        part[j] = x >= 0 && x < W ? in[x] : ZERO;
                    }
                    v = vloadn(0, part);
                }
                const int r = (c * KH + ky) * KW + kx;
                #pragma unroll
                for (int i = 0; i < DIRECT_TILE_M; i++)
                    acc[i] = fma((realn)w[r * ldw + i], v, acc[i]);
            }
        }
    }
    const int plane = N * Ho * Wo;
    #pragma unroll
    for (int i = 0; i < DIRECT_TILE_M && co0 + i < Cout; i++) {
        realn v = acc[i] + (realn)weights[b_off + co0 + i];
        if (relu) v = RELU(v, (realn)ZERO);
        __global real *out = dst + dst_off + (co0 + i) * plane + (n * Ho + oy) * Wo + ox0;
        if (ox0 + DIRECT_TILE_N <= Wo) {
            vstoren(v, 0, out);
        } else {
            real part[DIRECT_TILE_N];
            vstoren(v, 0, part);
            for (int j = 0; j < Wo - ox0; j++) out[j] = part[j];
        }
    }
}
