/* clinception features: one layer's output for every image, as .npy. */
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


/* The paths list beside F: F's name with .npy replaced by (or, without it,
 * followed by) .paths.txt; malloc'd. */
static char *paths_list_name(const char *output) {
    size_t len = strlen(output);
    if (len >= 4 && strcmp(output + len - 4, ".npy") == 0) len -= 4;
    char *name = malloc(len + sizeof ".paths.txt");
    if (name) {
        memcpy(name, output, len);
        memcpy(name + len, ".paths.txt", sizeof ".paths.txt");
    }
    return name;
}

typedef struct {
    cln_npy_writer *npy;
    size_t row_floats;
    int64_t rows;
    cln_output *paths; /* NULL for an --input batch */
    FILE *paths_file;
    const char *paths_name;
} features_sink;

static cln_status write_rows(batch_sink *sink, const char *const *names, int n, const float *out,
                             cln_error *err) {
    features_sink *f = sink->ctx;
    for (int i = 0; i < n; i++) {
        if (f->paths && strpbrk(names[i], "\n\r")) {
            cli_note("%s: skipped: its name holds a line break, which the paths list cannot",
                        names[i]);
            sink->failures++;
            continue;
        }
        cln_status st = cln_npy_writer_append(f->npy, out + i * f->row_floats, 1, err);
        if (st != CLN_OK) return st;
        f->rows++;
        if (f->paths && fprintf(f->paths_file, "%s\n", names[i]) < 0)
            return cln_error_set(err, CLN_ERR_IO, "%s: cannot write: %s", f->paths_name,
                                 strerror(errno));
    }
    return CLN_OK;
}

/* The output's dimensions after the first: (2048) for avgpool, (K) for fc,
 * (C, H, W) for the rest. */
static int row_shape(const char *layer, int c, int h, int w, int64_t *shape) {
    shape[0] = c;
    if (strcmp(layer, "avgpool") == 0 || strcmp(layer, "fc") == 0) return 1;
    shape[1] = h;
    shape[2] = w;
    return 3;
}

static cln_status list_layers(const session *s, int h, int w, cln_error *err) {
    size_t count;
    const char *const *names = cln_model_feature_layers(s->model, &count);
    printf("layers at a %d x %d input (output channels x height x width):\n", h, w);
    for (size_t i = 0; i < count; i++) {
        int c, oh, ow;
        cln_status st = cln_model_feature_shape(s->model, names[i], h, w, &c, &oh, &ow, err);
        if (st != CLN_OK) return st;
        printf("  %-32s %5d x %3d x %3d\n", names[i], c, oh, ow);
    }
    return CLN_OK;
}

/* Rows [first, last) of an --input batch, `batch` images at a time, as
 * many batches at a time as there are devices; each group of rows to
 * `to` (the writer's append, or a send to rank 0). */
static cln_status rows_of_batch(const common_args *a, session *s, const cln_npy *x, int first,
                                int last, long batch, features_sink *f,
                                cln_status (*to)(features_sink *f, const float *rows, int n,
                                                 cln_error *err),
                                cln_error *err) {
    const int h = (int)x->shape[2], w = (int)x->shape[3];
    const size_t per_image = 3 * (size_t)h * w;
    const long group = batch * s->devices;
    float *out = malloc((size_t)group * f->row_floats * sizeof *out);
    if (!out)
        return cln_error_set(err, CLN_ERR_OUT_OF_MEMORY, "out of memory for a batch of %ld",
                             batch);
    cln_status st = CLN_OK;
    for (int at = first; at < last && st == CLN_OK; at += (int)group) {
        const int count = last - at < group ? last - at : (int)group;
        /* --profile, --csv and --trace: of the first batch */
        st = run_input(a, s, x->data + at * per_image, count, h, w, (int)batch, a->fwd,
                       at == first, out, NULL, err);
        if (st == CLN_OK) st = to(f, out, count, err);
    }
    free(out);
    return st;
}

static cln_status append_rows(features_sink *f, const float *rows, int n, cln_error *err) {
    f->rows += n;
    return cln_npy_writer_append(f->npy, rows, (size_t)n, err);
}

static cln_status send_rows(features_sink *f, const float *rows, int n, cln_error *err) {
    (void)err;
    cluster_send_floats(rows, (size_t)n * f->row_floats, sizeof *rows);
    return CLN_OK;
}

/* The rows of an --input batch: over several ranks, as infer splits it,
 * rank r a run of whole batches, each group of its rows sent to rank 0,
 * which writes every rank's in order (the bytes of one process). */
