/* Features: the network stops at the layer asked for (no kernel of a later
 * layer is launched), a block's output is its branches side by side, fc's is
 * the logits, the shapes are those of the layer table, and an unknown name
 * is refused with the list of names. Values against torchvision are the e2e
 * suite's (fine_tuned_head). */
#include <criterion/criterion.h>

#include "../include/clinception.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define N 2
#define H 91
#define W 97

static cln_runtime *rt;
static cln_model *model;
static float input[N * 3 * H * W];

static void setup(void) {
    cln_error err;
    cr_assert_eq(cln_runtime_create(NULL, &rt, &err), CLN_OK, "%s", err.message);
    cr_assert_eq(cln_model_load_random(rt, 3, &model, &err), CLN_OK, "%s", err.message);
    for (size_t i = 0; i < sizeof input / sizeof input[0]; i++)
        input[i] = (float)((i * 7919) % 200) / 100.0f - 1.0f;
}

static void teardown(void) {
    cln_model_free(model);
    cln_runtime_free(rt);
}

TestSuite(features, .init = setup, .fini = teardown, .timeout = 300);

static int layer_index(const char *name) {
    size_t count;
    const cln_layer_info *layers = cln_model_layers(model, &count);
    for (size_t i = 0; i < count; i++)
        if (strcmp(layers[i].name, name) == 0) return (int)i;
    cr_assert_fail("no layer %s", name);
    return -1;
}

/* The named layer's output, malloc'd, with its shape per image. */
static float *features(const char *layer, bool profile, int *c, int *h, int *w) {
    cln_error err;
    cr_assert_eq(cln_model_feature_shape(model, layer, H, W, c, h, w, &err), CLN_OK, "%s",
                 err.message);
    float *out = malloc((size_t)N * *c * *h * *w * sizeof *out);
    cr_assert_not_null(out);
    cln_forward_options o = {.profile = profile};
    cr_assert_eq(cln_model_features(model, layer, input, N, H, W, &o, out, &err), CLN_OK, "%s",
                 err.message);
    return out;
}

/* No kernel runs for a layer after the one asked for, and every layer up to
 * it runs one: inside a block (whose 1x1 convolutions would otherwise run as
 * one GEMM with later ones), at a block's end and at avgpool. */
Test(features, stops_after_the_layer) {
    if (cln_runtime_device(rt)->is_cpu) { /* where groups run, a whole forward runs Mixed_5b's */
        float *logits = malloc((size_t)N * cln_model_num_classes(model) * sizeof *logits);
        cr_assert_not_null(logits);
        cln_forward_options o = {.profile = true};
        cln_error err;
        cr_assert_eq(cln_model_forward(model, input, N, H, W, &o, logits, &err), CLN_OK, "%s",
                     err.message);
        free(logits);
        size_t events_count;
        const cln_kernel_event *events = cln_model_profile(model, &events_count);
        bool grouped = false;
        for (size_t e = 0; e < events_count; e++)
            grouped |= events[e].layer == layer_index("Mixed_5b.branch1x1") &&
                       strcmp(events[e].kernel, "gemm_grouped") == 0;
        cr_assert(grouped, "a whole forward did not run Mixed_5b's 1x1 convolutions as one GEMM");
    }
    static const char *const stops[] = {"Mixed_5b.branch5x5_1", "Mixed_6b", "Conv2d_2a_3x3",
                                        "avgpool"};
    for (size_t s = 0; s < sizeof stops / sizeof stops[0]; s++) {
        int c, h, w;
        free(features(stops[s], true, &c, &h, &w));
        size_t events_count, count;
        const cln_kernel_event *events = cln_model_profile(model, &events_count);
        const cln_layer_info *layers = cln_model_layers(model, &count);
        cr_assert_gt(events_count, 0);
        /* the last layer that writes the tap */
        int last = -1;
        for (size_t i = 0; i < count; i++)
            if (strcmp(layers[i].name, stops[s]) == 0 ||
                (strncmp(layers[i].name, stops[s], strlen(stops[s])) == 0 &&
                 layers[i].name[strlen(stops[s])] == '.'))
                last = (int)i;
        cr_assert_geq(last, 0);
        bool *ran = calloc(count, sizeof *ran);
        cr_assert_not_null(ran);
        for (size_t e = 0; e < events_count; e++) {
            cr_expect_leq(events[e].layer, last, "%s: a kernel of %s ran", stops[s],
                          layers[events[e].layer].name);
            ran[events[e].layer] = true;
        }
        /* inside a block, its 1x1 convolutions each on their own: run as
         * one GEMM (gemm_grouped) they would compute later layers too */
        for (size_t e = 0; s == 0 && e < events_count; e++)
            cr_expect(strcmp(events[e].kernel, "gemm_grouped") != 0, "%s: %s ran %s", stops[s],
                      layers[events[e].layer].name, events[e].kernel);
        for (int i = 1; i <= last; i++) /* the input layer is a copy: it may launch nothing */
            cr_expect(ran[i] || layers[i].ran_with >= 0, "%s: layer %s did not run", stops[s],
                      layers[i].name);
        free(ran);
    }
}

static void expect_close(const float *got, const float *want, size_t count, const char *what) {
    double diff = 0, norm = 0;
    for (size_t i = 0; i < count; i++) {
        diff += ((double)got[i] - want[i]) * ((double)got[i] - want[i]);
        norm += (double)want[i] * want[i];
    }
    cr_expect(norm > 0, "%s: all zero", what);
    cr_expect_leq(sqrt(diff / norm), 1e-5, "%s: relative L2 error %g", what, sqrt(diff / norm));
}

