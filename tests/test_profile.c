/* Profiling: one recorded event per kernel launch (counted independently from
 * the layer table), per-layer CSV times that add up to the total, and a
 * Chrome trace that is valid JSON with one complete event per launch. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>

#include "../include/clinception.h"


#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N 1
#define H 99
#define W 111

static cln_runtime *rt;
static cln_model *model;
static float input[N * 3 * H * W], logits[N * CLN_NUM_CLASSES];

static void setup(void) {
    /* one im2col per convolution larger than 1x1 (no chunks of columns, no
     * 1x1 input copied into panels, host/ops.c) and every convolution on its
     * own (no groups, network/network.h) */
    setenv("CLINCEPTION_TUNABLES", "IM2COL_CHUNK_FLOATS=0,GROUP_CONVS=0,PACK_1X1=0", 1);
    cln_error err;
    cr_assert_eq(cln_runtime_create(NULL, &rt, &err), CLN_OK, "%s", err.message);
    cr_assert_eq(cln_model_load_random(rt, 7, &model, &err), CLN_OK, "%s", err.message);
    for (size_t i = 0; i < sizeof input / sizeof input[0]; i++)
        input[i] = (float)((i * 7919) % 200) / 100.0f - 1.0f;
}

static void teardown(void) {
    cln_model_free(model);
    cln_runtime_free(rt);
}

TestSuite(profile, .init = setup, .fini = teardown, .timeout = 300);

static void forward(cln_conv_algo algo, bool profile) {
    cln_forward_options o = {.conv_algo = algo, .profile = profile};
    cln_error err;
    cr_assert_eq(cln_model_forward(model, input, N, H, W, &o, logits, &err), CLN_OK, "%s",
                 err.message);
}

/* Launches each layer makes at batch 1, from its kind alone: CLBlast's GEMM
 * is followed by our bias + ReLU kernel, our tiled GEMM has it fused, and
 * im2col precedes the GEMM of a convolution larger than 1x1; Winograd is an
 * input transform, a batched GEMM and an output transform. On a CPU, where
 * the weights are kept in panels of 16 output channels, CLBlast runs one
 * product per panel. */
static size_t expected_launches(cln_conv_algo algo) {
    size_t count, launches = 0;
    const cln_layer_info *layers = cln_model_layers(model, &count);
    const bool panels = cln_runtime_device(rt)->is_cpu;
    for (size_t i = 0; i < count; i++) {
        const char *kind = layers[i].kind;
        const size_t products = panels ? (size_t)(layers[i].c + 15) / 16 : 1;
        const size_t gemm = algo == CLN_CONV_GEMM ? products + 1 : 1;
        if (layers[i].algo == CLN_CONV_WINOGRAD)
            launches += 3;
        else if (strcmp(kind, "conv 1x1") == 0 || strcmp(kind, "fc") == 0)
            launches += gemm;
        else if (strncmp(kind, "conv", 4) == 0)
            launches += algo == CLN_CONV_DIRECT ? 1 : 1 + gemm;
        else
            launches += 1; /* input, pools */
    }
    return launches;
}

static void check_events(cln_conv_algo algo) {
    forward(algo, true);
    size_t nlayers, nevents;
    cln_model_layers(model, &nlayers);
    const cln_kernel_event *ev = cln_model_profile(model, &nevents);
    cr_assert_eq(nevents, expected_launches(algo));
    cr_assert_not_null(ev);
    for (size_t i = 0; i < nevents; i++) {
        cr_expect(ev[i].layer >= 0 && (size_t)ev[i].layer < nlayers);
        cr_expect(ev[i].start_ms >= 0 && ev[i].end_ms >= ev[i].start_ms, "event %zu", i);
        if (i > 0) cr_expect_geq(ev[i].layer, ev[i - 1].layer, "launches in layer order");
    }
}

Test(profile, one_event_per_launch_gemm) {
    check_events(CLN_CONV_GEMM);
}

Test(profile, one_event_per_launch_tiled) {
    check_events(CLN_CONV_TILED);
}

Test(profile, one_event_per_launch_direct) {
    check_events(CLN_CONV_DIRECT);
}

/* Inception v3 has 12 convolutions 3x3 stride 1: those run Winograd, the
 * rest tiled. */
Test(profile, one_event_per_launch_winograd) {
    check_events(CLN_CONV_WINOGRAD);
    size_t count, winograd = 0;
    const cln_layer_info *layers = cln_model_layers(model, &count);
    for (size_t i = 0; i < count; i++)
        if (layers[i].algo == CLN_CONV_WINOGRAD) {
            winograd++;
            cr_expect_str_eq(layers[i].kind, "conv 3x3", "%s", layers[i].name);
        }
    cr_expect_eq(winograd, 12);
}

Test(profile, nothing_recorded_without_profile) {
    forward(CLN_CONV_GEMM, true);
    forward(CLN_CONV_GEMM, false);
    size_t nevents;
    cr_expect_null(cln_model_profile(model, &nevents));
    cr_expect_eq(nevents, 0);
}

