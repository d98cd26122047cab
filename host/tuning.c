/* The tuning file: the CLBlast GEMM parameters chosen for the device
 * ("clblast Xgemm NAME=VALUE ..."), and one line per (shape, layer) with the
 * fastest way to run that convolution ("conv N H W LAYER ALGO"), under a
 * comment naming the device. */
#define _POSIX_C_SOURCE 200809L
#include "tuning.h"

#include "file_io.h"

#include "error.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const algo_names[CLN_CONV_ALGO_COUNT] = {"auto", "gemm", "tiled", "direct",
                                                            "winograd"};

const char *const xgemm_param_names[XGEMM_PARAM_COUNT] = {
    "GEMMK", "MWG", "NWG", "KWG",  "MDIMC", "NDIMC", "MDIMA", "NDIMB",
    "KWI",   "VWM", "VWN", "STRM", "STRN",  "SA",    "SB",    "KREG",
};

/* The best sets clblast_tuner_xgemm found for a 1024^3 SGEMM on a 2-core
 * AVX-512 Xeon through PoCL 3.1 (67, 60, 51 and 50 GFLOP/s; CLBlast's own
 * defaults for an unknown device give about 10). */
const size_t xgemm_cpu_candidates[][XGEMM_PARAM_COUNT] = {
    {0, 64, 64, 32, 8, 8, 8, 8, 2, 4, 4, 0, 0, 1, 1, 1},
    {0, 64, 64, 32, 8, 16, 8, 16, 2, 4, 4, 0, 0, 1, 1, 1},
    {0, 64, 64, 32, 8, 16, 8, 16, 2, 4, 2, 0, 0, 1, 1, 1},
    {0, 64, 64, 32, 16, 8, 16, 8, 2, 4, 4, 0, 0, 1, 1, 1},
};
const size_t xgemm_cpu_candidate_count =
    sizeof xgemm_cpu_candidates / sizeof xgemm_cpu_candidates[0];

/* CLBlastOverrideParameters rewrites CLBlast's process-wide database and is
 * not safe from two threads at once (a use-after-free inside CLBlast 1.5.3):
 * calls are serialized, and a set already in force for a device is not
 * applied again (so models loaded on several threads leave CLBlast alone). */
static pthread_mutex_t xgemm_lock = PTHREAD_MUTEX_INITIALIZER;
#define XGEMM_DEVICES_MAX 16
static struct {
    cl_device_id device;
    size_t values[XGEMM_PARAM_COUNT];
} xgemm_in_force[XGEMM_DEVICES_MAX];
static int xgemm_devices;

cln_status tuning_apply_xgemm(cl_device_id device, const size_t *values, cln_error *err) {
    cln_status status = CLN_OK;
    pthread_mutex_lock(&xgemm_lock);
    int i = 0;
    while (i < xgemm_devices && xgemm_in_force[i].device != device)
        i++;
    if (i == xgemm_devices ||
        memcmp(xgemm_in_force[i].values, values, sizeof xgemm_in_force[i].values) != 0) {
        CLBlastStatusCode rc =
            CLBlastOverrideParameters(device, "Xgemm", CLBlastPrecisionSingle, XGEMM_PARAM_COUNT,
                                      (const char **)xgemm_param_names, values);
        if (rc != CLBlastSuccess) {
            status = clblast_fail(err, rc, "CLBlastOverrideParameters(Xgemm)");
        } else if (i < XGEMM_DEVICES_MAX) {
            xgemm_in_force[i].device = device;
            memcpy(xgemm_in_force[i].values, values, sizeof xgemm_in_force[i].values);
            if (i == xgemm_devices) xgemm_devices++;
        }
    }
    pthread_mutex_unlock(&xgemm_lock);
    return status;
}

/* Reads "NAME=VALUE ..." for every Xgemm parameter, in any order. */
static bool parse_xgemm(const char *text, size_t *values) {
    bool seen[XGEMM_PARAM_COUNT] = {false};
    char name[16];
    unsigned long value;
    int used;
    while (sscanf(text, " %15[A-Z]=%lu%n", name, &value, &used) == 2) {
        int i = 0;
        while (i < XGEMM_PARAM_COUNT && strcmp(name, xgemm_param_names[i]) != 0)
            i++;
        if (i == XGEMM_PARAM_COUNT || seen[i] || value > 4096) return false;
        seen[i] = true;
        values[i] = value;
        text += used;
    }
    for (int i = 0; i < XGEMM_PARAM_COUNT; i++)
        if (!seen[i]) return false;
    return sscanf(text, " %c", name) != 1; /* nothing after the last */
}

const char *tuning_algo_name(cln_conv_algo algo) {
    return (unsigned)algo < sizeof algo_names / sizeof algo_names[0] ? algo_names[algo] : "?";
}

int tuning_algo_parse(const char *name) {
    for (int i = 0; i < (int)(sizeof algo_names / sizeof algo_names[0]); i++)
        if (strcmp(name, algo_names[i]) == 0) return i;
    return -1;
}

