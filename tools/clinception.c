/* The clinception program: `devices` lists the OpenCL devices, `infer` runs
 * Inception v3 on a .npy batch and writes the logits. */
#define _POSIX_C_SOURCE 200809L
#include "clinception.h"
#include "npy.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RANDOM_WEIGHTS_SEED 1

static const char *const main_usage =
    "usage: clinception COMMAND [OPTIONS]\n"
    "\n"
    "Runs torchvision's Inception v3 through OpenCL.\n"
    "\n"
    "commands:\n"
    "  devices   list every OpenCL platform and device, with its index\n"
    "  infer     run the network on a .npy batch and write the logits as .npy\n"
    "  help      show this text\n"
    "\n"
    "`clinception COMMAND --help` describes a command's options.\n";

static const char *const infer_usage =
    "usage: clinception infer (--weights W.safetensors | --random-weights) --input X.npy\n"
    "                         --output Y.npy [--device D] [--transform-input]\n"
    "                         [--conv ALGO] [--repeat K]\n"
    "\n"
    "Reads X, a float32 C-order .npy of shape (N, 3, H, W) with N >= 1 and H, W >= 75,\n"
    "runs Inception v3 in eval mode and writes the logits to Y, float32 (N, 1000).\n"
    "Prints each image's five highest logits (class index:logit) on standard output,\n"
    "and the device, load and forward times on standard error.\n"
    "\n"
    "  --weights FILE     torchvision Inception v3 state dict in .safetensors (F32, F16\n"
    "                     or BF16; AuxLogits.* and num_batches_tracked are ignored)\n"
    "  --random-weights   seeded random weights instead (the logits mean nothing)\n"
    "  --input FILE       the input batch, .npy float32 (N, 3, H, W)\n"
    "  --output FILE      where the logits go, .npy float32 (N, 1000)\n"
    "  --device D         OpenCL device: P:D index (see `clinception devices`), cpu,\n"
    "                     gpu, or part of the platform or device name; default\n"
    "                     $CLINCEPTION_DEVICE, then the first GPU, then the first device\n"
    "  --transform-input  apply torchvision's transform_input (on for its pretrained\n"
    "                     weights: the input is then normalized with ImageNet's mean/std)\n"
    "  --conv ALGO        gemm (default: im2col + CLBlast GEMM) or direct (our direct\n"
    "                     kernel) for the convolutions larger than 1x1\n"
    "  --repeat K         run the forward K times (default 1) and print each time\n"
    "  -h, --help         show this text\n";

static const char *const devices_usage =
    "usage: clinception devices\n"
    "\n"
    "Lists every OpenCL platform and device: its index P:D (for --device), type,\n"
    "compute units, global memory, largest allocation and OpenCL version.\n";

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* One line per image: its five highest logits as class:logit. */
static void print_top5(int image, const float *logits) {
    int top[5];
    for (int k = 0; k < 5; k++) {
        int best = -1;
        for (int c = 0; c < CLN_NUM_CLASSES; c++) {
            bool taken = false;
            for (int j = 0; j < k; j++) taken |= top[j] == c;
            if (!taken && (best < 0 || logits[c] > logits[best])) best = c;
        }
        top[k] = best;
    }
    printf("image %d: top-5 classes", image);
    for (int k = 0; k < 5; k++) printf(" %d:%.3f", top[k], (double)logits[top[k]]);
    printf("\n");
}

static int fail(const cln_error *err) {
    fprintf(stderr, "clinception: %s\n", err->message);
    return 1;
}

static int cmd_devices(int argc, char **argv) {
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(devices_usage, stdout);
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "clinception devices: unexpected argument '%s'\n%s", argv[1],
                devices_usage);
        return 2;
    }
    cln_device_info *list = NULL;
    size_t n = 0;
    cln_error err;
    if (cln_devices_list(&list, &n, &err) != CLN_OK) return fail(&err);
    int last_platform = -1;
    for (size_t i = 0; i < n; i++) {
        const cln_device_info *d = &list[i];
        if (d->platform_index != last_platform) {
            printf("platform %d: %s\n", d->platform_index, d->platform_name);
            last_platform = d->platform_index;
        }
        printf("  %d:%d  %s\n", d->platform_index, d->device_index, d->device_name);
        printf("       type %s, %u compute units, %.1f GiB global memory, %.1f GiB max "
               "allocation\n",
               d->is_gpu ? "GPU" : d->is_cpu ? "CPU" : "other", d->compute_units,
               d->global_mem_bytes / 1073741824.0, d->max_alloc_bytes / 1073741824.0);
        printf("       %s, driver %s\n", d->device_version, d->driver_version);
    }
    if (n == 0) printf("no OpenCL devices\n");
    free(list);
    return 0;
}

