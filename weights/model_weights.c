/* Name mapping, checks and BatchNorm folding: from a torchvision state dict
 * (or a seed) to the packed parameters of every layer of a network. */
#include "model_weights.h"

#include "../common/error.h"
#include "layout.h"
#include "safetensors.h"

#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PACK_ALIGN 16 /* floats */

static bool has_params(const layer *l) {
    return l->op == LAYER_CONV || l->op == LAYER_LINEAR;
}

static size_t layer_fan_in(const network *net, const layer *l) {
    return (size_t)net->value_channels[l->src] * l->kh * l->kw;
}

static bool has_winograd(const layer *l) {
    return l->op == LAYER_CONV && winograd_applies(l->kh, l->kw, l->sh, l->sw);
}

static size_t align_up(size_t v) {
    return (v + PACK_ALIGN - 1) / PACK_ALIGN * PACK_ALIGN;
}

/* Sets every layer's offsets and allocates the packed array. The members of
 * a group (network/network.h) lie together, all their weights and then all
 * their biases, when its first member comes: in panels their weights are
 * then one matrix of the members' rows stacked, and their biases one vector. */
static cln_status layout(const network *net, packed_weights *pw, cln_error *err) {
    memset(pw, 0, sizeof *pw);
    size_t at = 0;
    for (int i = 0; i < net->layer_count; i++) {
        const layer *l = &net->layers[i];
        if (!has_params(l) || (l->group >= 0 && l->group != i)) continue;
        if (l->group == i) {
            for (int j = i; j < net->layer_count; j++) {
                if (net->layers[j].group != i) continue;
                pw->w_off[j] = at;
                at = align_up(at + weight_ld(net->layers[j].out_channels) *
                                       layer_fan_in(net, &net->layers[j]));
            }
            for (int j = i; j < net->layer_count; j++) {
                if (net->layers[j].group != i) continue;
                pw->b_off[j] = at;
                at += (size_t)net->layers[j].out_channels;
            }
            at = align_up(at);
            continue;
        }
        pw->w_off[i] = at;
        at = align_up(at + weight_ld(l->out_channels) * layer_fan_in(net, l));
        pw->b_off[i] = at;
        at = align_up(at + (size_t)l->out_channels);
        if (has_winograd(l)) {
            pw->winograd_off[i] = at;
            at = align_up(at + WINOGRAD_POSITIONS * (size_t)net->value_channels[l->src] *
                                   weight_ld(l->out_channels));
        }
    }
    if (at > INT_MAX) /* the kernels index the weights with ints */
        return cln_fail(err, CLN_ERR_MODEL,
                        "the weights need %zu floats, more than the %d the kernels can index "
                        "(%d classes)",
                        at, INT_MAX, net->value_channels[net->output]);
    pw->data = calloc(at ? at : 1, sizeof(float));
    if (!pw->data) return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "out of memory for %zu weights", at);
    pw->floats = at;
    return CLN_OK;
}

/* U = G g G^T in double, G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]. */
void winograd_filters(const float *w, int cout, int cin, float *u) {
    static const double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
    for (int o = 0; o < cout; o++)
        for (int c = 0; c < cin; c++) {
            double g[3][3], gg[4][3]; /* the filter, then G g */
            for (int y = 0; y < 3; y++)
                for (int x = 0; x < 3; x++)
                    g[y][x] = w[weight_index(cout, o, (size_t)(c * 3 + y) * 3 + x)];
            for (int a = 0; a < 4; a++)
                for (int x = 0; x < 3; x++)
                    gg[a][x] = G[a][0] * g[0][x] + G[a][1] * g[1][x] + G[a][2] * g[2][x];
            for (int a = 0; a < 4; a++)
                for (int b = 0; b < 4; b++)
                    u[winograd_weight_index(cout, cin, 4 * a + b, o, c)] =
                        (float)(gg[a][0] * G[b][0] + gg[a][1] * G[b][1] + gg[a][2] * G[b][2]);
        }
}