/* FNV-1a over the strings that identify a device and its driver. */
static unsigned long long device_hash(const cln_device_info *d) {
    const char *parts[4] = {d->platform_name, d->device_name, d->device_version, d->driver_version};
    unsigned long long h = 1469598103934665603ull;
    for (int i = 0; i < 4; i++) {
        for (const char *p = parts[i]; *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ull;
        h = (h ^ 0xff) * 1099511628211ull; /* a separator */
    }
    return h;
}

void tuning_path(const cln_device_info *device, char *path, size_t size) {
    const char *dir = getenv("CLINCEPTION_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    char base[3072];
    if (dir && *dir)
        snprintf(base, sizeof base, "%s", dir);
    else if (xdg && *xdg)
        snprintf(base, sizeof base, "%s/clinception", xdg);
    else
        snprintf(base, sizeof base, "%s/.cache/clinception", home && *home ? home : "/tmp");
    snprintf(path, size, "%s/tuning-%016llx.txt", base, device_hash(device));
}

cln_conv_algo tuning_get(const tuning_table *t, int n, int h, int w, const char *layer) {
    for (size_t i = 0; i < t->count; i++) {
        const tuned_choice *c = &t->items[i];
        if (c->n == n && c->h == h && c->w == w && strcmp(c->layer, layer) == 0) return c->algo;
    }
    return CLN_CONV_AUTO;
}

cln_status tuning_set(tuning_table *t, int n, int h, int w, const char *layer, cln_conv_algo algo,
                      cln_error *err) {
    for (size_t i = 0; i < t->count; i++) {
        tuned_choice *c = &t->items[i];
        if (c->n == n && c->h == h && c->w == w && strcmp(c->layer, layer) == 0) {
            c->algo = algo;
            return CLN_OK;
        }
    }
    if (t->count == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 128;
        tuned_choice *items = realloc(t->items, cap * sizeof *items);
        if (!items) return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "out of memory for tuning");
        t->items = items;
        t->cap = cap;
    }
    tuned_choice *c = &t->items[t->count++];
    c->n = n;
    c->h = h;
    c->w = w;
    snprintf(c->layer, sizeof c->layer, "%s", layer);
    c->algo = algo;
    return CLN_OK;
}

void tuning_free(tuning_table *t) {
    free(t->items);
    t->items = NULL;
    t->count = t->cap = 0;
}

cln_status tuning_load(tuning_table *t, cln_error *err) {
    struct stat st;
    if (stat(t->path, &st) != 0) return CLN_OK; /* no tuning yet: the defaults */
    FILE *f;
    size_t size;
    cln_status opened = file_open_regular(t->path, &f, &size, err);
    if (opened != CLN_OK) return opened;
    cln_status status = CLN_OK;
    char line[512];
    int number = 0;
    while (status == CLN_OK && fgets(line, sizeof line, f)) {
        number++;
        if (line[0] == '#' || line[0] == '\n') continue;
        if (strncmp(line, "clblast Xgemm ", 14) == 0) {
            t->has_xgemm = parse_xgemm(line + 14, t->xgemm);
            if (!t->has_xgemm)
                status = cln_fail(err, CLN_ERR_FORMAT,
                                  "%s:%d: not a CLBlast Xgemm line (\"clblast Xgemm NAME=VALUE "
                                  "...\" with all 16 parameters); delete the file or run "
                                  "`clinception tune` again",
                                  t->path, number);
            continue;
        }
        char layer[NET_NAME_SIZE], algo[16], tail;
        int n, h, w;
        int algo_id = -1;
        if (sscanf(line, "conv %d %d %d %47s %15s %c", &n, &h, &w, layer, algo, &tail) == 5)
            algo_id = tuning_algo_parse(algo);
        if (algo_id <= CLN_CONV_AUTO || n < 1 || h < 1 || w < 1)
            status = cln_fail(err, CLN_ERR_FORMAT,
                              "%s:%d: not a tuning line (\"conv N H W LAYER gemm|tiled|direct\"); "
                              "delete the file or run `clinception tune` again",
                              t->path, number);
        else
            status = tuning_set(t, n, h, w, layer, (cln_conv_algo)algo_id, err);
    }
    fclose(f);
    if (status != CLN_OK) tuning_free(t);
    return status;
}

/* mkdir -p of the folder that holds path. */
static bool make_parent(const char *path) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) return true;
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(dir, 0755) != 0 && errno != EEXIST) return false;
        *p = '/';
    }
    return mkdir(dir, 0755) == 0 || errno == EEXIST;
}

cln_status tuning_save(const tuning_table *t, const cln_device_info *device, cln_error *err) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", t->path, (long)getpid());
    if (!make_parent(t->path))
        return cln_fail(err, CLN_ERR_IO, "cannot create the folder of %s: %s", t->path,
                        strerror(errno));
    FILE *f = fopen(tmp, "w");
    if (!f) return cln_fail(err, CLN_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    fprintf(f, "# clinception tuning for %s / %s / %s / driver %s\n", device->platform_name,
            device->device_name, device->device_version, device->driver_version);
    if (t->has_xgemm) {
        fprintf(f, "clblast Xgemm");
        for (int i = 0; i < XGEMM_PARAM_COUNT; i++)
            fprintf(f, " %s=%zu", xgemm_param_names[i], t->xgemm[i]);
        fprintf(f, "\n");
    }
    for (size_t i = 0; i < t->count; i++) {
        const tuned_choice *c = &t->items[i];
        fprintf(f, "conv %d %d %d %s %s\n", c->n, c->h, c->w, c->layer, tuning_algo_name(c->algo));
    }
    bool ok = !ferror(f);
    ok &= fclose(f) == 0;
    if (!ok || rename(tmp, t->path) != 0) {
        unlink(tmp);
        return cln_fail(err, CLN_ERR_IO, "cannot write %s", t->path);
    }
    return CLN_OK;
}
