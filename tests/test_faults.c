/* Fault injection (a -Dfault_injection=true build): walks every OpenCL and
 * CLBlast call of one whole run (runtime, model, forward), making each fail in
 * turn, and checks that each failure comes back as an error naming the
 * operation and its error code, with everything released (the leak checker
 * of the sanitizer build sees every iteration). */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>

#include "../host/cl_util.h"
#include "../include/clinception.h"

#include "../jobs/npy.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define N 1
#define H 75
#define W 75

static float input[N * 3 * H * W], logits[N * CLN_NUM_CLASSES];

/* One whole run; returns its status, err holding the message. */
static cln_status run_once(cln_conv_algo algo, cln_error *err) {
    cln_runtime *rt = NULL;
    cln_model *model = NULL;
    cln_status st = cln_runtime_create(NULL, &rt, err);
    if (st == CLN_OK) st = cln_model_load_random(rt, 5, &model, err);
    cln_forward_options o = {.conv_algo = algo, .profile = true};
    if (st == CLN_OK) st = cln_model_forward(model, input, N, H, W, &o, logits, err);
    cln_model_free(model);
    cln_runtime_free(rt);
    return st;
}

/* The runs below, once, in a child that leaves without the leak check: with
 * a cold PoCL cache it compiles every kernel for every launch shape (what
 * PoCL and LLVM keep of that is theirs), so that the walk itself finds them
 * built and its leak check, which runs without suppressions, sees only what
 * our code makes. */
static void warm_the_kernel_cache(void) {
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        cln_error err;
        bool ok =
            run_once(CLN_CONV_TILED, &err) == CLN_OK && run_once(CLN_CONV_WINOGRAD, &err) == CLN_OK;
        setenv("CLINCEPTION_TUNABLES", "WEIGHT_PANELS=0", 1);
        ok = ok && run_once(CLN_CONV_GEMM, &err) == CLN_OK;
        _exit(ok ? 0 : 1);
    }
    int wstatus;
    cr_assert_eq(waitpid(pid, &wstatus, 0), pid);
    cr_assert(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0, "the warm-up runs failed");
}

TestSuite(faults, .init = warm_the_kernel_cache, .timeout = 900);

/* The calls of the set-up alone (runtime and model), the same for every way. */
static long setup_calls(void) {
    cln_error err;
    cln_runtime *rt = NULL;
    cln_model *model = NULL;
    fault_arm(0);
    cr_assert_eq(cln_runtime_create(NULL, &rt, &err), CLN_OK, "%s", err.message);
    cr_assert_eq(cln_model_load_random(rt, 5, &model, &err), CLN_OK, "%s", err.message);
    const long n = fault_count();
    cln_model_free(model);
    cln_runtime_free(rt);
    return n;
}

static void expect_named_failure(cln_status st, const cln_error *err, long n, const char *what) {
    cr_expect(st == CLN_ERR_OPENCL || st == CLN_ERR_GEMM,
              "call %ld of the %s failed, but it returned %s: %s", n, what, cln_status_name(st),
              err->message);
    cr_expect(strstr(err->message, " failed: CL") != NULL,
              "call %ld of the %s: the message does not name the operation and error: %s", n, what,
              err->message);
}

/* Fails each call of a whole run in turn: each of the set-up's (runtime and
 * model, made anew for each), unless forward_only, then each of a first
 * forward's, on a runtime kept from one to the next and a new model each
 * time, which must then run a forward once the fault is gone. */
static void walk_calls(cln_conv_algo algo, bool forward_only) {
    cln_error err;
    for (size_t i = 0; i < sizeof input / sizeof input[0]; i++)
        input[i] = (float)(i % 17) / 8.0f - 1.0f;
    /* a first run does once-per-process work (CLBlast's parameters for the
     * device; the program's runs below fail that too); then the count */
    fault_arm(0);
    cr_assert_eq(run_once(algo, &err), CLN_OK, "%s", err.message);
    fault_arm(0);
    cr_assert_eq(run_once(algo, &err), CLN_OK, "%s", err.message);
    const long points = fault_count(), setup = setup_calls();
    cr_assert_gt(points - setup, 50, "only %ld forward calls counted", points - setup);
    for (long n = 1; !forward_only && n <= setup; n++) {
        fault_arm(n);
        memset(&err, 0, sizeof err);
        expect_named_failure(run_once(algo, &err), &err, n, "set-up");
    }
    fault_arm(0);
    cln_runtime *rt = NULL;
    cr_assert_eq(cln_runtime_create(NULL, &rt, &err), CLN_OK, "%s", err.message);
    const cln_forward_options o = {.conv_algo = algo, .profile = true};
    for (long n = 1; n <= points - setup; n++) {
        cln_model *model = NULL;
        fault_arm(0);
        cr_assert_eq(cln_model_load_random(rt, 5, &model, &err), CLN_OK, "%s", err.message);
        fault_arm(n);
        memset(&err, 0, sizeof err);
        expect_named_failure(cln_model_forward(model, input, N, H, W, &o, logits, &err), &err, n,
                             "forward");
        fault_arm(0);
        cr_expect_eq(cln_model_forward(model, input, N, H, W, &o, logits, &err), CLN_OK,
                     "a forward after call %ld of the last failed: %s", n, err.message);
        cln_model_free(model);
    }
    cln_runtime_free(rt);
    fault_arm(0);
    cr_expect_eq(run_once(algo, &err), CLN_OK, "after the walk: %s", err.message);
}

