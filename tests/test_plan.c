/* The Inception v3 table and its memory plan, on the host: shapes and
 * channel counts torchvision documents, the published parameter count, and
 * that no two values alive at once share arena space. */
#include <criterion/criterion.h>

#include "../network/network.h"
#include "../host/plan.h"

#include <stdio.h>
#include <string.h>

static network net;

static void build(void) {
    network_inception_v3(&net, NET_IMAGENET_CLASSES);
}

TestSuite(plan, .init = build);

static int find_layer(const char *name) {
    for (int i = 0; i < net.layer_count; i++)
        if (strcmp(net.layers[i].name, name) == 0) return i;
    cr_assert_fail("no layer %s", name);
    return -1;
}

Test(plan, torchvision_parameter_count) {
    long long params = 0;
    int convs = 0;
    for (int i = 0; i < net.layer_count; i++) {
        const layer *l = &net.layers[i];
        if (l->op != LAYER_CONV && l->op != LAYER_LINEAR) continue;
        long long k = (long long)net.value_channels[l->src] * l->kh * l->kw;
        if (l->op == LAYER_CONV) {
            convs++;
            params += l->out_channels * k + 2LL * l->out_channels; /* conv, bn weight and bias */
        } else {
            params += l->out_channels * k + l->out_channels;
        }
    }
    cr_expect_eq(convs, 94);
    cr_expect_eq(params, 23834568LL); /* torchvision's Inception3 without AuxLogits */
}

Test(plan, shapes_at_299) {
    plan pl;
    cln_error err;
    cr_assert_eq(plan_build(&net, 2, 299, 299, &pl, &err), CLN_OK, "%s", err.message);
    static const struct {
        const char *layer;
        int channels, size;
    } expect[] = {
        {"Conv2d_1a_3x3", 32, 149},
        {"Conv2d_2a_3x3", 32, 147},
        {"Conv2d_2b_3x3", 64, 147},
        {"maxpool1", 64, 73},
        {"Conv2d_3b_1x1", 80, 73},
        {"Conv2d_4a_3x3", 192, 71},
        {"maxpool2", 192, 35},
        {"Mixed_5b.branch1x1", 256, 35},
        {"Mixed_5c.branch1x1", 288, 35},
        {"Mixed_5d.branch1x1", 288, 35},
        {"Mixed_6a.branch3x3", 768, 17},
        {"Mixed_6e.branch1x1", 768, 17},
        {"Mixed_7a.branch3x3_2", 1280, 8},
        {"Mixed_7b.branch1x1", 2048, 8},
        {"Mixed_7c.branch_pool", 2048, 8},
        {"avgpool", 2048, 1},
        {"fc", 1000, 1},
    };
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        int v = net.layers[find_layer(expect[i].layer)].dst;
        cr_expect_eq(net.value_channels[v], expect[i].channels, "%s", expect[i].layer);
        cr_expect_eq(pl.values[v].h, expect[i].size, "%s", expect[i].layer);
        cr_expect_eq(pl.values[v].w, expect[i].size, "%s", expect[i].layer);
        cr_expect_eq(pl.values[v].floats,
                     (size_t)expect[i].channels * 2 * expect[i].size * expect[i].size);
    }
    cr_expect_eq(net.value_channels[net.output], 1000);
}

Test(plan, concat_slices_tile_each_block) {
    /* the branches writing one value cover its channels once, in order */
    for (int v = 0; v < net.value_count; v++) {
        int next = 0;
        for (int i = 0; i < net.layer_count; i++)
            if (net.layers[i].dst == v) {
                cr_expect_eq(net.layers[i].dst_channel, next, "%s", net.layers[i].name);
                next += net.layers[i].out_channels;
            }
        cr_expect_eq(next, net.value_channels[v]);
    }
}

