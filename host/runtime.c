/* Devices and programs: enumerating every platform and device, choosing one
 * by a selector, and building the kernels of cl_kernels/ for it. */
#define _POSIX_C_SOURCE 200809L
#include "runtime.h"

#include "../common/file_io.h"

#include "embedded.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* One place for every kernel tunable: each is a -D option of its file, whose
 * #ifndef default it overrides; the host reads the same value from here. A
 * value is given per kind of device (device_kind): a CPU with 16-float
 * vectors (AVX-512: 32 vector registers, so an 8 x 32 tile of accumulators
 * fits), a CPU with narrower ones (AVX2: 16 registers, 4 x 24), any other
 * device. An entry with same_as takes another's value (two files that must
 * agree). */
/* Each value's constraint is beside it: from lo to hi, and a power of two
 * where pow2 is set (a vector width: float4, float8, float16); the kernels
 * and the host divide by and unroll over these, so nothing outside them is
 * ever built or run. */
static const struct {
    program_id program;
    const char *name;
    int value[DEVICE_KIND_COUNT];
    const char *same_as;
    int lo, hi;
    bool pow2;
} tunables[] = {
    {PROGRAM_INPUT, "INPUT_RUN", {256, 256, 16}, NULL, 1, 4096, false},
    {PROGRAM_CONV2D_DIRECT, "DIRECT_TILE_M", {8, 8, 8}, NULL, 1, 32, false},
    {PROGRAM_CONV2D_DIRECT, "DIRECT_TILE_N", {16, 8, 16}, NULL, 4, 16, true},
    /* TILE_M divides the 16 channels of a weight panel (weights/layout.h) */
    {PROGRAM_GEMM_TILED, "TILE_M", {8, 4, 8}, NULL, 1, 16, true},
    {PROGRAM_GEMM_TILED, "TILE_N", {16, 8, 16}, NULL, 4, 16, true},
    {PROGRAM_GEMM_TILED, "TILE_V", {2, 3, 2}, NULL, 1, 8, false},
    {PROGRAM_IM2COL, "IM2COL_PANEL", {0, 0, 0}, "TILE_N", 0, 0, false},
    {PROGRAM_WINOGRAD, "WINOGRAD_PANEL", {0, 0, 0}, "TILE_N", 0, 0, false},
    {PROGRAM_PEAK, "PEAK_WIDTH", {16, 8, 4}, NULL, 2, 16, true},
    {PROGRAM_PEAK, "PEAK_CHAINS", {12, 12, 12}, NULL, 1, 64, false},
    /* the host's alone: work-items per compute unit for the peak kernel */
    {PROGRAM_COUNT, "PEAK_ITEMS_PER_UNIT", {4, 4, 2048}, NULL, 1, 65536, false},
    /* the host's alone: work-items per compute unit below which a batched
     * GEMM's work-items take several tiles each (0: one tile each) */
    {PROGRAM_COUNT, "GEMM_ITEMS_PER_UNIT", {32, 32, 0}, NULL, 0, 65536, false},
    /* the host's alone: 1 to keep the weights in panels of output channels
     * (weights/layout.h), which our kernels walk faster on a CPU; CLBlast then
     * runs one product per panel */
    {PROGRAM_COUNT, "WEIGHT_PANELS", {1, 1, 0}, NULL, 0, 1, false},
    /* the host's alone: floats of im2col in panels written and multiplied at
     * a time (0: a layer's whole batch at once) */
    {PROGRAM_COUNT, "IM2COL_CHUNK_FLOATS", {1 << 20, 1 << 20, 0}, NULL, 0, 1 << 28, false},
    /* the host's alone: 1 to run a group of 1x1 convolutions on one input
     * as one GEMM, and the pool of a pooled member after it (network/network.h),
     * where the weights are in panels */
    {PROGRAM_COUNT, "GROUP_CONVS", {1, 1, 1}, NULL, 0, 1, false},
    /* the host's alone: 1 to copy a 1x1 convolution's input into panels for
     * our GEMM, which streams them faster than rows far apart */
    {PROGRAM_COUNT, "PACK_1X1", {1, 1, 0}, NULL, 0, 1, false},
};

