// Winograd F(2x2, 3x3) for 3x3 stride-1 convolutions on channel-major
// activations: each 2x2 block of outputs ("tile") is A^T [sum over c of
// U_c (.) (B^T d_c B)] A, d_c the 4x4 input patch under the tile, U_c the
// channel's 4x4 transformed filter (G g G^T, made at load: weights/). The
// element-wise products summed over channels are 16 GEMMs, one per position
// xi of the 4x4 tile (gemm_tiled.cl's gemm_batched): M_xi (Cout x T) =
// U_xi (Cout x C) * V_xi (C x T). T counts the tiles of the images in hand:
// t = (n_local * TH + ty) * TW + tx. V_xi is written in panels of
// WINOGRAD_PANEL tiles, as im2col's (gemm_tiled.cl streams them in order):
// panel p of V_xi is a C x WINOGRAD_PANEL block, V_xi is C x Tp floats, Tp
// the tiles rounded up to whole panels.

#ifndef WINOGRAD_PANEL
#define WINOGRAD_PANEL 16 // tiles per panel: gemm_tiled.cl's TILE_N (4, 8 or 16)
#endif
//
// B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], A^T = [1 1 1 0; 0 1 -1 -1].
// Both transforms work on a panel's tiles at once, one vector lane a tile.

#define CONCAT_(a, b) a##b
#define CONCAT(a, b) CONCAT_(a, b)
typedef CONCAT(float, WINOGRAD_PANEL) realp;
#define vloadp CONCAT(vload, WINOGRAD_PANEL)
#define vstorep CONCAT(vstore, WINOGRAD_PANEL)

// (B^T d B) for a panel's 4x4 patches d (d[i][j]: row i, column j, a lane a
// tile), stored to the 16 positions' panels at v (one position to the next:
// plane floats).
inline void store_input_transform(realp d[4][4], __global real *v, size_t plane) {
    realp e[4][4]; // B^T d
    #pragma unroll
    for (int j = 0; j < 4; j++) {
        e[0][j] = d[0][j] - d[2][j];
        e[1][j] = d[1][j] + d[2][j];
        e[2][j] = d[2][j] - d[1][j];
        e[3][j] = d[1][j] - d[3][j];
    }
    #pragma unroll
    for (int i = 0; i < 4; i++) { // (B^T d) B
        vstorep(e[i][0] - e[i][2], 0, v + (4 * i + 0) * plane);
        vstorep(e[i][1] + e[i][2], 0, v + (4 * i + 1) * plane);
        vstorep(e[i][2] - e[i][1], 0, v + (4 * i + 2) * plane);
        vstorep(e[i][1] - e[i][3], 0, v + (4 * i + 3) * plane);
    }
}

// Input transform: V (16 x C x Tp, panels) from images n0 .. n0+nb-1 of
// src, tiles tc0 .. tc0+Tp-1 of theirs (a multiple of WINOGRAD_PANEL: a
// chunk of the tiles at a time when their V and M exceed scratch). Each
// work-item transforms one panel of tiles of one channel: from
// whole vectors where the panel's tiles lie in one row of tiles away from the
// borders (columns x0, x0+2, ... are the even lanes of two loads), else tile
// by tile; tiles past the last are zeros.
// global: (Tp / WINOGRAD_PANEL, C)
__kernel void winograd_input(__global const real *src, int src_off, int C, int N, int H, int W,
                             int PH, int PW, int n0, int nb, int TH, int TW, __global real *V,
                             int Tp, int tc0) {
    const int p = get_global_id(0);
    const int c = get_global_id(1);
    if (p * WINOGRAD_PANEL >= Tp || c >= C) return;
    const size_t plane = (size_t)C * Tp; // from one position xi to the next
    __global real *v = V + ((size_t)p * C + c) * WINOGRAD_PANEL;
    const int t0 = tc0 + p * WINOGRAD_PANEL, T = nb * TH * TW;
    const int nl = t0 / (TH * TW), ty = t0 / TW % TH, tx0 = t0 % TW;
    const int y0 = 2 * ty - PH, x0 = 2 * tx0 - PW;
    realp d[4][4];
    if (t0 + WINOGRAD_PANEL <= T && tx0 + WINOGRAD_PANEL <= TW && y0 >= 0 && y0 + 4 <= H &&
        x0 >= 0 && x0 + 2 * WINOGRAD_PANEL + 2 <= W) {
        __global const real *in = src + src_off + ((size_t)(c * N + n0 + nl) * H + y0) * W + x0;
        #pragma unroll
        for (int i = 0; i < 4; i++) {
            __global const real *row = in + i * W;
            const realp a = vloadp(0, row), b = vloadp(0, row + WINOGRAD_PANEL);
            const realp a2 = vloadp(0, row + 2), b2 = vloadp(0, row + 2 + WINOGRAD_PANEL);
            d[i][0] = (realp)(a.even, b.even);
            d[i][1] = (realp)(a.odd, b.odd);
            d[i][2] = (realp)(a2.even, b2.even);
            d[i][3] = (realp)(a2.odd, b2.odd);
        }
    } else {
        real patch[4][4][WINOGRAD_PANEL];
        for (int j = 0; j < WINOGRAD_PANEL; j++) {
            const int t = t0 + j;
            const int n = t / (TH * TW), yt = 2 * (t / TW % TH) - PH, xt = 2 * (t % TW) - PW;
            __global const real *in = src + src_off + (size_t)(c * N + n0 + n) * H * W;
            for (int i = 0; i < 4; i++)
                for (int k = 0; k < 4; k++) {
                    const int y = yt + i, x = xt + k;
                    patch[i][k][j] =
                        t < T && y >= 0 && y < H && x >= 0 && x < W ? in[y * W + x] : ZERO;
                }
        }
        #pragma unroll
        for (int i = 0; i < 4; i++)
            #pragma unroll
            for (int k = 0; k < 4; k++) d[i][k] = vloadp(0, patch[i][k]);
    }
    store_input_transform(d, v, plane);
}