static int cmd_infer(int argc, char **argv) {
    static const struct option options[] = {
        {"weights", required_argument, NULL, 'w'},
        {"random-weights", no_argument, NULL, 'r'},
        {"input", required_argument, NULL, 'i'},
        {"output", required_argument, NULL, 'o'},
        {"device", required_argument, NULL, 'd'},
        {"transform-input", no_argument, NULL, 't'},
        {"conv", required_argument, NULL, 'c'},
        {"repeat", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *weights = NULL, *input = NULL, *output = NULL, *device = NULL;
    bool random_weights = false;
    cln_forward_options fwd = {0};
    long repeat = 1;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'w': weights = optarg; break;
        case 'r': random_weights = true; break;
        case 'i': input = optarg; break;
        case 'o': output = optarg; break;
        case 'd': device = optarg; break;
        case 't': fwd.transform_input = true; break;
        case 'c':
            if (strcmp(optarg, "gemm") == 0)
                fwd.conv_algo = CLN_CONV_GEMM;
            else if (strcmp(optarg, "direct") == 0)
                fwd.conv_algo = CLN_CONV_DIRECT;
            else {
                fprintf(stderr, "clinception infer: --conv takes gemm or direct, not '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case 'k': {
            char *end;
            repeat = strtol(optarg, &end, 10);
            if (*end || repeat < 1 || repeat > 100000) {
                fprintf(stderr, "clinception infer: --repeat takes a count >= 1, not '%s'\n",
                        optarg);
                return 2;
            }
            break;
        }
        case 'h': fputs(infer_usage, stdout); return 0;
        default: fputs(infer_usage, stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "clinception infer: unexpected argument '%s'\n%s", argv[optind],
                infer_usage);
        return 2;
    }
    if (!input || !output || (!weights && !random_weights) || (weights && random_weights)) {
        fprintf(stderr, "clinception infer: give --input, --output and one of --weights or "
                        "--random-weights\n%s",
                infer_usage);
        return 2;
    }

    cln_error err;
    npy_array x = {0};
    cln_runtime *rt = NULL;
    cln_model *model = NULL;
    float *logits = NULL;
    int rc = 1;
    if (npy_read_f32(input, &x, &err) != CLN_OK) goto done;
    if (x.ndim != 4 || x.shape[1] != 3 || x.shape[0] < 1 || x.shape[0] > 65536 ||
        x.shape[2] < CLN_MIN_INPUT_SIZE || x.shape[3] < CLN_MIN_INPUT_SIZE ||
        x.shape[2] > 65536 || x.shape[3] > 65536) {
        char shape[128] = "(";
        for (int d = 0; d < x.ndim; d++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%lld",
                     d ? ", " : "", (long long)x.shape[d]);
        snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s)",
                 x.ndim == 1 ? "," : "");
        fprintf(stderr,
                "clinception: %s: shape %s is not (N, 3, H, W) with N >= 1 and H, W >= %d\n",
                input, shape, CLN_MIN_INPUT_SIZE);
        npy_free(&x);
        return 1;
    }
    const int n = (int)x.shape[0], h = (int)x.shape[2], w = (int)x.shape[3];
    double t0 = now_ms();
    if (cln_runtime_create(device, &rt, &err) != CLN_OK) goto done;
    double t1 = now_ms();
    fprintf(stderr, "device: %s (%s), set up in %.0f ms\n", cln_runtime_device(rt)->device_name,
            cln_runtime_device(rt)->platform_name, t1 - t0);
    if (random_weights) {
        fprintf(stderr, "no weight file: using seeded random weights (seed %d); the logits "
                        "mean nothing\n",
                RANDOM_WEIGHTS_SEED);
        if (cln_model_load_random(rt, RANDOM_WEIGHTS_SEED, &model, &err) != CLN_OK) goto done;
    } else if (cln_model_load(rt, weights, &model, &err) != CLN_OK) {
        goto done;
    }
    double t2 = now_ms();
    fprintf(stderr, "weights: loaded in %.0f ms\n", t2 - t1);
    logits = malloc((size_t)n * CLN_NUM_CLASSES * sizeof *logits);
    if (!logits) {
        snprintf(err.message, sizeof err.message, "out of memory for the logits");
        goto done;
    }
    for (long k = 0; k < repeat; k++) {
        double s = now_ms();
        if (cln_model_forward(model, x.data, n, h, w, &fwd, logits, &err) != CLN_OK) goto done;
        double e = now_ms();
        fprintf(stderr, "forward %ld: %d x 3 x %d x %d in %.1f ms (%.1f ms per image)\n", k + 1,
                n, h, w, e - s, (e - s) / n);
    }
    int64_t shape[2] = {n, CLN_NUM_CLASSES};
    if (npy_write_f32(output, logits, 2, shape, &err) != CLN_OK) goto done;
    fprintf(stderr, "wrote %s (%d x %d)\n", output, n, CLN_NUM_CLASSES);
    for (int b = 0; b < n; b++) print_top5(b, logits + (size_t)b * CLN_NUM_CLASSES);
    rc = 0;
done:
    if (rc != 0) fail(&err);
    free(logits);
    cln_model_free(model);
    cln_runtime_free(rt);
    npy_free(&x);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fputs(main_usage, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(main_usage, stdout);
        return 0;
    }
    if (strcmp(cmd, "devices") == 0) return cmd_devices(argc - 1, argv + 1);
    if (strcmp(cmd, "infer") == 0) return cmd_infer(argc - 1, argv + 1);
    fprintf(stderr, "clinception: unknown command '%s'\n\n%s", cmd, main_usage);
    return 2;
}