#define TUNABLE_COUNT (sizeof tunables / sizeof tunables[0])

/* The value of tunable i in text (a whole number, up to a ',' or the end), if
 * its constraint allows it. */
static bool tunable_value(size_t i, const char *text, long *v) {
    char *end;
    errno = 0;
    *v = strtol(text, &end, 10);
    return !errno && end != text && (!*end || *end == ',') && *v >= tunables[i].lo &&
           *v <= tunables[i].hi && (!tunables[i].pow2 || (*v & (*v - 1)) == 0);
}

/* Checks every entry of $CLINCEPTION_TUNABLES against the table: a known
 * name that is not another's (same_as), a whole number, within its
 * constraint. */
static cln_status check_tunables(cln_error *err) {
    const char *env = getenv("CLINCEPTION_TUNABLES");
    for (const char *p = env; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
        const char *eq = strchr(p, '='), *comma = strchr(p, ',');
        const int len = (int)((comma ? comma : p + strlen(p)) - p);
        size_t i = 0;
        while (eq && (!comma || eq < comma) && i < TUNABLE_COUNT &&
               !(strncmp(tunables[i].name, p, (size_t)(eq - p)) == 0 &&
                 tunables[i].name[eq - p] == '\0'))
            i++;
        if (!eq || (comma && eq > comma) || i == TUNABLE_COUNT) {
            char names[512] = "";
            for (size_t j = 0, used = 0; j < TUNABLE_COUNT && used < sizeof names; j++)
                if (!tunables[j].same_as)
                    used += (size_t)snprintf(names + used, sizeof names - used, "%s%s",
                                             used ? ", " : "", tunables[j].name);
            return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                            "$CLINCEPTION_TUNABLES: \"%.*s\" is not NAME=VALUE with NAME one of "
                            "%s",
                            len, p, names);
        }
        if (tunables[i].same_as)
            return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                            "$CLINCEPTION_TUNABLES: %s follows %s and cannot be set apart",
                            tunables[i].name, tunables[i].same_as);
        long v;
        if (!tunable_value(i, eq + 1, &v))
            return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                            "$CLINCEPTION_TUNABLES: \"%.*s\": %s takes a whole number from %d to "
                            "%d%s",
                            len, p, tunables[i].name, tunables[i].lo, tunables[i].hi,
                            tunables[i].pow2 ? " that is a power of two" : "");
    }
    return CLN_OK;
}

static const char *const program_files[PROGRAM_COUNT] = {
    [PROGRAM_INPUT] = "input",       [PROGRAM_IM2COL] = "im2col",
    [PROGRAM_EPILOGUE] = "epilogue", [PROGRAM_CONV2D_DIRECT] = "conv2d_direct",
    [PROGRAM_POOL] = "pool",         [PROGRAM_GEMM_TILED] = "gemm_tiled",
    [PROGRAM_WINOGRAD] = "winograd", [PROGRAM_PEAK] = "peak",
};

static const struct {
    program_id program;
    const char *name;
    bool loops; /* its work-items loop over a row or a vector tile themselves */
} kernel_table[KERNEL_COUNT] = {
    [KERNEL_INPUT_TO_CHANNEL_MAJOR] = {PROGRAM_INPUT, "input_to_channel_major", true},
    [KERNEL_IM2COL] = {PROGRAM_IM2COL, "im2col", true},
    [KERNEL_IM2COL_PANELS] = {PROGRAM_IM2COL, "im2col_panels", true},
    [KERNEL_BIAS_ACT] = {PROGRAM_EPILOGUE, "bias_act", false},
    [KERNEL_CONV2D_DIRECT] = {PROGRAM_CONV2D_DIRECT, "conv2d_direct", true},
    [KERNEL_MAX_POOL2D] = {PROGRAM_POOL, "max_pool2d", true},
    [KERNEL_AVG_POOL2D] = {PROGRAM_POOL, "avg_pool2d", true},
    [KERNEL_GLOBAL_AVG_POOL] = {PROGRAM_POOL, "global_avg_pool", true},
    [KERNEL_GEMM_TILED] = {PROGRAM_GEMM_TILED, "gemm_tiled", true},
    [KERNEL_GEMM_FEW_COLUMNS] = {PROGRAM_GEMM_TILED, "gemm_few_columns", true},
    [KERNEL_GEMM_BATCHED] = {PROGRAM_GEMM_TILED, "gemm_batched", true},
    [KERNEL_GEMM_GROUPED] = {PROGRAM_GEMM_TILED, "gemm_grouped", true},
    [KERNEL_WINOGRAD_INPUT] = {PROGRAM_WINOGRAD, "winograd_input", true},
    [KERNEL_WINOGRAD_OUTPUT] = {PROGRAM_WINOGRAD, "winograd_output", true},
    [KERNEL_FMA_PEAK] = {PROGRAM_PEAK, "fma_peak", true},
};