static cln_status features_of_batch(const common_args *a, session *s, const cln_npy *x, long batch,
                                    features_sink *f, cln_error *err) {
    const int n = (int)x->shape[0], ranks = cluster_ranks(), rank = cluster_rank();
    const int64_t batches = (n + batch - 1) / batch, group = batch * s->devices;
    int64_t lo[MAX_DEVICES + 1], hi[MAX_DEVICES + 1];
    for (int r = 0; r < ranks && r <= MAX_DEVICES; r++) {
        lo[r] = batches * r / ranks * batch;
        hi[r] = batches * (r + 1) / ranks * batch;
        lo[r] = lo[r] < n ? lo[r] : n;
        hi[r] = hi[r] < n ? hi[r] : n;
    }
    if (ranks > MAX_DEVICES + 1)
        return cln_error_set(err, CLN_ERR_INVALID_ARGUMENT, "more than %d ranks", MAX_DEVICES + 1);
    if (rank > 0)
        return rows_of_batch(a, s, x, (int)lo[rank], (int)hi[rank], batch, f, send_rows, err);
    cln_status st = rows_of_batch(a, s, x, (int)lo[0], (int)hi[0], batch, f, append_rows, err);
    float *rows = st == CLN_OK ? malloc((size_t)group * f->row_floats * sizeof *rows) : NULL;
    if (st == CLN_OK && !rows)
        st = cln_error_set(err, CLN_ERR_OUT_OF_MEMORY, "out of memory for a batch of %ld", batch);
    for (int r = 1; r < ranks && st == CLN_OK; r++)
        for (int64_t at = lo[r]; at < hi[r] && st == CLN_OK; at += group) {
            const int count = (int)(hi[r] - at < group ? hi[r] - at : group);
            st = cluster_receive_floats(r, rows, (size_t)count * f->row_floats, sizeof *rows, err);
            if (st == CLN_OK) st = append_rows(f, rows, count, err);
        }
    free(rows);
    return st;
}

