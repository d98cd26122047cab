// The device's own multiply-add rate, to set the profile against: each
// work-item runs PEAK_CHAINS independent chains of fma on vectors of
// PEAK_WIDTH floats (enough chains to hide the latency of an FMA unit), so
// that nothing but the arithmetic limits it. 2 * PEAK_WIDTH * PEAK_CHAINS
// flops per iteration per work-item.

#ifndef PEAK_WIDTH
#define PEAK_WIDTH 8 // floats per vector: the device's native width
#endif
#ifndef PEAK_CHAINS
#define PEAK_CHAINS 12 // independent accumulators per work-item
#endif

#define CONCAT_(a, b) a##b
#define CONCAT(a, b) CONCAT_(a, b)
typedef CONCAT(float, PEAK_WIDTH) realp;

// global: any; out[get_global_id(0)] keeps the chains from being optimized away
__kernel void fma_peak(__global real *out, int iters, real scale) {
    realp acc[PEAK_CHAINS];
    const realp m = (realp)scale, c = (realp)0.5f;
    #pragma unroll
    for (int j = 0; j < PEAK_CHAINS; j++) acc[j] = (realp)(get_global_id(0) + j);
    for (int i = 0; i < iters; i++)
        #pragma unroll
        for (int j = 0; j < PEAK_CHAINS; j++) acc[j] = fma(acc[j], m, c);
    realp sum = acc[0];
    #pragma unroll
    for (int j = 1; j < PEAK_CHAINS; j++) sum += acc[j];
    real s[PEAK_WIDTH];
    CONCAT(vstore, PEAK_WIDTH)(sum, 0, s);
    real total = ZERO;
    for (int j = 0; j < PEAK_WIDTH; j++) total += s[j];
    out[get_global_id(0)] = total;
}
