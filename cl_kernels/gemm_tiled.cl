// Our GEMM with the bias and ReLU epilogue fused, for convolutions on
// channel-major activations: C = relu(A * B + bias), A the weights stored
// transposed in groups of rows (weights/layout.h, prelude.cl's weight_at: row m
// at k lies at weight_at(m, a_group) + k * lda), B
// the activations (K x N, row stride ldb) or an im2col matrix in panels of
// TILE_N columns (ldb = 0: panel p is a K x TILE_N block at p*K*TILE_N),
// C a slice of the output (row stride ldc). Each work-item computes TILE_M
// rows by TILE_V vectors of TILE_N consecutive columns: per k, TILE_V vector
// loads of B and TILE_M*TILE_V vector multiply-adds with broadcast weights.
// A row-major B is read up to TILE_N * TILE_V - 1 columns past N
// (GEMM_READ_SLACK_FLOATS in host/ops.h).

#ifndef TILE_M
#define TILE_M 8 // output rows (channels) per work-item; divides 16 (weights/layout.h)
#endif
#ifndef TILE_N
#define TILE_N 16 // columns per vector: 4, 8 or 16
#endif
#ifndef TILE_V
#define TILE_V 2 // vectors of columns per work-item
#endif

#define CONCAT_(a, b) a##b
#define CONCAT(a, b) CONCAT_(a, b)
typedef CONCAT(float, TILE_N) realn;
#define vloadn CONCAT(vload, TILE_N)
#define vstoren CONCAT(vstore, TILE_N)

// One work-item's tile: rows m0 .. m0+TILE_M-1 and columns n0 .. of
// C = A * B (+ bias when given, then ReLU when asked), A, B and C already at
// their offsets.
inline void gemm_tile(int m0, int n0, int M, int N, int K, __global const real *A, int lda,
                      int a_group, __global const real *bias, __global const real *B, int ldb,
                      __global real *C, int ldc, int relu) {
    realn acc[TILE_M][TILE_V];
    #pragma unroll
    for (int i = 0; i < TILE_M; i++)
        #pragma unroll
        for (int v = 0; v < TILE_V; v++) acc[i][v] = (realn)ZERO;
    __global const real *a = A + weight_at(m0, a_group); // the tile's weights at k = 0
    // where each vector's columns start at k = 0, and the step to the next k
    __global const real *b[TILE_V];
    const int last_panel = (N - 1) / TILE_N;
    #pragma unroll
    for (int v = 0; v < TILE_V; v++)
        b[v] = B + (ldb ? n0 + v * TILE_N : min(n0 / TILE_N + v, last_panel) * K * TILE_N);
    const int step = ldb ? ldb : TILE_N;
    // whole vectors always: the columns of a last partial tile past N read
    // whatever follows (the next row, or the slack after the buffer's end that
    // host/ops.h promises) into lanes that are never stored
    for (int k = 0; k < K; k++) { // pointers stepped, not indices recomputed: fewer instructions
        realn bk[TILE_V];
        #pragma unroll
        for (int v = 0; v < TILE_V; v++) {
            bk[v] = vloadn(0, b[v]);
            b[v] += step;
        }
        #pragma unroll
        for (int i = 0; i < TILE_M; i++) {
            const realn ak = (realn)a[i];
            #pragma unroll
            for (int v = 0; v < TILE_V; v++) acc[i][v] = fma(ak, bk[v], acc[i][v]);
        }
        a += lda;
    }
    #pragma unroll
    for (int i = 0; i < TILE_M && m0 + i < M; i++) {
        const realn bi = bias ? (realn)bias[m0 + i] : (realn)ZERO;
        #pragma unroll
        for (int v = 0; v < TILE_V; v++) {
            const int n = n0 + v * TILE_N;
            if (n >= N) break;
            realn out = acc[i][v] + bi;
            if (relu) out = RELU(out, (realn)ZERO);
            __global real *c = C + (m0 + i) * ldc + n;
            if (n + TILE_N <= N) {
                vstoren(out, 0, c);
            } else {
                real part[TILE_N];
                vstoren(out, 0, part);
                for (int j = 0; j < N - n; j++) c[j] = part[j];
            }
        }
    }
}

