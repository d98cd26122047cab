/* The Inception tables: torchvision's Inception3 (eval mode) as layers over
 * values, with one helper per block type (InceptionA..E), and pytorch-fid's
 * FID Inception, the same blocks with other pools in their pool branches. */
#include "network.h"

#include <stdio.h>
#include <string.h>

/* Past NET_MAX_VALUES or NET_MAX_LAYERS the last entry is reused and the
 * table marked as overflowed: the builder then returns false. */
static int new_value(network *net) {
    if (net->value_count == NET_MAX_VALUES) {
        net->overflow = true;
        net->value_count--;
    }
    net->value_channels[net->value_count] = 0;
    return net->value_count++;
}

static layer *add_layer(network *net, layer_op op, const char *prefix, const char *name, int src,
                        int dst, int out_channels) {
    if (net->layer_count == NET_MAX_LAYERS) {
        net->overflow = true;
        net->layer_count--;
    }
    layer *l = &net->layers[net->layer_count++];
    memset(l, 0, sizeof *l);
    l->op = op;
    snprintf(l->name, sizeof l->name, "%s%s%s", prefix, *prefix && *name ? "." : "", name);
    l->src = src;
    l->dst = dst;
    l->dst_channel = net->value_channels[dst]; /* append as the next slice */
    l->out_channels = out_channels;
    net->value_channels[dst] += out_channels;
    l->kh = l->kw = l->sh = l->sw = 1;
    return l;
}

/* BasicConv2d(src -> slice of dst): kernel kh x kw, stride s, padding ph, pw. */
static void conv(network *net, const char *prefix, const char *name, int src, int dst, int cout,
                 int kh, int kw, int s, int ph, int pw) {
    layer *l = add_layer(net, LAYER_CONV, prefix, name, src, dst, cout);
    l->kh = kh;
    l->kw = kw;
    l->sh = l->sw = s;
    l->ph = ph;
    l->pw = pw;
    l->relu = true;
    network_tap_layer(net, net->layer_count - 1); /* every BasicConv2d is a module */
}

/* A BasicConv2d into a fresh value, returned. */
static int conv_new(network *net, const char *prefix, const char *name, int src, int cout, int kh,
                    int kw, int s, int ph, int pw) {
    int v = new_value(net);
    conv(net, prefix, name, src, v, cout, kh, kw, s, ph, pw);
    return v;
}

static void pool(network *net, layer_op op, const char *prefix, const char *name, int src, int dst,
                 int k, int s, int pad) {
    layer *l = add_layer(net, op, prefix, name, src, dst, net->value_channels[src]);
    l->kh = l->kw = k;
    l->sh = l->sw = s;
    l->ph = l->pw = pad;
}

/* The pool that feeds a block's branch_pool conv, 3x3 stride 1 padding 1:
 * torchvision's average counts the padding; pytorch-fid's averages
 * (FIDInceptionA, C, E_1) do not, and its last block (FIDInceptionE_2)
 * takes the maximum. */
typedef enum { POOL_AVG_COUNTED, POOL_AVG_EXCLUDED, POOL_MAX } branch_pool;

static int pool_3x3(network *net, const char *prefix, int src, branch_pool kind) {
    int v = new_value(net);
    if (kind == POOL_MAX) {
        pool(net, LAYER_MAX_POOL, prefix, "max_pool", src, v, 3, 1, 1);
    } else {
        pool(net, LAYER_AVG_POOL, prefix, "avg_pool", src, v, 3, 1, 1);
        net->layers[net->layer_count - 1].count_include_pad = kind == POOL_AVG_COUNTED;
    }
    return v;
}

static int inception_a(network *net, const char *p, int x, int pool_features, branch_pool bp) {
    int out = new_value(net);
    conv(net, p, "branch1x1", x, out, 64, 1, 1, 1, 0, 0);
    int b5 = conv_new(net, p, "branch5x5_1", x, 48, 1, 1, 1, 0, 0);
    conv(net, p, "branch5x5_2", b5, out, 64, 5, 5, 1, 2, 2);
    int b3 = conv_new(net, p, "branch3x3dbl_1", x, 64, 1, 1, 1, 0, 0);
    b3 = conv_new(net, p, "branch3x3dbl_2", b3, 96, 3, 3, 1, 1, 1);
    conv(net, p, "branch3x3dbl_3", b3, out, 96, 3, 3, 1, 1, 1);
    conv(net, p, "branch_pool", pool_3x3(net, p, x, bp), out, pool_features, 1, 1, 1, 0, 0);
    return out;
}

