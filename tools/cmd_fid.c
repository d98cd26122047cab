/* clinception fid: the Frechet Inception Distance as pytorch-fid computes it. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include "cluster.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


/* Each image's features averaged over space (as pytorch-fid's
 * adaptive_avg_pool2d) into the accumulator, in float64. */
typedef struct {
    cln_fid_accumulator *acc;
    int pixels;
} fid_sink;

static cln_status add_features(batch_sink *sink, const char *const *names, int n, const float *out,
                               cln_error *err) {
    (void)names;
    fid_sink *f = sink->ctx;
    return cln_fid_accumulate_features(f->acc, out, (size_t)n, f->pixels, err);
}

static cln_status pack_features(batch_sink *sink, void **bytes, size_t *size, cln_error *err) {
    return cln_fid_accumulator_pack(((fid_sink *)sink->ctx)->acc, bytes, size, err);
}

static cln_status merge_features(batch_sink *sink, const void *bytes, size_t size, cln_error *err) {
    return cln_fid_accumulator_merge(((fid_sink *)sink->ctx)->acc, bytes, size, err);
}

static bool is_stats_file(const char *arg) {
    const size_t n = strlen(arg);
    return n >= 4 && strcasecmp(arg + n - 4, ".npz") == 0;
}

static bool is_list_file(const char *arg) {
    const size_t n = strlen(arg);
    return strcmp(arg, "-") == 0 || (n >= 4 && strcasecmp(arg + n - 4, ".txt") == 0);
}

/* The statistics of one set: read from a .npz, or made from its images on
 * the session (opened on first use); *failed counts images left out. */
static cln_status set_statistics(const common_args *a, image_args ia, session *s, const char *arg,
                                 int dims, const char *const *outputs, size_t output_count,
                                 cln_fid_stats *out, size_t *failed, cln_error *err) {
    if (is_stats_file(arg)) {
        cln_status st = cln_fid_stats_read(arg, out, err);
        if (st == CLN_OK && out->dims != dims)
            st = cln_error_set(err, CLN_ERR_INVALID_ARGUMENT,
                               "%s holds statistics of %d dims, not --dims %d", arg, out->dims,
                               dims);
        return st;
    }
    cln_image_set *set = NULL;
    fid_sink f = {0};
    const char *layer = cln_fid_layer(dims);
    cln_status st = new_image_set(&set, err);
    if (st == CLN_OK)
        st = is_list_file(arg) ? cln_image_set_add_list(set, arg, err)
                               : cln_image_set_add(set, arg, err);
    if (st == CLN_OK)
        st = outputs_not_inputs(outputs, output_count, set, is_list_file(arg) ? arg : NULL, err);
    if (st == CLN_OK && cln_image_set_count(set) == 0)
        st = cln_error_set(err, CLN_ERR_INVALID_ARGUMENT,
                           "%s: no images: it holds no file with an image extension", arg);
    if (st == CLN_OK && !s->model) st = open_session(a, s, err);
    int c, oh, ow;
    if (st == CLN_OK)
        st = cln_model_feature_shape(s->model, layer, CLN_FID_SIZE, CLN_FID_SIZE, &c, &oh, &ow,
                                     err);
    if (st == CLN_OK) st = cln_fid_accumulator_create(c, &f.acc, err);
    if (st == CLN_OK) st = fitting_batch(s, ia.batch, CLN_FID_SIZE, CLN_FID_SIZE, &ia.batch, err);
    if (st != CLN_OK) goto done;
    s->layer = layer;
    f.pixels = oh * ow;
    ia.crop = CLN_FID_SIZE;
    /* over several ranks, each adds up its own images, and rank 0 their sums */
    batch_sink sink = {add_features, &f,   (size_t)c * oh * ow, 0,
                       false,        true, pack_features,       merge_features};
    bool all_read;
    st = run_images("fid", a, s, &ia, set, &sink, &all_read, err);
    if (st != CLN_OK || cluster_rank() > 0) goto done; /* a rank's sums went to rank 0 */
    const size_t count = cln_fid_accumulator_count(f.acc);
    *failed += all_read ? 0 : cln_image_set_count(set) - count;
    if ((st = cln_fid_stats_from(f.acc, out, err)) != CLN_OK)
        cln_error_append(err, " (%s gave %zu)", arg, count);
done:
    cln_fid_accumulator_free(f.acc);
    cln_image_set_free(set);
    return st;
}

