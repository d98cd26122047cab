/* End to end against torchvision: tools/make_reference.py builds Inception3
 * with seeded random weights and BatchNorm statistics, saves it as
 * safetensors and writes an input and torchvision's float64 logits;
 * `clinception infer` must match them (relative L2 error <= 1e-4, the same
 * top-5 classes per image), checked by tools/compare_logits.py. Seeds are
 * chosen so that neighbouring top-6 logits differ by several times the
 * tolerance (make_reference.py prints that margin). */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>

#include "../jobs/npy.h"

#include <math.h>
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

static void check_case(const e2e_case *c, int classes) {
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
    cln_npy ours = {0};
    cln_error err;
    cr_assert_eq(cln_npy_read(path, &ours, &err), CLN_OK, "%s", err.message);
    cr_expect_eq(ours.ndim, 2);
    cr_expect_eq(ours.shape[0], c->batch);
    cr_expect_eq(ours.shape[1], classes);
    cln_npy_free(&ours);

    snprintf(cmd, sizeof cmd,
             PYTHON " %s/tools/compare_logits.py %s/logits.npy %s/ours.npy "
                    "--tol 1e-4 >&2",
             env("CLN_SOURCE_DIR"), dir, dir);
    cr_expect_eq(run(cmd), 0, "%s: logits differ from torchvision's (see the log)", c->name);
}

Test(e2e, batch_2_at_299_torchvision_file) {
    e2e_case c = {"batch2_299", 21, 2, 299, 299, "", ""};
    check_case(&c, 1000);
}

Test(e2e, non_square_input_file_without_aux) {
    e2e_case c = {"nonsquare_noaux", 32, 1, 107, 139, "--no-aux", ""};
    check_case(&c, 1000);
}

Test(e2e, transform_input_with_f16_weights) {
    e2e_case c = {"transform_f16",    13, 1, 96, 80, "--transform-input --dtype f16",
                  "--transform-input"};
    check_case(&c, 1000);
}

Test(e2e, clblast_gemm_path) {
    e2e_case c = {"clblast_gemm", 35, 2, 83, 101, "--no-aux", "--conv gemm"};
    check_case(&c, 1000);
}

Test(e2e, direct_convolution_with_bf16_weights) {
    e2e_case c = {"direct_bf16", 14, 2, 75, 91, "--no-aux --dtype bf16", "--conv direct"};
    check_case(&c, 1000);
}

/* pytorch-fid's wheel, fetched by tools/setup.sh --tests into the build
 * folder (PyPI, pure Python; never committed). */
#define PYTORCH_FID_WHEEL "pytorch-fid/pytorch_fid-0.3.0-py3-none-any.whl"

/* The FID Inception, built by pytorch-fid's own fid_inception_v3() with
 * seeded weights and calibrated BatchNorm: its 1008 logits, with the average
 * pools that do not count the padding and Mixed_7c's max pool (the
 * Inception v3 table on the same file gives other top-5 classes). */
Test(e2e, fid_inception_against_pytorch_fid) {
    char flags[4096];
    snprintf(flags, sizeof flags, "--network fid --pytorch-fid %s/" PYTORCH_FID_WHEEL,
             env("CLN_BUILD_DIR"));
    e2e_case c = {"fid_inception", 7, 2, 299, 299, flags, "--network fid"};
    check_case(&c, 1008);
    /* as pt_inception-2015-12-05-6726825d.pth comes: a plain state dict in a
     * .pth, converted by tools/pth_to_safetensors.py */
    char dir[1024], cmd[16384];
    snprintf(dir, sizeof dir, "%s/e2e/fid_inception", env("CLN_BUILD_DIR"));
    snprintf(
        cmd, sizeof cmd,
        PYTHON
        " -c \"import sys, torch; sys.path.insert(0, '%s/tools'); "
        "from safetensors_io import load_safetensors; "
        "torch.save(load_safetensors('%s/model.safetensors'), '%s/pt_inception.pth')\" && " PYTHON
        " %s/tools/pth_to_safetensors.py %s/pt_inception.pth %s/converted.safetensors >&2 && "
        "%s infer --network fid --weights %s/converted.safetensors --input %s/input.npy "
        "--output %s/converted.npy --device cpu >&2 && " PYTHON
        " %s/tools/compare_logits.py %s/logits.npy %s/converted.npy --tol 1e-4 >&2",
        env("CLN_SOURCE_DIR"), dir, dir, env("CLN_SOURCE_DIR"), dir, dir, env("CLINCEPTION"), dir,
        dir, dir, env("CLN_SOURCE_DIR"), dir, dir);
    cr_expect_eq(run(cmd), 0, "a .pth of the FID Inception, converted, gives other logits");
    e2e_case small = {"fid_inception_small", 9, 1, 83, 97, flags, "--network fid --conv winograd"};
    check_case(&small, 1008);
}

