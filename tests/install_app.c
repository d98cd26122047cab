/* A program of someone else's, built against the installed library through
 * pkg-config by tests/test_install.c: the version, one forward of a seeded
 * random model on the default device, then the jobs of the library alone:
 * the images of a folder (argv[1]) classified, and the FID of that folder
 * against itself and against its first image left out. Prints "version V",
 * "class C", one "image PATH class C prob P" per image, "fid-self F" and
 * "fid-other F"; exits 0. On an error, prints it and exits 1. */
#include <clinception.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cln_status print_top(void *ctx, const size_t *indices, int n, const float *out,
                            cln_error *err) {
    (void)err;
    const cln_image_set *set = ctx;
    for (int i = 0; i < n; i++) {
        int best;
        double prob;
        cln_top_classes(out + (size_t)i * CLN_NUM_CLASSES, CLN_NUM_CLASSES, 1, &best, &prob);
        printf("image %s class %d prob %.6f label %s\n", cln_image_set_paths(set)[indices[i]],
               best, prob, cln_imagenet_label(best));
    }
    return CLN_OK;
}

static void print_failure(void *ctx, size_t index, const cln_error *why) {
    (void)ctx;
    fprintf(stderr, "image %zu: %s\n", index, why->message);
}

/* The FID statistics of paths[count] on the pool. */
static cln_status stats_of(cln_pool *pool, const char *const *paths, size_t count,
                           cln_fid_stats *out, cln_error *err) {
    cln_fid_accumulator *acc = NULL;
    cln_run_params params = cln_run_default_params();
    params.stream.preprocess = CLN_PREPROCESS_FID;
    params.stream.crop = CLN_FID_SIZE;
    params.on_failure = print_failure;
    cln_status st = cln_fid_accumulator_create(2048, &acc, err);
    if (st == CLN_OK) st = cln_pool_fid_accumulate(pool, paths, count, &params, acc, err);
    if (st == CLN_OK) st = cln_fid_stats_from(acc, out, err);
    cln_fid_accumulator_free(acc);
    return st;
}

static cln_status jobs(const char *folder, cln_error *err) {
    cln_image_set *set = NULL;
    cln_pool *classifier = NULL, *fid = NULL;
    cln_fid_stats all = {0}, most = {0};
    cln_status st = cln_image_set_create(NULL, NULL, &set, err);
    if (st == CLN_OK) st = cln_image_set_add(set, folder, err);
    cln_pool_params pp = cln_pool_default_params();
    pp.seed = 3;
    if (st == CLN_OK) st = cln_pool_create(&pp, &classifier, err);
    if (st == CLN_OK) {
        cln_run_params params = cln_run_default_params();
        params.batch = 2;
        params.on_batch = print_top;
        params.on_failure = print_failure;
        params.ctx = set;
        st = cln_pool_run_images(classifier, cln_image_set_paths(set), cln_image_set_count(set),
                                 &params, NULL, err);
    }
    pp.network = CLN_NETWORK_FID;
    if (st == CLN_OK) st = cln_pool_create(&pp, &fid, err);
    const char *const *paths = st == CLN_OK ? cln_image_set_paths(set) : NULL;
    const size_t count = st == CLN_OK ? cln_image_set_count(set) : 0;
    if (st == CLN_OK) st = stats_of(fid, paths, count, &all, err);
    if (st == CLN_OK) st = stats_of(fid, paths + 1, count - 1, &most, err);
    double self = -1, other = -1;
    if (st == CLN_OK) st = cln_fid_distance(&all, &all, &self, NULL, err);
    if (st == CLN_OK) st = cln_fid_distance(&all, &most, &other, NULL, err);
    if (st == CLN_OK) printf("fid-self %.9g\nfid-other %.9g\n", self, other);
    cln_fid_stats_free(&all);
    cln_fid_stats_free(&most);
    cln_pool_free(fid);
    cln_pool_free(classifier);
    cln_image_set_free(set);
    return st;
}

int main(int argc, char **argv) {
    if (strcmp(cln_version(), CLN_VERSION_STRING) != 0) {
        fprintf(stderr, "header %s, library %s\n", CLN_VERSION_STRING, cln_version());
        return 1;
    }
    printf("version %s (%d.%d.%d)\n", cln_version(), CLN_VERSION_MAJOR, CLN_VERSION_MINOR,
           CLN_VERSION_PATCH);
    enum { n = 1, side = CLN_MIN_INPUT_SIZE };
    static float input[n * 3 * side * side], logits[n * CLN_NUM_CLASSES];
    for (size_t i = 0; i < sizeof input / sizeof input[0]; i++)
        input[i] = (float)(i % 13) / 13.0f;
    cln_error err;
    cln_runtime *rt = NULL;
    cln_model *model = NULL;
    cln_status st = cln_runtime_create(NULL, &rt, &err);
    if (st == CLN_OK) st = cln_model_load_random(rt, 3, &model, &err);
    if (st == CLN_OK) st = cln_model_forward(model, input, n, side, side, NULL, logits, &err);
    if (st == CLN_OK) {
        int best = 0;
        for (int c = 1; c < CLN_NUM_CLASSES; c++)
            if (logits[c] > logits[best]) best = c;
        printf("class %d\n", best);
    }
    cln_model_free(model);
    cln_runtime_free(rt);
    if (st == CLN_OK && argc > 1) st = jobs(argv[1], &err);
    if (st != CLN_OK) fprintf(stderr, "%s: %s\n", cln_status_name(st), err.message);
    return st == CLN_OK ? 0 : 1;
}