int cmd_fid(int argc, char **argv) {
    common_args a = {.command = "fid", .network = CLN_NETWORK_FID};
    image_args ia = {0};
    long dims = 2048;
    bool json = false, save = false;
    const opt_spec specs[] = {
        {"dims", OPT_COUNT, &dims, 1, 2048, "D",
         "the features: 2048 (the final average pool, the default),\n"
         "768 (Mixed_6e), 192 (maxpool2) or 64 (maxpool1)"},
        {"save-stats", OPT_FLAG, &save, 0, 0, NULL, "write the statistics of IMAGES to OUT.npz"},
        {"json", OPT_FLAG, &json, 0, 0, NULL,
         "end with one JSON line: {\"fid\": VALUE, \"dims\": D,\n"
         "\"images\": [NA, NB] (null for a statistics file),\n"
         "\"failed\": K, \"offset\": BOOL (1e-6 was added)}"},
        IMAGE_BATCH_OPTIONS(ia),
        COMMON_OPTIONS(a),
    };
    const command cmd = {
        "fid",
        "fid (--weights W.safetensors | --random-weights) [--dims D]\n"
        "    [--batch B] [--workers N] [--json] [--progress] [OPTIONS] A B\n"
        "clinception fid --save-stats [--dims D] [OPTIONS] IMAGES OUT.npz",
        "Prints the Frechet Inception Distance between A and B as pytorch-fid computes\n"
        "it, on any OpenCL device. A and B are each a folder of images (read\n"
        "recursively, as classify reads one), a list of image paths (a file ending in\n"
        ".txt, one path or folder per line, or - for standard input), or a .npz of\n"
        "statistics (pytorch-fid's: mu and sigma; no weights are needed for two).\n"
        "The FID Inception (--network fid; weights pt_inception-2015-12-05 converted by\n"
        "tools/pth_to_safetensors.py, see the README) runs on each image as\n"
        "pytorch-fid's does: RGB, scaled to [0, 1], resized to 299 x 299 (bilinear\n"
        "without antialiasing), 2x - 1; the features are those of --dims, averaged\n"
        "over space; their mean and covariance (N - 1) are taken in float64, and\n"
        "d^2 = |mu1 - mu2|^2 + tr(s1 + s2 - 2 sqrtm(s1 s2)), with 1e-6 added to both\n"
        "diagonals where the product has no finite square root, as pytorch-fid does.\n"
        "An image that cannot be read is named and left out (the exit status is then\n"
        "1). With --save-stats, IMAGES' statistics are written to OUT.npz instead,\n"
        "which pytorch-fid reads (and fid reads pytorch-fid's).\n",
        specs,
        (int)(sizeof specs / sizeof specs[0]),
    };
    int parsed = parse_options(&cmd, argc, argv);
    if (parsed >= 0) return parsed;
    if (a.network != CLN_NETWORK_FID) {
        fprintf(stderr, "clinception fid: FID runs the FID Inception; --network does not apply\n");
        return 2;
    }
    if (dims != 2048 && dims != 768 && dims != 192 && dims != 64) {
        fprintf(stderr, "clinception fid: --dims takes 2048, 768, 192 or 64, not %ld\n", dims);
        return 2;
    }
    if (argc - optind != 2)
        return usage_error(&cmd, "give two sets: A B (or IMAGES OUT.npz with --save-stats)");
    const char *first = argv[optind], *second = argv[optind + 1];
    if (save && (is_stats_file(first) || !is_stats_file(second))) {
        fprintf(stderr, "clinception fid: --save-stats takes images and then the .npz to write\n");
        return 2;
    }
    const bool images = !is_stats_file(first) || (!save && !is_stats_file(second));
    if (images && !weights_given(&cmd, &a)) return 2;
    cln_error err;
    const char *outputs[] = {save ? second : NULL, a.csv, a.trace};
    if (check_outputs(&a, outputs, 3, NULL, &err) != CLN_OK) return fail(&err);

    session s = {0};
    cln_fid_stats sa = {0}, sb = {0};
    size_t failed = 0;
    int rc = 1;
    cln_status st = set_statistics(&a, ia, &s, first, (int)dims, outputs, 3, &sa, &failed, &err);
    if (st != CLN_OK) goto done;
    if (save && cluster_rank() > 0) { /* rank 0 writes */
        rc = 0;
        command_finished = true;
        goto done;
    }
    if (save) {
        if ((st = cln_fid_stats_write(second, &sa, &err)) != CLN_OK) goto done;
        fprintf(stderr, "wrote %s (statistics of %zu images, %ld dims)\n", second, sa.count, dims);
        rc = failed ? 1 : 0;
        command_finished = true;
        goto done;
    }
    a.profile = false; /* a second set: profile and trace only the first */
    a.csv = a.trace = NULL;
    st = set_statistics(&a, ia, &s, second, (int)dims, outputs, 3, &sb, &failed, &err);
    if (st != CLN_OK) goto done;
    if (cluster_rank() > 0) { /* rank 0 compares the sums of every rank */
        rc = 0;
        command_finished = true;
        goto done;
    }
    double fid;
    bool offset;
    if ((st = cln_fid_distance(&sa, &sb, &fid, &offset, &err)) != CLN_OK) {
        cln_error_append(&err, " (the first: %s; the second: %s)", first, second);
        goto done;
    }
    if (offset)
        fprintf(stderr,
                "clinception fid: the covariances' product is singular; %g was added to "
                "their diagonals, as pytorch-fid does\n",
                CLN_FID_EPS);
    if (json) {
        char na[32] = "null", nb[32] = "null"; /* the images behind a set; null for a file */
        if (sa.count) snprintf(na, sizeof na, "%zu", sa.count);
        if (sb.count) snprintf(nb, sizeof nb, "%zu", sb.count);
        printf("{\"fid\": %.17g, \"dims\": %ld, \"images\": [%s, %s], \"failed\": %zu, "
               "\"offset\": %s}\n",
               fid, dims, na, nb, failed, offset ? "true" : "false");
    } else {
        printf("FID: %.6f\n", fid);
    }
    rc = failed ? 1 : 0;
    command_finished = true;
done:
    if (st != CLN_OK) fail(&err);
    cln_fid_stats_free(&sa);
    cln_fid_stats_free(&sb);
    close_session(&s);
    return rc;
}