int cmd_features(int argc, char **argv) {
    common_args a = {.command = "features"};
    image_args ia = {.resize = 342, .crop = 299};
    const char *output = NULL, *input = NULL, *layer = "avgpool";
    bool list = false;
    const opt_spec specs[] = {
        {"output", OPT_TEXT, &output, 0, 0, "FILE", "the .npy to write"},
        {"layer", OPT_TEXT, &layer, 0, 0, "NAME",
         "the layer, by its torchvision module name: Conv2d_1a_3x3,\n"
         "Conv2d_2a_3x3, Conv2d_2b_3x3, maxpool1, Conv2d_3b_1x1,\n"
         "Conv2d_4a_3x3, maxpool2, Mixed_5b ... Mixed_7c (a block's\n"
         "concatenated output), a convolution inside a block (e.g.\n"
         "Mixed_6b.branch7x7_2), avgpool or fc (default avgpool)"},
        {"list-layers", OPT_FLAG, &list, 0, 0, NULL,
         "print every layer's name and output shape (C x H x W) at\n"
         "the crop size (or --input's height and width), and stop"},
        {"input", OPT_TEXT, &input, 0, 0, "FILE",
         "a float32 (N, 3, H, W) .npy instead of images, run as by\n`clinception infer`"},
        {"transform-input", OPT_FLAG, &a.fwd.transform_input, 0, 0, NULL,
         "with --input: apply the network's input transform (as\n"
         "`clinception infer --help` says)"},
        IMAGE_OPTIONS(ia),
        COMMON_OPTIONS(a),
    };
    const command cmd = {
        "features",
        "features (--weights W.safetensors | --random-weights)\n"
        "         (--input X.npy | IMAGE|FOLDER ... | --files-from LIST)\n"
        "         --output F.npy [--layer NAME] [OPTIONS]\n"
        "clinception features (--weights W.safetensors | --random-weights)\n"
        "         --list-layers [--crop C | --input X.npy]",
        "Writes the output of one layer for every image to F, float32, one row per image\n"
        "in input order: (N, 2048) for avgpool (the default: the pooled features), (N, K)\n"
        "for fc (the logits), (N, C, H, W) for any other layer. The network runs up to\n"
        "that layer and no further. For images, F's rows are those that could be read,\n"
        "and their paths, one per line in the same order, go to F's name with .npy\n"
        "replaced by .paths.txt. F (and the paths) are written under a temporary name\n"
        "and appear whole at the end.\n" IMAGE_INPUT_HELP,
        specs,
        (int)(sizeof specs / sizeof specs[0]),
    };
    int parsed = parse_options(&cmd, argc, argv);
    if (parsed >= 0) return parsed;
    const bool images = optind < argc || ia.files_from;
    if (!list && (!output || images == !!input))
        return usage_error(&cmd, "give --output and either --input or images (not both)");
    if (list && (output || images))
        return usage_error(&cmd, "--list-layers takes no --output or images");
    if (!weights_given(&cmd, &a)) return 2;

    cln_error err;
    session s = {0};
    cln_image_set *set = NULL;
    cln_npy x = {0};
    features_sink f = {0};
    char *paths_name = NULL;
    bool all_read = true;
    int rc = 1, h = (int)ia.crop, w = (int)ia.crop;
    /* the paths list beside the array, for images */
    cln_status st = CLN_OK;
    if (images && !(paths_name = paths_list_name(output)))
        st = cln_error_set(&err, CLN_ERR_OUT_OF_MEMORY, "out of memory");
    const char *outputs[] = {output, paths_name, a.csv, a.trace};
    if (st == CLN_OK) st = check_outputs(&a, outputs, 4, input, &err);
    if (st == CLN_OK && input && (st = read_batch(input, &x, &err)) == CLN_OK) {
        h = (int)x.shape[2];
        w = (int)x.shape[3];
    } else if (st == CLN_OK && images) {
        st = new_image_set(&set, &err);
        if (st == CLN_OK) st = list_images(&ia, argc, argv, outputs, 4, set, &err);
    }
    if (st == CLN_OK) st = open_session(&a, &s, &err);
    if (st != CLN_OK) goto done;
    if (list) {
        st = list_layers(&s, h, w, &err);
        rc = st == CLN_OK ? 0 : 1;
        goto done;
    }
    int c, oh, ow;
    int64_t shape[3];
    if ((st = cln_model_feature_shape(s.model, layer, h, w, &c, &oh, &ow, &err)) != CLN_OK)
        goto done;
    s.layer = layer;
    /* over several ranks, rank 0 writes what every rank computes */
    const bool writer = cluster_rank() == 0;
    f.row_floats = (size_t)c * oh * ow;
    f.paths_name = paths_name;
    if (writer)
        st = cln_npy_writer_open(output, 1 + row_shape(layer, c, oh, ow, shape), shape, &f.npy,
                                 &err);
    if (st == CLN_OK && writer && !input)
        st = cln_output_open(paths_name, &f.paths, &f.paths_file, &err);
    long batch;
    if (st == CLN_OK) st = fitting_batch(&s, ia.batch, h, w, &batch, &err);
    if (st != CLN_OK) goto done;
    if (input) {
        st = agree_on_batch(&a, &s, &x, &err);
        if (st == CLN_OK) st = features_of_batch(&a, &s, &x, batch, &f, &err);
        if (st == CLN_OK && !writer) { /* its rows went to rank 0 */
            rc = 0;
            command_finished = true;
            goto done;
        }
    } else {
        ia.batch = batch;
        batch_sink sink = {write_rows, &f, f.row_floats, 0, false, false, NULL, NULL};
        st = run_images("features", &a, &s, &ia, set, &sink, &all_read, &err);
        if (!sink.completed) goto done;
        if (!writer) {
            rc = all_read ? 0 : 1;
            command_finished = true;
            goto done;
        }
    }
    if (st != CLN_OK) goto done;
    /* images: the rows of those that could be read; the paths first: if the
     * array then fails, the message says so */
    cln_output *paths = f.paths;
    f.paths = NULL;
    if (paths && (st = cln_output_commit(paths, &err)) != CLN_OK) goto done;
    cln_npy_writer *npy = f.npy;
    f.npy = NULL;
    if ((st = cln_npy_writer_close(npy, &err)) != CLN_OK) {
        if (paths_name)
            cln_error_append(&err, " (%s was written already and lists rows %s lacks)",
                             paths_name, output);
        goto done;
    }
    fprintf(stderr, "wrote %s (%lld rows of layer %s)%s%s\n", output, (long long)f.rows, layer,
            paths_name ? " and " : "", paths_name ? paths_name : "");
    rc = all_read ? 0 : 1;
    command_finished = true;
done:
    if (st != CLN_OK) fail(&err);
    cln_npy_writer_abort(f.npy);
    cln_output_abort(f.paths);
    free(paths_name);
    cln_npy_free(&x);
    close_session(&s);
    cln_image_set_free(set);
    return rc;
}
