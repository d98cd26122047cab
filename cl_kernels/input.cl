// Network input: NCHW float input to the channel-major C x (N*H*W) layout,
// with torchvision's transform_input (a per-channel scale and shift) applied.

// global: (H*W, N*C)
__kernel void input_to_channel_major(__global const real *src, int N, int C, int HW,
                                     __global real *dst, int dst_off, float4 scale,
                                     float4 shift) {
    const int p = get_global_id(0);
    const int nc = get_global_id(1);
    if (p >= HW) return;
    const int n = nc / C;
    const int c = nc % C;
    const float s = c == 0 ? scale.x : c == 1 ? scale.y : scale.z;
    const float t = c == 0 ? shift.x : c == 1 ? shift.y : shift.z;
    dst[dst_off + (c * N + n) * HW + p] = src[nc * HW + p] * s + t;
}