static void check_placement(int n, int h, int w) {
    plan pl;
    cln_error err;
    cr_assert_eq(plan_build(&net, n, h, w, &pl, &err), CLN_OK, "%s", err.message);
    size_t total = 0;
    for (int a = 0; a < net.value_count; a++) {
        const value_plan *va = &pl.values[a];
        total += va->floats;
        cr_expect_leq(va->offset + va->floats, pl.arena_floats);
        for (int b = a + 1; b < net.value_count; b++) {
            const value_plan *vb = &pl.values[b];
            bool live_together = va->first <= vb->last && vb->first <= va->last;
            bool share_space =
                va->offset < vb->offset + vb->floats && vb->offset < va->offset + va->floats;
            cr_expect(!(live_together && share_space), "values %d and %d overlap", a, b);
        }
    }
    cr_expect_lt(pl.arena_floats, total / 2, "liveness should reuse memory: %zu of %zu",
                 pl.arena_floats, total);
}

Test(plan, live_values_never_share_memory) {
    check_placement(1, 299, 299);
    check_placement(3, 75, 75);
    check_placement(2, 107, 139);
}

/* The 1x1 convolutions that read one input, grouped (network/network.h): each
 * Inception block's, the pool branch's behind its average pool, and no
 * others; and what a member writes is live, placed apart from everything
 * else live, from its group's first member on. */
Test(plan, groups_of_1x1_convolutions) {
    static const struct {
        const char *block;
        int members;
    } blocks[] = {{"Mixed_5b", 4}, {"Mixed_5c", 4}, {"Mixed_5d", 4}, {"Mixed_6b", 4},
                  {"Mixed_6c", 4}, {"Mixed_6d", 4}, {"Mixed_6e", 4}, {"Mixed_7a", 2},
                  {"Mixed_7b", 4}, {"Mixed_7c", 4}};
    int grouped = 0;
    for (size_t b = 0; b < sizeof blocks / sizeof blocks[0]; b++) {
        char first[NET_NAME_SIZE], pool[NET_NAME_SIZE], pooled[NET_NAME_SIZE];
        const bool has_1x1 = blocks[b].members == 4;
        snprintf(first, sizeof first, "%s.%s", blocks[b].block,
                 has_1x1 ? "branch1x1" : "branch3x3_1");
        const int leader = find_layer(first);
        int count = 0;
        for (int i = 0; i < net.layer_count; i++)
            if (net.layers[i].group == leader) {
                count++;
                cr_expect_eq(strncmp(net.layers[i].name, blocks[b].block, 8), 0, "%s",
                             net.layers[i].name);
            }
        cr_expect_eq(count, blocks[b].members, "%s", blocks[b].block);
        grouped += count;
        if (!has_1x1) continue;
        snprintf(pool, sizeof pool, "%s.avg_pool", blocks[b].block);
        snprintf(pooled, sizeof pooled, "%s.branch_pool", blocks[b].block);
        cr_expect_eq(net.layers[find_layer(pooled)].pool_layer, find_layer(pool), "%s", pooled);
    }
    int in_groups = 0;
    for (int i = 0; i < net.layer_count; i++)
        in_groups += net.layers[i].group >= 0;
    cr_expect_eq(in_groups, grouped, "no layer outside those blocks is grouped");
    cr_expect_eq(net.layers[find_layer("Mixed_6a.branch3x3dbl_1")].group, -1);
    cr_expect_eq(net.layers[find_layer("Conv2d_3b_1x1")].group, -1);

    plan pl;
    cln_error err;
    cr_assert_eq(plan_build(&net, 2, 107, 139, &pl, &err), CLN_OK, "%s", err.message);
    for (int i = 0; i < net.layer_count; i++) {
        const layer *l = &net.layers[i];
        if (l->group < 0) continue;
        const int v = l->pool_layer >= 0 ? net.layers[l->pool_layer].dst : l->dst;
        cr_expect(pl.values[v].first <= l->group && l->group <= pl.values[v].last,
                  "%s writes value %d when layer %d runs", l->name, v, l->group);
    }
}

Test(plan, refuses_small_inputs) {
    plan pl;
    cln_error err;
    cr_expect_eq(plan_build(&net, 1, 74, 299, &pl, &err), CLN_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "75"), "%s", err.message);
    cr_expect_eq(plan_build(&net, 0, 299, 299, &pl, &err), CLN_ERR_INVALID_ARGUMENT);
    cr_expect_eq(plan_build(&net, 1, 75, 75, &pl, &err), CLN_OK, "%s", err.message);
}

Test(plan, refuses_inputs_too_large_to_index) {
    plan pl;
    cln_error err;
    cr_expect_eq(plan_build(&net, 4096, 299, 299, &pl, &err), CLN_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "too large"), "%s", err.message);
}

