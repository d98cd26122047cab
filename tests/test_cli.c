/* Tests of the clinception program ($CLINCEPTION) as a user runs it: exit codes and messages of
 * its help, its usage errors and its refusals of bad files, and infer, classify and bench with
 * random weights. */
#define _DEFAULT_SOURCE /* wait4 */

#include "../jobs/npy.h"

#include <criterion/criterion.h>

#include "tmp_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_ARGS 32

static void make_tmp_dir(void) {
    tmp_dir_make("test_cli");
}

TestSuite(cli, .init = make_tmp_dir, .fini = tmp_dir_remove, .timeout = 600);

static bool file_exists(const char *path) {
    return access(path, F_OK) == 0;
}

/* The whole file as a NUL-terminated string; the caller frees it. */
static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    size_t size = 0, cap = 4096;
    char *text = malloc(cap);
    cr_assert_not_null(text);
    size_t got;
    while ((got = fread(text + size, 1, cap - size - 1, f)) > 0) {
        size += got;
        if (cap - size < 2) {
            cap *= 2;
            text = realloc(text, cap);
            cr_assert_not_null(text);
        }
    }
    fclose(f);
    text[size] = '\0';
    return text;
}

typedef struct {
    int status;       /* the exit code, or 128 + the signal that ended it */
    char *out;        /* what it wrote on standard output */
    char *err;        /* and on standard error */
    long peak_rss_kb; /* its largest resident set */
} run_result;

static void free_result(run_result *r) {
    free(r->out);
    free(r->err);
}

static const char *stdout_to; /* where the next run's standard output goes (NULL: captured) */

/* Runs $CLINCEPTION with args (NULL-terminated, the program name not included), its standard
 * output and error captured in files of tmp_dir, its standard input from stdin_path (NULL:
 * /dev/null). */
static run_result run_cli_input(const char *const *args, const char *stdin_path) {
    const char *program = getenv("CLINCEPTION");
    cr_assert(program && *program, "CLINCEPTION is not set (run through meson test)");
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = (char *)program;
    for (int i = 0; args[i]; i++) {
        cr_assert_lt(i, MAX_ARGS, "more than %d arguments", MAX_ARGS);
        argv[argc++] = (char *)args[i];
    }
    argv[argc] = NULL;

    char out_path[512], err_path[512];
    snprintf(out_path, sizeof out_path, "%s/stdout.txt", tmp_dir_path());
    snprintf(err_path, sizeof err_path, "%s/stderr.txt", tmp_dir_path());
    fprintf(stderr, "$");
    for (int i = 0; i < argc; i++)
        fprintf(stderr, " %s", argv[i]);
    fprintf(stderr, "\n");
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_neq(pid, -1, "fork failed");
    if (pid == 0) {
        int in = open(stdin_path ? stdin_path : "/dev/null", O_RDONLY);
        int out = open(stdout_to ? stdout_to : out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in < 0 || out < 0 || err < 0 || dup2(in, STDIN_FILENO) < 0 ||
            dup2(out, STDOUT_FILENO) < 0 || dup2(err, STDERR_FILENO) < 0)
            _exit(126);
        close(in);
        close(out);
        close(err);
        execv(program, argv);
        _exit(127);
    }
    int wstatus;
    struct rusage usage;
    cr_assert_eq(wait4(pid, &wstatus, 0, &usage), pid, "wait4 failed");
    run_result r;
    r.peak_rss_kb = usage.ru_maxrss;
    r.status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    r.out = stdout_to ? strdup("") : read_text(out_path);
    stdout_to = NULL;
    r.err = read_text(err_path);
    cr_assert_neq(r.status, 126, "could not redirect the output of %s", program);
    cr_assert_neq(r.status, 127, "could not run %s", program);
    /* Under -Db_sanitize a report may come with the exit code a refusal has anyway. */
    cr_expect(strstr(r.err, "Sanitizer") == NULL && strstr(r.err, "runtime error:") == NULL,
              "a sanitizer report:\n%s", r.err);
    return r;
}

#define RUN(...) run_cli_input((const char *const[]){__VA_ARGS__, NULL}, NULL)
#define RUN_WITH_INPUT(path, ...) run_cli_input((const char *const[]){__VA_ARGS__, NULL}, path)

static void expect_status(const run_result *r, int status) {
    cr_expect_eq(r->status, status, "exit status %d, not %d\nstdout:\n%s\nstderr:\n%s", r->status,
                 status, r->out, r->err);
}

static void expect_contains(const char *text, const char *phrase, const char *stream) {
    cr_expect(strstr(text, phrase) != NULL, "expected \"%s\" on %s, which holds:\n%s", phrase,
              stream, text);
}

/* Writes an npy of the given shape holding a smooth pattern of values in [-1, 1]. */
static void write_input(const char *path, int ndim, const int64_t *shape) {
    size_t numel = 1;
    for (int d = 0; d < ndim; d++)
        numel *= (size_t)shape[d];
    float *data = malloc(numel * sizeof *data);
    cr_assert_not_null(data);
    for (size_t i = 0; i < numel; i++)
        data[i] = sinf(0.01f * (float)i) * cosf(0.37f * (float)i);
    cln_error err;
    cr_assert_eq(cln_npy_write(path, data, ndim, shape, &err), CLN_OK, "%s", err.message);
    free(data);
}

static void write_bytes(const char *path, size_t size) {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot create %s", path);
    uint32_t state = 12345;
    for (size_t i = 0; i < size; i++) {
        state = state * 1664525u + 1013904223u;
        fputc((int)(state >> 24), f);
    }
    cr_assert_eq(fclose(f), 0);
}

/* A valid (1, 3, 75, 75) input in tmp_dir; returns its path. */
static const char *small_input(void) {
    const char *path = tmp_path("x.npy");
    write_input(path, 4, (const int64_t[]){1, 3, 75, 75});
    return path;
}

/* ---- Help ------------------------------------------------------------- */

static void expect_main_usage(const run_result *r) {
    expect_status(r, 0);
    expect_contains(r->out, "devices", "stdout");
    expect_contains(r->out, "infer", "stdout");
}

Test(cli, help_option_lists_the_commands) {
    run_result r = RUN("--help");
    expect_main_usage(&r);
    free_result(&r);
}

Test(cli, help_command_lists_the_commands) {
    run_result r = RUN("help");
    expect_main_usage(&r);
    free_result(&r);
}

Test(cli, infer_help_names_every_option) {
    run_result r = RUN("infer", "--help");
    expect_status(&r, 0);
    static const char *const options[] = {
        "--weights", "--random-weights",  "--input", "--output",
        "--device",  "--transform-input", "--conv",  "--repeat",
    };
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
        expect_contains(r.out, options[i], "stdout");
    free_result(&r);
}

Test(cli, devices_help) {
    run_result r = RUN("devices", "--help");
    expect_status(&r, 0);
    expect_contains(r.out, "usage", "stdout");
    free_result(&r);
}

/* ---- Usage errors (exit 2) -------------------------------------------- */

Test(cli, no_command_is_a_usage_error) {
    run_result r = run_cli_input((const char *const[]){NULL}, NULL);
    expect_status(&r, 2);
    expect_contains(r.err, "usage", "stderr");
    free_result(&r);
}

Test(cli, unknown_command_is_named) {
    run_result r = RUN("frobnicate");
    expect_status(&r, 2);
    expect_contains(r.err, "frobnicate", "stderr");
    free_result(&r);
}

Test(cli, infer_without_input_shows_the_usage) {
    run_result r = RUN("infer", "--random-weights", "--output", tmp_path("y.npy"));
    expect_status(&r, 2);
    expect_contains(r.err, "--input", "stderr");
    expect_contains(r.err, "usage", "stderr");
    cr_expect_not(file_exists(tmp_path("y.npy")));
    free_result(&r);
}

Test(cli, unknown_conv_algorithm_is_named) {
    run_result r = RUN("infer", "--random-weights", "--input", small_input(), "--output",
                       tmp_path("y.npy"), "--conv", "foo");
    expect_status(&r, 2);
    expect_contains(r.err, "foo", "stderr");
    cr_expect_not(file_exists(tmp_path("y.npy")));
    free_result(&r);
}

