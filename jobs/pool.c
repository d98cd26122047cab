/* The pool: a runtime and a model on each of several devices, and runs of
 * images or of a batch in memory over them (cln_pool_* in the public
 * header), each batch on whichever device is free (parallel.h). */
#define _POSIX_C_SOURCE 200809L
#include "../include/clinception.h"

#include "../common/error.h"
#include "../host/runtime.h"
#include "parallel.h"

#include <stdlib.h>
#include <string.h>

#define MAX_DEVICES 64
#define DEFAULT_BATCH 8 /* images per forward, unless fewer fit the device */

struct cln_pool {
    int count;
    cln_runtime *rt[MAX_DEVICES];
    cln_model *model[MAX_DEVICES];
};

cln_pool_params cln_pool_default_params(void) {
    return (cln_pool_params){.only = -1, .network = CLN_NETWORK_INCEPTION_V3, .seed = 1};
}

/* The devices a selector list names: comma-separated selectors, or "all"
 * (every device, as "P:D"); one selector (or none: the default) is one
 * device. Writes malloc'd copies into list; returns the count, or -1. */
static int device_selectors(const char *devices, const char *origin, char **list,
                            cln_error *err) {
    int n = 0;
    if (devices && strcmp(devices, "all") == 0) {
        cln_device_info *infos;
        size_t count;
        if (cln_devices_list(&infos, &count, err) != CLN_OK) return -1;
        for (size_t i = 0; i < count && n < MAX_DEVICES; i++) {
            char text[32];
            snprintf(text, sizeof text, "%d:%d", infos[i].platform_index, infos[i].device_index);
            if (!(list[n++] = strdup(text))) {
                free(infos);
                goto out_of_memory;
            }
        }
        free(infos);
        if (n == 0) cln_fail(err, CLN_ERR_DEVICE, "%s \"all\": there is no OpenCL device", origin);
        return n ? n : -1;
    }
    if (!devices || !*devices || !strchr(devices, ',')) {
        list[0] = NULL;
        if (devices && *devices && !(list[0] = strdup(devices))) goto out_of_memory;
        return 1;
    }
    for (const char *p = devices;;) {
        const char *comma = strchr(p, ',');
        if (n == MAX_DEVICES) {
            cln_fail(err, CLN_ERR_INVALID_ARGUMENT, "%s \"%s\" names more than %d devices", origin,
                     devices, MAX_DEVICES);
            goto fail;
        }
        const size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == 0) {
            cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                     "%s \"%s\" has an empty entry: give selectors separated by commas", origin,
                     devices);
            goto fail;
        }
        if (!(list[n++] = strndup(p, len))) goto out_of_memory;
        if (!comma) break;
        p = comma + 1;
    }
    return n;
out_of_memory:
    cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "out of memory listing devices");
fail:
    for (int i = 0; i < n; i++)
        free(list[i]);
    return -1;
}

/* Prefixes a device's failure with its number and name, when the pool has
 * (or is to have) several. */
static cln_status name_device(const cln_pool *pool, int d, bool several, cln_status st,
                              cln_error *err) {
    if (st != CLN_OK && several && pool->rt[d]) {
        cln_error why = *err;
        cln_fail(err, st, "device %d (%s): %s", d, cln_runtime_device(pool->rt[d])->device_name,
                 why.message);
    }
    return st;
}