// Output transform: Y = A^T M A per tile from M (16 x Cout x T, at m_off),
// T tiles from tile tc0 of the images', plus the bias, ReLU when asked, into images n0 .. of dst (a channel slice:
// Cout channels at dst_off of a tensor of N images, Ho x Wo). Each work-item
// does one panel's worth of consecutive tiles of one channel, as vectors (a
// last partial panel reads past its row into lanes never stored: M is
// followed by GEMM_READ_SLACK_FLOATS of scratch, host/ops.h).
// global: (ceil(T / WINOGRAD_PANEL), Cout)
__kernel void winograd_output(__global const real *Mt, int m_off, int T, int Cout,
                              __global const real *bias, int bias_off, int n0, int nb, int TH,
                              int TW, int N, int Ho, int Wo, __global real *dst, int dst_off,
                              int relu, int tc0) {
    const int p = get_global_id(0);
    const int o = get_global_id(1);
    const int t0 = p * WINOGRAD_PANEL; // in the chunk, whose first tile is tc0
    if (t0 >= T || o >= Cout) return;
    __global const real *m = Mt + m_off + (size_t)o * T + t0;
    const size_t plane = (size_t)Cout * T;
    realp s[4][4];
    #pragma unroll
    for (int xi = 0; xi < 16; xi++) s[xi / 4][xi % 4] = vloadp(0, m + xi * plane);
    realp f[2][4]; // A^T M
    #pragma unroll
    for (int j = 0; j < 4; j++) {
        f[0][j] = s[0][j] + s[1][j] + s[2][j];
        f[1][j] = s[1][j] - s[2][j] - s[3][j];
    }
    const realp b = (realp)bias[bias_off + o];
    real y[2][2][WINOGRAD_PANEL]; // (A^T M) A + bias: output row i, column j, a lane a tile
    #pragma unroll
    for (int i = 0; i < 2; i++) {
        realp r0 = f[i][0] + f[i][1] + f[i][2] + b, r1 = f[i][1] - f[i][2] - f[i][3] + b;
        if (relu) {
            r0 = RELU(r0, (realp)ZERO);
            r1 = RELU(r1, (realp)ZERO);
        }
        vstorep(r0, 0, y[i][0]);
        vstorep(r1, 0, y[i][1]);
    }
    for (int j = 0; j < WINOGRAD_PANEL && t0 + j < T; j++) {
        const int t = tc0 + t0 + j;
        const int n = t / (TH * TW), oy = 2 * (t / TW % TH), ox = 2 * (t % TW);
        __global real *out = dst + dst_off + ((size_t)(o * N + n0 + n) * Ho + oy) * Wo + ox;
        for (int i = 0; i < 2 && oy + i < Ho; i++) {
            out[i * Wo] = y[i][0][j];
            if (ox + 1 < Wo) out[i * Wo + 1] = y[i][1][j];
        }
    }
}
