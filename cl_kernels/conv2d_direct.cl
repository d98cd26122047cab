// Direct convolution with folded BatchNorm bias and fused ReLU, for any kernel
// shape, stride and padding: one work-item per output value of
// DIRECT_OUT_PER_ITEM consecutive output channels.

#ifndef DIRECT_OUT_PER_ITEM
#define DIRECT_OUT_PER_ITEM 4 // output channels computed by one work-item
#endif

// weights: Cout x (Cin*KH*KW); dst channel co of the output starts at
// dst_off + co*N*Ho*Wo. global: (N*Ho*Wo, ceil(Cout / DIRECT_OUT_PER_ITEM))
__kernel void conv2d_direct(__global const real *src, int src_off, int Cin, int N, int H, int W,
                            __global const real *weights, int w_off, int b_off, int Cout, int KH,
                            int KW, int SH, int SW, int PH, int PW, int Ho, int Wo,
                            __global real *dst, int dst_off, int relu) {
    const int q = get_global_id(0);
    const int co0 = get_global_id(1) * DIRECT_OUT_PER_ITEM;
    const int HoWo = Ho * Wo;
    if (q >= N * HoWo) return;
    const int n = q / HoWo;
    const int oy = (q % HoWo) / Wo;
    const int ox = q % Wo;
    const int K = Cin * KH * KW;
    real acc[DIRECT_OUT_PER_ITEM];
    for (int j = 0; j < DIRECT_OUT_PER_ITEM; j++) acc[j] = ZERO;
    for (int c = 0; c < Cin; c++) {
        for (int ky = 0; ky < KH; ky++) {
            const int y = oy * SH - PH + ky;
            if (y < 0 || y >= H) continue;
            for (int kx = 0; kx < KW; kx++) {
                const int x = ox * SW - PW + kx;
                if (x < 0 || x >= W) continue;
                const real v = src[src_off + ((c * N + n) * H + y) * W + x];
                const int r = (c * KH + ky) * KW + kx;
                for (int j = 0; j < DIRECT_OUT_PER_ITEM; j++) {
                    const int co = min(co0 + j, Cout - 1);
                    acc[j] += v * weights[w_off + co * K + r];
                }
            }
        }
    }
    for (int j = 0; j < DIRECT_OUT_PER_ITEM; j++) {
        const int co = co0 + j;
        if (co < Cout)
            dst[dst_off + co * N * HoWo + q] = relu_if(acc[j] + weights[b_off + co], relu);
    }
}
