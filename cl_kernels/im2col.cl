// im2col for channel-major activations: unrolls the receptive fields of a run
// of images into a (C*KH*KW) x (images*Ho*Wo) matrix for a GEMM.

// Row r = (c*KH + ky)*KW + kx, column q = n_local*Ho*Wo + oy*Wo + ox.
// global: (nb*Ho*Wo, C*KH*KW)
__kernel void im2col(__global const real *src, int src_off, int N, int H, int W, int n0, int nb,
                     int KH, int KW, int SH, int SW, int PH, int PW, int Ho, int Wo,
                     __global real *col) {
    const int q = get_global_id(0);
    const int r = get_global_id(1);
    const int HoWo = Ho * Wo;
    if (q >= nb * HoWo) return;
    const int n = n0 + q / HoWo;
    const int oy = (q % HoWo) / Wo;
    const int ox = q % Wo;
    const int kx = r % KW;
    const int ky = (r / KW) % KH;
    const int c = r / (KW * KH);
    const int y = oy * SH - PH + ky;
    const int x = ox * SW - PW + kx;
    real v = ZERO;
    if (y >= 0 && y < H && x >= 0 && x < W) v = src[src_off + ((c * N + n) * H + y) * W + x];
    col[r * nb * HoWo + q] = v;
}