Test(cli, repeat_must_be_positive) {
    static const char *const counts[] = {"0", "-1", "abc", ""};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        run_result r = RUN("infer", "--random-weights", "--input", small_input(), "--output",
                           tmp_path("y.npy"), "--repeat", counts[i]);
        expect_status(&r, 2);
        expect_contains(r.err, "--repeat", "stderr");
        free_result(&r);
    }
}

Test(cli, weights_and_random_weights_together) {
    run_result r = RUN("infer", "--weights", tmp_path("w.safetensors"), "--random-weights",
                       "--input", small_input(), "--output", tmp_path("y.npy"));
    expect_status(&r, 2);
    expect_contains(r.err, "usage", "stderr");
    free_result(&r);
}

/* ---- devices ---------------------------------------------------------- */

Test(cli, devices_lists_the_first_device) {
    run_result r = RUN("devices");
    expect_status(&r, 0);
    expect_contains(r.out, "0:0", "stdout");
    expect_contains(r.out, "compute units", "stdout");
    free_result(&r);
}

/* ---- Refusals (exit 1) ------------------------------------------------ */

Test(cli, missing_weight_file_is_named) {
    const char *output = tmp_path("y.npy");
    run_result r = RUN("infer", "--weights", "/nonexistent.safetensors", "--input", small_input(),
                       "--output", output);
    expect_status(&r, 1);
    expect_contains(r.err, "/nonexistent.safetensors", "stderr");
    cr_expect_not(file_exists(output), "%s was written", output);
    free_result(&r);
}

Test(cli, garbage_weight_file_is_named) {
    const char *weights = tmp_path("garbage.safetensors"), *output = tmp_path("y.npy");
    write_bytes(weights, 4096);
    run_result r = RUN("infer", "--weights", weights, "--input", small_input(), "--output", output);
    expect_status(&r, 1);
    expect_contains(r.err, weights, "stderr");
    cr_expect_not(file_exists(output), "%s was written", output);
    free_result(&r);
}

/* Runs infer on an input of the given shape, which must be refused as not (N, 3, H, W);
 * shape_text is how the message should print the shape. */
static void expect_shape_refused(int ndim, const int64_t *shape, const char *shape_text) {
    const char *input = tmp_path("bad_shape.npy"), *output = tmp_path("y.npy");
    write_input(input, ndim, shape);
    run_result r = RUN("infer", "--random-weights", "--input", input, "--output", output);
    expect_status(&r, 1);
    expect_contains(r.err, input, "stderr");
    expect_contains(r.err, shape_text, "stderr");
    expect_contains(r.err, "is not (N, 3, H, W)", "stderr");
    expect_contains(r.err, "75", "stderr");
    cr_expect_not(file_exists(output), "%s was written", output);
    free_result(&r);
}

Test(cli, four_channels_are_refused) {
    expect_shape_refused(4, (const int64_t[]){1, 4, 80, 80}, "(1, 4, 80, 80)");
}

Test(cli, height_below_75_is_refused) {
    expect_shape_refused(4, (const int64_t[]){1, 3, 60, 80}, "(1, 3, 60, 80)");
}

Test(cli, three_dimensions_are_refused) {
    expect_shape_refused(3, (const int64_t[]){3, 75, 75}, "(3, 75, 75)");
}

Test(cli, input_that_is_not_npy_is_named) {
    const char *input = tmp_path("noise.npy"), *output = tmp_path("y.npy");
    write_bytes(input, 1000);
    run_result r = RUN("infer", "--random-weights", "--input", input, "--output", output);
    expect_status(&r, 1);
    expect_contains(r.err, input, "stderr");
    cr_expect_not(file_exists(output), "%s was written", output);
    free_result(&r);
}

Test(cli, unknown_device_is_named) {
    const char *output = tmp_path("y.npy");
    run_result r = RUN("infer", "--random-weights", "--input", small_input(), "--output", output,
                       "--device", "no-such-device");
    expect_status(&r, 1);
    expect_contains(r.err, "no-such-device", "stderr");
    cr_expect_not(file_exists(output), "%s was written", output);
    free_result(&r);
}

/* ---- Inference with random weights ------------------------------------ */

/* Runs infer --random-weights on a (2, 3, H, W) input, with --conv conv unless conv is NULL,
 * writing tmp_dir/name. Checks the exit code, the lines on stdout and the shape and finiteness
 * of the logits, and returns them. */
static cln_npy infer_batch_of_two(const char *input, const char *name, const char *conv) {
    const char *output = tmp_path(name);
    run_result r = conv ? RUN("infer", "--random-weights", "--input", input, "--output", output,
                              "--conv", conv)
                        : RUN("infer", "--random-weights", "--input", input, "--output", output);
    expect_status(&r, 0);
    cr_assert_eq(r.status, 0);
    expect_contains(r.out, "image 0: top-5 classes ", "stdout");
    expect_contains(r.out, "image 1: top-5 classes ", "stdout");
    int lines = 0;
    for (const char *c = r.out; *c; c++)
        lines += *c == '\n';
    cr_expect_eq(lines, 2, "%d lines on stdout, not 2:\n%s", lines, r.out);
    free_result(&r);

    cln_npy logits = {0};
    cln_error err;
    cr_assert_eq(cln_npy_read(output, &logits, &err), CLN_OK, "%s", err.message);
    cr_assert_eq(logits.ndim, 2);
    cr_assert_eq(logits.shape[0], 2);
    cr_assert_eq(logits.shape[1], CLN_NUM_CLASSES);
    for (size_t i = 0; i < logits.numel; i++)
        cr_assert(isfinite(logits.data[i]), "logit %zu is %f", i, (double)logits.data[i]);
    return logits;
}

Test(cli, random_weights_are_deterministic_and_direct_matches_gemm) {
    const char *input = tmp_path("batch.npy");
    write_input(input, 4, (const int64_t[]){2, 3, 75, 80});
    cln_npy first = infer_batch_of_two(input, "first.npy", NULL);
    cln_npy second = infer_batch_of_two(input, "second.npy", NULL);
    cr_expect(memcmp(first.data, second.data, first.numel * sizeof(float)) == 0,
              "two runs of the same input wrote different logits");

    cln_npy direct = infer_batch_of_two(input, "direct.npy", "direct");
    double max_diff = 0, max_abs = 0;
    for (size_t i = 0; i < first.numel; i++) {
        max_diff = fmax(max_diff, fabs((double)first.data[i] - (double)direct.data[i]));
        max_abs = fmax(max_abs, fabs((double)first.data[i]));
    }
    cr_expect_gt(max_abs, 0, "every logit is zero");
    cr_expect_lt(max_diff, 1e-3 * max_abs, "direct differs from gemm by %g (max |logit| %g)",
                 max_diff, max_abs);
    cln_npy_free(&first);
    cln_npy_free(&second);
    cln_npy_free(&direct);
}

/* ---- classify and bench ------------------------------------------------ */

/* A shipped sample photo, by file name. */
static const char *sample(const char *name) {
    static char paths[4][512];
    static int next;
    const char *root = getenv("CLN_SOURCE_DIR");
    cr_assert(root && *root, "CLN_SOURCE_DIR is not set (run through meson test)");
    char *p = paths[next++ % 4];
    snprintf(p, sizeof paths[0], "%s/tools/data/%s", root, name);
    return p;
}

Test(cli, classify_reports_a_corrupt_image_and_classifies_the_others) {
    const char *corrupt = tmp_path("corrupt.jpg");
    write_bytes(corrupt, 5000);
    const char *cat = sample("chelsea.png"), *coffee = sample("coffee.jpg");
    run_result r = RUN("classify", "--random-weights", "--json", "--top", "3", "--crop", "80",
                       "--resize", "90", cat, corrupt, coffee);
    expect_status(&r, 1);
    expect_contains(r.err, corrupt, "stderr");
    /* one JSON line per good image, in order, each with 3 classes */
    const char *images[2] = {cat, coffee};
    char *line = r.out;
    for (int i = 0; i < 2; i++) {
        char *end = strchr(line, '\n');
        cr_assert_not_null(end, "line %d missing:\n%s", i, r.out);
        *end = '\0';
        json_error_t jerr;
        json_t *obj = json_loads(line, 0, &jerr);
        cr_assert_not_null(obj, "not JSON: %s (%s)", line, jerr.text);
        cr_expect_str_eq(json_string_value(json_object_get(obj, "image")), images[i]);
        json_t *top = json_object_get(obj, "top");
        cr_expect_eq(json_array_size(top), 3);
        double last = 2;
        for (size_t k = 0; k < json_array_size(top); k++) {
            json_t *t = json_array_get(top, k);
            json_int_t cls = json_integer_value(json_object_get(t, "class"));
            double prob = json_real_value(json_object_get(t, "prob"));
            cr_expect(cls >= 0 && cls < 1000);
            cr_expect(json_is_string(json_object_get(t, "label")));
            cr_expect(prob > 0 && prob <= last, "probabilities fall: %g after %g", prob, last);
            last = prob;
        }
        json_decref(obj);
        line = end + 1;
    }
    cr_expect_str_eq(line, "", "more output than two images:\n%s", line);
    free_result(&r);
}