/* The Winograd filters of every layer that has them, from its folded weights. */
static void transform_winograd(const network *net, packed_weights *pw) {
    for (int i = 0; i < net->layer_count; i++) {
        const layer *l = &net->layers[i];
        if (has_winograd(l))
            winograd_filters(pw->data + pw->w_off[i], l->out_channels, net->value_channels[l->src],
                             pw->data + pw->winograd_off[i]);
    }
}

void weights_block_to_panels(float *w, int cout, size_t k, float *plain) {
    const size_t ld = weight_ld(cout);
    memcpy(plain, w, k * ld * sizeof *plain);
    for (size_t j = 0; j < k; j++)
        for (int o = 0; o < (int)ld; o++)
            w[weight_panel_index(k, o, j)] = plain[weight_index(cout, o, j)];
}

cln_status packed_weights_to_panels(const network *net, packed_weights *pw, cln_error *err) {
    size_t largest = 0;
    for (int i = 0; i < net->layer_count; i++) {
        const layer *l = &net->layers[i];
        size_t floats = has_params(l) ? weight_ld(l->out_channels) * layer_fan_in(net, l) : 0;
        if (floats > largest) largest = floats;
    }
    float *plain = malloc((largest ? largest : 1) * sizeof *plain);
    if (!plain)
        return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "out of memory for %zu floats of weights",
                        largest);
    for (int i = 0; i < net->layer_count; i++) {
        const layer *l = &net->layers[i];
        if (!has_params(l)) continue;
        weights_block_to_panels(pw->data + pw->w_off[i], l->out_channels, layer_fan_in(net, l),
                                plain);
        /* each of the 16 Winograd matrices is a cin x padded cout block too */
        const size_t cin = (size_t)net->value_channels[l->src];
        for (int xi = 0; has_winograd(l) && xi < WINOGRAD_POSITIONS; xi++)
            weights_block_to_panels(pw->data + pw->winograd_off[i] +
                                        (size_t)xi * cin * weight_ld(l->out_channels),
                                    l->out_channels, cin, plain);
    }
    free(plain);
    pw->panels = true;
    return CLN_OK;
}

void packed_weights_free(packed_weights *pw) {
    free(pw->data);
    pw->data = NULL;
    pw->floats = 0;
}

/* ---- From a state dict ------------------------------------------------ */

static void format_shape(char *dst, size_t size, int ndim, const int64_t *shape) {
    size_t used = (size_t)snprintf(dst, size, "[");
    for (int d = 0; d < ndim && used < size; d++)
        used +=
            (size_t)snprintf(dst + used, size - used, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (used < size) snprintf(dst + used, size - used, "]");
}

typedef struct {
    const st_file *file;
    bool *used;     /* per tensor of the file */
    float *tmp;     /* four BatchNorm vectors of the widest layer */
    float *weights; /* the largest weight tensor, as torchvision lays it out */
} state_dict;

/* Converts tensor `name` of the expected shape to float32 into dst. */
static cln_status read_tensor(state_dict *sd, const char *name, int ndim, const int64_t *shape,
                              float *dst, cln_error *err) {
    char want[128], have[128];
    format_shape(want, sizeof want, ndim, shape);
    const st_tensor *t = st_find(sd->file, name);
    if (!t)
        return cln_fail(err, CLN_ERR_MODEL,
                        "%s: tensor \"%s\" is missing (the model needs shape %s); is this an "
                        "Inception v3 state dict?",
                        sd->file->path, name, want);
    sd->used[t - sd->file->tensors] = true;
    bool same = t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++)
        same = t->shape[d] == shape[d];
    if (!same) {
        format_shape(have, sizeof have, t->ndim, t->shape);
        return cln_fail(err, CLN_ERR_MODEL, "%s: tensor \"%s\" has shape %s but the model needs %s",
                        sd->file->path, name, have, want);
    }
    if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16)
        return cln_fail(err, CLN_ERR_MODEL,
                        "%s: tensor \"%s\" is %s; the model needs F32 (F16 and BF16 are "
                        "converted)",
                        sd->file->path, name, st_dtype_name(t->dtype));
    cln_status status = st_to_f32(sd->file, t, dst, err);
    if (status != CLN_OK) return status;
    for (size_t i = 0; i < t->numel; i++)
        if (!isfinite(dst[i]))
            return cln_fail(err, CLN_ERR_MODEL,
                            "%s: tensor \"%s\" holds a non-finite value (%g) "
                            "at index %zu",
                            sd->file->path, name, (double)dst[i], i);
    return CLN_OK;
}

