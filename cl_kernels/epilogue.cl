// Epilogue after a GEMM: add a per-row bias and optionally apply ReLU, in
// place, on a rows x cols matrix with leading dimension ld.

// global: (cols, rows)
__kernel void bias_act(__global real *x, int x_off, int ld, int cols, __global const real *bias,
                       int bias_off, int relu) {
    const int j = get_global_id(0);
    const int i = get_global_id(1);
    if (j >= cols) return;
    const int k = x_off + i * ld + j;
    x[k] = relu_if(x[k] + bias[bias_off + i], relu);
}