/* The "fid" of the last line a command printed to path (clinception's
 * --json, fid_reference.py). */
static double fid_of(const char *path) {
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    char line[4096], last[4096] = "";
    while (fgets(line, sizeof line, f))
        memcpy(last, line, sizeof line);
    fclose(f);
    const char *at = strstr(last, "\"fid\": ");
    cr_assert_not_null(at, "no FID in %s: %s", path, last);
    return strtod(at + 7, NULL);
}

/* A FID Inception made by pytorch-fid's code with seeded weights, and two
 * folders of seeded synthetic images (PNG and JPEG, sizes from 40 to 400);
 * *dir is the case's folder. */
static void fid_case(const char *name, int seed, char *dir, size_t cap) {
    char cmd[16384];
    snprintf(dir, cap, "%s/e2e/%s", env("CLN_BUILD_DIR"), name);
    snprintf(cmd, sizeof cmd,
             "rm -rf %s && mkdir -p %s && " PYTHON
             " %s/tools/make_reference.py --network fid --pytorch-fid %s/" PYTORCH_FID_WHEEL
             " --out %s --seed %d >&2 && " PYTHON
             " %s/tools/make_fid_images.py --out %s/a --seed %d --count 12 && " PYTHON
             " %s/tools/make_fid_images.py --out %s/b --seed %d --count 11 --tint 0.15",
             dir, dir, env("CLN_SOURCE_DIR"), env("CLN_BUILD_DIR"), dir, seed,
             env("CLN_SOURCE_DIR"), dir, seed + 1, env("CLN_SOURCE_DIR"), dir, seed + 2);
    cr_assert_eq(run(cmd), 0, "making the FID case failed");
}

/* pytorch-fid's FID of A and B (each a folder or an .npz) at dims. */
static double reference_fid(const char *dir, const char *a, const char *b, int dims) {
    char cmd[16384], out[4200];
    snprintf(out, sizeof out, "%s/reference-%d.txt", dir, dims);
    snprintf(cmd, sizeof cmd,
             PYTHON " %s/tools/fid_reference.py --pytorch-fid %s/" PYTORCH_FID_WHEEL
                    " --weights %s/model.safetensors --dims %d %s %s > %s",
             env("CLN_SOURCE_DIR"), env("CLN_BUILD_DIR"), dir, dims, a, b, out);
    cr_assert_eq(run(cmd), 0, "fid_reference.py failed");
    return fid_of(out);
}

static double our_fid(const char *dir, const char *a, const char *b, int dims) {
    char cmd[16384], out[4200];
    snprintf(out, sizeof out, "%s/ours-%d.txt", dir, dims);
    snprintf(cmd, sizeof cmd,
             "%s fid --weights %s/model.safetensors --device cpu --dims %d --json %s %s > %s",
             env("CLINCEPTION"), dir, dims, a, b, out);
    cr_assert_eq(run(cmd), 0, "clinception fid failed");
    return fid_of(out);
}

/* clinception fid against pytorch-fid's own code (its InceptionV3,
 * get_activations in float64, calculate_frechet_distance) at each of the
 * four dims: within 1e-3 relative. */