bool runtime_kernel_loops(kernel_id k) {
    return kernel_table[k].loops;
}

const char *runtime_kernel_name(kernel_id k) {
    return kernel_table[k].name;
}

/* $CLINCEPTION_TUNABLES ("NAME=VALUE,NAME=VALUE") overrides the table, for
 * kernel experiments. */
int runtime_tunable(const cln_runtime *rt, const char *name) {
    size_t i = 0;
    while (i < TUNABLE_COUNT && strcmp(tunables[i].name, name) != 0)
        i++;
    if (i == TUNABLE_COUNT) return 0;
    if (tunables[i].same_as) return runtime_tunable(rt, tunables[i].same_as);
    /* a value the constraint refuses (set after cln_runtime_create checked
     * them) is ignored */
    const char *env = getenv("CLINCEPTION_TUNABLES");
    size_t len = strlen(name);
    long v;
    for (const char *p = env; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (strncmp(p, name, len) == 0 && p[len] == '=' && tunable_value(i, p + len + 1, &v))
            return (int)v;
    return tunables[i].value[rt->kind];
}

/* ---- Devices ---------------------------------------------------------- */

static void device_string(cl_device_id d, cl_device_info what, char *dst, size_t size) {
    if (clGetDeviceInfo(d, what, size, dst, NULL) != CL_SUCCESS) snprintf(dst, size, "?");
    dst[size - 1] = '\0';
}

static cln_status describe_device(cl_platform_id p, cl_device_id d, int pi, int di,
                                  cln_device_info *info, cln_error *err) {
    cln_status status = CLN_OK;
    cl_device_type type = 0;
    cl_uint units = 0;
    cl_ulong global = 0, max_alloc = 0;
    memset(info, 0, sizeof *info);
    info->platform_index = pi;
    info->device_index = di;
    if (clGetPlatformInfo(p, CL_PLATFORM_NAME, sizeof info->platform_name, info->platform_name,
                          NULL) != CL_SUCCESS)
        snprintf(info->platform_name, sizeof info->platform_name, "?");
    info->platform_name[sizeof info->platform_name - 1] = '\0';
    device_string(d, CL_DEVICE_NAME, info->device_name, sizeof info->device_name);
    device_string(d, CL_DEVICE_VERSION, info->device_version, sizeof info->device_version);
    device_string(d, CL_DRIVER_VERSION, info->driver_version, sizeof info->driver_version);
    CL_TRY(clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof type, &type, NULL),
           "clGetDeviceInfo(CL_DEVICE_TYPE) for device %d:%d", pi, di);
    CL_TRY(clGetDeviceInfo(d, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof units, &units, NULL),
           "clGetDeviceInfo(CL_DEVICE_MAX_COMPUTE_UNITS) for device %d:%d", pi, di);
    CL_TRY(clGetDeviceInfo(d, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof global, &global, NULL),
           "clGetDeviceInfo(CL_DEVICE_GLOBAL_MEM_SIZE) for device %d:%d", pi, di);
    CL_TRY(clGetDeviceInfo(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof max_alloc, &max_alloc, NULL),
           "clGetDeviceInfo(CL_DEVICE_MAX_MEM_ALLOC_SIZE) for device %d:%d", pi, di);
    info->is_gpu = (type & CL_DEVICE_TYPE_GPU) != 0;
    info->is_cpu = (type & CL_DEVICE_TYPE_CPU) != 0;
    info->compute_units = units;
    info->global_mem_bytes = global;
    info->max_alloc_bytes = max_alloc;
cleanup:
    return status;
}