/* conv.weight and the four BatchNorm tensors of a BasicConv2d, folded:
 * w' = w * gamma / sqrt(var + eps), b' = beta - mean * gamma / sqrt(var + eps). */
static cln_status load_conv(state_dict *sd, const network *net, const layer *l, float *w, float *b,
                            cln_error *err) {
    const size_t cout = (size_t)l->out_channels, k = layer_fan_in(net, l);
    const int64_t wshape[4] = {l->out_channels, net->value_channels[l->src], l->kh, l->kw};
    const int64_t vshape[1] = {l->out_channels};
    static const char *const bn_names[4] = {"weight", "bias", "running_mean", "running_var"};
    char name[NET_NAME_SIZE + 32];
    float *bn[4];
    float *raw = sd->weights; /* cout x k */
    snprintf(name, sizeof name, "%s.conv.weight", l->name);
    cln_status status = read_tensor(sd, name, 4, wshape, raw, err);
    for (int i = 0; i < 4 && status == CLN_OK; i++) {
        bn[i] = sd->tmp + i * cout;
        snprintf(name, sizeof name, "%s.bn.%s", l->name, bn_names[i]);
        status = read_tensor(sd, name, 1, vshape, bn[i], err);
    }
    if (status != CLN_OK) return status;
    for (size_t o = 0; o < cout; o++) {
        if (!(bn[3][o] >= 0.0f))
            return cln_fail(err, CLN_ERR_MODEL,
                            "%s: tensor \"%s.bn.running_var\" has %g at channel %zu; a variance "
                            "must not be negative",
                            sd->file->path, l->name, (double)bn[3][o], o);
        double scale = (double)bn[0][o] / sqrt((double)bn[3][o] + net->bn_eps);
        for (size_t j = 0; j < k; j++) {
            const float v = (float)(raw[o * k + j] * scale);
            if (!isfinite(v))
                return cln_fail(err, CLN_ERR_MODEL,
                                "%s: folding \"%s.bn\" into \"%s.conv.weight\" overflows float "
                                "at channel %zu (weight %g times gamma / sqrt(var + eps) = %g)",
                                sd->file->path, l->name, l->name, o, (double)raw[o * k + j], scale);
            w[weight_index(l->out_channels, (int)o, j)] = v;
        }
        b[o] = (float)((double)bn[1][o] - (double)bn[2][o] * scale);
        if (!isfinite(b[o]))
            return cln_fail(err, CLN_ERR_MODEL,
                            "%s: folding \"%s.bn\" gives a bias that overflows float at channel "
                            "%zu (beta - mean * gamma / sqrt(var + eps))",
                            sd->file->path, l->name, o);
    }
    return CLN_OK;
}

static cln_status load_linear(state_dict *sd, const network *net, const layer *l, float *w,
                              float *b, cln_error *err) {
    const int64_t wshape[2] = {l->out_channels, net->value_channels[l->src]};
    const int64_t bshape[1] = {l->out_channels};
    char name[NET_NAME_SIZE + 32];
    const size_t k = layer_fan_in(net, l);
    snprintf(name, sizeof name, "%s.weight", l->name);
    cln_status status = read_tensor(sd, name, 2, wshape, sd->weights, err);
    if (status != CLN_OK) return status;
    for (int o = 0; o < l->out_channels; o++)
        for (size_t j = 0; j < k; j++)
            w[weight_index(l->out_channels, o, j)] = sd->weights[o * k + j];
    snprintf(name, sizeof name, "%s.bias", l->name);
    return read_tensor(sd, name, 1, bshape, b, err);
}

/* The class count of the file's classifier: the rows of its weight, which
 * must be a matrix over the classifier's input features. */
