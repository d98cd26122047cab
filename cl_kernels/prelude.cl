// Shared prelude, prepended to every kernel file when it is built. Activation
// tensors are channel-major, C x (N*H*W): channel c of image n starts at
// c*N*H*W + n*H*W, so a block's branches write disjoint channel slices of one
// buffer and concatenation copies nothing, for any batch size.

typedef float real;

#define ZERO ((real)0)

inline real relu_if(real x, int relu) { return relu ? fmax(x, ZERO) : x; }