/* Calls visit for every device of every platform, in index order, until it
 * returns true (found) or the devices run out. */
typedef bool (*device_visitor)(const cln_device_info *info, cl_platform_id p, cl_device_id d,
                               void *ctx);

static cln_status for_each_device_unlocked(device_visitor visit, void *ctx, cln_error *err) {
    cln_status status = CLN_OK;
    cl_platform_id *platforms = NULL;
    cl_device_id *devices = NULL;
    cl_uint nplat = 0;
    cl_int rc = clGetPlatformIDs(0, NULL, &nplat);
    if (rc == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ || (rc == CL_SUCCESS && nplat == 0))
        return cln_fail(err, CLN_ERR_DEVICE,
                        "no OpenCL platform found: install an OpenCL driver (for the CPU, "
                        "Debian's pocl-opencl-icd)");
    CL_TRY(rc, "clGetPlatformIDs");
    platforms = malloc(nplat * sizeof *platforms);
    if (!platforms) return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "out of memory listing platforms");
    CL_TRY(clGetPlatformIDs(nplat, platforms, NULL), "clGetPlatformIDs");
    for (cl_uint pi = 0; pi < nplat; pi++) {
        cl_uint ndev = 0;
        rc = clGetDeviceIDs(platforms[pi], CL_DEVICE_TYPE_ALL, 0, NULL, &ndev);
        if (rc == CL_DEVICE_NOT_FOUND || ndev == 0) continue;
        CL_TRY(rc, "clGetDeviceIDs for platform %u", pi);
        devices = malloc(ndev * sizeof *devices);
        if (!devices) {
            status = cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "out of memory listing devices");
            goto cleanup;
        }
        CL_TRY(clGetDeviceIDs(platforms[pi], CL_DEVICE_TYPE_ALL, ndev, devices, NULL),
               "clGetDeviceIDs for platform %u", pi);
        for (cl_uint di = 0; di < ndev; di++) {
            cln_device_info info;
            status = describe_device(platforms[pi], devices[di], (int)pi, (int)di, &info, err);
            if (status != CLN_OK) goto cleanup;
            if (visit(&info, platforms[pi], devices[di], ctx)) goto cleanup;
        }
        free(devices);
        devices = NULL;
    }
cleanup:
    free(devices);
    free(platforms);
    return status;
}

/* PoCL 3.1 initializes its devices on the first query without holding off a second thread's:
 * that one gets no devices or a device still being set up (a crash). One discovery at a time. */
static pthread_mutex_t discovery_lock = PTHREAD_MUTEX_INITIALIZER;

static cln_status for_each_device(device_visitor visit, void *ctx, cln_error *err) {
    pthread_mutex_lock(&discovery_lock);
    cln_status status = for_each_device_unlocked(visit, ctx, err);
    pthread_mutex_unlock(&discovery_lock);
    return status;
}

typedef struct {
    cln_device_info *items;
    size_t count, cap;
    bool oom;
} device_list;

static bool collect_device(const cln_device_info *info, cl_platform_id p, cl_device_id d,
                           void *ctx) {
    (void)p;
    (void)d;
    device_list *list = ctx;
    if (list->count == list->cap) {
        size_t cap = list->cap ? 2 * list->cap : 8;
        cln_device_info *items = realloc(list->items, cap * sizeof *items);
        if (!items) {
            list->oom = true;
            return true;
        }
        list->items = items;
        list->cap = cap;
    }
    list->items[list->count++] = *info;
    return false;
}

cln_status cln_devices_list(cln_device_info **out, size_t *count, cln_error *err) {
    device_list list = {0};
    *out = NULL;
    *count = 0;
    cln_status status = for_each_device(collect_device, &list, err);
    if (status == CLN_OK && list.oom)
        status = cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "out of memory listing devices");
    if (status != CLN_OK) {
        free(list.items);
        return status;
    }
    *out = list.items;
    *count = list.count;
    return CLN_OK;
}