Test(e2e, fid_at_every_dims_against_pytorch_fid) {
    char dir[4096], a[4200], b[4200];
    fid_case("fid_dims", 52, dir, sizeof dir);
    snprintf(a, sizeof a, "%s/a", dir);
    snprintf(b, sizeof b, "%s/b", dir);
    const int dims[] = {64, 192, 768, 2048};
    for (int i = 0; i < 4; i++) {
        const double theirs = reference_fid(dir, a, b, dims[i]), ours = our_fid(dir, a, b, dims[i]);
        cr_log_info("dims %d: FID %.10g, pytorch-fid %.10g", dims[i], ours, theirs);
        cr_expect(theirs > 0, "dims %d: pytorch-fid's FID %g", dims[i], theirs);
        cr_expect_leq(fabs(ours - theirs), 1e-3 * fabs(theirs),
                      "dims %d: FID %.10g, pytorch-fid %.10g", dims[i], ours, theirs);
    }
}

/* Statistics files both ways: ours (--save-stats) read by pytorch-fid, and
 * pytorch-fid's (save_fid_stats, np.savez_compressed) read by ours, give
 * the FID of the folders. */
Test(e2e, fid_statistics_files_both_ways) {
    char dir[4096], a[4200], b[4200], ours_npz[4200], theirs_npz[4200], cmd[16384];
    fid_case("cln_fid_stats", 61, dir, sizeof dir);
    snprintf(a, sizeof a, "%s/a", dir);
    snprintf(b, sizeof b, "%s/b", dir);
    snprintf(ours_npz, sizeof ours_npz, "%s/a_ours.npz", dir);
    snprintf(theirs_npz, sizeof theirs_npz, "%s/b_theirs.npz", dir);
    snprintf(cmd, sizeof cmd,
             "%s fid --weights %s/model.safetensors --device cpu --dims 192 --save-stats %s %s >&2",
             env("CLINCEPTION"), dir, a, ours_npz);
    cr_assert_eq(run(cmd), 0, "clinception fid --save-stats failed");
    snprintf(cmd, sizeof cmd,
             PYTHON " %s/tools/fid_reference.py --pytorch-fid %s/" PYTORCH_FID_WHEEL
                    " --weights %s/model.safetensors --dims 192 --save-stats %s %s >&2",
             env("CLN_SOURCE_DIR"), env("CLN_BUILD_DIR"), dir, b, theirs_npz);
    cr_assert_eq(run(cmd), 0, "pytorch-fid's save_fid_stats failed");
    const double folders = reference_fid(dir, a, b, 192);
    const double read_by_them = reference_fid(dir, ours_npz, b, 192);
    const double read_by_us = our_fid(dir, a, theirs_npz, 192);
    const double both_files = our_fid(dir, ours_npz, theirs_npz, 192);
    cr_expect_leq(fabs(read_by_them - folders), 1e-3 * folders, "%.10g against %.10g", read_by_them,
                  folders);
    cr_expect_leq(fabs(read_by_us - folders), 1e-3 * folders, "%.10g against %.10g", read_by_us,
                  folders);
    cr_expect_leq(fabs(both_files - folders), 1e-3 * folders, "%.10g against %.10g", both_files,
                  folders);
}

Test(e2e, winograd_for_every_3x3_stride_1) {
    e2e_case c = {"winograd", 41, 2, 131, 117, "--no-aux", "--conv winograd"};
    check_case(&c, 1000);
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

/* A fine-tuned head (fc = nn.Linear(2048, 7), no aux head): the logits, the
 * pooled features and intermediate layers (a block's concatenation, a
 * convolution inside a block, a top-level pool), each against torchvision's
 * forward hooks. */
Test(e2e, fine_tuned_head_logits_and_features) {
    static const char *const layers[] = {"avgpool", "Mixed_6b", "Mixed_5d.branch3x3dbl_2",
                                         "maxpool1"};
    const e2e_case c = {"fine_tuned",
                        23,
                        2,
                        155,
                        171,
                        "--no-aux --classes 7 --features avgpool --features Mixed_6b --features "
                        "Mixed_5d.branch3x3dbl_2 --features maxpool1",
                        ""};
    check_case(&c, 7);
    char dir[4096], cmd[16384];
    snprintf(dir, sizeof dir, "%s/e2e/%s", env("CLN_BUILD_DIR"), c.name);
    for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++) {
        snprintf(cmd, sizeof cmd,
                 "%s features --weights %s/model.safetensors --input %s/input.npy --output "
                 "%s/ours_%s.npy --layer %s --device cpu >&2",
                 env("CLINCEPTION"), dir, dir, dir, layers[i], layers[i]);
        cr_assert_eq(run(cmd), 0, "clinception features --layer %s failed", layers[i]);
        snprintf(cmd, sizeof cmd,
                 PYTHON " %s/tools/compare_logits.py --features %s/features_%s.npy "
                        "%s/ours_%s.npy --tol 1e-4 >&2",
                 env("CLN_SOURCE_DIR"), dir, layers[i], dir, layers[i]);
        cr_expect_eq(run(cmd), 0, "%s differs from torchvision's (see the log)", layers[i]);
    }
}

