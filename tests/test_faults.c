/* Fault injection (a -Dfault_injection=true build): walks every OpenCL and
 * CLBlast call of one whole run (runtime, model, forward), making each fail in
 * turn, and checks that each failure comes back as an error naming the
 * operation and its error code, with everything released (the leak checker
 * of the sanitizer build sees every iteration). */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>

#include "cl_util.h"
#include "clinception.h"

#include <stdlib.h>
#include <string.h>

TestSuite(faults, .timeout = 900);

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

static void walk(cln_conv_algo algo) {
    cln_error err;
    for (size_t i = 0; i < sizeof input / sizeof input[0]; i++)
        input[i] = (float)(i % 17) / 8.0f - 1.0f;
    fault_arm(0);
    cr_assert_eq(run_once(algo, &err), CLN_OK, "%s", err.message);
    const long points = fault_count();
    cr_assert_gt(points, 50, "only %ld calls counted", points);
    for (long n = 1; n <= points; n++) {
        fault_arm(n);
        memset(&err, 0, sizeof err);
        cln_status st = run_once(algo, &err);
        cr_expect(st == CLN_ERR_OPENCL || st == CLN_ERR_CLBLAST,
                  "call %ld of %ld failed, but the run returned %s: %s", n, points,
                  cln_status_name(st), err.message);
        cr_expect(strstr(err.message, " failed: CL") != NULL,
                  "call %ld: the message does not name the operation and error: %s", n,
                  err.message);
    }
    fault_arm(0);
    cr_expect_eq(run_once(algo, &err), CLN_OK, "after the walk: %s", err.message);
}

Test(faults, every_call_of_a_run_with_our_kernels) {
    walk(CLN_CONV_TILED);
}

Test(faults, every_call_of_a_run_through_clblast) {
    walk(CLN_CONV_GEMM);
}