/* ---- Selection -------------------------------------------------------- */

typedef enum { MATCH_INDEX, MATCH_GPU, MATCH_CPU, MATCH_NAME, MATCH_FIRST } match_kind;

typedef struct {
    match_kind kind;
    int platform, device;
    const char *name;
    bool found;
    cln_device_info info;
    cl_platform_id platform_id;
    cl_device_id device_id;
} device_match;

static bool contains_nocase(const char *haystack, const char *needle) {
    size_t n = strlen(needle);
    for (; *haystack; haystack++) {
        size_t i = 0;
        while (i < n && haystack[i] &&
               tolower((unsigned char)haystack[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n) return true;
    }
    return n == 0;
}

static bool match_device(const cln_device_info *info, cl_platform_id p, cl_device_id d, void *ctx) {
    device_match *m = ctx;
    bool hit = false;
    switch (m->kind) {
    case MATCH_INDEX:
        hit = info->platform_index == m->platform && info->device_index == m->device;
        break;
    case MATCH_GPU:
        hit = info->is_gpu;
        break;
    case MATCH_CPU:
        hit = info->is_cpu;
        break;
    case MATCH_NAME:
        hit = contains_nocase(info->platform_name, m->name) ||
              contains_nocase(info->device_name, m->name);
        break;
    case MATCH_FIRST:
        hit = true;
        break;
    }
    if (hit) {
        m->found = true;
        m->info = *info;
        m->platform_id = p;
        m->device_id = d;
    }
    return hit;
}

static bool parse_index(const char *s, int *p, int *d) {
    char *end;
    if (!isdigit((unsigned char)s[0])) return false;
    long pl = strtol(s, &end, 10);
    if (*end != ':' || !isdigit((unsigned char)end[1])) return false;
    long dl = strtol(end + 1, &end, 10);
    if (*end != '\0' || pl > 1000 || dl > 1000) return false;
    *p = (int)pl;
    *d = (int)dl;
    return true;
}

static cln_status find_match(device_match *m, cln_error *err) {
    cln_status status = for_each_device(match_device, m, err);
    return status;
}

cln_status runtime_find_device(const char *selector, const char *origin, cln_device_info *info,
                               cl_platform_id *platform, cl_device_id *device, cln_error *err) {
    device_match m = {0};
    if (!origin) origin = "--device";
    if (!selector || !*selector) {
        selector = getenv("CLINCEPTION_DEVICE");
        origin = selector && *selector ? "$CLINCEPTION_DEVICE" : "the default";
    }
    cln_status status;
    if (!selector || !*selector) {
        m.kind = MATCH_GPU;
        status = find_match(&m, err);
        if (status == CLN_OK && !m.found) {
            m.kind = MATCH_FIRST;
            status = find_match(&m, err);
        }
        selector = "(default: first GPU, else first device)";
    } else {
        if (parse_index(selector, &m.platform, &m.device))
            m.kind = MATCH_INDEX;
        else if (strcasecmp(selector, "gpu") == 0)
            m.kind = MATCH_GPU;
        else if (strcasecmp(selector, "cpu") == 0)
            m.kind = MATCH_CPU;
        else {
            m.kind = MATCH_NAME;
            m.name = selector;
        }
        status = find_match(&m, err);
    }
    if (status != CLN_OK) return status;
    if (!m.found) {
        cln_fail(err, CLN_ERR_DEVICE,
                 "no OpenCL device matches %s \"%s\" (give P:D, cpu, gpu or part of a name); "
                 "devices here:",
                 origin, selector);
        cln_device_info *list = NULL;
        size_t n = 0;
        cln_error ignored;
        if (cln_devices_list(&list, &n, &ignored) == CLN_OK) {
            for (size_t i = 0; i < n; i++)
                cln_error_append_lines(err, "\n  %d:%d  %s / %s", list[i].platform_index,
                                 list[i].device_index, list[i].platform_name, list[i].device_name);
            if (n == 0) cln_error_append(err, " none");
        }
        free(list);
        return CLN_ERR_DEVICE;
    }
    *info = m.info;
    if (platform) *platform = m.platform_id;
    if (device) *device = m.device_id;
    return CLN_OK;
}

cln_status cln_device_select(const char *selector, cln_device_info *out, cln_error *err) {
    return runtime_find_device(selector, NULL, out, NULL, NULL, err);
}

/* ---- Programs --------------------------------------------------------- */

static const embedded_file *embedded_source(const char *name) {
    for (size_t i = 0; i < cln_kernel_sources_count; i++)
        if (strcmp(cln_kernel_sources[i].name, name) == 0) return &cln_kernel_sources[i];
    return NULL;
}

/* The text of cl_kernels/<name>.cl: from $CLINCEPTION_KERNEL_DIR when set,
 * else the copy embedded at build time. *text is malloc'd. */
#define KERNEL_MAX_FILE_BYTES (16 << 20) /* a larger kernel source is refused */

static cln_status kernel_text(const char *name, char **text, size_t *size, cln_error *err) {
    const char *dir = getenv("CLINCEPTION_KERNEL_DIR");
    *text = NULL;
    if (dir && *dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.cl", dir, name);
        unsigned char *bytes;
        cln_status status =
            file_read_all(path, KERNEL_MAX_FILE_BYTES, "a kernel source", &bytes, size, err);
        if (status != CLN_OK) {
            cln_error_append(err, " ($CLINCEPTION_KERNEL_DIR)");
            return status;
        }
        *text = (char *)bytes;
        return CLN_OK;
    }
    const embedded_file *src = embedded_source(name);
    if (!src)
        return cln_fail(err, CLN_ERR_INVALID_ARGUMENT, "kernel file %s.cl is not in the binary",
                        name);
    *text = malloc(src->size + 1);
    if (!*text) return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "out of memory for kernel %s", name);
    memcpy(*text, src->data, src->size + 1);
    *size = src->size;
    return CLN_OK;
}

/* Builds cl_kernels/<file>.cl (after the prelude) with its tunables; a
 * non-zero salt adds a unique define so that no driver cache serves it. */
static cln_status build_program(cln_runtime *rt, program_id id, unsigned long long salt,
                                cl_program *out, cln_error *err) {
    cln_status status = CLN_OK;
    const char *name = program_files[id];
    char *prelude = NULL, *body = NULL, *log = NULL;
    size_t prelude_size = 0, body_size = 0;
    char options[1024] = "-cl-std=CL1.2";
    status = kernel_text("prelude", &prelude, &prelude_size, err);
    if (status != CLN_OK) goto cleanup;
    status = kernel_text(name, &body, &body_size, err);
    if (status != CLN_OK) goto cleanup;
    for (size_t i = 0; i < sizeof tunables / sizeof tunables[0]; i++) {
        if (tunables[i].program != id) continue;
        size_t used = strlen(options);
        snprintf(options + used, sizeof options - used, " -D%s=%d", tunables[i].name,
                 runtime_tunable(rt, tunables[i].name));
    }
    if (salt) {
        size_t used = strlen(options);
        snprintf(options + used, sizeof options - used, " -DCLN_BUILD_SALT=%llu", salt);
    }
    const char *parts[2] = {prelude, body};
    const size_t sizes[2] = {prelude_size, body_size};
    cl_int rc;
    *out = clCreateProgramWithSource(rt->context, 2, parts, sizes, &rc);
    CL_TRY(rc, "clCreateProgramWithSource(%s.cl)", name);
    rc = clBuildProgram(*out, 1, &rt->device, options, NULL, NULL);
    if (rc != CL_SUCCESS) {
        size_t log_size = 0;
        cl_fail(err, rc, "building cl_kernels/%s.cl for %s", name, rt->info.device_name);
        status = CLN_ERR_OPENCL;
        if (clGetProgramBuildInfo(*out, rt->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &log_size) ==
                CL_SUCCESS &&
            (log = malloc(log_size + 1)) &&
            clGetProgramBuildInfo(*out, rt->device, CL_PROGRAM_BUILD_LOG, log_size, log, NULL) ==
                CL_SUCCESS) {
            log[log_size] = '\0';
            cln_error_append_lines(err, "\nbuild log:\n%s", log);
        }
        goto cleanup;
    }
cleanup:
    free(log);
    free(prelude);
    free(body);
    return status;
}

cln_status cln_runtime_create(const char *selector, cln_runtime **out, cln_error *err) {
    return runtime_create_from(selector, NULL, out, err);
}

cln_status runtime_create_from(const char *selector, const char *origin, cln_runtime **out,
                               cln_error *err) {
    cln_status status = CLN_OK;
    cl_int rc;
    *out = NULL;
    cln_runtime *rt = calloc(1, sizeof *rt);
    if (!rt) return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "out of memory creating the runtime");
    double t0 = runtime_now_ms();
    status = check_tunables(err);
    if (status != CLN_OK) goto cleanup;
    status = runtime_find_device(selector, origin, &rt->info, &rt->platform, &rt->device, err);
    if (status != CLN_OK) goto cleanup;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)rt->platform, 0};
    rt->context = clCreateContext(props, 1, &rt->device, NULL, NULL, &rc);
    CL_TRY(rc, "clCreateContext for %s", rt->info.device_name);
    rt->queue = clCreateCommandQueue(rt->context, rt->device, CL_QUEUE_PROFILING_ENABLE, &rc);
    CL_TRY(rc, "clCreateCommandQueue for %s", rt->info.device_name);
    cl_uint width = 0;
    CL_TRY(clGetDeviceInfo(rt->device, CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT, sizeof width, &width,
                           NULL),
           "clGetDeviceInfo(CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT) for %s", rt->info.device_name);
    rt->kind = !rt->info.is_cpu ? DEVICE_OTHER : width >= 16 ? DEVICE_CPU_WIDE : DEVICE_CPU_NARROW;
    double t1 = runtime_now_ms();
    for (int p = 0; p < PROGRAM_COUNT; p++) {
        status = build_program(rt, (program_id)p, 0, &rt->programs[p], err);
        if (status != CLN_OK) goto cleanup;
    }
    for (int k = 0; k < KERNEL_COUNT; k++) {
        rt->kernels[k] =
            clCreateKernel(rt->programs[kernel_table[k].program], kernel_table[k].name, &rc);
        CL_TRY(rc, "clCreateKernel(%s)", kernel_table[k].name);
    }
    rt->timings.device_setup_ms = t1 - t0;
    rt->timings.program_build_ms = runtime_now_ms() - t1;
    *out = rt;
    return CLN_OK;
