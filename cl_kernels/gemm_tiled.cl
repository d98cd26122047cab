// Our GEMM with the bias and ReLU epilogue fused, for convolutions on
// channel-major activations: C = relu(A * B + bias), A the weights stored
// transposed (K x lda, lda >= M rounded up to a tile; see host/layout.h), B
// the activations (K x N, row stride ldb) or an im2col matrix in panels of
// TILE_N columns (ldb = 0: panel p is a K x TILE_N block at p*K*TILE_N),
// C a slice of the output (row stride ldc). Each work-item computes TILE_M
// rows by TILE_N consecutive columns held in vectors, so the inner loop is one
// vector load of B and TILE_M vector multiply-adds, on a CPU as on a GPU.

#ifndef TILE_M
#define TILE_M 8 // output rows (channels) per work-item
#endif
#ifndef TILE_N
#define TILE_N 16 // output columns per work-item: a vector width (4, 8 or 16)
#endif

#define CONCAT_(a, b) a##b
#define CONCAT(a, b) CONCAT_(a, b)
typedef CONCAT(float, TILE_N) realn;
#define vloadn CONCAT(vload, TILE_N)
#define vstoren CONCAT(vstore, TILE_N)

// global: (ceil(M / TILE_M), ceil(N / TILE_N))
__kernel void gemm_tiled(int M, int N, int K, __global const real *A, int a_off, int lda,
                         __global const real *bias, int bias_off, __global const real *B,
                         int b_off, int ldb, __global real *C, int c_off, int ldc, int relu) {
    // B(k, n0 + j) is b[k * step + j]: rows of B, or rows of a panel
    const int step = ldb ? ldb : TILE_N;
    const int m0 = get_global_id(0) * TILE_M;
    const int n0 = get_global_id(1) * TILE_N;
    if (m0 >= M || n0 >= N) return;
    const bool full = n0 + TILE_N <= N;
    realn acc[TILE_M];
    #pragma unroll
    for (int i = 0; i < TILE_M; i++) acc[i] = (realn)ZERO;
    __global const real *a = A + a_off + m0; // the tile's weights at k = 0
    __global const real *b = B + b_off + (ldb ? n0 : n0 * K);
    if (full || !ldb) { // a panel is whole, its padding included
        for (int k = 0; k < K; k++) {
            const realn bk = vloadn(0, b + k * step);
            #pragma unroll
            for (int i = 0; i < TILE_M; i++) acc[i] = fma((realn)a[k * lda + i], bk, acc[i]);
        }
    } else { // the last columns: load what exists, element by element
        real part[TILE_N];
        for (int k = 0; k < K; k++) {
            for (int j = 0; j < TILE_N; j++) part[j] = b[k * step + min(j, N - n0 - 1)];
            const realn bk = vloadn(0, part);
            #pragma unroll
            for (int i = 0; i < TILE_M; i++) acc[i] = fma((realn)a[k * lda + i], bk, acc[i]);
        }
    }
    #pragma unroll
    for (int i = 0; i < TILE_M && m0 + i < M; i++) {
        realn v = acc[i] + (realn)bias[bias_off + m0 + i];
        if (relu) v = fmax(v, (realn)ZERO);
        __global real *c = C + c_off + (m0 + i) * ldc + n0;
        if (full) {
            vstoren(v, 0, c);
        } else {
            real out[TILE_N];
            vstoren(v, 0, out);
            for (int j = 0; j < N - n0; j++) c[j] = out[j];
        }
    }
}
