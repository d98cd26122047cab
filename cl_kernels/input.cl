// Network input: NCHW float input to the channel-major C x (N*H*W) layout,
// with torchvision's transform_input (a per-channel scale and shift) applied.
// Each work-item converts a run of INPUT_RUN pixels of one (image, channel)
// plane.

#ifndef INPUT_RUN
#define INPUT_RUN 256
#endif

// global: (ceil(H*W / INPUT_RUN), N*C)
__kernel void input_to_channel_major(__global const real *src, int N, int C, int HW,
                                     __global real *dst, int dst_off, float4 scale,
                                     float4 shift) {
    const int p0 = get_global_id(0) * INPUT_RUN;
    const int nc = get_global_id(1);
    if (p0 >= HW) return;
    const int n = nc / C;
    const int c = nc % C;
    const float s = c == 0 ? scale.x : c == 1 ? scale.y : scale.z;
    const float t = c == 0 ? shift.x : c == 1 ? shift.y : shift.z;
    __global const real *from = src + nc * HW;
    __global real *to = dst + dst_off + (c * N + n) * HW;
    const int end = min(p0 + INPUT_RUN, HW);
    for (int p = p0; p < end; p++) to[p] = from[p] * s + t;
}