cleanup:
    cln_runtime_free(rt);
    return status;
}

void cln_runtime_free(cln_runtime *rt) {
    if (!rt) return;
    runtime_recorder_clear(rt);
    free(rt->recorder.items);
    for (int k = 0; k < KERNEL_COUNT; k++)
        if (rt->kernels[k]) clReleaseKernel(rt->kernels[k]);
    for (int p = 0; p < PROGRAM_COUNT; p++)
        if (rt->programs[p]) clReleaseProgram(rt->programs[p]);
    if (rt->queue) clReleaseCommandQueue(rt->queue);
    if (rt->context) clReleaseContext(rt->context);
    free(rt);
}

const cln_device_info *cln_runtime_device(const cln_runtime *rt) {
    return &rt->info;
}

cln_runtime_timings cln_runtime_get_timings(const cln_runtime *rt) {
    return rt->timings;
}

cln_status cln_runtime_time_cold_build(cln_runtime *rt, double *ms, cln_error *err) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned long long salt = (unsigned long long)ts.tv_sec * 1000000000ull + ts.tv_nsec;
    double t0 = runtime_now_ms();
    for (int p = 0; p < PROGRAM_COUNT; p++) {
        cl_program program = NULL;
        cln_status status = build_program(rt, (program_id)p, salt, &program, err);
        if (program) clReleaseProgram(program);
        if (status != CLN_OK) return status;
    }
    *ms = runtime_now_ms() - t0;
    return CLN_OK;
}