static int inception_b(network *net, const char *p, int x) {
    int out = new_value(net);
    conv(net, p, "branch3x3", x, out, 384, 3, 3, 2, 0, 0);
    int b3 = conv_new(net, p, "branch3x3dbl_1", x, 64, 1, 1, 1, 0, 0);
    b3 = conv_new(net, p, "branch3x3dbl_2", b3, 96, 3, 3, 1, 1, 1);
    conv(net, p, "branch3x3dbl_3", b3, out, 96, 3, 3, 2, 0, 0);
    pool(net, LAYER_MAX_POOL, p, "max_pool", x, out, 3, 2, 0);
    return out;
}

static int inception_c(network *net, const char *p, int x, int c7, branch_pool bp) {
    int out = new_value(net);
    conv(net, p, "branch1x1", x, out, 192, 1, 1, 1, 0, 0);
    int b7 = conv_new(net, p, "branch7x7_1", x, c7, 1, 1, 1, 0, 0);
    b7 = conv_new(net, p, "branch7x7_2", b7, c7, 1, 7, 1, 0, 3);
    conv(net, p, "branch7x7_3", b7, out, 192, 7, 1, 1, 3, 0);
    int d = conv_new(net, p, "branch7x7dbl_1", x, c7, 1, 1, 1, 0, 0);
    d = conv_new(net, p, "branch7x7dbl_2", d, c7, 7, 1, 1, 3, 0);
    d = conv_new(net, p, "branch7x7dbl_3", d, c7, 1, 7, 1, 0, 3);
    d = conv_new(net, p, "branch7x7dbl_4", d, c7, 7, 1, 1, 3, 0);
    conv(net, p, "branch7x7dbl_5", d, out, 192, 1, 7, 1, 0, 3);
    conv(net, p, "branch_pool", pool_3x3(net, p, x, bp), out, 192, 1, 1, 1, 0, 0);
    return out;
}

static int inception_d(network *net, const char *p, int x) {
    int out = new_value(net);
    int b3 = conv_new(net, p, "branch3x3_1", x, 192, 1, 1, 1, 0, 0);
    conv(net, p, "branch3x3_2", b3, out, 320, 3, 3, 2, 0, 0);
    int b7 = conv_new(net, p, "branch7x7x3_1", x, 192, 1, 1, 1, 0, 0);
    b7 = conv_new(net, p, "branch7x7x3_2", b7, 192, 1, 7, 1, 0, 3);
    b7 = conv_new(net, p, "branch7x7x3_3", b7, 192, 7, 1, 1, 3, 0);
    conv(net, p, "branch7x7x3_4", b7, out, 192, 3, 3, 2, 0, 0);
    pool(net, LAYER_MAX_POOL, p, "max_pool", x, out, 3, 2, 0);
    return out;
}

/* The inner concatenations (branch3x3_2a/2b, branch3x3dbl_3a/3b) are slices
 * of the block's output like the outer one. */
static int inception_e(network *net, const char *p, int x, branch_pool bp) {
    int out = new_value(net);
    conv(net, p, "branch1x1", x, out, 320, 1, 1, 1, 0, 0);
    int b3 = conv_new(net, p, "branch3x3_1", x, 384, 1, 1, 1, 0, 0);
    conv(net, p, "branch3x3_2a", b3, out, 384, 1, 3, 1, 0, 1);
    conv(net, p, "branch3x3_2b", b3, out, 384, 3, 1, 1, 1, 0);
    int d = conv_new(net, p, "branch3x3dbl_1", x, 448, 1, 1, 1, 0, 0);
    d = conv_new(net, p, "branch3x3dbl_2", d, 384, 3, 3, 1, 1, 1);
    conv(net, p, "branch3x3dbl_3a", d, out, 384, 1, 3, 1, 0, 1);
    conv(net, p, "branch3x3dbl_3b", d, out, 384, 3, 1, 1, 1, 0);
    conv(net, p, "branch_pool", pool_3x3(net, p, x, bp), out, 192, 1, 1, 1, 0, 0);
    return out;
}

/* A block's output value v, tapped by the block's name once its last layer
 * has run; returns v. */
static int block(network *net, int v, const char *name) {
    network_tap_value(net, name, v, net->layer_count - 1);
    return v;
}

/* The layers both tables share, with the pool branches' pools: `blocks` for
 * Mixed_5b-5d, 6b-6e and 7b, `last` for Mixed_7c. */