Test(profile, layer_flops_match_the_published_count) {
    /* 5.71 G multiply-adds per 299x299 image: 11.4 GFLOP in the convs and fc */
    static float big[3 * 299 * 299];
    cln_forward_options o = {0};
    cln_error err;
    cr_assert_eq(cln_model_forward(model, big, 1, 299, 299, &o, logits, &err), CLN_OK, "%s",
                 err.message);
    size_t count;
    const cln_layer_info *layers = cln_model_layers(model, &count);
    double flops = 0;
    for (size_t i = 0; i < count; i++)
        if (strncmp(layers[i].kind, "conv", 4) == 0 || strcmp(layers[i].kind, "fc") == 0)
            flops += layers[i].flops;
    cr_expect(fabs(flops / 11.42e9 - 1) < 0.01, "%g FLOP", flops);
    cr_expect_str_eq(layers[count - 1].name, "fc");
    cr_expect_eq(layers[count - 1].c, 1000);
    cr_expect_eq(layers[count - 2].h, 1);
}

/* Temporary file path; removed by the caller. */
static void temp_path(char *path, size_t size, const char *suffix) {
    snprintf(path, size, "/tmp/cln_profile_XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    unlink(path);
    strncat(path, suffix, size - strlen(path) - 1);
}

Test(profile, csv_layer_times_add_up_to_the_total) {
    forward(CLN_CONV_GEMM, true);
    size_t nlayers, nevents;
    cln_model_layers(model, &nlayers);
    const cln_kernel_event *ev = cln_model_profile(model, &nevents);
    double total = 0;
    for (size_t i = 0; i < nevents; i++)
        total += ev[i].end_ms - ev[i].start_ms;
    char path[256];
    temp_path(path, sizeof path, ".csv");
    cln_error err;
    cr_assert_eq(cln_profile_write_csv(path, model, &err), CLN_OK, "%s", err.message);
    FILE *f = fopen(path, "r");
    cr_assert(f);
    char line[1024];
    cr_assert(fgets(line, sizeof line, f));
    cr_expect(strstr(line, "device_ms"), "%s", line);
    double sum = 0, shares = 0;
    size_t rows = 0, launches = 0;
    while (fgets(line, sizeof line, f)) {
        /* layer,kind,kernels,launches,n,c,h,w,device_ms,gflop,gflop_per_s,share */
        char *field[12];
        int nf = 0;
        for (char *p = strtok(line, ",\n"); p && nf < 12; p = strtok(NULL, ",\n"))
            field[nf++] = p;
        cr_assert_eq(nf, 12, "row %zu has %d fields", rows, nf);
        launches += strtoul(field[3], NULL, 10);
        sum += strtod(field[8], NULL);
        shares += strtod(field[11], NULL);
        rows++;
    }
    fclose(f);
    unlink(path);
    cr_expect_eq(rows, nlayers);
    cr_expect_eq(launches, nevents);
    cr_expect(fabs(sum - total) <= 1e-4 * total + 1e-5, "rows add to %g, events to %g", sum, total);
    cr_expect(fabs(shares - 1.0) < 1e-4, "shares add to %g", shares);
}

Test(profile, trace_is_json_with_one_complete_event_per_launch) {
    forward(CLN_CONV_GEMM, true);
    size_t nevents;
    cln_model_profile(model, &nevents);
    cln_host_phase phases[2] = {{"device set-up", 0, 5}, {"program build", 5, 12}};
    char path[256];
    temp_path(path, sizeof path, ".json");
    cln_error err;
    cr_assert_eq(cln_profile_write_trace(path, model, phases, 2, 20, &err), CLN_OK, "%s", err.message);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    unlink(path);
    cr_assert_not_null(root, "trace is not JSON: %s", jerr.text);
    json_t *list = json_object_get(root, "traceEvents");
    cr_assert(json_is_array(list));
    size_t kernels = 0, host = 0, i;
    json_t *e;
    json_array_foreach(list, i, e) {
        const char *ph = json_string_value(json_object_get(e, "ph"));
        cr_assert_not_null(ph);
        if (strcmp(ph, "X") != 0) continue;
        cr_expect(json_is_number(json_object_get(e, "ts")) &&
                  json_is_number(json_object_get(e, "dur")) &&
                  json_is_string(json_object_get(e, "name")));
        const char *cat = json_string_value(json_object_get(e, "cat"));
        if (cat && strcmp(cat, "kernel") == 0) kernels++;
        if (cat && strcmp(cat, "host") == 0) host++;
    }
    cr_expect_eq(kernels, nevents);
    cr_expect_eq(host, 2);
    json_decref(root);
}

/* An input whose buffers the device cannot hold is refused before anything is
 * allocated, with the largest batch of its size that fits. */
Test(profile, too_large_a_batch_is_refused_before_allocating) {
    /* 300 images of 299x299: each activation fits the int indexing, but the
     * arena (about 2.4 GiB) is past a largest allocation of up to 2 GiB */
    const int n = 300, side = 299;
    if (cln_runtime_device(rt)->max_alloc_bytes > (2ull << 30))
        cr_skip_test("this device allocates more than 2 GiB at once");
    float *big = calloc((size_t)n * 3 * side * side, sizeof *big); /* pages never touched */
    cr_assert_not_null(big);
    cln_forward_options o = {0};
    cln_error err;
    cr_expect_eq(cln_model_forward(model, big, n, side, side, &o, logits, &err),
                 CLN_ERR_INVALID_ARGUMENT, "%s", err.message);
    cr_expect(strstr(err.message, "largest batch of this image size that fits is") != NULL, "%s",
              err.message);
    size_t count;
    const cln_layer_info *layers = cln_model_layers(model, &count);
    cr_expect_neq(layers[0].n, n, "the refused shape was planned");
    free(big);
}
