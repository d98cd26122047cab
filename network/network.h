/* A network as data: a table of layers over numbered values (activation
 * tensors), built by small helpers, walked by the executor, read by the
 * weight loader. Everything a network means lives here: its layers' shapes
 * and pooling modes, its BatchNorm eps, the tensors its files may carry
 * that it does not use, its input transform and its smallest input.
 * Inception v3 and the FID Inception are two such tables; another network
 * is another builder, not another engine. */
#ifndef CLN_NETWORK_H
#define CLN_NETWORK_H

#include <stdbool.h>

#define NET_MAX_LAYERS 160
#define NET_MAX_VALUES 128
#define NET_NAME_SIZE 48

typedef enum {
    LAYER_INPUT,           /* host NCHW input -> value, with transform_input */
    LAYER_CONV,            /* conv + folded BatchNorm + ReLU (BasicConv2d) */
    LAYER_MAX_POOL,        /* k x k, stride, padding */
    LAYER_AVG_POOL,        /* k x k, stride, padding, count_include_pad or not */
    LAYER_GLOBAL_AVG_POOL, /* adaptive average pool to 1x1 */
    LAYER_LINEAR,          /* fully connected with bias */
} layer_op;

typedef struct {
    layer_op op;
    char name[NET_NAME_SIZE]; /* torchvision module name, e.g. "Mixed_6b.branch7x7_2" */
    int src;                  /* value read (-1 for the input layer) */
    int dst;                  /* value written */
    int dst_channel;          /* first channel of dst this layer writes (concat slice) */
    int out_channels;         /* channels written */
    int kh, kw, sh, sw, ph, pw;
    bool relu;
    /* LAYER_AVG_POOL: whether the padding counts in the divisor (PyTorch's
     * count_include_pad); if not, a window's divisor is its real pixels */
    bool count_include_pad;
    /* The 1x1 stride-1 convolutions that read one value form a group, which
     * may run as one GEMM when its first member runs (network_group_convs):
     * group is that first member's index, -1 for a layer in none. A member
     * fed by a 3x3 stride-1 average pool of the group's value (padding 1,
     * counted in the divisor or not: either way a pixel's divisor is the same
     * for every channel; pool_layer is its index, else -1) runs before
     * the pool, which commutes with it, pool(W x) = W pool(x): the pool then
     * averages its few output channels instead of the value's many, and adds
     * the bias and ReLU. */
    int group, pool_layer;
} layer;

/* An output a caller may ask for by its torchvision module name (a layer's,
 * or a block's whole concatenation): channels [first_channel, first_channel
 * + channels) of a value, complete once layer last_layer has run. */
typedef struct {
    char name[NET_NAME_SIZE];
    int value, first_channel, channels;
    int last_layer;
} net_tap;

#define NET_MAX_TAPS 128
#define NET_MAX_IGNORED 4

typedef struct {
    const char *name;  /* as --network takes it: "inception_v3", "fid" */
    const char *title; /* in messages: "Inception v3", "the FID Inception" */
    double bn_eps;     /* every BasicConv2d's BatchNorm eps, folded at load */
    /* The input transform cln_forward_options.transform_input applies:
     * channel c becomes x * input_scale[c] + input_shift[c]. */
    float input_scale[3], input_shift[3];
    int min_size; /* the smallest H and W the layers can take */
    /* Tensors a state dict of this network may carry that it does not use:
     * "P*" every name starting with P, "*S" every name ending with S. */
    const char *ignored[NET_MAX_IGNORED];
    int ignored_count;
    /* A builder ran past NET_MAX_LAYERS, NET_MAX_VALUES or NET_MAX_TAPS: the
     * table is cut short and must not be used (the builders return false). */
    bool overflow;
    layer layers[NET_MAX_LAYERS];
    int layer_count;
    int value_channels[NET_MAX_VALUES]; /* total channels of each value */
    int value_count;
    int input, output;          /* value ids */
    net_tap taps[NET_MAX_TAPS]; /* in the order they are complete */
    int tap_count;
    int output_tap; /* the tap of the output (the logits) */
} network;

/* The most members of a group (network_group_convs). */
#define NET_GROUP_MAX 4

/* Sets every layer's group and pool_layer from the table's structure. */
void network_group_convs(network *net);

/* A tap for layer i's output, or for the whole of value v once layer
 * last_layer has run (a block's name), named name. */
void network_tap_layer(network *net, int i);
void network_tap_value(network *net, const char *name, int v, int last_layer);
/* The tap named name, -1 if there is none. */
int network_find_tap(const network *net, const char *name);

/* The layer that writes the output (the classifier), and the number of
 * outputs it has: setting it changes the layer, the output value and its
 * tap. */
int network_classifier(const network *net);
void network_set_classes(network *net, int classes);

/* Whether a state dict's tensor `name` is one the network does not use. */
bool network_ignores(const network *net, const char *name);

/* The classes of torchvision's ImageNet weights, and of the FID Inception's
 * (the TensorFlow graph's 1008). */
#define NET_IMAGENET_CLASSES 1000
#define NET_FID_CLASSES 1008

/* The builders: false only if the table overflowed (network.overflow). */
#define NET_MAX_CLASSES (1 << 20)
/* torchvision's Inception3 in eval mode (without the auxiliary classifier)
 * with `classes` outputs (1 <= classes <= NET_MAX_CLASSES); its input
 * transform is torchvision's transform_input. */
bool network_inception_v3(network *net, int classes);
/* pytorch-fid's FID Inception: Inception3 whose pool branches of Mixed_5b-5d,
 * Mixed_6b-6e and Mixed_7b average without counting the padding, and whose
 * Mixed_7c pools by maximum; 1008 classes, no auxiliary head. Its input
 * transform is pytorch-fid's normalize_input, 2x - 1 (from [0, 1]). */
bool network_fid_inception_v3(network *net, int classes);

/* The networks by name: network_names[i] is what network i's table calls
 * itself; network_find gives i for a name, -1 for one that is none. */
#define NET_NETWORK_COUNT 2
extern const char *const network_names[NET_NETWORK_COUNT];
int network_find(const char *name);
/* Builds network i (of network_find) with its own class count. */
bool network_build(network *net, int i);

#endif