static cln_status read_class_count(const st_file *file, const network *net, int *classes,
                                   cln_error *err) {
    const layer *l = &net->layers[network_classifier(net)];
    const int64_t features = net->value_channels[l->src];
    char name[NET_NAME_SIZE + 32], have[128];
    snprintf(name, sizeof name, "%s.weight", l->name);
    const st_tensor *t = st_find(file, name);
    *classes = l->out_channels;
    if (!t) return CLN_OK; /* read_tensor names it */
    format_shape(have, sizeof have, t->ndim, t->shape);
    if (t->ndim != 2 || t->shape[1] != features || t->shape[0] < 1 || t->shape[0] > NET_MAX_CLASSES)
        return cln_fail(err, CLN_ERR_MODEL,
                        "%s: tensor \"%s\" has shape %s but the model needs [classes, %lld] "
                        "with 1 to %d classes",
                        file->path, name, have, (long long)features, NET_MAX_CLASSES);
    *classes = (int)t->shape[0];
    return CLN_OK;
}

cln_status weights_load_safetensors(network *net, const char *path, packed_weights *out,
                                    cln_error *err) {
    st_file file = {0};
    state_dict sd = {.file = &file};
    memset(out, 0, sizeof *out);
    int classes;
    cln_status status = st_open(path, &file, err);
    if (status == CLN_OK) status = read_class_count(&file, net, &classes, err);
    if (status != CLN_OK) goto cleanup;
    network_set_classes(net, classes);
    status = layout(net, out, err);
    if (status != CLN_OK) goto cleanup;
    size_t max_channels = 0, max_weights = 0;
    for (int i = 0; i < net->layer_count; i++) {
        const layer *l = &net->layers[i];
        if ((size_t)l->out_channels > max_channels) max_channels = (size_t)l->out_channels;
        if (has_params(l) && l->out_channels * layer_fan_in(net, l) > max_weights)
            max_weights = l->out_channels * layer_fan_in(net, l);
    }
    sd.used = calloc(file.count ? file.count : 1, sizeof *sd.used);
    sd.tmp = calloc(4 * max_channels, sizeof *sd.tmp);
    sd.weights = malloc(max_weights * sizeof *sd.weights);
    if (!sd.used || !sd.tmp || !sd.weights) {
        status = cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "%s: cannot read: out of memory", path);
        goto cleanup;
    }
    for (int i = 0; i < net->layer_count && status == CLN_OK; i++) {
        const layer *l = &net->layers[i];
        float *w = out->data + out->w_off[i], *b = out->data + out->b_off[i];
        if (l->op == LAYER_CONV)
            status = load_conv(&sd, net, l, w, b, err);
        else if (l->op == LAYER_LINEAR)
            status = load_linear(&sd, net, l, w, b, err);
    }
    for (size_t t = 0; t < file.count && status == CLN_OK; t++)
        if (!sd.used[t] && !network_ignores(net, file.tensors[t].name))
            status = cln_fail(err, CLN_ERR_MODEL,
                              "%s: tensor \"%s\" is not part of %s (is this another "
                              "model's file?)",
                              path, file.tensors[t].name, net->title);
    if (status == CLN_OK) transform_winograd(net, out);
cleanup:
    free(sd.used);
    free(sd.tmp);
    free(sd.weights);
    st_close(&file);
    if (status != CLN_OK) packed_weights_free(out);
    return status;
}

/* ---- Random ----------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1). */
static double uniform_pm1(uint64_t *state) {
    return (double)(splitmix64(state) >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

cln_status weights_random(const network *net, uint64_t seed, packed_weights *out, cln_error *err) {
    cln_status status = layout(net, out, err);
    if (status != CLN_OK) return status;
    uint64_t state = seed;
    for (int i = 0; i < net->layer_count; i++) {
        const layer *l = &net->layers[i];
        if (!has_params(l)) continue;
        size_t k = layer_fan_in(net, l);
        /* He: variance 2/fan_in keeps activations O(1) through the ReLUs */
        double bound = sqrt((l->relu ? 6.0 : 3.0) / (double)k);
        float *w = out->data + out->w_off[i];
        for (int o = 0; o < l->out_channels; o++)
            for (size_t j = 0; j < k; j++)
                w[weight_index(l->out_channels, o, j)] = (float)(bound * uniform_pm1(&state));
    }
    transform_winograd(net, out);
    return CLN_OK;
}