cln_status cln_pool_create(const cln_pool_params *params, cln_pool **out, cln_error *err) {
    cln_error unused;
    if (!err) err = &unused;
    *out = NULL;
    const cln_pool_params p = params ? *params : cln_pool_default_params();
    /* no devices named: $CLINCEPTION_DEVICE's, read the same way and named
     * as the source of what does not match */
    const char *devices = p.devices, *origin = "--device";
    if (!devices || !*devices) {
        devices = getenv("CLINCEPTION_DEVICE");
        origin = "$CLINCEPTION_DEVICE";
    }
    char *selectors[MAX_DEVICES];
    const int n = device_selectors(devices, origin, selectors, err);
    if (n < 0) return err->status;
    /* every entry names a device, and no device twice (each would hold its
     * own copy of the model, and the run gain nothing), before any is
     * opened; one process of several (only >= 0) opens its own entry alone,
     * and may share a device with another */
    cln_device_info infos[MAX_DEVICES];
    cln_status st = CLN_OK;
    for (int i = 0; i < n && st == CLN_OK && p.only < 0; i++) {
        st = runtime_find_device(selectors[i], origin, &infos[i], NULL, NULL, err);
        for (int j = 0; j < i && st == CLN_OK; j++)
            if (infos[j].platform_index == infos[i].platform_index &&
                infos[j].device_index == infos[i].device_index)
                st = cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                              "%s \"%s\" names device %d:%d (%s) twice: entries %d and %d", origin,
                              devices, infos[i].platform_index, infos[i].device_index,
                              infos[i].device_name, j + 1, i + 1);
    }
    if (st != CLN_OK) {
        for (int i = 0; i < n; i++)
            free(selectors[i]);
        return st;
    }
    cln_pool *pool = calloc(1, sizeof *pool);
    if (!pool) st = cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "out of memory");
    const int first = p.only >= 0 ? p.only % n : 0, last = p.only >= 0 ? first + 1 : n;
    for (int i = first; i < last && st == CLN_OK; i++) {
        const int d = pool->count++;
        st = runtime_create_from(selectors[i], origin, &pool->rt[d], err);
        if (st == CLN_OK)
            st = p.weights
                     ? cln_model_load_network(pool->rt[d], p.network, p.weights, &pool->model[d],
                                              err)
                     : cln_model_load_random_network(pool->rt[d], p.network, p.seed,
                                                     &pool->model[d], err);
        name_device(pool, d, last - first > 1, st, err);
        if (st == CLN_OK && p.on_open) p.on_open(p.ctx, d, pool->rt[d], pool->model[d]);
    }
    for (int i = 0; i < n; i++)
        free(selectors[i]);
    if (st != CLN_OK) {
        cln_pool_free(pool);
        return st;
    }
    *out = pool;
    return CLN_OK;
}

void cln_pool_free(cln_pool *pool) {
    if (!pool) return;
    for (int d = 0; d < pool->count; d++) {
        cln_model_free(pool->model[d]);
        cln_runtime_free(pool->rt[d]);
    }
    free(pool);
}

int cln_pool_size(const cln_pool *pool) {
    return pool->count;
}

cln_runtime *cln_pool_runtime(cln_pool *pool, int device) {
    return device >= 0 && device < pool->count ? pool->rt[device] : NULL;
}

cln_model *cln_pool_model(cln_pool *pool, int device) {
    return device >= 0 && device < pool->count ? pool->model[device] : NULL;
}

int cln_pool_largest_batch(const cln_pool *pool, int limit, int h, int w, int *device) {
    int fits = cln_model_largest_batch(pool->model[0], limit, h, w), least = 0;
    for (int d = 1; d < pool->count; d++) {
        const int f = cln_model_largest_batch(pool->model[d], limit, h, w);
        if (f < fits) {
            fits = f;
            least = d;
        }
    }
    if (device) *device = least;
    return fits;
}

cln_run_params cln_run_default_params(void) {
    return (cln_run_params){.stream = cln_stream_default_params()};
}

cln_status cln_run_output_floats(cln_pool *pool, const cln_run_params *params, int h, int w,
                                 size_t *floats, cln_error *err) {
    if (!params->layer) {
        *floats = (size_t)cln_model_num_classes(pool->model[0]);
        return CLN_OK;
    }
    int c, oh, ow;
    cln_status st = cln_model_feature_shape(pool->model[0], params->layer, h, w, &c, &oh, &ow, err);
    if (st == CLN_OK) *floats = (size_t)c * oh * ow;
    return st;
}

/* n images on device d: params->run, else the model's forward to the layer. */
static cln_status run_on(cln_pool *pool, const cln_run_params *params, int d, const float *input,
                         int n, int h, int w, float *out, cln_error *err) {
    cln_model *model = pool->model[d];
    cln_status st;
    if (params->run)
        st = params->run(params->ctx, d, model, input, n, h, w, out, err);
    else if (params->layer)
        st = cln_model_features(model, params->layer, input, n, h, w, &params->forward, out, err);
    else
        st = cln_model_forward(model, input, n, h, w, &params->forward, out, err);
    return name_device(pool, d, pool->count > 1, st, err);
}

/* ---- A batch in memory -------------------------------------------------- */

typedef struct {
    cln_pool *pool;
    const cln_run_params *params;
    const float *input;
    float *out;
    int n, h, w, next, done;
    size_t in_floats, out_floats;
} input_run;

static int fill_chunk(void *ctx, float *input, size_t *items, int cap, bool *more, cln_error *err) {
    (void)err;
    input_run *r = ctx;
    const int n = r->n - r->next < cap ? r->n - r->next : cap;
    memcpy(input, r->input + (size_t)r->next * r->in_floats,
           (size_t)n * r->in_floats * sizeof *input);
    for (int i = 0; i < n; i++)
        items[i] = (size_t)(r->next + i);
    r->next += n;
    *more = r->next < r->n;
    return n;
}

