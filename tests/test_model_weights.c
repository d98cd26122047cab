/* Tests of weights_load_safetensors: a whole Inception v3 state dict written by a small
 * safetensors writer is loaded and its BatchNorm folding checked, then one altered file per rule
 * the loader enforces is refused with the status and message of that rule. */
#define _POSIX_C_SOURCE 200809L

#include "../weights/layout.h"
#include "../weights/model_weights.h"

#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define MAX_TENSORS 640
#define MAX_EXTRAS 4
#define NAME_SIZE (NET_NAME_SIZE + 32)
#define TMP_PREFIX "/tmp/test_model_weights_"

/* ---- Tensor values ------------------------------------------------------ */

/* The loaded value of element `flat` of a layer's weight tensor as torchvision
 * lays it out (cout x k), from the device layout of weights/layout.h. */
static float packed_at(const packed_weights *pw, int layer, int cout, size_t k, size_t flat) {
    return pw->data[pw->w_off[layer] + weight_index(cout, (int)(flat / k), flat % k)];
}

static uint64_t mix(uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t name_hash(const char *name) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (const char *c = name; *c; c++)
        h = (h ^ (uint8_t)*c) * 0x100000001b3ull;
    return h;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Element i of tensor name, the same on every call: uniform in [-1, 1), or in [0.5, 2) for a
 * running variance; on a grid of 2^-8 when it must be exact in F16. */
static float tensor_value(const char *name, size_t i, bool f16) {
    double u = (double)(mix(name_hash(name) ^ mix(i)) >> 11) * 0x1p-53; /* [0, 1) */
    double v = ends_with(name, ".running_var") ? 0.5 + 1.5 * u : 2.0 * u - 1.0;
    if (f16) v = round(v * 256.0) / 256.0;
    return (float)v;
}

/* The IEEE half of v, which must be zero or a normal half exactly. */
static uint16_t f16_bits(float v) {
    if (v == 0.0f) return 0;
    int e = 0;
    double m = frexp(fabs((double)v), &e); /* |v| = m * 2^e, m in [0.5, 1) */
    double mantissa = (2.0 * m - 1.0) * 1024.0;
    int exponent = e - 1 + 15;
    cr_assert(mantissa == floor(mantissa) && exponent > 0 && exponent < 31,
              "%g is not exact in F16", (double)v);
    return (uint16_t)((v < 0 ? 0x8000 : 0) | exponent << 10 | (int)mantissa);
}

/* ---- The writer ----------------------------------------------------------- */

typedef struct {
    char name[NAME_SIZE];
    const char *dtype; /* "F32", "F16" or "I64" */
    int ndim;
    int64_t shape[4];
} tensor_spec;

typedef struct {
    const char *name; /* NULL ends the list */
    const char *dtype;
    int ndim;
    int64_t shape[4];
} extra_tensor;

/* How a file differs from the plain state dict; {0} is the plain one. */
typedef struct {
    const char *omit;    /* tensor left out */
    const char *reshape; /* tensor written with reshape_dims instead of its shape */
    int reshape_ndim;
    int64_t reshape_dims[4];
    extra_tensor extras[MAX_EXTRAS]; /* added after the state dict */
    const char *negative_var;        /* running_var tensor whose channel 3 holds -0.5 */
    const char *nan_in;              /* tensor whose element 17 is NaN */
    const char *huge_in[2];          /* tensors whose element 0 is FLT_MAX */
    const char *retype;              /* tensor written as dtype retype_as ("F16" or "I64") */
    const char *retype_as;
    size_t cut;       /* bytes cut off the end of the file */
    bool sparse_last; /* the last extra's data is a hole: the file is extended over it */
    int classes;      /* rows of fc.weight and fc.bias (0: ImageNet's 1000) */
} file_options;

static char tmp_path[64]; /* the file being written, removed by the suite's fini */

static packed_weights loaded; /* what a test loaded, freed by the suite's fini */

static void remove_tmp_file(void) {
    if (tmp_path[0]) unlink(tmp_path);
    tmp_path[0] = '\0';
}

/* Runs after every test, also after a failed assertion, so nothing is left behind. */
static void clean_up(void) {
    remove_tmp_file();
    packed_weights_free(&loaded);
}

TestSuite(model_weights, .fini = clean_up, .timeout = 300);

static void add_spec(tensor_spec *specs, size_t *count, const char *dtype, int ndim,
                     const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void add_spec(tensor_spec *specs, size_t *count, const char *dtype, int ndim,
                     const int64_t *shape, const char *fmt, ...) {
    cr_assert_lt(*count, MAX_TENSORS);
    tensor_spec *s = &specs[(*count)++];
    va_list args;
    va_start(args, fmt);
    vsnprintf(s->name, sizeof s->name, fmt, args);
    va_end(args);
    s->dtype = dtype;
    s->ndim = ndim;
    memcpy(s->shape, shape, (size_t)ndim * sizeof *shape);
}

/* torchvision's state dict of the network: per BasicConv2d conv.weight and four BatchNorm
 * tensors, per Linear weight and bias. Returns the number of tensors. */
static size_t state_dict_specs(const network *net, tensor_spec *specs) {
    static const char *const bn[4] = {"weight", "bias", "running_mean", "running_var"};
    size_t count = 0;
    for (int i = 0; i < net->layer_count; i++) {
        const layer *l = &net->layers[i];
        if (l->op != LAYER_CONV && l->op != LAYER_LINEAR) continue;
        const int64_t cout = l->out_channels, cin = net->value_channels[l->src];
        if (l->op == LAYER_CONV) {
            const int64_t w[4] = {cout, cin, l->kh, l->kw};
            add_spec(specs, &count, "F32", 4, w, "%s.conv.weight", l->name);
            for (int j = 0; j < 4; j++)
                add_spec(specs, &count, "F32", 1, &cout, "%s.bn.%s", l->name, bn[j]);
        } else {
            const int64_t w[2] = {cout, cin};
            add_spec(specs, &count, "F32", 2, w, "%s.weight", l->name);
            add_spec(specs, &count, "F32", 1, &cout, "%s.bias", l->name);
        }
    }
    return count;
}

static size_t spec_numel(const tensor_spec *s) {
    size_t n = 1;
    for (int d = 0; d < s->ndim; d++)
        n *= (size_t)s->shape[d];
    return n;
}

static size_t dtype_size(const char *dtype) {
    return strcmp(dtype, "F16") == 0 ? 2 : strcmp(dtype, "I64") == 0 ? 8 : 4;
}

typedef struct {
    char *text;
    size_t length, capacity;
} text_buffer;

static void append(text_buffer *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void append(text_buffer *b, const char *fmt, ...) {
    for (;;) {
        va_list args;
        va_start(args, fmt);
        int n = vsnprintf(b->text + b->length, b->capacity - b->length, fmt, args);
        va_end(args);
        cr_assert_geq(n, 0);
        if (b->length + (size_t)n < b->capacity) {
            b->length += (size_t)n;
            return;
        }
        b->capacity = 2 * (b->length + (size_t)n + 1);
        b->text = realloc(b->text, b->capacity);
        cr_assert_not_null(b->text);
    }
}

/* The data of tensor s, options applied, as little-endian bytes; free with free(). */
static uint8_t *tensor_bytes(const tensor_spec *s, const file_options *opt, size_t *size) {
    size_t numel = spec_numel(s), width = dtype_size(s->dtype);
    *size = numel * width;
    uint8_t *bytes = malloc(*size ? *size : 1);
    cr_assert_not_null(bytes);
    bool f16 = strcmp(s->dtype, "F16") == 0;
    for (size_t i = 0; i < numel; i++) {
        uint8_t *p = bytes + i * width;
        if (strcmp(s->dtype, "I64") == 0) {
            uint64_t v = (uint64_t)i + 1;
            for (size_t k = 0; k < 8; k++)
                p[k] = (uint8_t)(v >> (8 * k));
            continue;
        }
        float v = tensor_value(s->name, i, f16);
        if (opt->negative_var && strcmp(s->name, opt->negative_var) == 0 && i == 3) v = -0.5f;
        if (opt->nan_in && strcmp(s->name, opt->nan_in) == 0 && i == 17) v = NAN;
        for (int h = 0; h < 2; h++)
            if (opt->huge_in[h] && strcmp(s->name, opt->huge_in[h]) == 0 && i == 0) v = FLT_MAX;
        if (f16) {
            uint16_t h = f16_bits(v);
            p[0] = (uint8_t)h;
            p[1] = (uint8_t)(h >> 8);
        } else {
            uint32_t bits;
            memcpy(&bits, &v, sizeof bits);
            for (size_t k = 0; k < 4; k++)
                p[k] = (uint8_t)(bits >> (8 * k));
        }
    }
    return bytes;
}

/* Counts the tensors named `name` (when not NULL), so a misspelt option fails the test. */
static void expect_one(const tensor_spec *specs, size_t count, const char *name) {
    if (!name) return;
    size_t found = 0;
    for (size_t i = 0; i < count; i++)
        found += strcmp(specs[i].name, name) == 0;
    cr_assert_eq(found, 1, "option names \"%s\", found %zu times", name, found);
}

/* Writes Inception v3's state dict, altered by opt, to a new file in /tmp (tmp_path). */
static void write_state_dict(const file_options *opt) {
    network net;
    network_inception_v3(&net, opt->classes ? opt->classes : NET_IMAGENET_CLASSES);
    static tensor_spec specs[MAX_TENSORS];
    size_t count = state_dict_specs(&net, specs);
    expect_one(specs, count, opt->omit);
    expect_one(specs, count, opt->reshape);
    expect_one(specs, count, opt->negative_var);
    expect_one(specs, count, opt->nan_in);
    expect_one(specs, count, opt->huge_in[0]);
    expect_one(specs, count, opt->huge_in[1]);
    expect_one(specs, count, opt->retype);
    for (size_t i = 0; i < count; i++) {
        tensor_spec *s = &specs[i];
        if (opt->omit && strcmp(s->name, opt->omit) == 0) {
            specs[i--] = specs[--count];
            continue;
        }
        if (opt->reshape && strcmp(s->name, opt->reshape) == 0) {
            s->ndim = opt->reshape_ndim;
            memcpy(s->shape, opt->reshape_dims, sizeof s->shape);
        }
        if (opt->retype && strcmp(s->name, opt->retype) == 0) s->dtype = opt->retype_as;
    }
    for (int e = 0; e < MAX_EXTRAS && opt->extras[e].name; e++) {
        const extra_tensor *x = &opt->extras[e];
        add_spec(specs, &count, x->dtype, x->ndim, x->shape, "%s", x->name);
    }

    text_buffer header = {0};
    append(&header, "{\"__metadata__\":{\"format\":\"pt\"}");
    size_t offset = 0;
    for (size_t i = 0; i < count; i++) {
        const tensor_spec *s = &specs[i];
        size_t nbytes = spec_numel(s) * dtype_size(s->dtype);
        append(&header, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", s->name, s->dtype);
        for (int d = 0; d < s->ndim; d++)
            append(&header, "%s%lld", d ? "," : "", (long long)s->shape[d]);
        append(&header, "],\"data_offsets\":[%zu,%zu]}", offset, offset + nbytes);
        offset += nbytes;
    }
    append(&header, "}");
    while (header.length % 8)
        append(&header, " "); /* writers pad to a multiple of 8 */

    snprintf(tmp_path, sizeof tmp_path, "%sXXXXXX", TMP_PREFIX);
    int fd = mkstemp(tmp_path);
    cr_assert_neq(fd, -1, "mkstemp failed");
    FILE *fp = fdopen(fd, "wb");
    cr_assert_not_null(fp);
    uint8_t length[8];
    for (int k = 0; k < 8; k++)
        length[k] = (uint8_t)((uint64_t)header.length >> (8 * k));
    cr_assert_eq(fwrite(length, 1, 8, fp), 8);
    cr_assert_eq(fwrite(header.text, 1, header.length, fp), header.length);
    for (size_t i = 0; i < count - (opt->sparse_last ? 1 : 0); i++) {
        size_t size;
        uint8_t *bytes = tensor_bytes(&specs[i], opt, &size);
        cr_assert_eq(fwrite(bytes, 1, size, fp), size);
        free(bytes);
    }
    cr_assert_eq(fclose(fp), 0);
    size_t file_size = 8 + header.length + offset;
    if (opt->sparse_last) cr_assert_eq(truncate(tmp_path, (off_t)file_size), 0);
    free(header.text);
    if (opt->cut) cr_assert_eq(truncate(tmp_path, (off_t)(file_size - opt->cut)), 0);
}

/* ---- Loading ------------------------------------------------------------------ */

static cln_status load(network *net, const file_options *opt, packed_weights *pw, cln_error *err) {
    write_state_dict(opt);
    memset(err, 0, sizeof *err);
    cln_status status = weights_load_safetensors(net, tmp_path, pw, err);
    remove_tmp_file();
    return status;
}

/* Loads a file written with opt and asserts it is refused with status, a message naming the
 * file and holding each phrase (NULL-terminated), and nothing left allocated. */
static void expect_refused(const file_options *opt, cln_status status, ...) {
    network net;
    network_inception_v3(&net, NET_IMAGENET_CLASSES);
    cln_error err;
    cln_status got = load(&net, opt, &loaded, &err);
    cr_assert_eq(got, status, "status %s, not %s; message: %s", cln_status_name(got),
                 cln_status_name(status), err.message);
    cr_assert_eq(err.status, status);
    cr_assert(strstr(err.message, TMP_PREFIX), "no file name in: %s", err.message);
    const char *absent = NULL; /* the first phrase not in the message */
    va_list phrases;
    va_start(phrases, status);
    for (const char *p = va_arg(phrases, const char *); p && !absent;
         p = va_arg(phrases, const char *))
        if (!strstr(err.message, p)) absent = p;
    va_end(phrases);
    cr_assert_null(absent, "\"%s\" not in: %s", absent, err.message);
    cr_assert_null(loaded.data, "the packed weights were not freed on failure");
    packed_weights_free(&loaded); /* safe after a failure */
}

static int find_layer(const network *net, const char *name) {
    for (int i = 0; i < net->layer_count; i++)
        if (strcmp(net->layers[i].name, name) == 0) return i;
    cr_assert_fail("no layer \"%s\"", name);
    return -1;
}

static void expect_close(double got, double want, const char *what, const char *layer_name,
                         size_t index) {
    cr_assert(fabs(got - want) <= 1e-6 * fmax(fabs(want), 1e-6),
              "%s of %s [%zu]: %.9g, expected %.9g", what, layer_name, index, got, want);
}

/* Checks output channel o, weight columns j in [j0, j1), of conv layer i against BatchNorm
 * folded in double from the values written: w' = w g / sqrt(v + eps), b' = b - m g / sqrt(...). */
static void expect_folded(const network *net, const packed_weights *pw, int i, size_t o, size_t j0,
                          size_t j1) {
    const layer *l = &net->layers[i];
    const size_t k = (size_t)net->value_channels[l->src] * l->kh * l->kw;
    char name[NAME_SIZE];
    double bn[4];
    static const char *const bn_names[4] = {"weight", "bias", "running_mean", "running_var"};
    for (int t = 0; t < 4; t++) {
        snprintf(name, sizeof name, "%s.bn.%s", l->name, bn_names[t]);
        bn[t] = tensor_value(name, o, false);
    }
    double scale = bn[0] / sqrt(bn[3] + 1e-3);
    expect_close(pw->data[pw->b_off[i] + o], bn[1] - bn[2] * scale, "bias", l->name, o);
    snprintf(name, sizeof name, "%s.conv.weight", l->name);
    for (size_t j = j0; j < j1 && j < k; j++)
        expect_close(packed_at(pw, i, l->out_channels, k, o * k + j),
                     tensor_value(name, o * k + j, false) * scale, "weight", l->name, o * k + j);
}

/* ---- Tests ---------------------------------------------------------------------- */

Test(model_weights, valid_file_loads_with_batchnorm_folded) {
    network net;
    network_inception_v3(&net, NET_IMAGENET_CLASSES);
    cln_error err;
    file_options opt = {0};
    cln_status status = load(&net, &opt, &loaded, &err);
    cr_assert_eq(status, CLN_OK, "%s: %s", cln_status_name(status), err.message);
    cr_assert_not_null(loaded.data);

    /* every conv layer: first, middle and last channel, the ends of their rows */
    int convs = 0;
    for (int i = 0; i < net.layer_count; i++) {
        const layer *l = &net.layers[i];
        if (l->op != LAYER_CONV) continue;
        convs++;
        size_t k = (size_t)net.value_channels[l->src] * l->kh * l->kw,
               cout = (size_t)l->out_channels;
        size_t channels[3] = {0, cout / 2, cout - 1};
        for (int c = 0; c < 3; c++) {
            expect_folded(&net, &loaded, i, channels[c], 0, 2);
            expect_folded(&net, &loaded, i, channels[c], k - 2, k);
        }
    }
    cr_assert_eq(convs, 94);

    /* every element of a few layers of different kernel shapes */
    const char *whole[] = {"Conv2d_1a_3x3", "Mixed_6c.branch7x7_2", "Mixed_7c.branch3x3dbl_3b",
                           "Mixed_7c.branch_pool"};
    for (size_t n = 0; n < sizeof whole / sizeof *whole; n++) {
        int i = find_layer(&net, whole[n]);
        for (size_t o = 0; o < (size_t)net.layers[i].out_channels; o++)
            expect_folded(&net, &loaded, i, o, 0, SIZE_MAX);
    }

    /* fc: copied as it is */
    int fc = find_layer(&net, "fc");
    cr_assert_eq(net.layers[fc].op, LAYER_LINEAR);
    for (size_t j = 0; j < (size_t)1000 * 2048; j++)
        cr_assert_eq(packed_at(&loaded, fc, 1000, 2048, j), tensor_value("fc.weight", j, false),
                     "fc.weight [%zu]", j);
    for (size_t o = 0; o < 1000; o++)
        cr_assert_eq(loaded.data[loaded.b_off[fc] + o], tensor_value("fc.bias", o, false),
                     "fc.bias [%zu]", o);
    packed_weights_free(&loaded);
    cr_assert_null(loaded.data);
    packed_weights_free(&loaded); /* a freed one may be freed again */
}

Test(model_weights, aux_logits_and_num_batches_tracked_are_ignored) {
    network net;
    network_inception_v3(&net, NET_IMAGENET_CLASSES);
    cln_error err;
    file_options opt = {
        .extras = {{"AuxLogits.fc.weight", "F32", 2, {1000, 768}},
                   {"AuxLogits.conv0.conv.weight", "F32", 4, {128, 768, 1, 1}},
                   {"Mixed_5b.num_batches_tracked", "I64", 0, {0}},
                   {"Conv2d_1a_3x3.bn.num_batches_tracked", "I64", 0, {0}}},
    };
    cln_status status = load(&net, &opt, &loaded, &err);
    cr_assert_eq(status, CLN_OK, "%s: %s", cln_status_name(status), err.message);
    expect_folded(&net, &loaded, find_layer(&net, "Conv2d_1a_3x3"), 5, 0, SIZE_MAX);
    int fc = find_layer(&net, "fc");
    cr_assert_eq(loaded.data[loaded.b_off[fc] + 999], tensor_value("fc.bias", 999, false));
    packed_weights_free(&loaded);
}

/* A file with a huge tensor the model ignores (8 GiB of AuxLogits, a hole
 * in the file here) loads without reading it: only the tensors the model
 * uses are read, so the peak memory grows by the model, not the file. */
Test(model_weights, ignored_tensors_are_not_read) {
    network net;
    network_inception_v3(&net, NET_IMAGENET_CLASSES);
    cln_error err;
    file_options opt = {.extras = {{"AuxLogits.fc.weight", "F32", 2, {1 << 20, 2048}}},
                        .sparse_last = true};
    struct rusage before, after;
    cr_assert_eq(getrusage(RUSAGE_SELF, &before), 0);
    cln_status status = load(&net, &opt, &loaded, &err);
    cr_assert_eq(status, CLN_OK, "%s: %s", cln_status_name(status), err.message);
    cr_assert_eq(getrusage(RUSAGE_SELF, &after), 0);
    cr_expect_lt(after.ru_maxrss - before.ru_maxrss, 1024 * 1024,
                 "loading took %ld KiB more at the peak", after.ru_maxrss - before.ru_maxrss);
    packed_weights_free(&loaded);
}

Test(model_weights, missing_tensor_is_named_with_its_shape) {
    file_options opt = {.omit = "Mixed_6c.branch7x7_2.conv.weight"};
    expect_refused(&opt, CLN_ERR_MODEL, "\"Mixed_6c.branch7x7_2.conv.weight\"", "missing",
                   "[160, 160, 1, 7]", NULL);
}

Test(model_weights, missing_batchnorm_tensor_is_named) {
    file_options opt = {.omit = "Mixed_7b.branch3x3_2b.bn.running_mean"};
    expect_refused(&opt, CLN_ERR_MODEL, "\"Mixed_7b.branch3x3_2b.bn.running_mean\"", "missing",
                   "[384]", NULL);
}

Test(model_weights, wrong_shape_names_both_shapes) {
    file_options opt = {.reshape = "fc.weight", .reshape_ndim = 2, .reshape_dims = {1000, 2047}};
    expect_refused(&opt, CLN_ERR_MODEL, "\"fc.weight\"", "has shape [1000, 2047]",
                   "needs [classes, 2048]", NULL);
}

/* A fine-tuned head, fc = nn.Linear(2048, 7), without the aux head: the
 * network takes the file's 7 classes, and its fc is the file's. */
Test(model_weights, class_count_comes_from_fc_weight) {
    network net;
    network_inception_v3(&net, NET_IMAGENET_CLASSES);
    cln_error err;
    file_options opt = {.classes = 7};
    cln_status status = load(&net, &opt, &loaded, &err);
    cr_assert_eq(status, CLN_OK, "%s: %s", cln_status_name(status), err.message);
    const int fc = find_layer(&net, "fc");
    cr_assert_eq(net.layers[fc].out_channels, 7);
    cr_assert_eq(net.value_channels[net.output], 7);
    cr_assert_eq(net.taps[net.output_tap].channels, 7);
    for (size_t j = 0; j < (size_t)7 * 2048; j++)
        cr_assert_eq(packed_at(&loaded, fc, 7, 2048, j), tensor_value("fc.weight", j, false),
                     "fc.weight [%zu]", j);
    for (size_t o = 0; o < 7; o++)
        cr_assert_eq(loaded.data[loaded.b_off[fc] + o], tensor_value("fc.bias", o, false));
    packed_weights_free(&loaded);
}

/* Finite tensors whose folding is not: a weight of FLT_MAX times a gamma of
 * FLT_MAX overflows float, which torchvision would carry to the logits as
 * inf. */
Test(model_weights, folding_that_overflows_is_refused) {
    file_options opt = {.huge_in = {"Conv2d_1a_3x3.bn.weight", "Conv2d_1a_3x3.conv.weight"}};
    expect_refused(&opt, CLN_ERR_MODEL, "folding \"Conv2d_1a_3x3.bn\"",
                   "into \"Conv2d_1a_3x3.conv.weight\" overflows float at channel 0", NULL);
}

Test(model_weights, bias_of_another_class_count_is_refused) {
    file_options opt = {
        .classes = 7, .reshape = "fc.bias", .reshape_ndim = 1, .reshape_dims = {1000}};
    expect_refused(&opt, CLN_ERR_MODEL, "\"fc.bias\"", "has shape [1000]", "needs [7]", NULL);
}

Test(model_weights, classifier_of_no_classes_is_refused) {
    file_options opt = {.reshape = "fc.weight", .reshape_ndim = 2, .reshape_dims = {0, 2048}};
    expect_refused(&opt, CLN_ERR_MODEL, "\"fc.weight\"", "has shape [0, 2048]",
                   "1 to 1048576 classes", NULL);
}

Test(model_weights, wrong_rank_names_both_shapes) {
    file_options opt = {
        .reshape = "Conv2d_3b_1x1.conv.weight", .reshape_ndim = 2, .reshape_dims = {80, 64}};
    expect_refused(&opt, CLN_ERR_MODEL, "\"Conv2d_3b_1x1.conv.weight\"", "[80, 64]",
                   "[80, 64, 1, 1]", NULL);
}

Test(model_weights, unknown_tensor_is_refused) {
    file_options opt = {.extras = {{"foo.weight", "F32", 1, {4}}}};
    expect_refused(&opt, CLN_ERR_MODEL, "\"foo.weight\"", "not part of Inception v3", NULL);
}

Test(model_weights, negative_running_var_is_refused) {
    file_options opt = {.negative_var = "Mixed_5d.branch_pool.bn.running_var"};
    expect_refused(&opt, CLN_ERR_MODEL, "\"Mixed_5d.branch_pool.bn.running_var\"", "negative",
                   "channel 3", NULL);
}

Test(model_weights, nan_weight_is_refused) {
    file_options opt = {.nan_in = "Mixed_6e.branch7x7dbl_3.conv.weight"};
    expect_refused(&opt, CLN_ERR_MODEL, "\"Mixed_6e.branch7x7dbl_3.conv.weight\"", "non-finite",
                   "index 17", NULL);
}

Test(model_weights, i64_weight_is_refused) {
    network net;
    network_inception_v3(&net, NET_IMAGENET_CLASSES);
    cln_error err;
    file_options opt = {.retype = "Conv2d_2a_3x3.conv.weight", .retype_as = "I64"};
    cln_status status = load(&net, &opt, &loaded, &err);
    cr_assert_neq(status, CLN_OK, "an I64 weight was accepted");
    cr_assert_eq(err.status, status);
    cr_assert(strstr(err.message, "\"Conv2d_2a_3x3.conv.weight\""), "no tensor in: %s",
              err.message);
    cr_assert(strstr(err.message, "I64"), "no dtype in: %s", err.message);
    cr_assert_null(loaded.data);
    packed_weights_free(&loaded);
}

Test(model_weights, f16_weight_is_converted) {
    network net;
    network_inception_v3(&net, NET_IMAGENET_CLASSES);
    cln_error err;
    file_options opt = {.retype = "fc.weight", .retype_as = "F16"};
    cln_status status = load(&net, &opt, &loaded, &err);
    cr_assert_eq(status, CLN_OK, "%s: %s", cln_status_name(status), err.message);
    int fc = find_layer(&net, "fc");
    for (size_t j = 0; j < (size_t)1000 * 2048; j++)
        cr_assert_eq(packed_at(&loaded, fc, 1000, 2048, j), tensor_value("fc.weight", j, true),
                     "fc.weight [%zu]", j);
    cr_assert_eq(loaded.data[loaded.b_off[fc]], tensor_value("fc.bias", 0, false));
    expect_folded(&net, &loaded, find_layer(&net, "Mixed_7c.branch1x1"), 319, 0, SIZE_MAX);
    packed_weights_free(&loaded);
}

Test(model_weights, truncated_file_is_a_format_error) {
    file_options opt = {.cut = 100};
    expect_refused(&opt, CLN_ERR_FORMAT, "\"fc.bias\"", "past the end", NULL);
}
