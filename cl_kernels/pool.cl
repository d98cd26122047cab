// Pooling over channel-major activations, where every (channel, image) plane
// is contiguous: max pool, average pool counting the padding (torchvision's
// count_include_pad=True) and the adaptive average pool to 1x1.

// global: (Ho*Wo, planes); plane p reads src_off + p*H*W, writes dst_off + p*Ho*Wo
__kernel void max_pool2d(__global const real *src, int src_off, int H, int W, int K, int S,
                         int P, int Ho, int Wo, __global real *dst, int dst_off) {
    const int q = get_global_id(0);
    const int p = get_global_id(1);
    if (q >= Ho * Wo) return;
    const int oy = q / Wo;
    const int ox = q % Wo;
    const int y0 = oy * S - P;
    const int x0 = ox * S - P;
    __global const real *plane = src + src_off + p * H * W;
    real m = -INFINITY;
    for (int y = max(y0, 0); y < min(y0 + K, H); y++)
        for (int x = max(x0, 0); x < min(x0 + K, W); x++) m = fmax(m, plane[y * W + x]);
    dst[dst_off + p * Ho * Wo + q] = m;
}

// The divisor is the window clipped to the padded input, as PyTorch does.
// global: (Ho*Wo, planes)
__kernel void avg_pool2d(__global const real *src, int src_off, int H, int W, int K, int S,
                         int P, int Ho, int Wo, __global real *dst, int dst_off) {
    const int q = get_global_id(0);
    const int p = get_global_id(1);
    if (q >= Ho * Wo) return;
    const int oy = q / Wo;
    const int ox = q % Wo;
    const int y0 = oy * S - P;
    const int x0 = ox * S - P;
    const int count = (min(y0 + K, H + P) - y0) * (min(x0 + K, W + P) - x0);
    __global const real *plane = src + src_off + p * H * W;
    real sum = ZERO;
    for (int y = max(y0, 0); y < min(y0 + K, H); y++)
        for (int x = max(x0, 0); x < min(x0 + K, W); x++) sum += plane[y * W + x];
    dst[dst_off + p * Ho * Wo + q] = sum / (real)count;
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
