/* The Inception v3 table: torchvision's Inception3 (eval mode) as layers
 * over values, with one helper per block type (InceptionA..E). */
#include "network.h"

#include <stdio.h>
#include <string.h>

static int new_value(network *net) {
    net->value_channels[net->value_count] = 0;
    return net->value_count++;
}

static layer *add_layer(network *net, layer_op op, const char *prefix, const char *name, int src,
                        int dst, int out_channels) {
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

/* The 3x3/1/1 average pool (count_include_pad) that feeds a branch_pool conv. */
static int avg_pool_3x3(network *net, const char *prefix, int src) {
    int v = new_value(net);
    pool(net, LAYER_AVG_POOL, prefix, "avg_pool", src, v, 3, 1, 1);
    return v;
}

static int inception_a(network *net, const char *p, int x, int pool_features) {
    int out = new_value(net);
    conv(net, p, "branch1x1", x, out, 64, 1, 1, 1, 0, 0);
    int b5 = conv_new(net, p, "branch5x5_1", x, 48, 1, 1, 1, 0, 0);
    conv(net, p, "branch5x5_2", b5, out, 64, 5, 5, 1, 2, 2);
    int b3 = conv_new(net, p, "branch3x3dbl_1", x, 64, 1, 1, 1, 0, 0);
    b3 = conv_new(net, p, "branch3x3dbl_2", b3, 96, 3, 3, 1, 1, 1);
    conv(net, p, "branch3x3dbl_3", b3, out, 96, 3, 3, 1, 1, 1);
    conv(net, p, "branch_pool", avg_pool_3x3(net, p, x), out, pool_features, 1, 1, 1, 0, 0);
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

static int inception_c(network *net, const char *p, int x, int c7) {
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
    conv(net, p, "branch_pool", avg_pool_3x3(net, p, x), out, 192, 1, 1, 1, 0, 0);
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
static int inception_e(network *net, const char *p, int x) {
    int out = new_value(net);
    conv(net, p, "branch1x1", x, out, 320, 1, 1, 1, 0, 0);
    int b3 = conv_new(net, p, "branch3x3_1", x, 384, 1, 1, 1, 0, 0);
    conv(net, p, "branch3x3_2a", b3, out, 384, 1, 3, 1, 0, 1);
    conv(net, p, "branch3x3_2b", b3, out, 384, 3, 1, 1, 1, 0);
    int d = conv_new(net, p, "branch3x3dbl_1", x, 448, 1, 1, 1, 0, 0);
    d = conv_new(net, p, "branch3x3dbl_2", d, 384, 3, 3, 1, 1, 1);
    conv(net, p, "branch3x3dbl_3a", d, out, 384, 1, 3, 1, 0, 1);
    conv(net, p, "branch3x3dbl_3b", d, out, 384, 3, 1, 1, 1, 0);
    conv(net, p, "branch_pool", avg_pool_3x3(net, p, x), out, 192, 1, 1, 1, 0, 0);
    return out;
}

/* A block's output value v, tapped by the block's name once its last layer
 * has run; returns v. */
static int block(network *net, int v, const char *name) {
    network_tap_value(net, name, v, net->layer_count - 1);
    return v;
}

void network_inception_v3(network *net, int classes) {
    memset(net, 0, sizeof *net);
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
    x = block(net, inception_a(net, "Mixed_5b", v, 32), "Mixed_5b");
    x = block(net, inception_a(net, "Mixed_5c", x, 64), "Mixed_5c");
    x = block(net, inception_a(net, "Mixed_5d", x, 64), "Mixed_5d");
    x = block(net, inception_b(net, "Mixed_6a", x), "Mixed_6a");
    x = block(net, inception_c(net, "Mixed_6b", x, 128), "Mixed_6b");
    x = block(net, inception_c(net, "Mixed_6c", x, 160), "Mixed_6c");
    x = block(net, inception_c(net, "Mixed_6d", x, 160), "Mixed_6d");
    x = block(net, inception_c(net, "Mixed_6e", x, 192), "Mixed_6e");
    x = block(net, inception_d(net, "Mixed_7a", x), "Mixed_7a");
    x = block(net, inception_e(net, "Mixed_7b", x), "Mixed_7b");
    x = block(net, inception_e(net, "Mixed_7c", x), "Mixed_7c");
    v = new_value(net);
    add_layer(net, LAYER_GLOBAL_AVG_POOL, "", "avgpool", x, v, net->value_channels[x]);
    network_tap_layer(net, net->layer_count - 1);
    int out = new_value(net);
    add_layer(net, LAYER_LINEAR, "", "fc", v, out, classes);
    net->output = out;
    net->output_tap = net->tap_count;
    network_tap_layer(net, net->layer_count - 1);
    network_group_convs(net);
}
