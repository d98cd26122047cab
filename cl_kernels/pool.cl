// Pooling over channel-major activations, where every (channel, image) plane
// is contiguous: max pool, average pool counting the padding or not
// (PyTorch's count_include_pad) and the adaptive average pool to 1x1. Each
// work-item of the windowed pools writes one output row: a loop over its
// pixels with the window's rows resolved once, in vectors of 8 pixels for
// the network's own shapes.

// global: (Ho, planes); plane p reads src_off + p*H*W, writes dst_off + p*Ho*Wo
__kernel void max_pool2d(__global const real *src, int src_off, int H, int W, int K, int S,
                         int P, int Ho, int Wo, __global real *dst, int dst_off) {
    const int oy = get_global_id(0);
    const int p = get_global_id(1);
    if (oy >= Ho) return;
    const int y0 = max(oy * S - P, 0), y1 = min(oy * S - P + K, H);
    __global const real *plane = src + src_off + p * H * W;
    __global real *out = dst + dst_off + (p * Ho + oy) * Wo;
    if (K == 3 && S == 2 && P == 0 && Wo >= 8) { // the network's: 8 outputs at a time
        // outputs ox0 .. ox0+7 read columns 2*ox0 .. 2*ox0+16, all inside
        // the row since W >= 2*Wo+1; the last run overlaps the one before
        for (int ox0 = 0; ox0 < Wo; ox0 = ox0 + 8 < Wo ? min(ox0 + 8, Wo - 8) : Wo) {
            float8 m = (float8)(-INFINITY);
            for (int y = y0; y < y1; y++) {
                __global const real *row = plane + y * W + 2 * ox0;
                const float16 v = vload16(0, row);
                const float8 next = (float8)(v.s2468, v.sace, row[16]);
                m = MAX_NAN(m, MAX_NAN(MAX_NAN(v.even, v.odd), next));
            }
            vstore8(m, 0, out + ox0);
        }
        return;
    }
    if (P == 0) { // every window lies inside the input: no bounds in the loop
        for (int ox = 0; ox < Wo; ox++) {
            real m = -INFINITY;
            for (int y = y0; y < y1; y++)
                for (int x = ox * S; x < ox * S + K; x++) m = MAX_NAN(m, plane[y * W + x]);
            out[ox] = m;
        }
        return;
    }
    for (int ox = 0; ox < Wo; ox++) {
        const int x0 = max(ox * S - P, 0), x1 = min(ox * S - P + K, W);
        real m = -INFINITY;
        for (int y = y0; y < y1; y++)
            for (int x = x0; x < x1; x++) m = MAX_NAN(m, plane[y * W + x]);
        out[ox] = m;
    }
}

// The divisor is the window clipped to the padded input when `counted`
// (count_include_pad=True), else clipped to the input itself: the real
// pixels it covers (count_include_pad=False), as PyTorch does. With
// `epilogue` set, each channel's bias is added and ReLU applied after
// (a pool that runs after the 1x1 convolution it feeds; network/network.h):
// plane p = c*N + n is channel c's, its bias at bias[bias_off + c].
// global: (Ho, planes)
__kernel void avg_pool2d(__global const real *src, int src_off, int H, int W, int K, int S,
                         int P, int Ho, int Wo, __global real *dst, int dst_off,
                         __global const real *bias, int bias_off, int N, int epilogue,
                         int counted) {
    const int oy = get_global_id(0);
    const int p = get_global_id(1);
    if (oy >= Ho) return;
    const real b = epilogue ? bias[bias_off + p / N] : ZERO;
    const int ys = oy * S - P;
    const int y0 = max(ys, 0), y1 = min(ys + K, H);
    const int rows = min(ys + K, H + P) - ys;
    __global const real *plane = src + src_off + p * H * W;
    __global real *out = dst + dst_off + (p * Ho + oy) * Wo;
    if (K == 3 && S == 1 && P == 1 && W >= 8) { // the Inception blocks': 8 outputs at a time
        // the last run overlaps the one before; the padding's zeros are
        // shifted in at either end of the row
        for (int x0 = 0; x0 < W; x0 = x0 + 8 < W ? min(x0 + 8, W - 8) : W) {
            float8 sum = (float8)(ZERO);
            for (int y = y0; y < y1; y++) {
                __global const real *row = plane + y * W + x0;
                const float8 mid = vload8(0, row);
                const float8 left = x0 > 0 ? vload8(0, row - 1)
                                           : (float8)(ZERO, mid.s0123, mid.s456);
                const float8 right = x0 + 8 < W ? vload8(0, row + 1)
                                                : (float8)(mid.s1234, mid.s567, ZERO);
                sum += left + mid + right;
            }
            // the real pixels of each window: its rows, times 2 columns at
            // either end of the row and 3 elsewhere (a vector comparison is
            // -1 where true)
            const int8 x = (int8)(0, 1, 2, 3, 4, 5, 6, 7) + x0;
            const float8 cols = convert_float8((int8)(3) + (x == (int8)(0)) + (x == (int8)(W - 1)));
            float8 v = counted ? sum / (real)9 : sum / (cols * (real)(y1 - y0));
            if (epilogue) v = RELU(v + b, (float8)(ZERO));
            vstore8(v, 0, out + x0);
        }
        return;
    }
    if (K == 3 && S == 1 && P == 1) { // every counted divisor is 9
        for (int ox = 0; ox < Wo; ox++) {
            real sum = ZERO;
            for (int y = y0; y < y1; y++) {
                __global const real *row = plane + y * W;
                sum += (ox > 0 ? row[ox - 1] : ZERO) + row[ox] + (ox + 1 < W ? row[ox + 1] : ZERO);
            }
            const real v = sum / (counted ? (real)9 : (real)((y1 - y0) * ((ox > 0) + 1 + (ox + 1 < W))));
            out[ox] = epilogue ? RELU(v + b, ZERO) : v;
        }
        return;
    }
    for (int ox = 0; ox < Wo; ox++) {
        const int xs = ox * S - P;
        const int x0 = max(xs, 0), x1 = min(xs + K, W);
        real sum = ZERO;
        for (int y = y0; y < y1; y++)
            for (int x = x0; x < x1; x++) sum += plane[y * W + x];
        const real v = sum / (real)(counted ? rows * (min(xs + K, W + P) - xs)
                                            : (y1 - y0) * (x1 - x0));
        out[ox] = epilogue ? RELU(v + b, ZERO) : v;
    }
}

// global: (planes)
__kernel void global_avg_pool(__global const real *src, int src_off, int HW, __global real *dst,
                              int dst_off) {
    const int p = get_global_id(0);
    __global const real *plane = src + src_off + p * HW;
    real sum = ZERO;
    for (int i = 0; i < HW; i++) sum += plane[i];
    dst[dst_off + p] = sum / (real)HW;
}
