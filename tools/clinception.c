/* The clinception program: a dispatcher over the commands (cmd_NAME.c),
 * each a thin layer over the library's public API (cli.h). */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include "cluster.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static const char *const main_usage =
    "usage: clinception COMMAND [OPTIONS]\n"
    "\n"
    "Runs torchvision's Inception v3 (and pytorch-fid's FID Inception) through\n"
    "OpenCL.\n"
    "\n"
    "commands:\n"
    "  devices   list every OpenCL platform and device, with its index\n"
    "  infer     run the network on a .npy batch and write the logits as .npy\n"
    "  classify  label images and folders of them with the model's classes\n"
    "  features  write any layer's output (the 2048 pooled features by default)\n"
    "  fid       the Frechet Inception Distance between two folders or statistics\n"
    "  bench     time whole forwards and the start-up phases\n"
    "  tune      measure the fastest way to run each convolution on a device\n"
    "  help      show this text\n"
    "\n"
    "`clinception COMMAND --help` describes a command's options.\n";

static int run_command(int argc, char **argv) {
    if (argc < 2) {
        fputs(main_usage, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(main_usage, stdout);
        return 0;
    }
    if (strcmp(cmd, "devices") == 0)
        return command_finished = true, cmd_devices(argc - 1, argv + 1);
    if (cluster_ranks() > 1 && strcmp(cmd, "classify") != 0 && strcmp(cmd, "features") != 0 &&
        strcmp(cmd, "fid") != 0 && strcmp(cmd, "infer") != 0 && strcmp(cmd, "bench") != 0) {
        fprintf(stderr,
                "clinception-mpi: runs classify, features, fid, infer and bench, not '%s'\n", cmd);
        command_finished = true; /* every rank refuses alike */
        return 2;
    }
    if (strcmp(cmd, "infer") == 0) return cmd_infer(argc - 1, argv + 1);
    if (strcmp(cmd, "classify") == 0) return cmd_classify(argc - 1, argv + 1);
    if (strcmp(cmd, "features") == 0) return cmd_features(argc - 1, argv + 1);
    if (strcmp(cmd, "fid") == 0) return cmd_fid(argc - 1, argv + 1);
    if (strcmp(cmd, "bench") == 0) return cmd_bench(argc - 1, argv + 1);
    if (strcmp(cmd, "tune") == 0) return cmd_tune(argc - 1, argv + 1);
    fprintf(stderr, "clinception: unknown command '%s'\n\n%s", cmd, main_usage);
    return 2;
}

/* Interrupted (Ctrl-C, a job's end): the run's temporary files go, then
 * the signal ends the program as it would have. */
static void interrupted(int sig) {
    cln_remove_temporaries();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* The results go to standard output: one that could not take them all (a
 * full disk, a closed pipe) fails the run. */
int main(int argc, char **argv) {
    cluster_start(&argc, &argv);
    struct sigaction on_interrupt = {.sa_handler = interrupted};
    sigemptyset(&on_interrupt.sa_mask);
    sigaction(SIGINT, &on_interrupt, NULL);
    sigaction(SIGTERM, &on_interrupt, NULL);
    int rc = run_command(argc, argv);
    errno = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "clinception: cannot write standard output%s%s\n", errno ? ": " : "",
                errno ? strerror(errno) : "");
        rc = 1;
        command_finished = false;
    }
    /* over several ranks, a rank that failed before its command's end may
     * leave the others waiting for it: that ends them all */
    if (rc == 1 && !command_finished) cluster_abort();
    return cluster_end(rc);
}