Test(cli, classify_names_labels_and_batches) {
    const char *cat = sample("chelsea.png");
    run_result one = RUN("classify", "--random-weights", "--crop", "80", "--resize", "90", cat, cat,
                         cat, "--batch", "2");
    expect_status(&one, 0);
    /* three identical images: three identical blocks, in batches of 2 and 1 */
    char *second = strstr(one.out + 1, cat);
    cr_assert_not_null(second);
    char *third = strstr(second + 1, cat);
    cr_assert_not_null(third);
    size_t block = (size_t)(second - one.out);
    cr_expect_eq(strncmp(one.out, second, block), 0, "%s", one.out);
    cr_expect_eq(strncmp(one.out, third, block), 0, "%s", one.out);
    free_result(&one);
}

Test(cli, classify_refuses_bad_options) {
    const char *cat = sample("chelsea.png");
    run_result r = RUN("classify", "--random-weights", "--crop", "10", cat);
    expect_status(&r, 2);
    expect_contains(r.err, "--crop", "stderr");
    free_result(&r);
    r = RUN("classify", "--random-weights");
    expect_status(&r, 2);
    expect_contains(r.err, "image", "stderr");
    free_result(&r);
    r = RUN("classify", "--random-weights", "--top", "1001", cat);
    expect_status(&r, 2);
    free_result(&r);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot create %s", path);
    cr_assert_eq(fputs(text, f) >= 0, true);
    cr_assert_eq(fclose(f), 0);
}

/* --labels files that do not fit: each refused with a message naming the
 * file and what is wrong, before any image is read. */
Test(cli, classify_refuses_bad_labels_files) {
    const char *cat = sample("chelsea.png");
    static const struct {
        const char *name, *text, *phrase;
    } cases[] = {
        {"three.txt", "a\nb\nc\n",
         "wrong number of labels: it holds 3, the model has 1000 classes"},
        {"blank.txt", "a\n\nc\n", "labels line 2 is blank"},
        {"latin1.txt", "a\ncaf\351\n", "labels line 2 is not UTF-8"},
        {"empty.txt", "", "holds no labels"},
    };
    run_result z = RUN("classify", "--random-weights", "--labels", "/dev/zero", cat);
    expect_status(&z, 1);
    expect_contains(z.err, "/dev/zero: cannot read: it is a character device", "stderr");
    free_result(&z);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *path = tmp_path(cases[i].name);
        write_text(path, cases[i].text);
        run_result r = RUN("classify", "--random-weights", "--labels", path, cat);
        expect_status(&r, 1);
        expect_contains(r.err, path, "stderr");
        expect_contains(r.err, cases[i].phrase, "stderr");
        cr_expect_str_eq(r.out, "", "results despite a bad labels file");
        free_result(&r);
    }
    run_result r = RUN("classify", "--random-weights", "--labels", tmp_path("none.txt"), cat);
    expect_status(&r, 1);
    expect_contains(r.err, "none.txt: cannot open: No such file", "stderr");
    free_result(&r);
}

/* 1000 labels of our own replace ImageNet's names; CRLF line ends are
 * taken off. */
Test(cli, classify_uses_the_labels_file) {
    char *text = malloc(1000 * 16);
    cr_assert_not_null(text);
    size_t used = 0;
    for (int i = 0; i < 1000; i++)
        used += (size_t)sprintf(text + used, "label-%d\r\n", i);
    const char *labels = tmp_path("labels.txt");
    write_text(labels, text);
    free(text);
    run_result r = RUN("classify", "--random-weights", "--json", "--top", "2", "--crop", "80",
                       "--resize", "90", "--labels", labels, sample("chelsea.png"));
    expect_status(&r, 0);
    json_error_t jerr;
    json_t *obj = json_loads(r.out, 0, &jerr);
    cr_assert_not_null(obj, "not JSON: %s (%s)", r.out, jerr.text);
    json_t *top = json_object_get(obj, "top");
    cr_assert_eq(json_array_size(top), 2);
    for (size_t k = 0; k < 2; k++) {
        json_t *t = json_array_get(top, k);
        char want[32];
        snprintf(want, sizeof want, "label-%lld",
                 (long long)json_integer_value(json_object_get(t, "class")));
        cr_expect_str_eq(json_string_value(json_object_get(t, "label")), want);
    }
    json_decref(obj);
    free_result(&r);
}

/* A folder tree: the image files, any case of extension, in sorted path
 * order; other files left out; a broken image and a named pipe named and
 * skipped; links to folders walked once; the same list read from standard
 * input by --files-from -. */
Test(cli, classify_walks_folders_and_reads_lists) {
    char cmd[4096];
    const char *dir = tmp_path("tree");
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s/b/c && cp %s %s/b/c/z.PNG && cp %s %s/b/a.jpeg && cp %s %s/b.JPG && "
             "echo not an image > %s/b/notes.txt && echo junk > %s/b/c/broken.png && mkfifo "
             "%s/b/c/pipe.png && ln -s b %s/e && ln -s .. %s/b/c/up",
             dir, sample("chelsea.png"), dir, sample("coffee.jpg"), dir, sample("coffee.jpg"), dir,
             dir, dir, dir, dir, dir);
    cr_assert_eq(system(cmd), 0);
    run_result r =
        RUN("classify", "--random-weights", "--crop", "80", "--resize", "90", "--top", "1", dir);
    expect_status(&r, 1);
    char want[4096];
    /* "b.JPG" < "b/..." since '.' sorts before '/'; "b/a.jpeg" < "b/c/..." */
    snprintf(want, sizeof want, "%s/b.JPG", dir);
    char *first = strstr(r.out, want);
    snprintf(want, sizeof want, "%s/b/a.jpeg", dir);
    char *second = strstr(r.out, want);
    snprintf(want, sizeof want, "%s/b/c/z.PNG", dir);
    char *third = strstr(r.out, want);
    cr_expect(first && second && third && first < second && second < third,
              "not the three images in sorted order:\n%s", r.out);
    cr_expect_null(strstr(r.out, "notes.txt"));
    snprintf(want, sizeof want, "%s/b/c/broken.png", dir);
    expect_contains(r.err, want, "stderr");
    /* a named pipe is refused, not opened (which would block) */
    snprintf(want, sizeof want, "%s/b/c/pipe.png: cannot read: it is a named pipe", dir);
    expect_contains(r.err, want, "stderr");
    /* a link to a folder walked already (e to b; c/up, a loop) is walked once */
    snprintf(want, sizeof want, "%s/e: skipped: a link to a folder walked already", dir);
    expect_contains(r.err, want, "stderr");
    expect_contains(r.err, "5 images, 2 failed", "stderr");
    /* the same from a list on standard input, with a blank line and CRLF */
    const char *list = tmp_path("list.txt");
    snprintf(cmd, sizeof cmd, "%s/b.JPG\r\n\n%s/b\n", dir, dir);
    write_text(list, cmd);
    run_result l = RUN_WITH_INPUT(list, "classify", "--random-weights", "--crop", "80", "--resize",
                                  "90", "--top", "1", "--files-from", "-");
    expect_status(&l, 1);
    cr_expect_str_eq(l.out, r.out, "the list gave other results than the folder");
    free_result(&l);
    free_result(&r);
}

static void expect_npy_shape(const char *path, int ndim, const int64_t *shape) {
    cln_npy a = {0};
    cln_error err;
    cr_assert_eq(cln_npy_read(path, &a, &err), CLN_OK, "%s", err.message);
    cr_expect_eq(a.ndim, ndim);
    for (int d = 0; d < ndim && d < a.ndim; d++)
        cr_expect_eq(a.shape[d], shape[d], "%s: dimension %d is %lld, not %lld", path, d,
                     (long long)a.shape[d], (long long)shape[d]);
    for (size_t i = 0; i < a.numel; i++)
        cr_assert(isfinite(a.data[i]));
    cln_npy_free(&a);
}