/* Runs fma_peak over `iters` iterations; its device time in ms. */
static cln_status time_peak(cln_runtime *rt, cl_mem out, size_t items, int iters, double *ms,
                            cln_error *err) {
    cln_status status = CLN_OK;
    cl_kernel k = rt->kernels[KERNEL_FMA_PEAK];
    const float scale = 0.999f;
    cl_event ev = NULL;
    cl_ulong start = 0, end = 0;
    static const size_t one_item[1] = {1};
    CL_TRY(clSetKernelArg(k, 0, sizeof out, &out), "clSetKernelArg(fma_peak, 0)");
    CL_TRY(clSetKernelArg(k, 1, sizeof iters, &iters), "clSetKernelArg(fma_peak, 1)");
    CL_TRY(clSetKernelArg(k, 2, sizeof scale, &scale), "clSetKernelArg(fma_peak, 2)");
    CL_TRY(clEnqueueNDRangeKernel(rt->queue, k, 1, NULL, &items, rt->info.is_cpu ? one_item : NULL,
                                  0, NULL, &ev),
           "clEnqueueNDRangeKernel(fma_peak)");
    CL_TRY(clFinish(rt->queue), "clFinish after fma_peak");
    CL_TRY(clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof start, &start, NULL),
           "clGetEventProfilingInfo(START) of fma_peak");
    CL_TRY(clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof end, &end, NULL),
           "clGetEventProfilingInfo(END) of fma_peak");
    *ms = (double)(end - start) / 1e6;
