/* clinception infer: the network on a .npy batch, the logits as .npy. */
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


static void print_top5(int image, const float *logits, int classes) {
    int top[5];
    const int k = classes < 5 ? classes : 5;
    cln_top_classes(logits, classes, k, top, NULL);
    printf("image %d: top-%d classes", image, k);
    for (int j = 0; j < k; j++)
        printf(" %d:%.3f", top[j], (double)logits[top[j]]);
    printf("\n");
}

int cmd_infer(int argc, char **argv) {
    common_args a = {.command = "infer"};
    const char *input = NULL, *output = NULL;
    long repeat = 1, batch = 0;
    const opt_spec specs[] = {
        {"input", OPT_TEXT, &input, 0, 0, "FILE", "the input batch, .npy float32 (N, 3, H, W)"},
        {"output", OPT_TEXT, &output, 0, 0, "FILE", "where the logits go, .npy float32 (N, K)"},
        {"transform-input", OPT_FLAG, &a.fwd.transform_input, 0, 0, NULL, TRANSFORM_INPUT_HELP},
        {"batch", OPT_COUNT, &batch, 1, 65536, "B",
         "run the input B images at a time (default: all at once,\n"
         "or split evenly over the devices or ranks); each image's\n"
         "logits are those of the batch it is in"},
        {"repeat", OPT_COUNT, &repeat, 1, 100000, "K",
         "run the forward K times (default 1) and print each time"},
        COMMON_OPTIONS(a),
    };
    const command cmd = {
        "infer",
        "infer (--weights W.safetensors | --random-weights) --input X.npy\n"
        "      --output Y.npy [--transform-input] [--batch B] [--repeat K]\n"
        "      [OPTIONS]",
        "Reads X, a float32 C-order .npy of shape (N, 3, H, W) with N >= 1 and H, W >= 75,\n"
        "runs the network (Inception v3, or --network's) in eval mode and writes the\n"
        "logits to Y, float32 (N, K) for the model's K classes (the rows of its\n"
        "fc.weight: 1000 for ImageNet's weights, 1008 for the FID Inception's).\n"
        "Prints each image's five highest logits (class index:logit) on standard output,\n"
        "and the device, load and forward times on standard error.\n",
        specs,
        (int)(sizeof specs / sizeof specs[0]),
    };
    int rc = parse_options(&cmd, argc, argv);
    if (rc >= 0) return rc;
    if (!no_arguments_left(&cmd, argc, argv)) return 2;
    if (!input || !output) return usage_error(&cmd, "give --input and --output");
    if (!weights_given(&cmd, &a)) return 2;
    cln_error err;
    const char *outputs[] = {output, a.csv, a.trace};
    if (check_outputs(&a, outputs, 3, input, &err) != CLN_OK)
        return fail(&err);

    cln_npy x = {0};
    session s = {0};
    float *logits = NULL;
    rc = 1;
    if (read_batch(input, &x, &err) != CLN_OK) goto done;
    const int all = (int)x.shape[0], h = (int)x.shape[2], w = (int)x.shape[3];
    if (open_session(&a, &s, &err) != CLN_OK || agree_on_batch(&a, &s, &x, &err) != CLN_OK)
        goto done;
    /* batches of B: by default all at once, or one per device or rank;
     * over several ranks, rank r takes a run of whole batches, rows
     * [first, first + n) */
    const int ranks = cluster_ranks(), parts = ranks > 1 ? ranks : s.devices;
    if (!batch) batch = (all + parts - 1) / parts;
    const int64_t batches = (all + batch - 1) / batch;
    const int64_t lo = batches * cluster_rank() / ranks * batch;
    const int64_t hi = batches * (cluster_rank() + 1) / ranks * batch;
    const int first = (int)(lo < all ? lo : all), n = (int)(hi < all ? hi : all) - first;
    const int classes = cln_model_num_classes(s.model);
    logits = malloc(((size_t)all * classes + 1) * sizeof *logits);
    if (!logits) {
        snprintf(err.message, sizeof err.message, "out of memory for the logits");
        goto done;
    }
    size_t images[MAX_DEVICES];
    const float *rows = x.data + (size_t)first * 3 * h * w;
    for (long k = 0; k < repeat && n > 0; k++) {
        double start = now_ms();
        if (run_input(&a, &s, rows, n, h, w, (int)batch, a.fwd, true, logits, images, &err) !=
            CLN_OK)
            goto done;
        const double ms = now_ms() - start;
        fprintf(stderr, "forward %ld: %d x 3 x %d x %d in %.1f ms (%.1f ms per image)\n", k + 1, n,
                h, w, ms, ms / n);
    }
    if (s.devices > 1) report_shares(&s, images);
    if (ranks > 1) { /* every rank's logits to rank 0, in order */
        if (cluster_rank() > 0) {
            cluster_send_floats(logits, (size_t)n * classes, sizeof *logits);
            rc = 0;
            command_finished = true;
            goto done;
        }
        for (int from = 1, at = n; from < ranks; from++) {
            const int64_t end = batches * (from + 1) / ranks * batch;
            const int rows_from = (int)(end < all ? end : all) - at;
            if (cluster_receive_floats(from, logits + (size_t)at * classes,
                                       (size_t)rows_from * classes, sizeof *logits,
                                       &err) != CLN_OK)
                goto done;
            at += rows_from;
        }
    }
    for (size_t i = 0; i < (size_t)all * classes; i++)
        if (!isfinite(logits[i])) {
            snprintf(err.message, sizeof err.message,
                     "the logits of image %zu are not finite (NaN or infinity): the weights "
                     "overflow float on this input; %s is not written",
                     i / (size_t)classes, output);
            goto done;
        }
    int64_t shape[2] = {all, classes};
    if (cln_npy_write(output, logits, 2, shape, &err) != CLN_OK) goto done;
    fprintf(stderr, "wrote %s (%d x %d)\n", output, all, classes);
    for (int b = 0; b < all; b++)
        print_top5(b, logits + (size_t)b * classes, classes);
    rc = 0;
    command_finished = true;
done:
    if (rc != 0) fail(&err);
    free(logits);
    close_session(&s);
    cln_npy_free(&x);
    return rc;
}