/* features of images: a row per readable image, their paths beside it in
 * the same order, the default layer avgpool; a block's (N, C, H, W). */
Test(cli, features_of_images_with_their_paths) {
    const char *corrupt = tmp_path("corrupt.png");
    write_bytes(corrupt, 3000);
    const char *cat = sample("chelsea.png"), *coffee = sample("coffee.jpg");
    const char *out = tmp_path("feats.npy");
    run_result r = RUN("features", "--random-weights", "--crop", "80", "--resize", "90", "--output",
                       out, cat, corrupt, coffee);
    expect_status(&r, 1);
    expect_contains(r.err, corrupt, "stderr");
    expect_npy_shape(out, 2, (const int64_t[]){2, 2048});
    char *paths = read_text(tmp_path("feats.paths.txt"));
    char want[2048];
    snprintf(want, sizeof want, "%s\n%s\n", cat, coffee);
    cr_expect_str_eq(paths, want);
    free(paths);
    free_result(&r);
    r = RUN("features", "--random-weights", "--crop", "80", "--resize", "90", "--layer", "Mixed_6a",
            "--output", out, cat);
    expect_status(&r, 0);
    expect_npy_shape(out, 4, (const int64_t[]){1, 768, 3, 3});
    free_result(&r);
}

/* An unknown layer is refused with the names, and the output already there
 * is left as it was, with no temporary file beside it. */
Test(cli, features_refuses_an_unknown_layer_and_keeps_the_output) {
    const char *out = tmp_path("keep.npy");
    write_text(out, "precious");
    run_result r = RUN("features", "--random-weights", "--layer", "Mixed_9z", "--input",
                       small_input(), "--output", out);
    expect_status(&r, 1);
    expect_contains(r.err, "\"Mixed_9z\"", "stderr");
    expect_contains(r.err, "Mixed_5b", "stderr");
    expect_contains(r.err, "avgpool", "stderr");
    char *text = read_text(out);
    cr_expect_str_eq(text, "precious");
    free(text);
    DIR *d = opendir(tmp_dir_path());
    cr_assert_not_null(d);
    for (struct dirent *e; (e = readdir(d));)
        cr_expect_null(strstr(e->d_name, "keep.npy."), "left behind: %s", e->d_name);
    closedir(d);
    free_result(&r);
}

Test(cli, features_lists_layers_with_shapes) {
    run_result r = RUN("features", "--random-weights", "--list-layers");
    expect_status(&r, 0);
    expect_contains(r.out, "Conv2d_1a_3x3", "stdout");
    expect_contains(r.out, "Mixed_5d.branch3x3dbl_2", "stdout");
    cr_expect(strstr(r.out, "Mixed_5b ") && strstr(strstr(r.out, "Mixed_5b "), "256 x  35 x  35"),
              "%s", r.out);
    expect_contains(r.out, "2048 x   1 x   1", "stdout");
    free_result(&r);
    r = RUN("features", "--random-weights", "--list-layers", "--input", small_input());
    expect_status(&r, 0);
    expect_contains(r.out, "at a 75 x 75 input", "stdout");
    free_result(&r);
}

/* Hundreds of images stream in batches of a fixed size: the peak resident
 * memory of 320 images is that of 32, within a margin far below what 320
 * images in one batch take (about 3 MiB of input and activations each at
 * this size); progress lines come with --progress. */
Test(cli, many_images_stream_in_bounded_memory) {
    char cmd[4096];
    const char *few = tmp_path("few"), *many = tmp_path("many");
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s %s && for i in $(seq 1000 1319); do ln -s %s %s/$i.jpg; done && for i "
             "in $(seq 1000 1031); do ln -s %s %s/$i.jpg; done",
             few, many, sample("coffee.jpg"), many, sample("coffee.jpg"), few);
    cr_assert_eq(system(cmd), 0);
    run_result small =
        RUN("classify", "--random-weights", "--crop", "75", "--resize", "80", "--top", "1", few);
    expect_status(&small, 0);
    run_result large = RUN("classify", "--random-weights", "--crop", "75", "--resize", "80",
                           "--top", "1", "--progress", many);
    expect_status(&large, 0);
    expect_contains(large.err, "320 images, 0 failed", "stderr");
    expect_contains(large.err, "images/s", "stderr");
    fprintf(stderr, "peak resident memory: %ld KiB for 32 images, %ld KiB for 320\n",
            small.peak_rss_kb, large.peak_rss_kb);
    /* under AddressSanitizer freed memory waits in its quarantine (256 MiB)
     * before reuse, so the peak grows with the work: the bound is the plain
     * build's to check */
    const char *sanitize = getenv("CLN_SANITIZE");
    if (!sanitize || strcmp(sanitize, "none") == 0)
        cr_expect_lt(large.peak_rss_kb, small.peak_rss_kb + 48 * 1024,
                     "320 images took %ld KiB at the peak, 32 took %ld KiB", large.peak_rss_kb,
                     small.peak_rss_kb);
    size_t lines = 0;
    for (const char *p = large.out; (p = strchr(p, '\n')); p++)
        lines++;
    cr_expect_eq(lines, 320 * 2, "not one result per image");
    free_result(&small);
    free_result(&large);
}

/* An input holding a NaN or an infinity is refused, naming where, and
 * nothing is written. */
Test(cli, non_finite_input_is_refused) {
    const int64_t shape[4] = {1, 3, 75, 75};
    float *data = calloc(3 * 75 * 75, sizeof *data);
    cr_assert_not_null(data);
    static const struct {
        float value;
        const char *phrase;
    } cases[] = {{NAN, "holds NaN at [0, 2, 4, 9]"},
                 {-INFINITY, "holds an infinity at [0, 2, 4, 9]"}};
    for (size_t i = 0; i < 2; i++) {
        data[(2 * 75 + 4) * 75 + 9] = cases[i].value;
        cln_error err;
        cr_assert_eq(cln_npy_write(tmp_path("bad.npy"), data, 4, shape, &err), CLN_OK);
        run_result r = RUN("infer", "--random-weights", "--input", tmp_path("bad.npy"), "--output",
                           tmp_path("y.npy"));
        expect_status(&r, 1);
        expect_contains(r.err, cases[i].phrase, "stderr");
        cr_expect(!file_exists(tmp_path("y.npy")), "an output was written");
        free_result(&r);
    }
    free(data);
}

/* An output that is a device, or the input itself (by name, through a
 * symbolic link or a hard link), is refused before any work, and the input
 * is left as it was. */
Test(cli, output_that_is_a_device_or_the_input_is_refused) {
    const char *input = small_input();
    char *before = read_text(input);
    run_result r = RUN("infer", "--random-weights", "--input", input, "--output", "/dev/full");
    expect_status(&r, 1);
    expect_contains(r.err, "/dev/full: cannot write: it is a character device", "stderr");
    free_result(&r);
    const char *soft = tmp_path("soft.npy"), *hard = tmp_path("hard.npy");
    cr_assert_eq(symlink(input, soft), 0);
    cr_assert_eq(link(input, hard), 0);
    const char *outputs[3] = {input, soft, hard};
    for (int i = 0; i < 3; i++) {
        r = RUN("infer", "--random-weights", "--input", input, "--output", outputs[i]);
        expect_status(&r, 1);
        expect_contains(r.err, "cannot write: it is the input", "stderr");
        free_result(&r);
        r = RUN("features", "--random-weights", "--input", input, "--output", outputs[i]);
        expect_status(&r, 1);
        expect_contains(r.err, "cannot write: it is the input", "stderr");
        free_result(&r);
    }
    char *after = read_text(input);
    cr_expect_str_eq(after, before, "the input changed");
    free(after);
    free(before);
}

/* An output that is one of the images (in a folder walked, through a link)
 * or the --files-from list is refused before any work, and the file is left
 * as it was. */
