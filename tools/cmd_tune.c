/* clinception tune: the fastest way to run each convolution, kept per device. */
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


int cmd_tune(int argc, char **argv) {
    common_args a = {.command = "tune", .random_weights = true};
    long batch = 1, size = 299, repeats = 3;
    const opt_spec specs[] = {
        {"batch", OPT_COUNT, &batch, 1, 4096, "N", "images per forward (default 1)"},
        {"size", OPT_COUNT, &size, CLN_MIN_INPUT_SIZE, 4096, "S",
         "input height and width (default 299)"},
        {"repeats", OPT_COUNT, &repeats, 1, 1000, "K", "profiled forwards per way (default 3)"},
        {"device", OPT_TEXT, &a.device, 0, 0, "D", "OpenCL device, as for the other commands"},
    };
    const command cmd = {
        "tune",
        "tune [--batch N] [--size S] [--repeats K] [--device D]",
        "Runs every convolution of the network every way it can run on the device\n"
        "(CLBlast's GEMM, our tiled GEMM, our direct kernel) at an N x 3 x S x S input,\n"
        "best of K profiled forwards each, and writes the fastest per layer to the\n"
        "device's tuning file in the cache ($CLINCEPTION_CACHE_DIR, else\n"
        "$XDG_CACHE_HOME/clinception, else ~/.cache/clinception). Every later run on that\n"
        "device with --conv auto (the default) uses it for inputs of that shape; without\n"
        "it, the defaults apply. Tune each batch size and input size you use.\n",
        specs,
        (int)(sizeof specs / sizeof specs[0]),
    };
    int parsed = parse_options(&cmd, argc, argv);
    if (parsed >= 0) return parsed;
    if (!no_arguments_left(&cmd, argc, argv)) return 2;
    cln_error err;
    session s = {0};
    int rc = 1;
    size_t count;
    cln_tune_layer *t = NULL;
    if (open_session(&a, &s, &err) != CLN_OK) goto done;
    const cln_layer_info *layers = cln_model_layers(s.model, &count);
    t = calloc(count, sizeof *t);
    if (!t) {
        snprintf(err.message, sizeof err.message, "out of memory for the tuning report");
        goto done;
    }
    cln_tune_report report = {.layers = t};
    if (cln_model_tune(s.model, (int)batch, (int)size, (int)size, (int)repeats, &report, &err) !=
        CLN_OK)
        goto done;
    for (int c = 0; c < report.gemm_candidates && c < CLN_GEMM_CANDIDATES_MAX; c++)
        printf("CLBlast Xgemm parameter set %d: convolutions through CLBlast %.3f ms%s\n", c,
               report.gemm_ms[c], c == report.gemm_best ? " (chosen)" : "");
    if (report.gemm_candidates) printf("\n");
    printf("%-30s %-10s %10s %10s %10s %11s  %s\n", "layer", "kind", "gemm ms", "tiled ms",
           "direct ms", "winograd ms", "chosen");
    double chosen = 0, tiled = 0;
    for (size_t i = 0; i < count; i++) {
        if (t[i].best == CLN_CONV_AUTO) continue;
        printf("%-30s %-10s", layers[i].name, layers[i].kind);
        for (int w = CLN_CONV_GEMM; w < CLN_CONV_ALGO_COUNT; w++)
            if (t[i].ms[w] > 0)
                printf(" %*.3f", w == CLN_CONV_WINOGRAD ? 11 : 10, t[i].ms[w]);
            else
                printf(" %*s", w == CLN_CONV_WINOGRAD ? 11 : 10, "-");
        printf("  %s\n", conv_names[t[i].best]);
        chosen += t[i].ms[t[i].best];
        tiled += t[i].ms[CLN_CONV_TILED];
    }
    printf("\nconvolutions: %.3f ms as chosen, %.3f ms all tiled\n", chosen, tiled);
    printf("wrote %s\n", cln_model_tuning_path(s.model));
    rc = 0;
done:
    if (rc != 0) fail(&err);
    free(t);
    close_session(&s);
    return rc;
}
