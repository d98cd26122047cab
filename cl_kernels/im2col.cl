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
// image for one r, with the divisions done once per row.
// global: (nb*Ho, C*KH*KW)
__kernel void im2col(__global const real *src, int src_off, int N, int H, int W, int n0, int nb,
                     int KH, int KW, int SH, int SW, int PH, int PW, int Ho, int Wo,
                     __global real *col) {
    const int t = get_global_id(0); // n_local*Ho + oy
    const int r = get_global_id(1);
    if (t >= nb * Ho) return;
    const int n = n0 + t / Ho;
    const int oy = t % Ho;
    const int kx = r % KW;
    const int ky = (r / KW) % KH;
    const int c = r / (KW * KH);
    const int y = oy * SH - PH + ky;
    __global real *out = col + (size_t)r * nb * Ho * Wo + (size_t)t * Wo;
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
// work-item writes one whole panel, row by row; columns past the last image
// are zeros.
// global: (ceil(nb*Ho*Wo / IM2COL_PANEL))
__kernel void im2col_panels(__global const real *src, int src_off, int N, int H, int W, int n0,
                            int nb, int KH, int KW, int SH, int SW, int PH, int PW, int Ho,
                            int Wo, __global real *col, int K) {
    const int p = get_global_id(0);
    // where each column's window starts: image offset, top row, left column
    int base[IM2COL_PANEL], y0[IM2COL_PANEL], x0[IM2COL_PANEL];
    for (int j = 0; j < IM2COL_PANEL; j++) {
        const int q = p * IM2COL_PANEL + j;
        const int n = q / (Ho * Wo), oy = q % (Ho * Wo) / Wo, ox = q % Wo;
        y0[j] = n < nb ? oy * SH - PH : -KH - H; // a column past the images reads nothing
        x0[j] = ox * SW - PW;
        base[j] = (n0 + min(n, nb - 1)) * H * W;
    }
    __global real *out = col + (size_t)p * K * IM2COL_PANEL;
    const int plane = N * H * W;
    // a panel within one output row at stride 1 reads a contiguous run
    const bool one_run = SW == 1 && y0[0] == y0[IM2COL_PANEL - 1] &&
                         base[0] == base[IM2COL_PANEL - 1] &&
                         x0[IM2COL_PANEL - 1] == x0[0] + IM2COL_PANEL - 1;
    int c = 0, ky = 0, kx = 0;
    for (int r = 0; r < K; r++) {
        __global const real *in = src + src_off + c * plane;
        const int y = y0[0] + ky, x = x0[0] + kx;
        if (one_run && y >= 0 && y < H && x >= 0 && x + IM2COL_PANEL <= W) {
            vstorep(vloadp(0, in + base[0] + y * W + x), 0, out + r * IM2COL_PANEL);
        } else {
            for (int j = 0; j < IM2COL_PANEL; j++) {
                const int yj = y0[j] + ky, xj = x0[j] + kx;
                out[r * IM2COL_PANEL + j] =
                    yj >= 0 && yj < H && xj >= 0 && xj < W ? in[base[j] + yj * W + xj] : ZERO;
            }
        }
        if (++kx == KW) { // next tap: (c, ky, kx) in row order
            kx = 0;
            if (++ky == KH) {
                ky = 0;
                c++;
            }
        }
    }
}