Test(cli, output_that_is_an_image_or_the_list_is_refused) {
    const char *folder = tmp_path("pictures");
    cr_assert_eq(mkdir(folder, 0700), 0);
    const char *image = tmp_path("pictures/cat.png"), *alias = tmp_path("alias.npy");
    cr_assert_eq(link(sample("chelsea.png"), image), 0);
    cr_assert_eq(symlink(image, alias), 0);
    const char *list = tmp_path("list.txt");
    write_text(list, image);
    struct stat before, after;
    cr_assert_eq(stat(image, &before), 0);
    const char *outputs[] = {image, alias, tmp_path("pictures/cat.paths.txt")};
    cr_assert_eq(symlink(image, outputs[2]), 0);
    for (int i = 0; i < 3; i++) {
        run_result r = RUN("features", "--random-weights", "--crop", "80", "--resize", "90",
                           "--output", outputs[i], folder);
        expect_status(&r, 1);
        expect_contains(r.err, "cannot write: it is the input", "stderr");
        free_result(&r);
    }
    run_result r = RUN("classify", "--random-weights", "--crop", "80", "--resize", "90", "--csv",
                       list, "--files-from", list);
    expect_status(&r, 1);
    expect_contains(r.err, "cannot write: it is the input", "stderr");
    free_result(&r);
    r = RUN("classify", "--random-weights", "--crop", "80", "--resize", "90", "--trace", alias,
            folder);
    expect_status(&r, 1);
    expect_contains(r.err, "cannot write: it is the input", "stderr");
    free_result(&r);
    /* a replaced file would be a new inode; a rewritten one, new bytes */
    cr_assert_eq(stat(image, &after), 0);
    cr_expect(after.st_ino == before.st_ino && after.st_size == before.st_size &&
                  after.st_mtime == before.st_mtime,
              "the image changed");
    char *list_after = read_text(list);
    cr_expect_str_eq(list_after, image, "the list changed");
    free(list_after);
}

/* A file name with an escape sequence and a line break is printed escaped in
 * the text results, so it forges no line; --json gives it exactly. */
Test(cli, classify_escapes_control_characters_of_paths) {
    const char *odd = tmp_path("a\x1b[2Jb\nc.png");
    cr_assert_eq(link(sample("chelsea.png"), odd), 0);
    run_result r = RUN("classify", "--random-weights", "--crop", "80", "--resize", "90", odd);
    expect_status(&r, 0);
    expect_contains(r.out, "a\\x1b[2Jb\\x0ac.png\n", "stdout");
    cr_expect_null(strchr(r.out, '\x1b'), "a raw escape in: %s", r.out);
    free_result(&r);
    r = RUN("classify", "--random-weights", "--crop", "80", "--resize", "90", "--json", odd);
    expect_status(&r, 0);
    expect_contains(r.out, "a\\u001B[2Jb\\nc.png", "stdout");
    free_result(&r);
}

/* A batch the device cannot hold is refused before its input is made on
 * the host: the 4.4 GB of a 4096-image batch are never allocated. */
Test(cli, batch_too_large_for_the_device_is_refused_before_allocating) {
    run_result r = RUN("bench", "--random-weights", "--batch", "4096", "--iters", "1");
    expect_status(&r, 1);
    expect_contains(r.err, "does not fit", "stderr");
    cr_expect_lt(r.peak_rss_kb, 1536 * 1024, "the refused run took %ld KiB", r.peak_rss_kb);
    free_result(&r);
    r = RUN("tune", "--batch", "4096");
    expect_status(&r, 1);
    expect_contains(r.err, "4096 x 3 x 299 x 299 is too large", "stderr");
    cr_expect_lt(r.peak_rss_kb, 1536 * 1024, "the refused run took %ld KiB", r.peak_rss_kb);
    free_result(&r);
}

/* Paths that would block or never end (a named pipe for the weights,
 * /dev/zero for the input) are refused before they are opened. */
Test(cli, named_pipes_and_devices_are_refused_without_blocking) {
    const char *pipe = tmp_path("weights.safetensors");
    cr_assert_eq(mkfifo(pipe, 0600), 0);
    run_result r =
        RUN("infer", "--weights", pipe, "--input", small_input(), "--output", tmp_path("y.npy"));
    expect_status(&r, 1);
    expect_contains(r.err, "cannot read: it is a named pipe, not a regular file", "stderr");
    free_result(&r);
    r = RUN("infer", "--random-weights", "--input", "/dev/zero", "--output", tmp_path("y.npy"));
    expect_status(&r, 1);
    expect_contains(r.err, "/dev/zero: cannot read: it is a character device", "stderr");
    free_result(&r);
}

/* A progressive JPEG of thousands of scans (a pass over the image each) is
 * refused at once instead of keeping the decoder busy; one of about a
 * hundred, under the limit, is decoded. */
Test(cli, jpeg_with_thousands_of_scans_is_refused) {
    char cmd[2048];
    const char *many = tmp_path("scans.jpg"), *few = tmp_path("few.jpg");
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 %s/tests/make_many_scans.py %s 5000 && /usr/bin/python3 "
             "%s/tests/make_many_scans.py %s 100",
             getenv("CLN_SOURCE_DIR"), many, getenv("CLN_SOURCE_DIR"), few);
    cr_assert_eq(system(cmd), 0);
    run_result r = RUN("classify", "--random-weights", "--crop", "75", "--resize", "80", many, few);
    expect_status(&r, 1);
    expect_contains(r.err, "more than 256 progressive scans", "stderr");
    expect_contains(r.out, few, "stdout");
    free_result(&r);
}

/* Results that cannot be written to standard output fail the run. */
Test(cli, full_standard_output_fails_the_run) {
    stdout_to = "/dev/full";
    run_result r = RUN("devices");
    expect_status(&r, 1);
    expect_contains(r.err, "cannot write standard output", "stderr");
    free_result(&r);
    stdout_to = "/dev/full";
    r = RUN("classify", "--random-weights", "--crop", "80", "--resize", "90",
            sample("chelsea.png"));
    expect_status(&r, 1);
    expect_contains(r.err, "cannot write standard output", "stderr");
    free_result(&r);
}

