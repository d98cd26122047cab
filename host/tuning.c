/* The tuning file: the CLBlast GEMM parameters chosen for the device
 * ("clblast Xgemm NAME=VALUE ..."), and one line per (shape, layer) with the
 * fastest way to run that convolution ("conv N H W LAYER ALGO"), under a
 * comment naming the device. */
#define _POSIX_C_SOURCE 200809L
#include "tuning.h"

#include "../common/file_io.h"

#include "../common/error.h"

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

/* Choices in order of (n, h, w, layer), found by binary search. */
static int compare_key(int n, int h, int w, const char *layer, const tuned_choice *c) {
    if (n != c->n) return n < c->n ? -1 : 1;
    if (h != c->h) return h < c->h ? -1 : 1;
    if (w != c->w) return w < c->w ? -1 : 1;
    return strcmp(layer, c->layer);
}

/* The first choice not before the key. */
static size_t lower_bound(const tuning_table *t, int n, int h, int w, const char *layer) {
    size_t lo = 0, hi = t->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (compare_key(n, h, w, layer, &t->items[mid]) > 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

cln_conv_algo tuning_get(const tuning_table *t, int n, int h, int w, const char *layer) {
    size_t i = lower_bound(t, n, h, w, layer);
    return i < t->count && compare_key(n, h, w, layer, &t->items[i]) == 0 ? t->items[i].algo
                                                                          : CLN_CONV_AUTO;
}

static cln_status reserve(tuning_table *t, cln_error *err) {
    if (t->count < t->cap) return CLN_OK;
    size_t cap = t->cap ? 2 * t->cap : 128;
    tuned_choice *items = realloc(t->items, cap * sizeof *items);
    if (!items) return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "out of memory for tuning");
    t->items = items;
    t->cap = cap;
    return CLN_OK;
}

static void fill(tuned_choice *c, int n, int h, int w, const char *layer, cln_conv_algo algo) {
    c->n = n;
    c->h = h;
    c->w = w;
    snprintf(c->layer, sizeof c->layer, "%s", layer);
    c->algo = algo;
    c->line = 0;
}

cln_status tuning_set(tuning_table *t, int n, int h, int w, const char *layer, cln_conv_algo algo,
                      cln_error *err) {
    size_t i = lower_bound(t, n, h, w, layer);
    if (i < t->count && compare_key(n, h, w, layer, &t->items[i]) == 0) {
        t->items[i].algo = algo;
        return CLN_OK;
    }
    cln_status status = reserve(t, err);
    if (status != CLN_OK) return status;
    memmove(t->items + i + 1, t->items + i, (t->count - i) * sizeof *t->items);
    fill(&t->items[i], n, h, w, layer, algo);
    t->count++;
    return CLN_OK;
}

void tuning_free(tuning_table *t) {
    free(t->items);
    t->items = NULL;
    t->count = t->cap = 0;
}

/* Sorts the choices read, in file order (line), by key; of repeats the
 * last line wins. */
static int compare_choices(const void *a, const void *b) {
    const tuned_choice *x = a, *y = b;
    int c = compare_key(x->n, x->h, x->w, x->layer, y);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

static void sort_choices(tuning_table *t) {
    qsort(t->items, t->count, sizeof *t->items, compare_choices);
    size_t kept = 0;
    for (size_t i = 0; i < t->count; i++) {
        if (i + 1 < t->count && compare_key(t->items[i].n, t->items[i].h, t->items[i].w,
                                            t->items[i].layer, &t->items[i + 1]) == 0)
            continue; /* a later line has the same key */
        t->items[kept++] = t->items[i];
    }
    t->count = kept;
}

/* Whether Xgemm parameters are ones CLBlast's kernel can be built with, as
 * its tuner constrains them (the kernel with GEMMK 0 and KREG 1, the one this
 * project's candidates use): each in its range of powers of two, the work
 * tiles multiples of the thread tiles and vector widths. */
static bool xgemm_valid(const size_t *v) {
    enum {
        GEMMK,
        MWG,
        NWG,
        KWG,
        MDIMC,
        NDIMC,
        MDIMA,
        NDIMB,
        KWI,
        VWM,
        VWN,
        STRM,
        STRN,
        SA,
        SB,
        KREG
    };
    static const size_t lo[XGEMM_PARAM_COUNT] = {0, 8, 8, 8, 4, 4, 4, 4, 1, 1, 1, 0, 0, 0, 0, 1};
    static const size_t hi[XGEMM_PARAM_COUNT] = {0, 128, 128, 64, 32, 32, 32, 32,
                                                 8, 8,   8,   1,  1,  1,  1,  1};
    for (int i = 0; i < XGEMM_PARAM_COUNT; i++) {
        const bool flag = i == GEMMK || i == STRM || i == STRN || i == SA || i == SB;
        if (v[i] < lo[i] || v[i] > hi[i] || (!flag && (v[i] & (v[i] - 1)) != 0)) return false;
    }
    return v[MWG] % (v[MDIMC] * v[VWM]) == 0 && v[NWG] % (v[NDIMC] * v[VWN]) == 0 &&
           v[MWG] % (v[MDIMA] * v[VWM]) == 0 && v[NWG] % (v[NDIMB] * v[VWN]) == 0 &&
           v[KWG] % v[KWI] == 0 && v[MDIMC] * v[NDIMC] >= v[MDIMA] &&
           v[MDIMC] * v[NDIMC] >= v[NDIMB] && v[KWG] % (v[MDIMC] * v[NDIMC] / v[MDIMA]) == 0 &&
           v[KWG] % (v[MDIMC] * v[NDIMC] / v[NDIMB]) == 0;
}

/* Why the file cannot be used, into t->warning; the table is emptied: the
 * file is ignored. */
static void ignore_file(tuning_table *t, const char *why) {
    snprintf(t->warning, sizeof t->warning,
             "%.4095s: %.3000s; the file is ignored (the defaults apply) until `clinception tune` "
             "writes it again",
             t->path, why);
    t->count = 0;
    t->has_xgemm = false;
}

cln_status tuning_load(tuning_table *t, cln_error *err) {
    t->warning[0] = '\0';
    struct stat st;
    if (stat(t->path, &st) != 0) return CLN_OK; /* no tuning yet: the defaults */
    unsigned char *text;
    size_t size;
    cln_error why;
    if (file_read_all(t->path, TUNING_MAX_FILE_BYTES, "a tuning file", &text, &size, &why) !=
        CLN_OK) {
        if (why.status == CLN_ERR_OUT_OF_MEMORY)
            return cln_fail(err, why.status, "%s", why.message);
        /* the path in it already: say why without it */
        const char *reason = strncmp(why.message, t->path, strlen(t->path)) == 0
                                 ? why.message + strlen(t->path) + 2
                                 : why.message;
        ignore_file(t, reason);
        return CLN_OK;
    }
    cln_status status = CLN_OK;
    char *line = (char *)text, *bad = NULL;
    char why_text[160];
    for (int number = 1; line < (char *)text + size && !bad && status == CLN_OK; number++) {
        char *end = strchr(line, '\n');
        if (end) *end = '\0';
        char *next = end ? end + 1 : line + strlen(line);
        if (line[0] == '#' || line[0] == '\0') {
            line = next;
            continue;
        }
        if (strncmp(line, "clblast Xgemm ", 14) == 0) {
            t->has_xgemm = parse_xgemm(line + 14, t->xgemm) && xgemm_valid(t->xgemm);
            if (!t->has_xgemm) {
                snprintf(why_text, sizeof why_text,
                         "line %d is not a CLBlast Xgemm line (\"clblast Xgemm NAME=VALUE ...\" "
                         "with all 16 parameters, each one CLBlast can build)",
                         number);
                bad = why_text;
            }
            line = next;
            continue;
        }
        char layer[NET_NAME_SIZE], algo[16], tail;
        int n, h, w;
        int algo_id = -1;
        if (strlen(line) < 128 &&
            sscanf(line, "conv %d %d %d %47s %15s %c", &n, &h, &w, layer, algo, &tail) == 5)
            algo_id = tuning_algo_parse(algo);
        if (algo_id <= CLN_CONV_AUTO || n < 1 || h < 1 || w < 1) {
            snprintf(
                why_text, sizeof why_text,
                "line %d is not a tuning line (\"conv N H W LAYER gemm|tiled|direct|winograd\")",
                number);
            bad = why_text;
        } else if ((status = reserve(t, err)) == CLN_OK) {
            fill(&t->items[t->count], n, h, w, layer, (cln_conv_algo)algo_id);
            t->items[t->count++].line = number;
        }
        line = next;
    }
    free(text);
    if (status != CLN_OK) {
        tuning_free(t);
        return status;
    }
    if (bad)
        ignore_file(t, bad);
    else
        sort_choices(t);
    return CLN_OK;
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
    if (!make_parent(t->path))
        return cln_fail(err, CLN_ERR_IO, "%s: cannot write: cannot create its folder: %s", t->path,
                        strerror(errno));
    temp_file out;
    cln_status status = temp_file_open(&out, t->path, err);
    if (status != CLN_OK) return status;
    FILE *f = out.f;
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
    if (ferror(f)) {
        status = cln_fail(err, CLN_ERR_IO, "%s: cannot write: %s", t->path, strerror(errno));
        temp_file_abort(&out);
        return status;
    }
    return temp_file_commit(&out, err);
}