/* Mixed_7a is branch3x3_2, branch7x7x3_4 and the max pool, side by side in
 * channels per image; the branches asked for alone agree with it. */
Test(features, block_is_its_branches_concatenated) {
    int c, h, w, c1, h1, w1, c2, h2, w2;
    float *block = features("Mixed_7a", false, &c, &h, &w);
    float *b3 = features("Mixed_7a.branch3x3_2", false, &c1, &h1, &w1);
    float *b7 = features("Mixed_7a.branch7x7x3_4", false, &c2, &h2, &w2);
    cr_assert_eq(c, 320 + 192 + 768);
    cr_assert_eq(c1, 320);
    cr_assert_eq(c2, 192);
    cr_assert(h1 == h && w1 == w && h2 == h && w2 == w);
    const size_t plane = (size_t)h * w;
    for (int b = 0; b < N; b++) {
        expect_close(block + (size_t)b * c * plane, b3 + (size_t)b * c1 * plane, c1 * plane,
                     "branch3x3_2");
        expect_close(block + ((size_t)b * c + c1) * plane, b7 + (size_t)b * c2 * plane, c2 * plane,
                     "branch7x7x3_4");
    }
    free(block);
    free(b3);
    free(b7);
}

Test(features, fc_is_the_logits_and_avgpool_the_pooled_block) {
    int c, h, w, cp, hp, wp, cb, hb, wb;
    float *fc = features("fc", false, &c, &h, &w);
    cr_assert_eq(c, cln_model_num_classes(model));
    cr_assert(h == 1 && w == 1);
    float *logits = malloc((size_t)N * c * sizeof *logits);
    cr_assert_not_null(logits);
    cln_error err;
    cr_assert_eq(cln_model_forward(model, input, N, H, W, NULL, logits, &err), CLN_OK, "%s",
                 err.message);
    cr_expect_eq(memcmp(fc, logits, (size_t)N * c * sizeof *fc), 0);
    float *pooled = features("avgpool", false, &cp, &hp, &wp);
    float *mixed = features("Mixed_7c", false, &cb, &hb, &wb);
    cr_assert(cp == 2048 && hp == 1 && wp == 1 && cb == 2048);
    float *mean = calloc((size_t)N * cb, sizeof *mean);
    cr_assert_not_null(mean);
    for (size_t i = 0; i < (size_t)N * cb; i++) {
        for (size_t p = 0; p < (size_t)hb * wb; p++)
            mean[i] += mixed[i * hb * wb + p];
        mean[i] /= (float)(hb * wb);
    }
    expect_close(pooled, mean, (size_t)N * cb, "avgpool");
    free(mean);
    free(mixed);
    free(pooled);
    free(logits);
    free(fc);
}

/* Shapes from the layer table at this input, for every name. */
Test(features, shapes_are_the_layer_tables) {
    size_t count, layer_count;
    const char *const *names = cln_model_feature_layers(model, &count);
    cr_assert_gt(count, 90);
    float *logits = malloc((size_t)N * cln_model_num_classes(model) * sizeof *logits);
    cr_assert_not_null(logits);
    cln_error err;
    cr_assert_eq(cln_model_forward(model, input, N, H, W, NULL, logits, &err), CLN_OK, "%s",
                 err.message);
    free(logits);
    const cln_layer_info *layers = cln_model_layers(model, &layer_count);
    static const char *const top[] = {"Conv2d_1a_3x3", "maxpool1", "maxpool2", "Mixed_5b",
                                      "Mixed_6e",      "Mixed_7c", "avgpool",  "fc"};
    for (size_t t = 0; t < sizeof top / sizeof top[0]; t++) {
        bool found = false;
        for (size_t i = 0; i < count; i++)
            found |= strcmp(names[i], top[t]) == 0;
        cr_expect(found, "%s is not listed", top[t]);
    }
    for (size_t i = 0; i < count; i++) {
        int c, h, w;
        cr_assert_eq(cln_model_feature_shape(model, names[i], H, W, &c, &h, &w, &err), CLN_OK, "%s",
                     err.message);
        if (strncmp(names[i], "Mixed_", 6) == 0 && !strchr(names[i], '.')) continue; /* blocks */
        const cln_layer_info *l = &layers[layer_index(names[i])];
        cr_expect(c == l->c && h == l->h && w == l->w,
                  "%s: %d x %d x %d, the table says %d x %d x %d", names[i], c, h, w, l->c, l->h,
                  l->w);
    }
}

Test(features, unknown_layer_is_refused_with_the_names) {
    cln_error err;
    float out[1];
    cr_assert_eq(cln_model_features(model, "Mixed_8a", input, N, H, W, NULL, out, &err),
                 CLN_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "\"Mixed_8a\""), "%s", err.message);
    cr_expect(strstr(err.message, "Conv2d_1a_3x3") && strstr(err.message, "avgpool") &&
                  strstr(err.message, "Mixed_7c"),
              "%s", err.message);
    int c, h, w;
    cr_assert_eq(cln_model_feature_shape(model, "Mixed_5b.avg_pool", H, W, &c, &h, &w, &err),
                 CLN_ERR_INVALID_ARGUMENT, "a pool inside a block is no module");
}