/* classify --labels on a fine-tuned 7-class model over a folder tree with
 * broken files and a file of another kind: the photos in sorted path order
 * with torchvision's top classes and the file's labels, each broken file
 * named, the exit status 1. */
Test(e2e, classify_folder_tree_with_labels_and_broken_files) {
    char dir[1024], cmd[16384];
    const char *src = env("CLN_SOURCE_DIR");
    snprintf(dir, sizeof dir, "%s/e2e/folder", env("CLN_BUILD_DIR"));
    snprintf(cmd, sizeof cmd,
             "rm -rf %s && mkdir -p %s/tree/b/c && cp %s/tools/data/chelsea.png %s/tree/a_cat.png "
             "&& cp %s/tools/data/astronaut.png %s/tree/b/c/astronaut.PNG && cp "
             "%s/tools/data/coffee.jpg %s/tree/b/coffee.jpg && echo junk > %s/tree/b/broken.jpg && "
             "head -c 3000 %s/tools/data/chelsea.png > %s/tree/b/c/truncated.png && echo notes > "
             "%s/tree/notes.txt && printf 'chat\\ncaf\\303\\251\\n\\345\\256\\207\\345\\256\\231\\n"
             "d\\ne\\nf\\ng\\n' > %s/labels.txt",
             dir, dir, src, dir, src, dir, src, dir, dir, src, dir, dir, dir);
    cr_assert_eq(run(cmd), 0);
    snprintf(cmd, sizeof cmd,
             PYTHON " %s/tools/make_reference.py --out %s --seed 5 --classes 7 --no-aux --image "
                    "%s/tree/a_cat.png --image %s/tree/b/c/astronaut.PNG --image "
                    "%s/tree/b/coffee.jpg >&2",
             src, dir, dir, dir, dir);
    cr_assert_eq(run(cmd), 0, "make_reference.py failed");
    snprintf(cmd, sizeof cmd,
             "%s classify --weights %s/model.safetensors --device cpu --json --labels "
             "%s/labels.txt %s/tree > %s/ours.jsonl 2> %s/stderr.txt",
             env("CLINCEPTION"), dir, dir, dir, dir, dir);
    cr_expect_eq(run(cmd), 1, "classify of a tree with broken files must exit 1");
    snprintf(cmd, sizeof cmd,
             "cat %s/stderr.txt >&2 && grep -q 'tree/b/broken.jpg' %s/stderr.txt && grep -q "
             "'tree/b/c/truncated.png' %s/stderr.txt && grep -q '5 images, 2 failed' "
             "%s/stderr.txt",
             dir, dir, dir, dir);
    cr_expect_eq(run(cmd), 0, "the broken files are not both named, or no summary");
    snprintf(cmd, sizeof cmd,
             PYTHON " %s/tools/compare_classify.py %s/logits.npy %s/ours.jsonl --labels "
                    "%s/labels.txt --image %s/tree/a_cat.png --image %s/tree/b/c/astronaut.PNG "
                    "--image %s/tree/b/coffee.jpg >&2",
             src, dir, dir, dir, dir, dir, dir);
    cr_expect_eq(run(cmd), 0, "classify differs from torchvision (see the log)");
}