static cln_status run_chunk(void *ctx, int d, const float *input, int n, float *out,
                            cln_error *err) {
    input_run *r = ctx;
    return run_on(r->pool, r->params, d, input, n, r->h, r->w, out, err);
}

static cln_status emit_chunk(void *ctx, const size_t *items, int n, const float *out,
                             cln_error *err) {
    input_run *r = ctx;
    memcpy(r->out + (size_t)r->done * r->out_floats, out, (size_t)n * r->out_floats * sizeof *out);
    r->done += n;
    return r->params->on_batch ? r->params->on_batch(r->params->ctx, items, n, out, err) : CLN_OK;
}

cln_status cln_pool_run_input(cln_pool *pool, const float *input, int n, int h, int w,
                              const cln_run_params *params, float *out, size_t *per_device,
                              cln_error *err) {
    cln_error unused;
    if (!err) err = &unused;
    if (n < 1) return cln_fail(err, CLN_ERR_INVALID_ARGUMENT, "a batch of %d images to run", n);
    const cln_run_params defaults = cln_run_default_params();
    if (!params) params = &defaults;
    size_t out_floats;
    cln_status st = cln_run_output_floats(pool, params, h, w, &out_floats, err);
    if (st != CLN_OK) return st;
    const int devices = pool->count;
    const int chunk = params->batch > 0 ? params->batch : (n + devices - 1) / devices;
    const size_t in_floats = 3 * (size_t)h * w;
    if (devices == 1) { /* no threads: each chunk straight from input to out */
        if (per_device) per_device[0] = (size_t)n;
        size_t *items = params->on_batch ? malloc((size_t)chunk * sizeof *items) : NULL;
        if (params->on_batch && !items)
            return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "out of memory for a batch");
        for (int first = 0; first < n && st == CLN_OK; first += chunk) {
            const int count = n - first < chunk ? n - first : chunk;
            float *to = out + (size_t)first * out_floats;
            st = run_on(pool, params, 0, input + (size_t)first * in_floats, count, h, w, to, err);
            for (int i = 0; i < count && items; i++)
                items[i] = (size_t)(first + i);
            if (st == CLN_OK && items) st = params->on_batch(params->ctx, items, count, to, err);
        }
        free(items);
        return st;
    }
    input_run r = {.pool = pool, .params = params, .input = input, .out = out, .n = n, .h = h,
                   .w = w, .in_floats = in_floats, .out_floats = out_floats};
    parallel_job job = {&r,    fill_chunk, run_chunk, emit_chunk, devices,
                        chunk, false,      in_floats, out_floats};
    return parallel_run(&job, per_device, err);
}

/* ---- Images ------------------------------------------------------------- */

typedef struct {
    cln_pool *pool;
    const cln_run_params *params;
    cln_image_stream *stream;
    size_t count, taken;
    size_t per_image;
    int crop;
} image_run;

/* The next batch: the next readable images (up to cap), or with
 * exact_batches exactly the next cap images less those that fail. */
static int fill_images(void *ctx, float *input, size_t *items, int cap, bool *more,
                       cln_error *err) {
    image_run *r = ctx;
    const bool exact = r->params->exact_batches;
    const size_t end = r->taken + (size_t)cap < r->count ? r->taken + (size_t)cap : r->count;
    int n = 0;
    size_t index;
    const float *pixels;
    cln_error why;
    while ((exact ? r->taken < end : n < cap) &&
           cln_image_stream_next(r->stream, &index, &pixels, &why)) {
        r->taken++;
        if (pixels) {
            memcpy(input + n * r->per_image, pixels, r->per_image * sizeof *input);
            items[n++] = index;
        } else if (r->params->on_failure) {
            r->params->on_failure(r->params->ctx, index, &why);
        }
        cln_image_stream_release(r->stream);
    }
    (void)err;
    *more = r->taken < r->count;
    return n;
}

static cln_status run_images_batch(void *ctx, int d, const float *input, int n, float *out,
                                   cln_error *err) {
    image_run *r = ctx;
    return run_on(r->pool, r->params, d, input, n, r->crop, r->crop, out, err);
}

static cln_status emit_images(void *ctx, const size_t *items, int n, const float *out,
                              cln_error *err) {
    image_run *r = ctx;
    return r->params->on_batch ? r->params->on_batch(r->params->ctx, items, n, out, err) : CLN_OK;
}