cleanup:
    if (ev) clReleaseEvent(ev);
    return status;
}

cln_status cln_runtime_measure_peak(cln_runtime *rt, double *gflops, cln_error *err) {
    cln_status status = CLN_OK;
    cl_int rc;
    const size_t units = rt->info.compute_units ? rt->info.compute_units : 1;
    const size_t items = units * (size_t)runtime_tunable(rt, "PEAK_ITEMS_PER_UNIT");
    const double flops_per_iter = 2.0 * runtime_tunable(rt, "PEAK_WIDTH") *
                                  runtime_tunable(rt, "PEAK_CHAINS") * (double)items;
    *gflops = 0;
    cl_mem out = clCreateBuffer(rt->context, CL_MEM_WRITE_ONLY, items * sizeof(float), NULL, &rc);
    CL_TRY(rc, "clCreateBuffer for the peak measurement (%zu bytes)", items * sizeof(float));
    /* more iterations until one run takes long enough to time (20 ms), then
     * the best of three of those */
    int iters = 1024;
    double ms = 0, best = 0;
    for (;;) {
        status = time_peak(rt, out, items, iters, &ms, err);
        if (status != CLN_OK) goto cleanup;
        if (ms >= 20 || iters >= (1 << 28)) break;
        iters *= ms > 0.5 ? (int)(40 / ms) + 1 : 64;
    }
    best = ms;
    for (int r = 0; r < 2 && status == CLN_OK; r++) {
        status = time_peak(rt, out, items, iters, &ms, err);
        if (ms < best) best = ms;
    }
    if (status == CLN_OK && best > 0) *gflops = flops_per_iter * iters / best / 1e6;
cleanup:
    if (out) clReleaseMemObject(out);
    return status;
}

/* ---- Recording launches ----------------------------------------------- */

cln_status runtime_record(cln_runtime *rt, cl_event ev, const char *kernel, cln_error *err) {
    launch_recorder *r = &rt->recorder;
    if (r->count == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 256;
        recorded_launch *items = realloc(r->items, cap * sizeof *items);
        if (!items) {
            clReleaseEvent(ev);
            return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "out of memory recording kernel events");
        }
        r->items = items;
        r->cap = cap;
    }
    r->items[r->count++] = (recorded_launch){ev, kernel, r->layer};
    return CLN_OK;
}

void runtime_recorder_clear(cln_runtime *rt) {
    for (size_t i = 0; i < rt->recorder.count; i++)
        clReleaseEvent(rt->recorder.items[i].event);
    rt->recorder.count = 0;
}

double runtime_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}
