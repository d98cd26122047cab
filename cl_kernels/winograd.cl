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
#define WINOGRAD_PANEL 16 // tiles per panel: gemm_tiled.cl's TILE_N
#endif
//
// B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], A^T = [1 1 1 0; 0 1 -1 -1].

// Input transform: V (16 x C x Tp, panels) from images n0 .. n0+nb-1 of
// src. Each work-item transforms one row of tiles of one image and channel.
// global: (nb * TH, C)
__kernel void winograd_input(__global const real *src, int src_off, int C, int N, int H, int W,
                             int PH, int PW, int n0, int nb, int TH, int TW, __global real *V,
                             int Tp) {
    const int row = get_global_id(0); // n_local * TH + ty
    const int c = get_global_id(1);
    if (row >= nb * TH || c >= C) return;
    const int nl = row / TH, ty = row % TH;
    __global const real *in = src + src_off + (size_t)(c * N + n0 + nl) * H * W;
    __global real *v = V + (size_t)c * WINOGRAD_PANEL;
    const size_t plane = (size_t)C * Tp; // from one position xi to the next
    const int y0 = 2 * ty - PH;
    bool rows_in[4];
    for (int i = 0; i < 4; i++) rows_in[i] = y0 + i >= 0 && y0 + i < H;
    for (int tx = 0; tx < TW; tx++) {
        const int x0 = 2 * tx - PW, t = row * TW + tx;
        const size_t at = (size_t)(t / WINOGRAD_PANEL) * C * WINOGRAD_PANEL + t % WINOGRAD_PANEL;
        real d[4][4];
        #pragma unroll
        for (int i = 0; i < 4; i++)
            #pragma unroll
            for (int j = 0; j < 4; j++) {
                const int x = x0 + j;
                d[i][j] = rows_in[i] && x >= 0 && x < W ? in[(y0 + i) * W + x] : ZERO;
            }
        real e[4][4]; // B^T d
        #pragma unroll
        for (int j = 0; j < 4; j++) {
            e[0][j] = d[0][j] - d[2][j];
            e[1][j] = d[1][j] + d[2][j];
            e[2][j] = d[2][j] - d[1][j];
            e[3][j] = d[1][j] - d[3][j];
        }
        #pragma unroll
        for (int i = 0; i < 4; i++) { // (B^T d) B
            v[(4 * i + 0) * plane + at] = e[i][0] - e[i][2];
            v[(4 * i + 1) * plane + at] = e[i][1] + e[i][2];
            v[(4 * i + 2) * plane + at] = e[i][2] - e[i][1];
            v[(4 * i + 3) * plane + at] = e[i][1] - e[i][3];
        }
    }
}

// Output transform: Y = A^T M A per tile from M (16 x Cout x T, at m_off), plus the
// bias, ReLU when asked, into images n0 .. of dst (a channel slice: Cout
// channels at dst_off of a tensor of N images, Ho x Wo). Each work-item does
// one row of tiles of one image and channel.
// global: (nb * TH, Cout)
__kernel void winograd_output(__global const real *Mt, int m_off, int T, int Cout,
                              __global const real *bias,
                              int bias_off, int n0, int nb, int TH, int TW, int N, int Ho, int Wo,
                              __global real *dst, int dst_off, int relu) {
    const int row = get_global_id(0);
    const int o = get_global_id(1);
    if (row >= nb * TH || o >= Cout) return;
    const int nl = row / TH, ty = row % TH;
    __global const real *m = Mt + m_off + (size_t)o * T + (size_t)row * TW;
    const size_t plane = (size_t)Cout * T;
    __global real *out = dst + dst_off + (size_t)(o * N + n0 + nl) * Ho * Wo;
    const real b = bias[bias_off + o];
    const int y = 2 * ty;
    for (int tx = 0; tx < TW; tx++) {
        real s[4][4];
        #pragma unroll
        for (int xi = 0; xi < 16; xi++) s[xi / 4][xi % 4] = m[xi * plane + tx];
        real f[2][4]; // A^T M
        #pragma unroll
        for (int j = 0; j < 4; j++) {
            f[0][j] = s[0][j] + s[1][j] + s[2][j];
            f[1][j] = s[1][j] - s[2][j] - s[3][j];
        }
        const int x = 2 * tx;
        #pragma unroll
        for (int i = 0; i < 2; i++) {
            if (y + i >= Ho) break;
            const real r0 = relu_if(f[i][0] + f[i][1] + f[i][2] + b, relu);
            const real r1 = relu_if(f[i][1] - f[i][2] - f[i][3] + b, relu);
            out[(y + i) * Wo + x] = r0;
            if (x + 1 < Wo) out[(y + i) * Wo + x + 1] = r1;
        }
    }
}