Test(cli, bench_prints_json_on_its_last_line) {
    run_result r = RUN("bench", "--random-weights", "--batch", "2", "--size", "80", "--iters", "3",
                       "--warmup", "1", "--json");
    expect_status(&r, 0);
    char *last = strrchr(r.out, '{');
    cr_assert_not_null(last, "%s", r.out);
    json_error_t jerr;
    json_t *obj = json_loads(last, 0, &jerr);
    cr_assert_not_null(obj, "not JSON: %s (%s)", last, jerr.text);
    static const char *const keys[] = {"batch",  "iters",        "median_ms", "p10_ms",
                                       "p90_ms", "images_per_s", "device",    "peak_device_mib"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        cr_expect_not_null(json_object_get(obj, keys[i]), "no %s in %s", keys[i], last);
    cr_expect_eq(json_integer_value(json_object_get(obj, "batch")), 2);
    double p10 = json_real_value(json_object_get(obj, "p10_ms"));
    double median = json_real_value(json_object_get(obj, "median_ms"));
    double p90 = json_real_value(json_object_get(obj, "p90_ms"));
    cr_expect(p10 > 0 && p10 <= median && median <= p90, "%g %g %g", p10, median, p90);
    json_decref(obj);
    free_result(&r);
}

Test(cli, profile_table_and_trace_from_infer) {
    const char *input = small_input(), *trace = tmp_path("trace.json");
    run_result r = RUN("infer", "--random-weights", "--input", input, "--output", tmp_path("y.npy"),
                       "--profile", "--trace", trace);
    expect_status(&r, 0);
    /* of a warm forward, not the driver's compilation */
    expect_contains(r.err, "profile of the second forward", "stderr");
    expect_contains(r.err, "Mixed_6b.branch7x7_2", "stderr");
    expect_contains(r.err, "per layer kind", "stderr");
    expect_contains(r.err, "concat", "stderr");
    json_error_t jerr;
    json_t *root = json_load_file(trace, 0, &jerr);
    cr_assert_not_null(root, "trace is not JSON: %s", jerr.text);
    cr_expect(json_array_size(json_object_get(root, "traceEvents")) > 100);
    json_decref(root);
    free_result(&r);
}

/* ---- FID --------------------------------------------------------------- */

/* Runs a Python snippet with the test folder as sys.argv[1]. */
static void run_python(const char *code) {
    const char *script = tmp_path("make.py");
    write_text(script, code);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' '%s'", script, tmp_dir_path());
    cr_assert_eq(system(cmd), 0, "failed: %s", cmd);
}

/* Statistics files that are not pytorch-fid's, or do not fit, are refused
 * with the file named; a named pipe does not block. */
Test(cli, fid_refuses_bad_statistics_files) {
    run_python("import sys, numpy as np\n"
               "d = sys.argv[1] + '/'\n"
               "np.savez(d + 'good.npz', mu=np.zeros(3), sigma=np.eye(3))\n"
               "np.savez(d + 'nosigma.npz', mu=np.zeros(3))\n"
               "np.savez(d + 'shape.npz', mu=np.zeros(3), sigma=np.zeros((3, 4)))\n"
               "np.savez(d + 'other.npz', mu=np.zeros(4), sigma=np.eye(4))\n"
               "s = np.eye(3); s[1, 2] = np.nan\n"
               "np.savez_compressed(d + 'nan.npz', mu=np.zeros(3), sigma=s)\n"
               "np.savez(d + 'ints.npz', mu=np.zeros(3, np.int64), sigma=np.eye(3))\n"
               "open(d + 'junk.npz', 'wb').write(bytes(range(256)) * 4)\n");
    const char *good = tmp_path("good.npz");
    static const struct {
        const char *file, *phrase;
    } cases[] = {
        {"junk.npz", "not an .npz of FID statistics"},
        {"nosigma.npz", "holds no sigma.npy"},
        {"shape.npz", "need mu (D,) and sigma (D, D) with the same D"},
        {"other.npz", "holds statistics of 4 dims, not --dims 64"},
        {"nan.npz", "holds a non-finite value (nan) at 5"},
        {"ints.npz", "is not float32 or float64"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s", tmp_path(cases[i].file));
        run_result r = RUN("fid", "--dims", "64", path, good);
        expect_status(&r, 1);
        expect_contains(r.err, path, "stderr");
        expect_contains(r.err, cases[i].phrase, "stderr");
        cr_expect_eq(r.out[0], '\0', "printed a result: %s", r.out);
        free_result(&r);
    }
    run_result r = RUN("fid", "--dims", "2048", good, good);
    expect_status(&r, 1);
    expect_contains(r.err, "holds statistics of 3 dims, not --dims 2048", "stderr");
    free_result(&r);
}

/* Statistics that read well but lie: a sigma that is not symmetric (not
 * read through one triangle), one with a negative eigenvalue (pytorch-fid
 * refuses it for the imaginary part of its sqrtm; nothing is clamped), means
 * whose distance overflows, two members of one name. Each is refused with
 * the file named and no result printed; statistics that do not lie give a
 * finite result. */
Test(cli, fid_refuses_statistics_that_lie) {
    run_python("import sys, zipfile, numpy as np\n"
               "d = sys.argv[1] + '/'\n"
               "rng = np.random.default_rng(0)\n"
               "x = rng.normal(size=(200, 64)); s = np.cov(x, rowvar=False)\n"
               "np.savez(d + 'good64.npz', mu=x.mean(0), sigma=s)\n"
               "t = s.copy(); t[0, 5] += 0.5\n"
               "np.savez(d + 'nonsym.npz', mu=x.mean(0), sigma=t)\n"
               "w, v = np.linalg.eigh(s); w[0] = -0.5; t = (v * w) @ v.T\n"
               "np.savez(d + 'indefinite.npz', mu=x.mean(0), sigma=(t + t.T) / 2)\n"
               "np.savez(d + 'overflow.npz', mu=np.full(64, 1e200), sigma=s)\n"
               "np.savez(d + 'single.npz', mu=x.mean(0).astype(np.float32), "
               "sigma=s.astype(np.float32))\n"
               "z = zipfile.ZipFile(d + 'twice.npz', 'w')\n"
               "import io, warnings; warnings.simplefilter('ignore')\n"
               "for name, a in (('mu', x.mean(0)), ('sigma', s), ('mu', x.mean(0))):\n"
               "    b = io.BytesIO(); np.save(b, a); z.writestr(name + '.npy', b.getvalue())\n"
               "z.close()\n");
    const char *good = tmp_path("good64.npz");
    static const struct {
        const char *file, *phrase;
    } cases[] = {
        {"nonsym.npz", "sigma.npy is not symmetric: sigma[0][5]"},
        {"indefinite.npz", "sigma is not a covariance: it has the eigenvalue -0.5"},
        {"overflow.npz", "|mu1 - mu2|^2 overflows"},
        {"twice.npz", "two of its members have one name"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s", tmp_path(cases[i].file));
        run_result r = RUN("fid", "--dims", "64", "--json", path, good);
        expect_status(&r, 1);
        expect_contains(r.err, path, "stderr");
        expect_contains(r.err, cases[i].phrase, "stderr");
        cr_expect_eq(r.out[0], '\0', "printed a result: %s", r.out);
        free_result(&r);
    }
    /* float32 files round each entry apart: still symmetric enough */
    char single[4096];
    snprintf(single, sizeof single, "%s", tmp_path("single.npz"));
    run_result r = RUN("fid", "--dims", "64", "--json", single, good);
    expect_status(&r, 0);
    expect_contains(r.out, "\"fid\": ", "stdout");
    free_result(&r);
    const char *pipe = tmp_path("pipe.npz");
    cr_assert_eq(mkfifo(pipe, 0600), 0);
    r = RUN("fid", "--dims", "64", pipe, good);
    expect_status(&r, 1);
    expect_contains(r.err, "cannot read: it is a named pipe, not a regular file", "stderr");
    free_result(&r);
}

Test(cli, fid_usage_errors) {
    const char *good = tmp_path("x.npz");
    static const char *const phrases[] = {"--dims takes 2048, 768, 192 or 64, not 100",
                                          "give two sets", "--network does not apply",
                                          "give one of --weights FILE or --random-weights",
                                          "--save-stats takes images and then the .npz"};
    run_result runs[5] = {
        RUN("fid", "--dims", "100", good, good),
        RUN("fid", good),
        RUN("fid", "--network", "inception_v3", good, good),
        RUN("fid", tmp_dir_path(), good),
        RUN("fid", "--save-stats", "--random-weights", good, good),
    };
    for (int i = 0; i < 5; i++) {
        expect_status(&runs[i], 2);
        expect_contains(runs[i].err, phrases[i], "stderr");
        free_result(&runs[i]);
    }
}

/* A folder against itself is at distance 0 (up to rounding, against the
 * traces); an image that cannot be read is named, left out and fails the
 * run, which still gives the distance of the rest; one image is not enough
 * for a covariance. */
Test(cli, fid_of_folders_with_random_weights) {
    const char *a = tmp_path("a");
    cr_assert_eq(mkdir(a, 0700), 0);
    run_python("import sys, numpy as np\n"
               "from PIL import Image\n"
               "rng = np.random.default_rng(3)\n"
               "for i in range(4):\n"
               "    px = rng.integers(0, 256, (50 + 9 * i, 61, 3), dtype=np.uint8)\n"
               "    Image.fromarray(px).save(sys.argv[1] + '/a/%d.png' % i)\n");
    run_result r = RUN("fid", "--random-weights", "--dims", "64", "--json", a, a);
    expect_status(&r, 0);
    const char *at = strstr(r.out, "\"fid\": ");
    cr_assert_not_null(at, "%s", r.out);
    cr_expect_lt(fabs(strtod(at + 7, NULL)), 1e-6, "%s", r.out);
    expect_contains(r.out, "\"images\": [4, 4], \"failed\": 0", "stdout");
    free_result(&r);

    const char *stats = tmp_path("a.npz");
    r = RUN("fid", "--random-weights", "--dims", "64", "--save-stats", a, stats);
    expect_status(&r, 0);
    free_result(&r);
    write_bytes(tmp_path("a/broken.png"), 100);
    r = RUN("fid", "--random-weights", "--dims", "64", "--json", a, stats);
    expect_status(&r, 1);
    expect_contains(r.err, "broken.png", "stderr");
    expect_contains(r.out, "\"images\": [4, null], \"failed\": 1", "stdout");
    free_result(&r);

    const char *one = tmp_path("one");
    cr_assert_eq(mkdir(one, 0700), 0);
    cr_assert_eq(link(tmp_path("a/0.png"), tmp_path("one/0.png")), 0);
    r = RUN("fid", "--random-weights", "--dims", "64", one, stats);
    expect_status(&r, 1);
    expect_contains(r.err, "at least 2 images for a covariance, not 1", "stderr");
    free_result(&r);
    /* the statistics file to write may not be one of the images (a list
     * names any file) */
    const char *list = tmp_path("list.txt");
    write_text(list, stats);
    r = RUN("fid", "--random-weights", "--dims", "64", "--save-stats", list, stats);
    expect_status(&r, 1);
    expect_contains(r.err, "cannot write: it is the input", "stderr");
    free_result(&r);
}

/* --network names one of the two tables; the FID Inception's 1008 classes
 * are shown by index. */
Test(cli, network_option) {
    run_result r =
        RUN("classify", "--network", "resnet", "--random-weights", sample("chelsea.png"));
    expect_status(&r, 2);
    expect_contains(r.err, "--network takes inception_v3 or fid, not 'resnet'", "stderr");
    free_result(&r);
    r = RUN("classify", "--network", "fid", "--random-weights", "--top", "1008", "--crop", "80",
            sample("chelsea.png"));
    expect_status(&r, 0);
    expect_contains(r.out, "1008.", "stdout");
    free_result(&r);
    r = RUN("classify", "--network", "fid", "--random-weights", "--top", "1009", "--crop", "80",
            sample("chelsea.png"));
    expect_status(&r, 2);
    expect_contains(r.err, "more than the model's 1008 classes", "stderr");
    free_result(&r);
}

/* ---- More than one device ---------------------------------------------- */

/* Two one-thread CPU devices from PoCL, for the runs that follow. */
static void two_devices(void) {
    setenv("POCL_DEVICES", "pthread pthread", 1);
    setenv("POCL_MAX_PTHREAD_COUNT", "1", 1); /* PoCL 3.1; later ones read the next */
    setenv("POCL_CPU_MAX_CU_COUNT", "1", 1);
}

/* A folder of n small images of varied sizes. */
static const char *image_folder(const char *name, int n) {
    static char dir[4096];
    snprintf(dir, sizeof dir, "%s", tmp_path(name));
    cr_assert_eq(mkdir(dir, 0700), 0);
    char code[1024];
    snprintf(code, sizeof code,
             "import sys, numpy as np\n"
             "from PIL import Image\n"
             "rng = np.random.default_rng(5)\n"
             "for i in range(%d):\n"
             "    px = rng.integers(0, 256, (40 + 7 * i, 90 - 3 * i, 3), dtype=np.uint8)\n"
             "    Image.fromarray(px).save(sys.argv[1] + '/%s/%%02d.png' %% i)\n",
             n, name);
    run_python(code);
    return dir;
}

/* --device all over two devices gives, image by image, the bytes of a run
 * on one of them alone: classify's lines, features' rows, fid's value,
 * infer's logits; bench reports both devices' shares. */
Test(cli, devices_all_gives_the_single_device_outputs) {
    two_devices();
    const char *dir = image_folder("many", 9);
    char single[4096], multi[4096];
    snprintf(single, sizeof single, "%s", tmp_path("single.txt"));
    snprintf(multi, sizeof multi, "%s", tmp_path("multi.txt"));
    const char *devices[2] = {"0:1", "all"}, *outs[2] = {single, multi};
    for (int i = 0; i < 2; i++) {
        stdout_to = outs[i];
        run_result r = RUN("classify", "--random-weights", "--device", devices[i], "--batch", "2",
                           "--crop", "75", "--resize", "80", dir);
        stdout_to = NULL;
        expect_status(&r, 0);
        if (i == 1) {
            expect_contains(r.err, "device 0, ", "stderr");
            expect_contains(r.err, "device 1, ", "stderr");
        }
        free_result(&r);
    }
    tmp_expect_same_bytes(single, multi);

    char f1[4096], f2[4096];
    snprintf(f1, sizeof f1, "%s", tmp_path("f1.npy"));
    snprintf(f2, sizeof f2, "%s", tmp_path("f2.npy"));
    run_result r = RUN("features", "--random-weights", "--device", "0:0", "--batch", "2", "--crop",
                       "75", "--layer", "Mixed_5b", "--output", f1, dir);
    expect_status(&r, 0);
    free_result(&r);
    r = RUN("features", "--random-weights", "--device", "0:0,0:1", "--batch", "2", "--crop", "75",
            "--layer", "Mixed_5b", "--output", f2, dir);
    expect_status(&r, 0);
    free_result(&r);
    tmp_expect_same_bytes(f1, f2);
    /* and of an --input batch, a batch of 1 per device at a time */
    const char *x3 = tmp_path("x3.npy");
    write_input(x3, 4, (const int64_t[]){3, 3, 75, 80});
    char g1[4096], g2[4096];
    snprintf(g1, sizeof g1, "%s", tmp_path("g1.npy"));
    snprintf(g2, sizeof g2, "%s", tmp_path("g2.npy"));
    r = RUN("features", "--random-weights", "--device", "0:0", "--batch", "1", "--layer",
            "Mixed_5b", "--input", x3, "--output", g1);
    expect_status(&r, 0);
    free_result(&r);
    r = RUN("features", "--random-weights", "--device", "all", "--batch", "1", "--layer",
            "Mixed_5b", "--input", x3, "--output", g2);
    expect_status(&r, 0);
    free_result(&r);
    tmp_expect_same_bytes(g1, g2);

    run_result fids[2];
    for (int i = 0; i < 2; i++)
        fids[i] = RUN("fid", "--random-weights", "--device", devices[i], "--batch", "2", "--dims",
                      "192", "--json", dir, dir);
    expect_status(&fids[0], 0);
    expect_status(&fids[1], 0);
    cr_expect_str_eq(fids[0].out, fids[1].out);
    free_result(&fids[0]);
    free_result(&fids[1]);

    char y1[4096], y2[4096];
    snprintf(y1, sizeof y1, "%s", tmp_path("y1.npy"));
    snprintf(y2, sizeof y2, "%s", tmp_path("y2.npy"));
    const char *x = small_input();
    r = RUN("infer", "--random-weights", "--device", "0:1", "--input", x, "--output", y1);
    expect_status(&r, 0);
    free_result(&r);
    r = RUN("infer", "--random-weights", "--device", "all", "--input", x, "--output", y2);
    expect_status(&r, 0);
    free_result(&r);
    tmp_expect_same_bytes(y1, y2);

    r = RUN("bench", "--random-weights", "--device", "all", "--size", "75", "--iters", "2",
            "--json");
    expect_status(&r, 0);
    expect_contains(r.out, "\"devices\":[{\"index\":0", "stdout");
    expect_contains(r.out, "{\"index\":1", "stdout");
    free_result(&r);
    r = RUN("bench", "--random-weights", "--device", "0:0,", "--iters", "1");
    expect_status(&r, 1);
    expect_contains(r.err, "has an empty entry", "stderr");
    free_result(&r);
}

/* One device failing mid-run (its Nth OpenCL call, in the fault-injection
 * build) ends the run: an error naming the device, exit 1, no output file,
 * no hang. */
Test(cli, a_failing_device_ends_the_run) {
    const char *injection = getenv("CLN_FAULT_INJECTION");
    if (!injection || strcmp(injection, "true") != 0) {
        cr_skip_test("needs the fault-injection build (build-asan)");
    }
    two_devices();
    const char *dir = image_folder("some", 12);
    const char *out = tmp_path("feats.npy");
    /* the run makes about 1050 counted calls (both loads, then 6 batches):
     * each of these fails one inside a forward, on either device */
    static const char *const at[] = {"450", "750", "1000"};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        setenv("CLN_FAULT_AT", at[i], 1);
        run_result r = RUN("features", "--random-weights", "--device", "all", "--batch", "2",
                           "--crop", "75", "--output", out, dir);
        unsetenv("CLN_FAULT_AT");
        expect_status(&r, 1);
        expect_contains(r.err, "clinception: device ", "stderr");
        expect_contains(r.err, "failed: CL_", "stderr");
        cr_expect(!file_exists(out), "a failed run left %s", out);
        free_result(&r);
    }
}

/* ---- Messages that quote what a user gives ------------------------------ */

/* Labels are printed with their control characters escaped, as paths are
 * (a label holding ESC [2J would clear the terminal), and a byte-order mark
 * at the start of the labels file is no part of the first label. */
Test(cli, labels_escaped_and_their_byte_order_mark_dropped) {
    const char *labels = tmp_path("labels.txt");
    FILE *f = fopen(labels, "wb");
    cr_assert_not_null(f);
    fputs("\xef\xbb\xbftench\n", f);
    for (int i = 1; i < 1000; i++)
        fprintf(f, "\x1b[2Jclass%d\n", i);
    cr_assert_eq(fclose(f), 0);
    char image[4096];
    snprintf(image, sizeof image, "%s/tools/data/chelsea.png", getenv("CLN_SOURCE_DIR"));
    run_result r = RUN("classify", "--random-weights", "--crop", "75", "--top", "1000", "--labels",
                       labels, image);
    expect_status(&r, 0);
    expect_contains(r.out, "\\x1b[2Jclass", "stdout");
    expect_contains(r.out, "  tench  ", "stdout");
    cr_expect(strchr(r.out, '\x1b') == NULL, "an escape character reached stdout");
    cr_expect(strstr(r.out, "\xef\xbb\xbf") == NULL, "the byte-order mark reached stdout");
    free_result(&r);
}

/* A --files-from list saved with a byte-order mark: its first path is
 * found. */
Test(cli, files_from_with_a_byte_order_mark) {
    const char *list = tmp_path("list.txt");
    char text[4096];
    snprintf(text, sizeof text, "\xef\xbb\xbf%s/tools/data/chelsea.png\n",
             getenv("CLN_SOURCE_DIR"));
    write_text(list, text);
    run_result r = RUN("classify", "--random-weights", "--crop", "75", "--files-from", list);
    expect_status(&r, 0);
    expect_contains(r.out, "tools/data/chelsea.png", "stdout");
    free_result(&r);
}

/* A file name's line break is escaped in a message as in the results, so
 * that no name can forge a line on standard error. */
Test(cli, line_breaks_of_names_escaped_in_messages) {
    const char *bad = tmp_path("forged\nclinception: all is well.png");
    write_text(bad, "not an image");
    run_result r = RUN("classify", "--random-weights", "--crop", "75", bad);
    expect_status(&r, 1);
    expect_contains(r.err, "forged\\x0aclinception: all is well.png", "stderr");
    cr_expect(strstr(r.err, "\nclinception: all is well") == NULL, "a forged line: %s", r.err);
    free_result(&r);
}

/* A bad $CLINCEPTION_DEVICE is named as the source, not --device, which the
 * user did not give; a list of devices there is read as --device's. */
Test(cli, a_bad_device_variable_is_named) {
    char image[4096];
    snprintf(image, sizeof image, "%s/tools/data/chelsea.png", getenv("CLN_SOURCE_DIR"));
    setenv("CLINCEPTION_DEVICE", "no-such-accelerator", 1);
    run_result r = RUN("classify", "--random-weights", "--crop", "75", image);
    expect_status(&r, 1);
    expect_contains(r.err, "no OpenCL device matches $CLINCEPTION_DEVICE \"no-such-accelerator\"",
                    "stderr");
    cr_expect(strstr(r.err, "--device") == NULL, "blames --device: %s", r.err);
    free_result(&r);
    setenv("CLINCEPTION_DEVICE", "cpu,,cpu", 1);
    r = RUN("classify", "--random-weights", "--crop", "75", image);
    expect_status(&r, 1);
    expect_contains(r.err, "$CLINCEPTION_DEVICE \"cpu,,cpu\" has an empty entry", "stderr");
    free_result(&r);
    unsetenv("CLINCEPTION_DEVICE");
}

/* ---- Outputs that collide, and device lists --------------------------- */

/* Two outputs of a run at one file are refused before any work (one would
 * be lost), a read-only output is not replaced, and a legal 255-byte output
 * name is written (its temporary name shortened to fit). */
Test(cli, outputs_that_collide_or_are_read_only) {
    char image[4096];
    snprintf(image, sizeof image, "%s/tools/data/chelsea.png", getenv("CLN_SOURCE_DIR"));
    char out[4096], paths[4096], csv[4096];
    snprintf(out, sizeof out, "%s", tmp_path("f.npy"));
    snprintf(paths, sizeof paths, "%s", tmp_path("f.paths.txt"));
    snprintf(csv, sizeof csv, "%s/./f.npy", tmp_dir_path());
    run_result r = RUN("features", "--random-weights", "--crop", "75", "--output", out, "--csv",
                       csv, image);
    expect_status(&r, 1);
    expect_contains(r.err, "another output of the run; one would be lost", "stderr");
    cr_expect(!file_exists(out), "an output was written");
    free_result(&r);
    r = RUN("features", "--random-weights", "--crop", "75", "--output", out, "--trace", paths,
            image);
    expect_status(&r, 1);
    expect_contains(r.err, "another output of the run", "stderr");
    free_result(&r);

    const char *x = small_input(), *frozen = tmp_path("frozen.npy");
    write_text(frozen, "keep");
    cr_assert_eq(chmod(frozen, 0444), 0);
    r = RUN("infer", "--random-weights", "--input", x, "--output", frozen);
    expect_status(&r, 1);
    expect_contains(r.err, "it is read-only (mode 0444)", "stderr");
    free_result(&r);
    char *kept = read_text(frozen);
    cr_expect_str_eq(kept, "keep");
    free(kept);

    char name[300] = "";
    memset(name, 'n', 251);
    strcpy(name + 251, ".npy"); /* 255 bytes */
    char longest[4096];
    snprintf(longest, sizeof longest, "%s", tmp_path(name));
    r = RUN("infer", "--random-weights", "--input", x, "--output", longest);
    expect_status(&r, 0);
    cr_expect(file_exists(longest), "the 255-byte output was not written");
    free_result(&r);
    /* the paths list beside such an output would be longer: refused first */
    r = RUN("features", "--random-weights", "--crop", "75", "--output", longest, image);
    expect_status(&r, 1);
    expect_contains(r.err, "more than the 255 a file name may have", "stderr");
    free_result(&r);
}

/* A device list names each device once and every entry must be one: a
 * second copy of a device, or more than 64 entries, is refused. */
Test(cli, device_lists_with_copies_or_too_many_entries) {
    char image[4096];
    snprintf(image, sizeof image, "%s/tools/data/chelsea.png", getenv("CLN_SOURCE_DIR"));
    run_result r = RUN("classify", "--random-weights", "--crop", "75", "--device", "cpu,0:0", image);
    expect_status(&r, 1);
    expect_contains(r.err, "names device 0:0", "stderr");
    expect_contains(r.err, "twice: entries 1 and 2", "stderr");
    free_result(&r);
    char many[1024] = "";
    for (int i = 0; i < 64; i++)
        strcat(many, "cpu,");
    strcat(many, "bogus");
    r = RUN("classify", "--random-weights", "--crop", "75", "--device", many, image);
    expect_status(&r, 1);
    expect_contains(r.err, "names more than 64 devices", "stderr");
    free_result(&r);
}

/* SIGTERM (or Ctrl-C's SIGINT) mid-run: the run's temporary files are
 * removed, no output appears, and the signal ends the program. */
Test(cli, an_interrupted_run_leaves_no_temporary_files) {
    const char *dir = tmp_path("photos");
    char cmd[16384];
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s && for i in $(seq 10 40); do cp %s/tools/data/chelsea.png %s/$i.png; done",
             dir, getenv("CLN_SOURCE_DIR"), dir);
    cr_assert_eq(system(cmd), 0);
    const char *out = tmp_path("out.npy"), *status = tmp_path("status");
    snprintf(cmd, sizeof cmd,
             "cd %s && { %s features --random-weights --batch 1 --workers 1 --output %s %s "
             "2>/dev/null & pid=$!; for i in $(seq 600); do ls | grep -q '^out.paths.txt.' && "
             "break; sleep 0.1; done; sleep 0.5; kill -TERM $pid; wait $pid; echo $? > %s; }",
             tmp_dir_path(), getenv("CLINCEPTION"), out, dir, status);
    cr_assert_eq(system(cmd), 0);
    char *code = read_text(status);
    cr_expect_eq(atoi(code), 128 + SIGTERM, "exit status %s, not that of SIGTERM", code);
    free(code);
    DIR *d = opendir(tmp_dir_path());
    cr_assert_not_null(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        cr_expect(strncmp(e->d_name, "out.", 4) != 0, "left behind: %s", e->d_name);
    closedir(d);
}