/* The FID Inception's table against torchvision's: the same layers, except
 * the pool branches' pools (pytorch-fid's FIDInceptionA, C, E_1 average
 * without the padding, E_2 takes the maximum), 1008 classes, and its own
 * input transform; everything else (eps, ignored tensors, smallest input)
 * as the network's data says. */
Test(plan, fid_table_differs_only_in_its_pools) {
    static network fid;
    cr_assert(network_fid_inception_v3(&fid, NET_FID_CLASSES));
    cr_assert_eq(fid.layer_count, net.layer_count);
    int excluded = 0, max_branch = 0;
    for (int i = 0; i < net.layer_count; i++) {
        const layer *a = &net.layers[i], *b = &fid.layers[i];
        const bool pool_branch = strstr(a->name, ".avg_pool") != NULL;
        cr_assert(strncmp(a->name, b->name, pool_branch ? strlen(a->name) - 8 : sizeof a->name) ==
                      0,
                  "%s against %s", a->name, b->name);
        if (!pool_branch) {
            cr_expect_eq(a->op, b->op, "%s", a->name);
            cr_expect_eq(a->out_channels + (a->op == LAYER_LINEAR ? 8 : 0), b->out_channels, "%s",
                         a->name);
            continue;
        }
        cr_expect(a->count_include_pad, "%s counts the padding in torchvision's", a->name);
        if (strncmp(a->name, "Mixed_7c.", 9) == 0) {
            cr_expect_eq(b->op, LAYER_MAX_POOL, "%s", b->name);
            max_branch++;
        } else {
            cr_expect_eq(b->op, LAYER_AVG_POOL, "%s", b->name);
            cr_expect(!b->count_include_pad, "%s", b->name);
            excluded++;
        }
        cr_expect(b->kh == 3 && b->sh == 1 && b->ph == 1, "%s", b->name);
    }
    cr_expect_eq(excluded, 8); /* Mixed_5b-5d, 6b-6e, 7b */
    cr_expect_eq(max_branch, 1);
    cr_expect_eq(fid.layers[network_classifier(&fid)].out_channels, 1008);
    cr_expect_eq(fid.bn_eps, 1e-3);
    cr_expect_eq(fid.min_size, 75);
    for (int c = 0; c < 3; c++) {
        cr_expect_eq(fid.input_scale[c], 2.0f);
        cr_expect_eq(fid.input_shift[c], -1.0f);
    }
    cr_expect(network_ignores(&fid, "AuxLogits.fc.weight"));
    cr_expect(network_ignores(&net, "Mixed_5b.branch1x1.bn.num_batches_tracked"));
    cr_expect(!network_ignores(&net, "Mixed_5b.branch1x1.bn.running_var"));
    cr_expect(!network_ignores(&net, "num_batches_tracked.x"));
    /* the pool branch's conv still runs in its group before the pool, which
     * commutes with it whether or not the padding counts; not the max pool */
    for (int i = 0; i < fid.layer_count; i++) {
        const layer *l = &fid.layers[i];
        if (strstr(l->name, ".branch_pool") && strncmp(l->name, "Mixed_7c.", 9) == 0)
            cr_expect_eq(l->pool_layer, -1, "%s", l->name);
        else if (strstr(l->name, ".branch_pool") && l->kh == 1)
            cr_expect_geq(l->pool_layer, 0, "%s", l->name);
    }
}

/* A builder that runs past the table's room says so instead of writing
 * past it. */
Test(plan, a_table_past_its_room_is_marked) {
    static network big;
    cr_assert(network_inception_v3(&big, NET_IMAGENET_CLASSES));
    cr_assert(!big.overflow);
    while (big.tap_count < NET_MAX_TAPS)
        network_tap_layer(&big, 0);
    cr_assert(!big.overflow);
    network_tap_layer(&big, 0);
    cr_expect(big.overflow);
    cr_expect_eq(big.tap_count, NET_MAX_TAPS);
    cr_expect_eq(network_find("fid"), 1);
    cr_expect_eq(network_find("inception_v3"), 0);
    cr_expect_eq(network_find("resnet"), -1);
}
