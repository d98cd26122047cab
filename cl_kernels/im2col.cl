// im2col for channel-major activations: unrolls the receptive fields of a run
// of images into a (C*KH*KW) x (images*Ho*Wo) matrix for a GEMM.

// Row r = (c*KH + ky)*KW + kx, column q = n_local*Ho*Wo + oy*Wo + ox. Each
// work-item writes one output row oy of one image for one r: a contiguous run
// of Wo values, with the divisions done once per run.
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