/* ---- The library's jobs alone, without the program ---------------------- */

/* A batch's logits into rows in input order. */
typedef struct {
    float *logits;
    int classes;
    int seen;
} logits_sink;

static cln_status keep_logits(void *ctx, const size_t *indices, int n, const float *out,
                              cln_error *err) {
    (void)err;
    logits_sink *s = ctx;
    for (int i = 0; i < n; i++)
        memcpy(s->logits + indices[i] * (size_t)s->classes, out + (size_t)i * s->classes,
               (size_t)s->classes * sizeof *out);
    s->seen += n;
    return CLN_OK;
}

/* The photos through an image set, the library's stream and pool
 * (torchvision's preprocessing, batches of 2): the logits of torchvision's
 * own preprocessing and forward. */
Test(e2e, library_images_through_the_pool_against_torchvision) {
    char dir[1024], cmd[16384], weights[1200], ours[1200], folder[1200];
    const char *src = env("CLN_SOURCE_DIR");
    snprintf(dir, sizeof dir, "%s/e2e/library_images", env("CLN_BUILD_DIR"));
    snprintf(folder, sizeof folder, "%s/photos", dir);
    snprintf(cmd, sizeof cmd,
             "rm -rf %s && mkdir -p %s && cp %s/tools/data/astronaut.png %s/tools/data/chelsea.png "
             "%s/tools/data/coffee.jpg %s && " PYTHON
             " %s/tools/make_reference.py --out %s --seed 7 --image %s/astronaut.png --image "
             "%s/chelsea.png --image %s/coffee.jpg >&2",
             dir, folder, src, src, src, folder, src, dir, folder, folder, folder);
    cr_assert_eq(run(cmd), 0, "making the reference failed");
    snprintf(weights, sizeof weights, "%s/model.safetensors", dir);
    cln_error err;
    cln_image_set *set = NULL;
    cln_pool *pool = NULL;
    cr_assert_eq(cln_image_set_create(NULL, NULL, &set, &err), CLN_OK, "%s", err.message);
    cr_assert_eq(cln_image_set_add(set, folder, &err), CLN_OK, "%s", err.message);
    cr_assert_eq(cln_image_set_count(set), 3); /* sorted: astronaut, chelsea, coffee */
    cln_pool_params pp = cln_pool_default_params();
    pp.devices = "cpu";
    pp.weights = weights;
    cr_assert_eq(cln_pool_create(&pp, &pool, &err), CLN_OK, "%s", err.message);
    logits_sink sink = {.classes = cln_model_num_classes(cln_pool_model(pool, 0))};
    sink.logits = calloc(3 * (size_t)sink.classes, sizeof *sink.logits);
    cln_run_params params = cln_run_default_params();
    params.batch = 2;
    params.on_batch = keep_logits;
    params.ctx = &sink;
    cr_expect_eq(cln_pool_run_images(pool, cln_image_set_paths(set), cln_image_set_count(set),
                                     &params, NULL, &err),
                 CLN_OK, "%s", err.message);
    cr_expect_eq(sink.seen, 3);
    snprintf(ours, sizeof ours, "%s/ours.npy", dir);
    const int64_t shape[2] = {3, sink.classes};
    cr_expect_eq(cln_npy_write(ours, sink.logits, 2, shape, &err), CLN_OK, "%s", err.message);
    snprintf(cmd, sizeof cmd, PYTHON " %s/tools/compare_logits.py %s/logits.npy %s --tol 1e-4 >&2",
             src, dir, ours);
    cr_expect_eq(run(cmd), 0, "the library's logits differ from torchvision's (see the log)");
    free(sink.logits);
    cln_pool_free(pool);
    cln_image_set_free(set);
}

