// Shared prelude, prepended to every kernel file when it is built. Activation
// tensors are channel-major, C x (N*H*W): channel c of image n starts at
// c*N*H*W + n*H*W, so a block's branches write disjoint channel slices of one
// buffer and concatenation copies nothing, for any batch size.

typedef float real;

// A layer's weights (weights/layout.h) come in groups of WEIGHT_GROUP output
// channels: group g starts at g * group_stride, and within a group the
// channels of one tap are consecutive, tap_stride apart. This is where
// channel o's weight at tap 0 lies; a tile of channels within one group reads
// them as one run per tap.
#define WEIGHT_GROUP 16 // weights/layout.h's WEIGHT_CHANNEL_ALIGN

inline int weight_at(int o, int group_stride) {
    return o / WEIGHT_GROUP * group_stride + o % WEIGHT_GROUP;
}

#define ZERO ((real)0)

// ReLU and max that keep a NaN, as torch's do (fmax would turn it into the
// other operand): for scalars and vectors alike, zero is of x's type.
#define RELU(x, zero) select((x), (zero), (x) < (zero))
#define MAX_NAN(a, b) select((a), (b), ((b) > (a)) | isnan(b))

inline real relu_if(real x, int relu) { return relu ? RELU(x, ZERO) : x; }
