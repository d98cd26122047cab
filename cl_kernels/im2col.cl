// im2col for channel-major activations: unrolls the receptive fields of a run
// of images into a (C*KH*KW) x (images*Ho*Wo) matrix for a GEMM. Row
// r = (c*KH + ky)*KW + kx, column q = n_local*Ho*Wo + oy*Wo + ox.

#ifndef IM2COL_PANEL
#define IM2COL_PANEL 16 // columns per panel: gemm_tiled.cl's TILE_N
#endif

#define CONCAT_(a, b) a##b
#define CONCAT(a, b) CONCAT_(a, b)
#define vloadp CONCAT(vload, IM2COL_PANEL)
#define vstorep CONCAT(vstore, IM2COL_PANEL)

// Row-major (for CLBlast). Each work-item writes one output row oy of one
// image for one r, with the divisions done once per row: the rows t0 ..
// t0 + rows - 1 of the images' (a chunk of whole output rows at a time), the
// matrix then K x (rows*Wo).
// global: (rows, C*KH*KW)
__kernel void im2col(__global const real *src, int src_off, int N, int H, int W, int n0, int nb,
                     int KH, int KW, int SH, int SW, int PH, int PW, int Ho, int Wo,
                     __global real *col, int t0) {
    const int t = t0 + (int)get_global_id(0); // n_local*Ho + oy
    const int r = get_global_id(1);
    const int rows = get_global_size(0);
    if (t >= nb * Ho) return;
    const int n = n0 + t / Ho;
    const int oy = t % Ho;
    const int kx = r % KW;
    const int ky = (r / KW) % KH;
    const int c = r / (KW * KH);
    const int y = oy * SH - PH + ky;
    __global real *out = col + (size_t)r * rows * Wo + (size_t)(t - t0) * Wo;
    if (y < 0 || y >= H) {
        for (int ox = 0; ox < Wo; ox++) out[ox] = ZERO;
        return;
    }
    __global const real *in = src + src_off + ((c * N + n) * H + y) * W;
    for (int ox = 0; ox < Wo; ox++) {
        const int x = ox * SW - PW + kx;
        out[ox] = x >= 0 && x < W ? in[x] : ZERO;
    }
}

// In column panels (for gemm_tiled.cl): each run of IM2COL_PANEL columns is
// its own K x IM2COL_PANEL block, so the GEMM streams memory in order. Each
// work-item writes one whole panel, a tap (ky, kx) at a time: where each
// column reads is worked out once per tap and serves every channel, as one
// vector when the columns read consecutive inputs, else one gather. Columns
// past the last image are zeros. The panels start at column q0 (a multiple
// of IM2COL_PANEL): a chunk of the columns at a time.
// global: (ceil((nb*Ho*Wo - q0) / IM2COL_PANEL), or fewer)
__kernel void im2col_panels(__global const real *src, int src_off, int N, int H, int W, int n0,
                            int nb, int KH, int KW, int SH, int SW, int PH, int PW, int Ho,
                            int Wo, __global real *col, int q0, int K) {
    const int p = get_global_id(0);
    // where each column's window starts: image offset, top row, left column
    int base[IM2COL_PANEL], y0[IM2COL_PANEL], x0[IM2COL_PANEL];
    #pragma unroll
    for (int j = 0; j < IM2COL_PANEL; j++) {
        const int q = q0 + p * IM2COL_PANEL + j;
        const int n = q / (Ho * Wo), oy = q % (Ho * Wo) / Wo, ox = q % Wo;
        y0[j] = n < nb ? oy * SH - PH : -KH - H; // a column past the images reads nothing
        x0[j] = ox * SW - PW;
        base[j] = (n0 + min(n, nb - 1)) * H * W;
    }
    __global const real *in = src + src_off;
    const int plane = N * H * W, taps = KH * KW, channels = K / taps;
    const int step = taps * IM2COL_PANEL; // from one channel's row of a tap to the next's
    for (int ky = 0; ky < KH; ky++) {
        for (int kx = 0; kx < KW; kx++) {
            // each column's input in channel 0 at this tap, -1 in the padding
            int at[IM2COL_PANEL];
            bool run = true; // every column inside, at consecutive addresses
            #pragma unroll
            for (int j = 0; j < IM2COL_PANEL; j++) {
                const int y = y0[j] + ky, x = x0[j] + kx;
                at[j] = y >= 0 && y < H && x >= 0 && x < W ? base[j] + y * W + x : -1;
                run = run && at[j] >= 0 && at[j] == at[0] + j;
            }
            __global real *out = col + (size_t)p * K * IM2COL_PANEL + (ky * KW + kx) * IM2COL_PANEL;
            if (run) {
                __global const real *from = in + at[0];
                for (int c = 0; c < channels; c++, from += plane, out += step)
                    vstorep(vloadp(0, from), 0, out);
            } else {
                __global const real *from = in;
                for (int c = 0; c < channels; c++, from += plane, out += step) {
                    #pragma unroll
                    for (int j = 0; j < IM2COL_PANEL; j++) out[j] = at[j] >= 0 ? from[at[j]] : ZERO;
                }
            }
        }
    }
}
