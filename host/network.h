/* A network as data: a table of layers over numbered values (activation
 * tensors), built by small helpers, walked by the executor. Inception v3 is
 * one such table; another network is another builder, not another engine. */
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
    LAYER_AVG_POOL,        /* k x k, stride, padding, count_include_pad */
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
} layer;

typedef struct {
    layer layers[NET_MAX_LAYERS];
    int layer_count;
    int value_channels[NET_MAX_VALUES]; /* total channels of each value */
    int value_count;
    int input, output; /* value ids */
} network;

/* torchvision's Inception3 in eval mode (without the auxiliary classifier). */
void network_inception_v3(network *net);

#endif
