/* Tuning: cln_model_tune writes one choice per convolution to the device's
 * file, a new model on the device runs by those choices under AUTO (and
 * gives the same logits as without them), a malformed file is ignored with
 * a warning naming its path and line, and no file means the defaults. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>

#include "../include/clinception.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define N 1
#define H 91
#define W 83

static char cache_dir[] = "/tmp/cln_tuning_XXXXXX";
static cln_runtime *rt;
static float input[N * 3 * H * W];

static void setup(void) {
    cr_assert(mkdtemp(cache_dir));
    setenv("CLINCEPTION_CACHE_DIR", cache_dir, 1);
    cln_error err;
    cr_assert_eq(cln_runtime_create(NULL, &rt, &err), CLN_OK, "%s", err.message);
    for (size_t i = 0; i < sizeof input / sizeof input[0]; i++)
        input[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
}

static void teardown(void) {
    cln_runtime_free(rt);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", cache_dir);
    cr_expect_eq(system(cmd), 0);
}

TestSuite(tuning, .init = setup, .fini = teardown, .timeout = 300);

static cln_model *load(void) {
    cln_model *m = NULL;
    cln_error err;
    cr_assert_eq(cln_model_load_random(rt, 3, &m, &err), CLN_OK, "%s", err.message);
    return m;
}

static void forward(cln_model *m, cln_conv_algo algo, float *logits) {
    cln_forward_options o = {.conv_algo = algo};
    cln_error err;
    cr_assert_eq(cln_model_forward(m, input, N, H, W, &o, logits, &err), CLN_OK, "%s", err.message);
}

Test(tuning, no_file_means_the_defaults) {
    cln_model *m = load();
    cr_expect_neq(access(cln_model_tuning_path(m), F_OK), 0, "no tuning file yet");
    float logits[N * CLN_NUM_CLASSES];
    forward(m, CLN_CONV_AUTO, logits);
    size_t count;
    const cln_layer_info *layers = cln_model_layers(m, &count);
    const bool cpu = cln_runtime_device(rt)->is_cpu;
    for (size_t i = 0; i < count; i++) {
        if (strncmp(layers[i].kind, "conv", 4) != 0) continue;
        /* on a CPU, the 3x3 stride-1 convolutions of 64 input channels or
         * more run Winograd, the rest tiled */
        static const char *const wide[] = {"Conv2d_4a_3x3",           "Mixed_5b.branch3x3dbl_2",
                                           "Mixed_5b.branch3x3dbl_3", "Mixed_5c.branch3x3dbl_2",
                                           "Mixed_5c.branch3x3dbl_3", "Mixed_5d.branch3x3dbl_2",
                                           "Mixed_5d.branch3x3dbl_3", "Mixed_6a.branch3x3dbl_2",
                                           "Mixed_7b.branch3x3dbl_2", "Mixed_7c.branch3x3dbl_2"};
        bool wide_3x3 = false;
        for (size_t w = 0; w < sizeof wide / sizeof wide[0]; w++)
            wide_3x3 = wide_3x3 || strcmp(layers[i].name, wide[w]) == 0;
        const cln_conv_algo expect = !cpu       ? CLN_CONV_GEMM
                                     : wide_3x3 ? CLN_CONV_WINOGRAD
                                                : CLN_CONV_TILED;
        cr_expect_eq(layers[i].algo, expect, "%s", layers[i].name);
    }
    cln_model_free(m);
}

Test(tuning, choices_are_written_and_used) {
    cln_model *m = load();
    size_t count;
    cln_model_layers(m, &count);
    cln_tune_layer *t = calloc(count, sizeof *t);
    cr_assert(t);
    cln_error err;
    cln_tune_report report = {.layers = t};
    cr_assert_eq(cln_model_tune(m, N, H, W, 1, &report, &err), CLN_OK, "%s", err.message);
    if (cln_runtime_device(rt)->is_cpu) { /* CLBlast's parameters were tuned too */
        cr_expect_gt(report.gemm_candidates, 1);
        cr_expect(report.gemm_best >= 0 && report.gemm_best < report.gemm_candidates);
        for (int c = 0; c < report.gemm_candidates; c++)
            cr_expect_gt(report.gemm_ms[c], 0);
    }
    float tiled[N * CLN_NUM_CLASSES], tuned[N * CLN_NUM_CLASSES];
    forward(m, CLN_CONV_TILED, tiled);
    cln_model_free(m);

    /* the file: a header and one line per convolution */
    char path[4096];
    cln_model *again = load();
    snprintf(path, sizeof path, "%s", cln_model_tuning_path(again));
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "no tuning file at %s", path);
    char line[512];
    int lines = 0, xgemm_lines = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "conv 1 91 83 ", 13) == 0)
            lines++;
        else if (strncmp(line, "clblast Xgemm GEMMK=", 20) == 0)
            xgemm_lines++;
    fclose(f);
    cr_expect_eq(lines, 94);
    if (cln_runtime_device(rt)->is_cpu) cr_expect_eq(xgemm_lines, 1);

    /* a new model runs each convolution as chosen, and the logits agree */
    forward(again, CLN_CONV_AUTO, tuned);
    const cln_layer_info *layers = cln_model_layers(again, &count);
    for (size_t i = 0; i < count; i++) {
        if (strncmp(layers[i].kind, "conv", 4) != 0) continue;
        cr_expect_neq(t[i].best, CLN_CONV_AUTO, "%s", layers[i].name);
        cr_expect_eq(layers[i].algo, t[i].best, "%s", layers[i].name);
        cr_expect_gt(t[i].ms[t[i].best], 0, "%s", layers[i].name);
        if (strcmp(layers[i].kind, "conv 1x1") == 0)
            cr_expect_eq(t[i].ms[CLN_CONV_DIRECT], 0, "a 1x1 has no direct way");
        if (strcmp(layers[i].kind, "conv 3x3") != 0)
            cr_expect_eq(t[i].ms[CLN_CONV_WINOGRAD], 0, "Winograd is for 3x3 only");
    }
    double num = 0, den = 0;
    for (int i = 0; i < N * CLN_NUM_CLASSES; i++) {
        num += (tuned[i] - tiled[i]) * (double)(tuned[i] - tiled[i]);
        den += tiled[i] * (double)tiled[i];
    }
    cr_expect_leq(sqrt(num / den), 1e-5, "tuned and tiled logits differ");
    cln_model_free(again);
    free(t);
}

