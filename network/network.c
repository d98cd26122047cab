/* What a network's table says beyond its layers: which 1x1 convolutions may
 * run together, and the outputs a caller may ask for by name (network.h). */
#include "network.h"

#include <stdio.h>
#include <string.h>

/* The next tap; past NET_MAX_TAPS the last is reused and the table marked
 * as overflowed. */
static net_tap *new_tap(network *net) {
    if (net->tap_count == NET_MAX_TAPS) {
        net->overflow = true;
        net->tap_count--;
    }
    return &net->taps[net->tap_count++];
}

void network_tap_layer(network *net, int i) {
    const layer *l = &net->layers[i];
    net_tap *t = new_tap(net);
    memcpy(t->name, l->name, sizeof t->name); /* both NUL-terminated, NET_NAME_SIZE */
    t->value = l->dst;
    t->first_channel = l->dst_channel;
    t->channels = l->out_channels;
    t->last_layer = i;
}

void network_tap_value(network *net, const char *name, int v, int last_layer) {
    net_tap *t = new_tap(net);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->value = v;
    t->first_channel = 0;
    t->channels = net->value_channels[v];
    t->last_layer = last_layer;
}

int network_classifier(const network *net) {
    for (int i = net->layer_count - 1; i >= 0; i--)
        if (net->layers[i].dst == net->output) return i;
    return -1;
}

void network_set_classes(network *net, int classes) {
    layer *l = &net->layers[network_classifier(net)];
    net->value_channels[net->output] += classes - l->out_channels;
    l->out_channels = classes;
    net->taps[net->output_tap].channels = classes;
}

bool network_ignores(const network *net, const char *name) {
    const size_t n = strlen(name);
    for (int i = 0; i < net->ignored_count; i++) {
        const char *pattern = net->ignored[i];
        const size_t p = strlen(pattern) - 1; /* without the '*' */
        if (pattern[p] == '*' ? strncmp(name, pattern, p) == 0
                              : n >= p && strcmp(name + n - p, pattern + 1) == 0)
            return true;
    }
    return false;
}

int network_find_tap(const network *net, const char *name) {
    for (int t = 0; t < net->tap_count; t++)
        if (strcmp(net->taps[t].name, name) == 0) return t;
    return -1;
}

static bool pointwise(const layer *l) {
    return l->op == LAYER_CONV && l->kh == 1 && l->kw == 1 && l->sh == 1 && l->sw == 1 &&
           l->ph == 0 && l->pw == 0;
}

/* How many layers read value v. */
static int readers(const network *net, int v) {
    int count = 0;
    for (int i = 0; i < net->layer_count; i++)
        count += net->layers[i].src == v;
    return count;
}

/* The 3x3 stride-1 average pool, padding 1 (counted or not), that writes the
 * whole of layer i's input and feeds nothing else; -1 if there is none. */
static int feeding_pool(const network *net, int i) {
    const int v = net->layers[i].src;
    for (int p = 0; p < i; p++) {
        const layer *l = &net->layers[p];
        if (l->op == LAYER_AVG_POOL && l->dst == v && l->kh == 3 && l->kw == 3 && l->sh == 1 &&
            l->sw == 1 && l->ph == 1 && l->pw == 1 && l->dst_channel == 0 &&
            l->out_channels == net->value_channels[v] && readers(net, v) == 1)
            return p;
    }
    return -1;
}

static int members(const network *net, int leader) {
    int count = 0;
    for (int i = 0; i < net->layer_count; i++)
        count += net->layers[i].group == leader;
    return count;
}

/* The group reading value v whose first member comes before layer `before`
 * and has room for one more; -1 if there is none. */
static int open_group(const network *net, int v, int before) {
    for (int j = 0; j < before; j++) {
        const layer *l = &net->layers[j];
        if (l->group == j && l->src == v && members(net, j) < NET_GROUP_MAX) return j;
    }
    return -1;
}

void network_group_convs(network *net) {
    for (int i = 0; i < net->layer_count; i++) {
        net->layers[i].group = -1;
        net->layers[i].pool_layer = -1;
    }
    /* the convolutions that read the value itself; the first of each starts
     * a group */
    for (int i = 0; i < net->layer_count; i++) {
        layer *l = &net->layers[i];
        if (!pointwise(l) || feeding_pool(net, i) >= 0) continue;
        const int g = open_group(net, l->src, i);
        l->group = g >= 0 ? g : i;
    }
    /* those behind a pool join a group that runs before the pool */
    for (int i = 0; i < net->layer_count; i++) {
        layer *l = &net->layers[i];
        const int p = pointwise(l) ? feeding_pool(net, i) : -1;
        if (p < 0) continue;
        const int g = open_group(net, net->layers[p].src, p);
        if (g < 0) continue;
        l->group = g;
        l->pool_layer = p;
    }
    /* a group of one is none */
    for (int i = 0; i < net->layer_count; i++)
        if (net->layers[i].group == i && members(net, i) == 1) net->layers[i].group = -1;
}