/* The statistics of one folder of a FID case through the library alone. */
static void library_stats(const char *dir, const char *folder, int dims, cln_fid_stats *out) {
    char weights[4200];
    snprintf(weights, sizeof weights, "%s/model.safetensors", dir);
    cln_error err;
    cln_image_set *set = NULL;
    cln_pool *pool = NULL;
    cln_fid_accumulator *acc = NULL;
    cln_pool_params pp = cln_pool_default_params();
    pp.devices = "cpu";
    pp.network = CLN_NETWORK_FID;
    pp.weights = weights;
    cr_assert_eq(cln_image_set_create(NULL, NULL, &set, &err), CLN_OK, "%s", err.message);
    cr_assert_eq(cln_image_set_add(set, folder, &err), CLN_OK, "%s", err.message);
    cr_assert_eq(cln_pool_create(&pp, &pool, &err), CLN_OK, "%s", err.message);
    cr_assert_eq(cln_fid_accumulator_create(dims, &acc, &err), CLN_OK, "%s", err.message);
    cr_assert_eq(cln_pool_fid_accumulate(pool, cln_image_set_paths(set), cln_image_set_count(set),
                                         NULL, acc, &err),
                 CLN_OK, "%s", err.message);
    cr_assert_eq(cln_fid_accumulator_count(acc), cln_image_set_count(set));
    cr_assert_eq(cln_fid_stats_from(acc, out, &err), CLN_OK, "%s", err.message);
    cln_fid_accumulator_free(acc);
    cln_pool_free(pool);
    cln_image_set_free(set);
}

static double relative_l2(const double *a, const double *b, size_t n) {
    double d = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        d += (a[i] - b[i]) * (a[i] - b[i]);
        r += b[i] * b[i];
    }
    return sqrt(d / r);
}

/* FID statistics through the library's set, pool and accumulator: mu and
 * sigma against pytorch-fid's save_fid_stats, and the distance of two
 * folders against pytorch-fid's FID. */
Test(e2e, library_fid_against_pytorch_fid) {
    char dir[4096], a[4200], b[4200], theirs_npz[4200], cmd[16384];
    fid_case("library_fid", 73, dir, sizeof dir);
    snprintf(a, sizeof a, "%s/a", dir);
    snprintf(b, sizeof b, "%s/b", dir);
    snprintf(theirs_npz, sizeof theirs_npz, "%s/a_theirs.npz", dir);
    snprintf(cmd, sizeof cmd,
             PYTHON " %s/tools/fid_reference.py --pytorch-fid %s/" PYTORCH_FID_WHEEL
                    " --weights %s/model.safetensors --dims 768 --save-stats %s %s >&2",
             env("CLN_SOURCE_DIR"), env("CLN_BUILD_DIR"), dir, a, theirs_npz);
    cr_assert_eq(run(cmd), 0, "pytorch-fid's save_fid_stats failed");
    cln_fid_stats ours_a = {0}, ours_b = {0}, theirs_a = {0};
    cln_error err;
    library_stats(dir, a, 768, &ours_a);
    library_stats(dir, b, 768, &ours_b);
    cr_assert_eq(cln_fid_stats_read(theirs_npz, &theirs_a, &err), CLN_OK, "%s", err.message);
    cr_assert_eq(theirs_a.dims, 768);
    const double mu = relative_l2(ours_a.mu, theirs_a.mu, 768);
    const double sigma = relative_l2(ours_a.sigma, theirs_a.sigma, 768 * 768);
    cr_log_info("mu %.3g, sigma %.3g relative L2 against pytorch-fid", mu, sigma);
    cr_expect_leq(mu, 1e-4, "mu: relative L2 %g", mu);
    cr_expect_leq(sigma, 1e-4, "sigma: relative L2 %g", sigma);
    double fid = 0;
    cr_assert_eq(cln_fid_distance(&ours_a, &ours_b, &fid, NULL, &err), CLN_OK, "%s", err.message);
    const double theirs = reference_fid(dir, a, b, 768);
    cr_log_info("FID %.10g, pytorch-fid %.10g", fid, theirs);
    cr_expect_leq(fabs(fid - theirs), 1e-3 * fabs(theirs), "FID %.10g, pytorch-fid %.10g", fid,
                  theirs);
    cln_fid_stats_free(&ours_a);
    cln_fid_stats_free(&ours_b);
    cln_fid_stats_free(&theirs_a);
}