cln_status cln_pool_run_images(cln_pool *pool, const char *const *paths, size_t count,
                               const cln_run_params *params, size_t *per_device, cln_error *err) {
    cln_error unused;
    if (!err) err = &unused;
    const cln_run_params defaults = cln_run_default_params();
    cln_run_params p = params ? *params : defaults;
    const int crop = p.stream.crop;
    if (crop < CLN_MIN_INPUT_SIZE || crop > CLN_IMAGE_MAX_CROP)
        return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                        "images cropped to %d: the network takes %d to %d", crop,
                        CLN_MIN_INPUT_SIZE, CLN_IMAGE_MAX_CROP);
    if (p.batch < 1) {
        int least;
        const int fits = cln_pool_largest_batch(pool, DEFAULT_BATCH, crop, crop, &least);
        if (fits < 1)
            return cln_fail(err, fits < 0 ? CLN_ERR_OUT_OF_MEMORY : CLN_ERR_DEVICE,
                            fits < 0 ? "out of memory planning a batch"
                                     : "not even one %d x %d image fits %s",
                            crop, crop, cln_runtime_device(pool->rt[least])->device_name);
        p.batch = fits;
    }
    /* torchvision's preprocessing does transform_input itself; pytorch-fid's
     * leaves its 2x - 1 to the FID Inception's input transform */
    p.forward.transform_input = p.stream.preprocess == CLN_PREPROCESS_FID;
    if (!p.stream.slots) p.stream.slots = 2 * (size_t)p.batch;
    image_run r = {.pool = pool, .params = &p, .count = count, .crop = crop};
    r.per_image = 3 * (size_t)crop * crop;
    size_t out_floats;
    cln_status st = cln_run_output_floats(pool, &p, crop, crop, &out_floats, err);
    if (st == CLN_OK) st = cln_image_stream_start(paths, count, &p.stream, &r.stream, err);
    if (st != CLN_OK) return st;
    /* exact batches: every fill takes at least one image, and a batch of
     * images none of which could be read still counts (another process may
     * wait for it) */
    parallel_job job = {&r,          fill_images, run_images_batch, emit_images,
                        pool->count, p.batch,     p.exact_batches && count > 0,
                        r.per_image, out_floats};
    st = parallel_run(&job, per_device, err);
    cln_image_stream_free(r.stream);
    return st;
}

/* ---- FID ---------------------------------------------------------------- */

/* The run's callbacks: the features into the accumulator, the rest to the
 * caller's own. */
typedef struct {
    cln_fid_accumulator *acc;
    int pixels;
    cln_run_params caller;
} fid_run;

static cln_status add_features(void *ctx, const size_t *indices, int n, const float *out,
                               cln_error *err) {
    (void)indices;
    fid_run *f = ctx;
    return cln_fid_accumulate_features(f->acc, out, (size_t)n, f->pixels, err);
}

static void fid_failure(void *ctx, size_t index, const cln_error *why) {
    fid_run *f = ctx;
    f->caller.on_failure(f->caller.ctx, index, why);
}

static cln_status fid_forward(void *ctx, int device, cln_model *model, const float *input, int n,
                              int h, int w, float *out, cln_error *err) {
    fid_run *f = ctx;
    return f->caller.run(f->caller.ctx, device, model, input, n, h, w, out, err);
}

cln_status cln_pool_fid_accumulate(cln_pool *pool, const char *const *paths, size_t count,
                                   const cln_run_params *params, cln_fid_accumulator *a,
                                   cln_error *err) {
    cln_error unused;
    if (!err) err = &unused;
    cln_run_params p = params ? *params : cln_run_default_params();
    /* pytorch-fid's network and preprocessing, whatever params says */
    if (cln_model_network(pool->model[0]) != CLN_NETWORK_FID)
        return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                        "FID statistics come from the FID Inception (CLN_NETWORK_FID); the pool "
                        "runs %s",
                        cln_network_name(cln_model_network(pool->model[0])));
    p.stream.preprocess = CLN_PREPROCESS_FID;
    p.stream.crop = CLN_FID_SIZE;
    const int dims = cln_fid_accumulator_dims(a);
    p.layer = cln_fid_layer(dims);
    if (!p.layer)
        return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                        "FID statistics of %d dims: pytorch-fid's are of 2048, 768, 192 or 64",
                        dims);
    int c, oh, ow;
    cln_status st = cln_model_feature_shape(pool->model[0], p.layer, p.stream.crop, p.stream.crop,
                                            &c, &oh, &ow, err);
    if (st != CLN_OK) return st;
    if (c != dims)
        return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                        "the accumulator has %d dims, but %s has %d channels", dims, p.layer, c);
    fid_run f = {.acc = a, .pixels = oh * ow, .caller = p};
    p.on_batch = add_features;
    p.on_failure = p.on_failure ? fid_failure : NULL;
    p.run = p.run ? fid_forward : NULL;
    p.ctx = &f;
    return cln_pool_run_images(pool, paths, count, &p, NULL, err);
}