// global: (ceil(M / TILE_M), ceil(N / (TILE_N * TILE_V)))
__kernel void gemm_tiled(int M, int N, int K, __global const real *A, int a_off, int lda,
                         int a_group, __global const real *bias, int bias_off, __global const real *B, int b_off,
                         int ldb, __global real *C, int c_off, int ldc, int relu) {
    const int m0 = get_global_id(0) * TILE_M;
    const int n0 = get_global_id(1) * TILE_N * TILE_V;
    if (m0 >= M || n0 >= N) return;
    gemm_tile(m0, n0, M, N, K, A + a_off, lda, a_group, bias + bias_off, B + b_off, ldb, C + c_off, ldc,
              relu);
}

// Several products that share B, each with its own rows of A, bias and
// output: a group of 1x1 convolutions that read one input (network/network.h),
// their weights stacked. Member i has rows [ends[i-1], ends[i]) of A and of
// the bias (ends[-1] = 0; each a multiple of WEIGHT_GROUP, which no tile
// crosses) and writes C + c_offs[i], row stride ldc; bit i of raw set, it
// gets neither bias nor ReLU (an output a pool still has to average).
// global: (ceil(ends.w / TILE_M), ceil(N / (TILE_N * TILE_V)))
__kernel void gemm_grouped(int N, int K, __global const real *A, int a_off, int lda, int a_group,
                           __global const real *bias, int bias_off, __global const real *B,
                           int b_off, int ldb, __global real *C, int4 ends, int4 c_offs, int ldc,
                           int raw) {
    const int m0 = get_global_id(0) * TILE_M;
    const int n0 = get_global_id(1) * TILE_N * TILE_V;
    const int end[4] = {ends.x, ends.y, ends.z, ends.w};
    const int out[4] = {c_offs.x, c_offs.y, c_offs.z, c_offs.w};
    if (n0 >= N || m0 >= end[3]) return;
    int i = 0;
    while (m0 >= end[i]) i++;
    const int start = i ? end[i - 1] : 0;
    const bool plain = (raw >> i) & 1;
    gemm_tile(m0 - start, n0, end[i] - start, N, K,
              A + a_off + start / WEIGHT_GROUP * a_group, lda, a_group,
              plain ? 0 : bias + bias_off + start, B + b_off, ldb, C + out[i], ldc, !plain);
}

// A batch of products with no epilogue, C_z = A_z * B_z for z along the third
// dimension, each operand z strides further into its buffer (Winograd's 16
// GEMMs, winograd.cl). Their K (the input channels) can be small: each
// work-item does m_tiles tiles down one column of tiles, so that the panel of
// B it reads stays in cache from one to the next and a CPU's cost per
// work-group is spread over more work.
// global: (ceil(M / (TILE_M * m_tiles)), ceil(N / (TILE_N * TILE_V)), batches)
__kernel void gemm_batched(int M, int N, int K, __global const real *A, int a_off, int a_stride,
                           int lda, int a_group, __global const real *B, int b_off, int b_stride, int ldb,
                           __global real *C, int c_off, int c_stride, int ldc, int m_tiles) {
    const int n0 = get_global_id(1) * TILE_N * TILE_V;
    const int z = get_global_id(2);
    if (n0 >= N) return;
    for (int j = 0; j < m_tiles; j++) {
        const int m0 = (get_global_id(0) * m_tiles + j) * TILE_M;
        if (m0 >= M) break;
        gemm_tile(m0, n0, M, N, K, A + a_off + (size_t)z * a_stride, lda, a_group, 0,
                  B + b_off + (size_t)z * b_stride, ldb, C + c_off + (size_t)z * c_stride, ldc, 0);
    }
}

// The same product for few columns (a fully connected layer at a small
// batch): each work-item computes TILE_N consecutive rows of one column, a
// vector of the transposed weights times one broadcast value of B per k.
// global: (ceil(M / TILE_N), N)
__kernel void gemm_few_columns(int M, int N, int K, __global const real *A, int a_off, int lda,
                               int a_group, __global const real *bias, int bias_off, __global const real *B,
                               int b_off, int ldb, __global real *C, int c_off, int ldc,
                               int relu) {
    const int m0 = get_global_id(0) * TILE_N;
    const int n = get_global_id(1);
    if (m0 >= M || n >= N) return;
    __global const real *a = A + a_off + weight_at(m0, a_group), *b = B + b_off + n;
    realn acc = (realn)ZERO;
    for (int k = 0; k < K; k++) acc = fma(vloadn(0, a + k * lda), (realn)b[k * ldb], acc);
    real out[TILE_N];
    vstoren(acc, 0, out);
    for (int j = 0; j < TILE_N && m0 + j < M; j++) {
        const real v = out[j] + bias[bias_off + m0 + j];
        C[c_off + (m0 + j) * ldc + n] = relu ? RELU(v, ZERO) : v;
    }
}