/* The tuning file is a cache: a malformed one (a bad line, a long comment
 * before good lines is not one; CLBlast parameters it could not build; a
 * named pipe) is ignored with a warning naming it and why, and the model
 * runs on the defaults. */
static void expect_ignored(const char *path, const char *phrase) {
    cln_model *m = NULL;
    cln_error err;
    cr_assert_eq(cln_model_load_random(rt, 3, &m, &err), CLN_OK, "%s", err.message);
    const char *warning = cln_model_warning(m);
    cr_expect(warning && strstr(warning, path) && strstr(warning, phrase) &&
                  strstr(warning, "ignored"),
              "warning: %s", warning ? warning : "(none)");
    static float input[N * 3 * H * W], logits[N * CLN_NUM_CLASSES];
    cr_expect_eq(cln_model_forward(m, input, N, H, W, NULL, logits, &err), CLN_OK, "%s",
                 err.message);
    cln_model_free(m);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    cr_assert(fputs(text, f) >= 0);
    cr_assert_eq(fclose(f), 0);
}

Test(tuning, malformed_file_is_ignored_with_a_warning) {
    cln_model *m = load();
    char path[4096];
    snprintf(path, sizeof path, "%s", cln_model_tuning_path(m));
    cr_expect_null(cln_model_warning(m));
    cln_model_free(m);
    write_file(path,
               "# header\nconv 1 299 299 Conv2d_1a_3x3 tiled\nconv 1 299 299 Conv2d_2a_3x3 fast\n");
    expect_ignored(path, "line 3 is not a tuning line");
    write_file(path, "clblast Xgemm GEMMK=0 MWG=0 NWG=64 KWG=32 MDIMC=8 NDIMC=8 MDIMA=8 NDIMB=8 "
                     "KWI=2 VWM=4 VWN=4 STRM=0 STRN=0 SA=1 SB=1 KREG=1\n");
    expect_ignored(path, "line 1 is not a CLBlast Xgemm line");
    write_file(path, "clblast Xgemm GEMMK=0 MWG=64 NWG=64 KWG=32 MDIMC=8 NDIMC=8 MDIMA=8 NDIMB=8 "
                     "KWI=2 VWM=4 VWN=4 STRM=0 STRN=0 SA=1 SB=1 KREG=1 MWG=4096\n");
    expect_ignored(path, "line 1 is not a CLBlast Xgemm line");
    unlink(path);
    cr_assert_eq(mkfifo(path, 0600), 0);
    expect_ignored(path, "it is a named pipe");
    unlink(path);
}

/* A comment longer than any line buffer does not spill into the next line,
 * and a file of many lines loads in linear time (sorted, not searched line
 * by line): 200000 choices, repeats of one shape's keep the last. */
Test(tuning, long_comments_and_many_lines_load) {
    cln_model *m = load();
    char path[4096];
    snprintf(path, sizeof path, "%s", cln_model_tuning_path(m));
    cln_model_free(m);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputc('#', f);
    for (int i = 0; i < 5000; i++)
        fputc('x', f);
    fputc('\n', f);
    for (int i = 0; i < 200000; i++)
        fprintf(f, "conv %d 299 299 Conv2d_1a_3x3 direct\n", 1000 + i);
    fprintf(f, "conv %d %d %d Conv2d_1a_3x3 direct\nconv %d %d %d Conv2d_1a_3x3 winograd\n", N, H,
            W, N, H, W);
    cr_assert_eq(fclose(f), 0);
    cln_error err;
    cr_assert_eq(cln_model_load_random(rt, 3, &m, &err), CLN_OK, "%s", err.message);
    cr_expect_null(cln_model_warning(m), "%s", cln_model_warning(m));
    static float input[N * 3 * H * W], logits[N * CLN_NUM_CLASSES];
    cr_assert_eq(cln_model_forward(m, input, N, H, W, NULL, logits, &err), CLN_OK, "%s",
                 err.message);
    size_t count;
    const cln_layer_info *layers = cln_model_layers(m, &count);
    cr_expect_eq(layers[1].algo, CLN_CONV_TILED,
                 "the last line (winograd, which a 3x3 stride-2 layer runs tiled) did not win");
    cln_model_free(m);
    unlink(path);
}