static void walk(cln_conv_algo algo) {
    walk_calls(algo, false);
}

Test(faults, every_call_of_a_run_with_our_kernels) {
    walk(CLN_CONV_TILED);
}

/* The set-up is the walk above's: only the forward's calls, which differ. */
Test(faults, every_forward_call_with_winograd) {
    walk_calls(CLN_CONV_WINOGRAD, true);
}

/* With the weights in one block per layer (as on GPUs): on a CPU, in panels,
 * CLBlast runs one product per 16 channels, the same call failing the same
 * way, many times more of them to walk. */
Test(faults, every_call_of_a_run_through_clblast) {
    setenv("CLINCEPTION_TUNABLES", "WEIGHT_PANELS=0", 1);
    walk(CLN_CONV_GEMM);
    unsetenv("CLINCEPTION_TUNABLES");
}

/* The program itself: `clinception infer` with the Nth call failing exits 1
 * with a message naming the operation, writes no output, and (in the
 * sanitizer build) reports no leak. Every call of the runtime and model
 * set-up, and every seventh of the forward. */
static int run_infer(long fault_at, const char *input, const char *output, char *err_text,
                     size_t err_size) {
    char at[32], err_path[] = "/tmp/cln_fault_err_XXXXXX";
    snprintf(at, sizeof at, "%ld", fault_at);
    int fd = mkstemp(err_path);
    cr_assert_geq(fd, 0);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        setenv("CLN_FAULT_AT", at, 1);
        dup2(fd, STDERR_FILENO);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, STDOUT_FILENO);
        execl(getenv("CLINCEPTION"), "clinception", "infer", "--random-weights", "--input", input,
              "--output", output, "--conv", "tiled", (char *)NULL);
        _exit(127);
    }
    int wstatus;
    cr_assert_eq(waitpid(pid, &wstatus, 0), pid);
    ssize_t got = pread(fd, err_text, err_size - 1, 0);
    err_text[got > 0 ? got : 0] = '\0';
    close(fd);
    unlink(err_path);
    return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
}

Test(faults, the_program_exits_non_zero_with_the_operation_named) {
    cr_assert(getenv("CLINCEPTION"), "CLINCEPTION is not set (run through meson test)");
    char input[] = "/tmp/cln_fault_in_XXXXXX", output[64], err_text[8192];
    int fd = mkstemp(input);
    cr_assert_geq(fd, 0);
    close(fd);
    snprintf(output, sizeof output, "%s.out.npy", input);
    const int64_t shape[4] = {N, 3, H, W};
    cln_error err;
    float *x = calloc(N * 3 * H * W, sizeof *x);
    cr_assert(x);
    cr_assert_eq(cln_npy_write(input, x, 4, shape, &err), CLN_OK, "%s", err.message);
    free(x);
    /* how many calls a whole run makes, and how many of them the set-up */
    fault_arm(0);
    cr_assert_eq(run_once(CLN_CONV_TILED, &err), CLN_OK, "%s", err.message);
    const long points = fault_count();
    cr_assert_eq(run_infer(0, input, output, err_text, sizeof err_text), 0, "%s", err_text);
    unlink(output);
    for (long n = 1; n <= points; n += n <= 30 ? 1 : 7) {
        int rc = run_infer(n, input, output, err_text, sizeof err_text);
        cr_expect_eq(rc, 1, "call %ld: exit %d\n%s", n, rc, err_text);
        cr_expect(strstr(err_text, " failed: CL") != NULL, "call %ld: %s", n, err_text);
        cr_expect(strstr(err_text, "Sanitizer") == NULL &&
                      strstr(err_text, "runtime error") == NULL,
                  "call %ld: a sanitizer report\n%s", n, err_text);
        cr_expect_neq(access(output, F_OK), 0, "call %ld: an output was written", n);
        unlink(output);
    }
    unlink(input);
}
