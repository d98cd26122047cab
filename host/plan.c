/* Shape inference and activation placement by liveness (greedy, largest
 * value first, lowest offset that no live value overlaps). */
#include "plan.h"

#include "../common/error.h"
#include "ops.h"

#include <limits.h>
#include <string.h>

#define PLAN_ALIGN 64 /* floats: every value starts 256-byte aligned */

static bool checked_mul(size_t a, size_t b, size_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}

static cln_status infer_shapes(const network *net, plan *pl, cln_error *err) {
    for (int v = 0; v < net->value_count; v++)
        pl->values[v].h = pl->values[v].w = 0;
    for (int i = 0; i < net->layer_count; i++) {
        const layer *l = &net->layers[i];
        int ho, wo;
        if (l->op == LAYER_INPUT) {
            ho = pl->h;
            wo = pl->w;
        } else if (l->op == LAYER_GLOBAL_AVG_POOL || l->op == LAYER_LINEAR) {
            ho = wo = 1;
        } else {
            const value_plan *s = &pl->values[l->src];
            ho = conv_out_size(s->h, l->kh, l->sh, l->ph);
            wo = conv_out_size(s->w, l->kw, l->sw, l->pw);
            if (ho < 1 || wo < 1)
                return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                                "input %dx%d is too small: layer %s gets %dx%d and its %dx%d "
                                "window does not fit (inputs of at least %dx%d work)",
                                pl->h, pl->w, l->name, s->h, s->w, l->kh, l->kw, net->min_size,
                                net->min_size);
        }
        value_plan *d = &pl->values[l->dst];
        if (d->h == 0) {
            d->h = ho;
            d->w = wo;
        } else if (d->h != ho || d->w != wo) {
            return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                            "input %dx%d: layer %s writes %dx%d into a concatenation of %dx%d",
                            pl->h, pl->w, l->name, ho, wo, d->h, d->w);
        }
    }
    return CLN_OK;
}

static bool lifetimes_overlap(const value_plan *a, const value_plan *b) {
    return a->first <= b->last && b->first <= a->last;
}

static void place_values(const network *net, plan *pl) {
    int order[NET_MAX_VALUES];
    bool placed[NET_MAX_VALUES] = {false};
    for (int v = 0; v < net->value_count; v++)
        order[v] = v;
    /* largest first (insertion sort: a hundred values) */
    for (int i = 1; i < net->value_count; i++)
        for (int j = i; j > 0 && pl->values[order[j]].floats > pl->values[order[j - 1]].floats;
             j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    pl->arena_floats = 0;
    for (int i = 0; i < net->value_count; i++) {
        value_plan *v = &pl->values[order[i]];
        size_t size = (v->floats + PLAN_ALIGN - 1) / PLAN_ALIGN * PLAN_ALIGN;
        size_t offset = 0;
        bool moved = true;
        while (moved) { /* bump past every placed, live, overlapping value */
            moved = false;
            for (int u = 0; u < net->value_count; u++) {
                const value_plan *o = &pl->values[u];
                if (!placed[u] || !lifetimes_overlap(v, o)) continue;
                size_t o_end = o->offset + (o->floats + PLAN_ALIGN - 1) / PLAN_ALIGN * PLAN_ALIGN;
                if (offset < o_end && o->offset < offset + size) {
                    offset = o_end;
                    moved = true;
                }
            }
        }
        v->offset = offset;
        placed[order[i]] = true;
        if (offset + size > pl->arena_floats) pl->arena_floats = offset + size;
    }
}

cln_status plan_build(const network *net, int n, int h, int w, plan *pl, cln_error *err) {
    memset(pl, 0, sizeof *pl);
    pl->n = n;
    pl->h = h;
    pl->w = w;
    if (n < 1 || h < net->min_size || w < net->min_size)
        return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                        "input of %d x 3 x %d x %d: the batch must be at least 1 and the image "
                        "at least %dx%d",
                        n, h, w, net->min_size, net->min_size);
    cln_status status = infer_shapes(net, pl, err);
    if (status != CLN_OK) return status;
    for (int v = 0; v < net->value_count; v++) {
        value_plan *vp = &pl->values[v];
        size_t f;
        if (!checked_mul((size_t)net->value_channels[v], (size_t)n, &f) ||
            !checked_mul(f, (size_t)vp->h, &f) || !checked_mul(f, (size_t)vp->w, &f) ||
            f > INT_MAX / 4)
            return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                            "input of %d x 3 x %d x %d is too large: one activation would "
                            "exceed %d floats; use a smaller batch or image",
                            n, h, w, INT_MAX / 4);
        vp->floats = f;
        vp->first = -1;
        vp->last = -1;
    }
    for (int i = 0; i < net->layer_count; i++) {
        const layer *l = &net->layers[i];
        value_plan *d = &pl->values[l->dst];
        if (d->first < 0) d->first = i;
        if (d->last < i) d->last = i;
        if (l->src >= 0 && pl->values[l->src].last < i) pl->values[l->src].last = i;
        if (l->op == LAYER_CONV) { /* im2col or Winograd scratch, whichever way a layer runs */
            conv_geometry g = {l->kh, l->kw, l->sh, l->sw, l->ph, l->pw};
            const int cin = net->value_channels[l->src];
            size_t col = conv_im2col_floats(cin, g, d->h, d->w);
            size_t wino = conv_winograd_floats(cin, l->out_channels, g, d->h, d->w);
            if (col > pl->scratch_floats) pl->scratch_floats = col;
            if (wino > pl->scratch_floats) pl->scratch_floats = wino;
        }
    }
    /* a group's members (network.h) write their outputs, and a pooled one
     * its unpooled output into the pool's value, when the group's first
     * member runs */
    for (int i = 0; i < net->layer_count; i++) {
        const layer *l = &net->layers[i];
        if (l->group < 0) continue;
        value_plan *d = &pl->values[l->pool_layer >= 0 ? net->layers[l->pool_layer].dst : l->dst];
        if (l->group < d->first) d->first = l->group;
    }
    pl->values[net->output].last = net->layer_count;
    place_values(net, pl);
    pl->arena_floats += GEMM_READ_SLACK_FLOATS;
    if (pl->arena_floats > INT_MAX || pl->scratch_floats > INT_MAX)
        return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                        "input of %d x 3 x %d x %d is too large: the activations need %zu "
                        "floats, more than %d; use a smaller batch or image",
                        n, h, w, pl->arena_floats, INT_MAX);
    return CLN_OK;
}