static bool inception(network *net, int classes, branch_pool blocks, branch_pool last) {
    int x = new_value(net);
    net->input = x;
    add_layer(net, LAYER_INPUT, "", "input", -1, x, 3);
    x = conv_new(net, "", "Conv2d_1a_3x3", x, 32, 3, 3, 2, 0, 0);
    x = conv_new(net, "", "Conv2d_2a_3x3", x, 32, 3, 3, 1, 0, 0);
    x = conv_new(net, "", "Conv2d_2b_3x3", x, 64, 3, 3, 1, 1, 1);
    int v = new_value(net);
    pool(net, LAYER_MAX_POOL, "", "maxpool1", x, v, 3, 2, 0);
    network_tap_layer(net, net->layer_count - 1);
    x = conv_new(net, "", "Conv2d_3b_1x1", v, 80, 1, 1, 1, 0, 0);
    x = conv_new(net, "", "Conv2d_4a_3x3", x, 192, 3, 3, 1, 0, 0);
    v = new_value(net);
    pool(net, LAYER_MAX_POOL, "", "maxpool2", x, v, 3, 2, 0);
    network_tap_layer(net, net->layer_count - 1);
    x = block(net, inception_a(net, "Mixed_5b", v, 32, blocks), "Mixed_5b");
    x = block(net, inception_a(net, "Mixed_5c", x, 64, blocks), "Mixed_5c");
    x = block(net, inception_a(net, "Mixed_5d", x, 64, blocks), "Mixed_5d");
    x = block(net, inception_b(net, "Mixed_6a", x), "Mixed_6a");
    x = block(net, inception_c(net, "Mixed_6b", x, 128, blocks), "Mixed_6b");
    x = block(net, inception_c(net, "Mixed_6c", x, 160, blocks), "Mixed_6c");
    x = block(net, inception_c(net, "Mixed_6d", x, 160, blocks), "Mixed_6d");
    x = block(net, inception_c(net, "Mixed_6e", x, 192, blocks), "Mixed_6e");
    x = block(net, inception_d(net, "Mixed_7a", x), "Mixed_7a");
    x = block(net, inception_e(net, "Mixed_7b", x, blocks), "Mixed_7b");
    x = block(net, inception_e(net, "Mixed_7c", x, last), "Mixed_7c");
    v = new_value(net);
    add_layer(net, LAYER_GLOBAL_AVG_POOL, "", "avgpool", x, v, net->value_channels[x]);
    network_tap_layer(net, net->layer_count - 1);
    int out = new_value(net);
    add_layer(net, LAYER_LINEAR, "", "fc", v, out, classes);
    net->output = out;
    net->output_tap = net->tap_count;
    network_tap_layer(net, net->layer_count - 1);
    network_group_convs(net);
    return !net->overflow;
}

/* What the two networks' files and inputs share: BasicConv2d's eps, the
 * tensors of a torchvision state dict the eval network does not use (the
 * auxiliary classifier, BatchNorm's step counters), the smallest input. */
static void common_data(network *net) {
    memset(net, 0, sizeof *net);
    net->bn_eps = 1e-3;
    net->min_size = 75;
    net->ignored[net->ignored_count++] = "AuxLogits.*";
    net->ignored[net->ignored_count++] = "*.num_batches_tracked";
}

bool network_inception_v3(network *net, int classes) {
    common_data(net);
    net->name = "inception_v3";
    net->title = "Inception v3";
    /* torchvision's transform_input: x * std_c / 0.5 + (mean_c - 0.5) / 0.5 */
    static const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    for (int c = 0; c < 3; c++) {
        net->input_scale[c] = std[c] / 0.5f;
        net->input_shift[c] = (mean[c] - 0.5f) / 0.5f;
    }
    return inception(net, classes, POOL_AVG_COUNTED, POOL_AVG_COUNTED);
}

bool network_fid_inception_v3(network *net, int classes) {
    common_data(net);
    net->name = "fid";
    net->title = "the FID Inception";
    for (int c = 0; c < 3; c++) { /* pytorch-fid's normalize_input: 2x - 1 */
        net->input_scale[c] = 2.0f;
        net->input_shift[c] = -1.0f;
    }
    return inception(net, classes, POOL_AVG_EXCLUDED, POOL_MAX);
}

const char *const network_names[NET_NETWORK_COUNT] = {"inception_v3", "fid"};

int network_find(const char *name) {
    for (int i = 0; i < NET_NETWORK_COUNT; i++)
        if (strcmp(name, network_names[i]) == 0) return i;
    return -1;
}

bool network_build(network *net, int i) {
    return i == 0 ? network_inception_v3(net, NET_IMAGENET_CLASSES)
                  : network_fid_inception_v3(net, NET_FID_CLASSES);
}
