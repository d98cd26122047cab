/* End to end against torchvision: tools/make_reference.py builds Inception3
 * with seeded random weights and BatchNorm statistics, saves it as
 * safetensors and writes an input and torchvision's float64 logits;
 * `clinception infer` must match them (relative L2 error <= 1e-4, the same
 * top-5 classes per image), checked by tools/compare_logits.py. Seeds are
 * chosen so that neighbouring top-6 logits differ by several times the
 * tolerance (make_reference.py prints that margin). */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>

#include "npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define PYTHON "/usr/bin/python3"

TestSuite(e2e, .timeout = 900);

static const char *env(const char *name) {
    const char *v = getenv(name);
    cr_assert(v && *v, "%s is not set (run through meson test)", name);
    return v;
}

/* Runs a shell command, its output going to the test log; returns its exit code. */
static int run(const char *cmd) {
    fprintf(stderr, "$ %s\n", cmd);
    int rc = system(cmd);
    return rc == -1 ? -1 : WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
}

typedef struct {
    const char *name;
    int seed, batch, height, width;
    const char *reference_flags; /* for make_reference.py */
    const char *infer_flags;     /* for clinception infer */
} e2e_case;

static void check_case(const e2e_case *c) {
    char dir[4096], cmd[16384];
    snprintf(dir, sizeof dir, "%s/e2e/%s", env("CLN_BUILD_DIR"), c->name);
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    cr_assert_eq(run(cmd), 0);
    snprintf(cmd, sizeof cmd,
             PYTHON " %s/tools/make_reference.py --out %s --seed %d --batch %d --height %d "
                    "--width %d %s >&2",
             env("CLN_SOURCE_DIR"), dir, c->seed, c->batch, c->height, c->width,
             c->reference_flags);
    cr_assert_eq(run(cmd), 0, "make_reference.py failed");
    snprintf(cmd, sizeof cmd,
             "%s infer --weights %s/model.safetensors --input %s/input.npy --output "
             "%s/ours.npy --device cpu %s >&2",
             env("CLINCEPTION"), dir, dir, dir, c->infer_flags);
    cr_assert_eq(run(cmd), 0, "clinception infer failed");

    char path[4200];
    snprintf(path, sizeof path, "%s/ours.npy", dir);
    npy_array ours = {0};
    cln_error err;
    cr_assert_eq(npy_read_f32(path, &ours, &err), CLN_OK, "%s", err.message);
    cr_expect_eq(ours.ndim, 2);
    cr_expect_eq(ours.shape[0], c->batch);
    cr_expect_eq(ours.shape[1], 1000);
    npy_free(&ours);

    snprintf(cmd, sizeof cmd,
             PYTHON " %s/tools/compare_logits.py %s/logits.npy %s/ours.npy "
                    "--tol 1e-4 >&2",
             env("CLN_SOURCE_DIR"), dir, dir);
    cr_expect_eq(run(cmd), 0, "%s: logits differ from torchvision's (see the log)", c->name);
}

Test(e2e, batch_2_at_299_torchvision_file) {
    e2e_case c = {"batch2_299", 21, 2, 299, 299, "", ""};
    check_case(&c);
}

Test(e2e, non_square_input_file_without_aux) {
    e2e_case c = {"nonsquare_noaux", 32, 1, 107, 139, "--no-aux", ""};
    check_case(&c);
}

Test(e2e, transform_input_with_f16_weights) {
    e2e_case c = {"transform_f16",    13, 1, 96, 80, "--transform-input --dtype f16",
                  "--transform-input"};
    check_case(&c);
}

Test(e2e, clblast_gemm_path) {
    e2e_case c = {"clblast_gemm", 35, 2, 83, 101, "--no-aux", "--conv gemm"};
    check_case(&c);
}

Test(e2e, direct_convolution_with_bf16_weights) {
    e2e_case c = {"direct_bf16", 14, 2, 75, 91, "--no-aux --dtype bf16", "--conv direct"};
    check_case(&c);
}

Test(e2e, winograd_for_every_3x3_stride_1) {
    e2e_case c = {"winograd", 41, 2, 131, 117, "--no-aux", "--conv winograd"};
    check_case(&c);
}

/* classify on the shipped photos (PNG and JPEG, not square) with a model
 * torchvision made and calibrated on them: the same top-1 class as
 * torchvision's own preprocessing and forward, and at least 4 of its top-5. */
Test(e2e, classify_agrees_with_torchvision) {
    char dir[1024], cmd[16384], images[3][1200];
    const char *src = env("CLN_SOURCE_DIR");
    static const char *const names[3] = {"chelsea.png", "coffee.jpg", "astronaut.png"};
    snprintf(dir, sizeof dir, "%s/e2e/classify", env("CLN_BUILD_DIR"));
    for (int i = 0; i < 3; i++)
        snprintf(images[i], sizeof images[i], "%s/tools/data/%s", src, names[i]);
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    cr_assert_eq(run(cmd), 0);
    snprintf(cmd, sizeof cmd,
             PYTHON " %s/tools/make_reference.py --out %s --seed 5 --image %s --image %s "
                    "--image %s >&2",
             src, dir, images[0], images[1], images[2]);
    cr_assert_eq(run(cmd), 0, "make_reference.py failed");
    snprintf(cmd, sizeof cmd,
             "%s classify --weights %s/model.safetensors --device cpu --json --batch 2 %s %s %s "
             "> %s/ours.jsonl",
             env("CLINCEPTION"), dir, images[0], images[1], images[2], dir);
    cr_assert_eq(run(cmd), 0, "clinception classify failed");
    snprintf(cmd, sizeof cmd,
             PYTHON " %s/tools/compare_classify.py %s/logits.npy %s/ours.jsonl >&2", src, dir, dir);
    cr_expect_eq(run(cmd), 0, "classify differs from torchvision (see the log)");
}
