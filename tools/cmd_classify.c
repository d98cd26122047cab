/* clinception classify: each image's most likely classes. */
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


typedef struct {
    int classes, top;
    bool json;
    const cln_labels *labels; /* NULL: ImageNet's for 1000 classes, else none */
    double *probs;            /* top */
    int *best;                /* top */
} classify_sink;

static const char *class_label(const classify_sink *c, int index) {
    if (c->labels) return c->labels->names[index];
    return c->classes == CLN_NUM_CLASSES ? cln_imagenet_label(index) : NULL;
}

/* Text of the text results (a path, a label) with its control characters
 * (a line break, an escape sequence) as \xNN, so that no file name can
 * forge a result line or rewrite the terminal (--json gives it exactly);
 * returns the width printed. */
static int print_escaped(const char *text) {
    int width = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        width += *p < 0x20 || *p == 0x7f ? printf("\\x%02x", *p) : (putchar(*p), 1);
    return width;
}

/* A label in its column of the text results, escaped as a path is (a label
 * file can hold an escape sequence too). */
static void print_label(const char *label) {
    const int width = print_escaped(label);
    printf("%*s", width < 30 ? 30 - width : 0, "");
}

static cln_status print_classes(batch_sink *sink, const char *const *names, int n,
                                const float *logits, cln_error *err) {
    classify_sink *c = sink->ctx;
    for (int i = 0; i < n; i++) {
        const float *l = logits + (size_t)i * c->classes;
        bool finite = true;
        for (int k = 0; k < c->classes; k++)
            finite &= isfinite(l[k]) != 0;
        if (!finite || (c->json && !cln_utf8_valid(names[i], strlen(names[i])))) {
            cli_note("%s: skipped: %s", names[i],
                        finite ? "its name is not UTF-8, which JSON cannot hold"
                               : "its logits are not finite (NaN or infinity)");
            sink->failures++;
            continue;
        }
        cln_top_classes(l, c->classes, c->top, c->best, c->probs);
        if (!c->json) {
            print_escaped(names[i]);
            putchar('\n');
            for (int j = 0; j < c->top; j++) {
                const char *label = class_label(c, c->best[j]);
                printf("  %d. %4d  ", j + 1, c->best[j]);
                print_label(label ? label : "");
                printf(" %.4f\n", c->probs[j]);
            }
            continue;
        }
        json_t *list = json_array();
        for (int j = 0; j < c->top && list; j++) {
            const char *label = class_label(c, c->best[j]);
            json_t *entry =
                json_pack("{s:i, s:o, s:f}", "class", c->best[j], "label",
                          label ? json_string(label) : json_null(), "prob", c->probs[j]);
            if (!entry || json_array_append_new(list, entry) != 0) {
                json_decref(list);
                list = NULL;
            }
        }
        json_t *obj = list ? json_pack("{s:s, s:o}", "image", names[i], "top", list) : NULL;
        char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
        json_decref(obj);
        if (!text)
            return cln_error_set(err, CLN_ERR_OUT_OF_MEMORY, "out of memory printing the results of %s",
                            names[i]);
        printf("%s\n", text);
        free(text);
    }
    return CLN_OK;
}

int cmd_classify(int argc, char **argv) {
    common_args a = {.command = "classify"};
    image_args ia = {.resize = 342, .crop = 299};
    long top = 0; /* 0: not given, 5 or the model's classes if fewer */
    bool json = false;
    const char *labels_path = NULL;
    const opt_spec specs[] = {
        {"top", OPT_COUNT, &top, 1, MAX_TOP, "K",
         "classes per image (default 5, or all the model's classes if\n"
         "fewer; at most the model's classes)"},
        {"labels", OPT_TEXT, &labels_path, 0, 0, "FILE",
         "class names, one per line of UTF-8 text, as many as the\nmodel has classes"},
        {"json", OPT_FLAG, &json, 0, 0, NULL,
         "one JSON object per image and line: {\"image\": PATH, \"top\":\n"
         "[{\"class\": INDEX, \"label\": NAME or null, \"prob\": P}, ...]}"},
        IMAGE_OPTIONS(ia),
        COMMON_OPTIONS(a),
    };
    const command cmd = {
        "classify",
        "classify (--weights W.safetensors | --random-weights) [--top K]\n"
        "         [--labels FILE] [--json] [--files-from LIST]\n"
        "         [--resize S] [--crop C] [--batch B] [--workers N]\n"
        "         [--progress] [OPTIONS] [IMAGE|FOLDER ...]",
        "Prints each image's most likely classes, in input order as the batches finish.\n"
        "A model with 1000 classes is labelled with ImageNet's names, unless --labels\n"
        "gives others; a model with another number of classes (a fine-tuned head) shows\n"
        "each class by its index, unless --labels names them. A control character in a\n"
        "path (a line break, an escape) is printed as \\xNN; --json gives paths "
        "exactly.\n" IMAGE_INPUT_HELP,
        specs,
        (int)(sizeof specs / sizeof specs[0]),
    };
    int parsed = parse_options(&cmd, argc, argv);
    if (parsed >= 0) return parsed;
    if (optind == argc && !ia.files_from) return usage_error(&cmd, "give at least one image or folder");
    if (!weights_given(&cmd, &a)) return 2;

    cln_error err;
    session s = {0};
    cln_image_set *set = NULL;
    cln_labels labels = {0};
    classify_sink c = {.top = (int)top, .json = json};
    batch_sink sink = {print_classes, &c, 0, 0, false, false, NULL, NULL};
    const char *outputs[] = {a.csv, a.trace};
    bool all_read = false;
    int rc = 1;
    cln_status st = check_outputs(&a, outputs, 2, labels_path, &err);
    if (st == CLN_OK && labels_path) st = cln_labels_read(labels_path, &labels, &err);
    if (st == CLN_OK) st = new_image_set(&set, &err);
    if (st == CLN_OK) st = list_images(&ia, argc, argv, outputs, 2, set, &err);
    if (st == CLN_OK) st = open_session(&a, &s, &err);
    if (st != CLN_OK) goto done;
    c.classes = cln_model_num_classes(s.model);
    if (labels_path && labels.count != c.classes) {
        st = cln_error_set(&err, CLN_ERR_FORMAT,
                           "%s: wrong number of labels: it holds %d, the model has %d classes",
                           labels_path, labels.count, c.classes);
        goto done;
    }
    if (c.top == 0) c.top = c.classes < 5 ? c.classes : 5;
    if (c.top > c.classes) {
        fprintf(stderr, "clinception classify: --top %d is more than the model's %d classes\n",
                c.top, c.classes);
        rc = 2;
        goto done;
    }
    c.labels = labels_path ? &labels : NULL;
    c.probs = malloc((size_t)c.top * sizeof *c.probs);
    c.best = malloc((size_t)c.top * sizeof *c.best);
    if (!c.probs || !c.best) {
        st = cln_error_set(&err, CLN_ERR_OUT_OF_MEMORY, "out of memory for %d classes", c.classes);
        goto done;
    }
    sink.out_floats = (size_t)c.classes;
    st = fitting_batch(&s, ia.batch, (int)ia.crop, (int)ia.crop, &ia.batch, &err);
    if (st == CLN_OK) st = run_images("classify", &a, &s, &ia, set, &sink, &all_read, &err);
    command_finished = sink.completed;
    rc = st == CLN_OK && all_read ? 0 : 1;
done:
    if (st != CLN_OK) fail(&err);
    free(c.probs);
    free(c.best);
    close_session(&s);
    cln_labels_free(&labels);
    cln_image_set_free(set);
    return rc;
}
