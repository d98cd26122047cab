/* The model and its executor: weights in one device buffer, activations in
 * one planned arena, and a walk over the network table per forward. */
#include "../include/clinception.h"

#include "../weights/model_weights.h"
#include "../common/error.h"
#include "../weights/layout.h"
#include "ops.h"
#include "plan.h"
#include "runtime.h"
#include "tuning.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cln_model {
    cln_runtime *rt;
    network net;
    cl_mem weights; /* packed_weights.data */
    size_t w_off[NET_MAX_LAYERS], b_off[NET_MAX_LAYERS], winograd_off[NET_MAX_LAYERS];
    bool weight_panels; /* the weights in panels (weights/layout.h) */
    /* per group's first member (network/network.h): whether this forward runs
     * the group as one GEMM; per average pool: the grouped member it feeds */
    bool group_on[NET_MAX_LAYERS];
    int pooled_member[NET_MAX_LAYERS];
    bool no_groups; /* every layer on its own (tuning times them one by one) */
    /* buffers of the current plan */
    bool planned;
    plan plan;
    cl_mem input;        /* n x 3 x h x w, as given */
    cl_mem arena;        /* every activation */
    cl_mem scratch;      /* im2col */
    tuning_table tuning; /* this device's tuned choices */
    /* introspection */
    cln_model_timings timings;
    size_t weight_bytes, device_bytes, peak_device_bytes;
    cln_layer_info layers[NET_MAX_LAYERS];
    char layer_kinds[NET_MAX_LAYERS][24];
    cln_kernel_event *events; /* last profiled forward */
    size_t event_count, event_cap;
    const char *tap_names[NET_MAX_TAPS];
};

static void release_plan(cln_model *m) {
    if (m->input) clReleaseMemObject(m->input);
    if (m->arena) clReleaseMemObject(m->arena);
    if (m->scratch) clReleaseMemObject(m->scratch);
    m->input = m->arena = m->scratch = NULL;
    m->planned = false;
    m->device_bytes = m->weight_bytes;
}

void cln_model_free(cln_model *m) {
    if (!m) return;
    release_plan(m);
    if (m->weights) clReleaseMemObject(m->weights);
    tuning_free(&m->tuning);
    free(m->events);
    free(m);
}

static cln_status upload_weights(cln_runtime *rt, const network *net, packed_weights *pw,
                                 cln_model **out, cln_error *err) {
    cln_status status = CLN_OK;
    cl_int rc;
    cln_model *m = calloc(1, sizeof *m);
    if (!m) {
        packed_weights_free(pw);
        return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "out of memory creating the model");
    }
    m->rt = rt;
    m->net = *net;
    tuning_path(&rt->info, m->tuning.path, sizeof m->tuning.path);
    status = tuning_load(&m->tuning, err);
    if (status != CLN_OK) goto cleanup;
    /* CLBlast's GEMM parameters: as tuned for this device, else on a CPU the
     * best set known for CPUs; GPUs keep CLBlast's own database */
    if (m->tuning.has_xgemm)
        status = tuning_apply_xgemm(rt->device, m->tuning.xgemm, err);
    else if (rt->info.is_cpu)
        status = tuning_apply_xgemm(rt->device, xgemm_cpu_candidates[0], err);
    if (status != CLN_OK) goto cleanup;
    /* in panels on CPUs (weights/layout.h); transform_winograd has read the
     * plain layout already */
    if (runtime_tunable(rt, "WEIGHT_PANELS")) status = packed_weights_to_panels(&m->net, pw, err);
    if (status != CLN_OK) goto cleanup;
    m->weight_panels = pw->panels;
    memcpy(m->w_off, pw->w_off, sizeof m->w_off);
    memcpy(m->b_off, pw->b_off, sizeof m->b_off);
    memcpy(m->winograd_off, pw->winograd_off, sizeof m->winograd_off);
    double t0 = runtime_now_ms();
    m->weights = clCreateBuffer(rt->context, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                                pw->floats * sizeof(float), pw->data, &rc);
    CL_TRY(rc, "clCreateBuffer for the weights (%zu bytes)", pw->floats * sizeof(float));
    CL_TRY(clFinish(rt->queue), "clFinish after uploading the weights");
    m->timings.upload_ms = runtime_now_ms() - t0;
    m->weight_bytes = m->device_bytes = m->peak_device_bytes = pw->floats * sizeof(float);
    for (int i = 0; i < m->net.layer_count; i++) {
        m->layers[i].name = m->net.layers[i].name;
        m->layers[i].kind = m->layer_kinds[i];
        m->layers[i].ran_with = -1;
        m->pooled_member[i] = -1;
    }
    for (int i = 0; i < m->net.layer_count; i++)
        if (m->net.layers[i].pool_layer >= 0) m->pooled_member[m->net.layers[i].pool_layer] = i;
    for (int t = 0; t < m->net.tap_count; t++)
        m->tap_names[t] = m->net.taps[t].name;
cleanup:
    packed_weights_free(pw);
    if (status != CLN_OK) {
        cln_model_free(m);
        return status;
    }
    *out = m;
    return CLN_OK;
}

const char *cln_network_name(cln_network network) {
    return (int)network >= 0 && (int)network < CLN_NETWORK_COUNT ? network_names[network] : NULL;
}

cln_status cln_network_from_name(const char *name, cln_network *out, cln_error *err) {
    const int i = name ? network_find(name) : -1;
    if (i < 0)
        return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                        "there is no network \"%s\"; the networks are %s and %s",
                        name ? name : "(null)", network_names[0], network_names[1]);
    *out = (cln_network)i;
    return CLN_OK;
}

/* The table of a network the caller names, checked. */
static cln_status build_network(cln_network which, network *net, const char *caller,
                                cln_error *err) {
    if ((int)which < 0 || (int)which >= CLN_NETWORK_COUNT)
        return cln_fail(err, CLN_ERR_INVALID_ARGUMENT, "%s: %d is not a cln_network", caller,
                        (int)which);
    if (!network_build(net, (int)which))
        return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                        "%s: the table of %s does not fit in %d layers, %d values and %d taps",
                        caller, network_names[which], NET_MAX_LAYERS, NET_MAX_VALUES, NET_MAX_TAPS);
    return CLN_OK;
}

cln_status cln_model_load_network(cln_runtime *rt, cln_network which, const char *path,
                                  cln_model **out, cln_error *err) {
    network net;
    packed_weights pw;
    *out = NULL;
    if (!rt || !path)
        return cln_fail(err, CLN_ERR_INVALID_ARGUMENT, "cln_model_load needs a runtime and a path");
    cln_status status = build_network(which, &net, "cln_model_load", err);
    if (status != CLN_OK) return status;
    double t0 = runtime_now_ms();
    status = weights_load_safetensors(&net, path, &pw, err);
    if (status != CLN_OK) return status;
    double read_ms = runtime_now_ms() - t0;
    status = upload_weights(rt, &net, &pw, out, err);
    if (status == CLN_OK) (*out)->timings.read_ms = read_ms;
    return status;
}

cln_status cln_model_load(cln_runtime *rt, const char *path, cln_model **out, cln_error *err) {
    return cln_model_load_network(rt, CLN_NETWORK_INCEPTION_V3, path, out, err);
}

cln_status cln_model_load_random_network(cln_runtime *rt, cln_network which, uint64_t seed,
                                         cln_model **out, cln_error *err) {
    network net;
    packed_weights pw;
    *out = NULL;
    if (!rt)
        return cln_fail(err, CLN_ERR_INVALID_ARGUMENT, "cln_model_load_random needs a runtime");
    cln_status status = build_network(which, &net, "cln_model_load_random", err);
    if (status == CLN_OK) status = weights_random(&net, seed, &pw, err);
    if (status != CLN_OK) return status;
    return upload_weights(rt, &net, &pw, out, err);
}

cln_status cln_model_load_random(cln_runtime *rt, uint64_t seed, cln_model **out, cln_error *err) {
    return cln_model_load_random_network(rt, CLN_NETWORK_INCEPTION_V3, seed, out, err);
}

cln_network cln_model_network(const cln_model *model) {
    return (cln_network)network_find(model->net.name);
}

static cln_status create_buffer(cln_runtime *rt, size_t floats, const char *what, cl_mem *out,
                                cln_error *err) {
    cl_int rc;
    size_t bytes = (floats ? floats : 1) * sizeof(float);
    *out = clCreateBuffer(rt->context, CL_MEM_READ_WRITE, bytes, NULL, &rc);
    if (rc != CL_SUCCESS) {
        *out = NULL;
        return cl_fail(err, rc, "clCreateBuffer for the %s (%zu bytes)", what, bytes);
    }
    return CLN_OK;
}

/* The kind, output shape and flop count of every layer at the plan's shape. */
static void describe_layers(cln_model *m) {
    const plan *pl = &m->plan;
    for (int i = 0; i < m->net.layer_count; i++) {
        const layer *l = &m->net.layers[i];
        const value_plan *d = &pl->values[l->dst];
        cln_layer_info *info = &m->layers[i];
        double outputs = (double)pl->n * l->out_channels * d->h * d->w;
        int cin = l->src >= 0 ? m->net.value_channels[l->src] : 3;
        char *kind = m->layer_kinds[i];
        size_t size = sizeof m->layer_kinds[i];
        info->n = pl->n;
        info->c = l->out_channels;
        info->h = d->h;
        info->w = d->w;
        switch (l->op) {
        case LAYER_INPUT:
            snprintf(kind, size, "input");
            info->flops = 2 * outputs;
            break;
        case LAYER_CONV:
            snprintf(kind, size, "conv %dx%d", l->kh, l->kw);
            info->flops = 2 * outputs * cin * l->kh * l->kw;
            break;
        case LAYER_MAX_POOL:
        case LAYER_AVG_POOL:
            snprintf(kind, size, l->op == LAYER_MAX_POOL ? "max pool" : "avg pool");
            info->flops = outputs * l->kh * l->kw;
            break;
        case LAYER_GLOBAL_AVG_POOL:
            snprintf(kind, size, "global avg pool");
            info->flops = outputs * pl->values[l->src].h * pl->values[l->src].w;
            break;
        case LAYER_LINEAR:
            snprintf(kind, size, "fc");
            info->flops = 2 * outputs * cin;
            break;
        }
    }
}

/* Bytes of a plan's three buffers: input, activation arena, im2col or
 * Winograd scratch (with the slack after it that ops.h asks for). */
typedef struct {
    size_t input, arena, scratch;
} plan_bytes;

static plan_bytes bytes_of(const plan *pl) {
    return (plan_bytes){(size_t)pl->n * 3 * pl->h * pl->w * sizeof(float),
                        pl->arena_floats * sizeof(float),
                        (pl->scratch_floats + GEMM_READ_SLACK_FLOATS) * sizeof(float)};
}

/* Whether a plan's buffers fit the device: each within its largest
 * allocation, all of them with the weights within its global memory. */
static bool plan_fits(const cln_model *m, const plan *pl) {
    const cln_device_info *d = &m->rt->info;
    const plan_bytes b = bytes_of(pl);
    return b.input <= d->max_alloc_bytes && b.arena <= d->max_alloc_bytes &&
           b.scratch <= d->max_alloc_bytes &&
           m->weight_bytes + b.input + b.arena + b.scratch <= d->global_mem_bytes;
}

/* Refuses, before anything is allocated or enqueued, an input whose buffers
 * the device cannot hold, naming the largest batch that fits. */
/* The largest batch of h x w images up to `limit` whose buffers fit the
 * device (0 if none does), or -1 when out of memory. */
static int largest_fitting(const cln_model *m, int limit, int h, int w) {
    plan *trial = malloc(sizeof *trial);
    if (!trial) return -1;
    cln_error ignored;
    int lo = 0, hi = limit + 1; /* lo fits (0 trivially), hi does not */
    if (plan_build(&m->net, limit, h, w, trial, &ignored) == CLN_OK && plan_fits(m, trial))
        lo = limit;
    while (hi - lo > 1) {
        int mid = lo + (hi - lo) / 2;
        if (plan_build(&m->net, mid, h, w, trial, &ignored) == CLN_OK && plan_fits(m, trial))
            lo = mid;
        else
            hi = mid;
    }
    free(trial);
    return lo;
}

int cln_model_largest_batch(const cln_model *m, int limit, int h, int w) {
    return m && limit >= 1 ? largest_fitting(m, limit, h, w) : 0;
}

static cln_status check_fits(const cln_model *m, int n, int h, int w, cln_error *err) {
    if (plan_fits(m, &m->plan)) return CLN_OK;
    const int lo = largest_fitting(m, n - 1, h, w);
    if (lo < 0) return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "out of memory planning");
    const cln_device_info *d = &m->rt->info;
    char advice[96] = "no batch of this image size fits";
    if (lo > 0)
        snprintf(advice, sizeof advice, "the largest batch of this image size that fits is %d", lo);
    return cln_fail(
        err, CLN_ERR_INVALID_ARGUMENT,
        "an input of %d x 3 x %d x %d needs %.1f MiB of activations and %.1f MiB of "
        "im2col or Winograd scratch, more than %s can hold (largest allocation %.1f MiB, "
        "global memory %.1f MiB with %.1f MiB of weights); %s",
        n, h, w, m->plan.arena_floats * 4 / 1048576.0, m->plan.scratch_floats * 4 / 1048576.0,
        d->device_name, d->max_alloc_bytes / 1048576.0, d->global_mem_bytes / 1048576.0,
        m->weight_bytes / 1048576.0, advice);
}

static cln_status prepare_plan(cln_model *m, int n, int h, int w, cln_error *err) {
    if (m->planned && m->plan.n == n && m->plan.h == h && m->plan.w == w) return CLN_OK;
    release_plan(m);
    cln_status status = plan_build(&m->net, n, h, w, &m->plan, err);
    if (status == CLN_OK) status = check_fits(m, n, h, w, err);
    const plan_bytes b = bytes_of(&m->plan);
    if (status == CLN_OK)
        status = create_buffer(m->rt, b.input / sizeof(float), "input", &m->input, err);
    if (status == CLN_OK)
        status = create_buffer(m->rt, m->plan.arena_floats, "activations", &m->arena, err);
    if (status == CLN_OK)
        status = create_buffer(m->rt, b.scratch / sizeof(float), "im2col or Winograd scratch",
                               &m->scratch, err);
    if (status != CLN_OK) {
        release_plan(m);
        return status;
    }
    m->planned = true;
    m->device_bytes = m->weight_bytes + b.input + b.arena + b.scratch;
    if (m->device_bytes > m->peak_device_bytes) m->peak_device_bytes = m->device_bytes;
    describe_layers(m);
    return CLN_OK;
}

static tensor_view value_view(const cln_model *m, int v) {
    const value_plan *vp = &m->plan.values[v];
    tensor_view t = {m->arena, vp->offset, m->net.value_channels[v], m->plan.n, vp->h, vp->w};
    return t;
}

/* The channel slice [first, first + count) of a view. */
static tensor_view slice(tensor_view t, int first, int count) {
    t.off += (size_t)first * t.n * t.h * t.w;
    t.c = count;
    return t;
}

/* Input channels from which a 3x3 stride-1 convolution runs Winograd by
 * default on a CPU: with fewer, its transforms cost more than it saves. */
#define WINOGRAD_DEFAULT_MIN_CHANNELS 64

/* How layer i runs: as asked; under AUTO as tuned for this device and shape
 * (cln_model_tune), else on CPUs Winograd for the 3x3 stride-1 convolutions
 * of many channels and our tiled GEMM for the rest (CLBlast's defaults are
 * slow there), and CLBlast's GEMM elsewhere (its database is tuned for
 * GPUs). A convolution asked to run a way that does not apply to it (direct
 * for a 1x1 or fc, Winograd for other than 3x3 stride 1) runs tiled. */
static cln_conv_algo layer_algo(const cln_model *m, int i, const cln_forward_options *o) {
    const layer *l = &m->net.layers[i];
    const bool winograd = l->op == LAYER_CONV && winograd_applies(l->kh, l->kw, l->sh, l->sw);
    cln_conv_algo a = o->conv_algo;
    if (a == CLN_CONV_AUTO) a = tuning_get(&m->tuning, m->plan.n, m->plan.h, m->plan.w, l->name);
    if (a == CLN_CONV_AUTO && m->rt->info.is_cpu && winograd &&
        m->net.value_channels[l->src] >= WINOGRAD_DEFAULT_MIN_CHANNELS)
        a = CLN_CONV_WINOGRAD;
    if (a == CLN_CONV_AUTO) a = m->rt->info.is_cpu ? CLN_CONV_TILED : CLN_CONV_GEMM;
    if (a == CLN_CONV_DIRECT && (l->op != LAYER_CONV || (l->kh == 1 && l->kw == 1)))
        a = CLN_CONV_TILED;
    if (a == CLN_CONV_WINOGRAD && !winograd) a = CLN_CONV_TILED;
    return a;
}

/* Whether the group that layer `leader` leads runs as one GEMM in this
 * forward: where groups are on for the device, the weights are in panels,
 * every member runs by layer `last` (where the forward stops) and tiled, with whole panels of
 * channels lying together (weights/model_weights.c), on a vector of pixels at least. */
static bool group_runs(const cln_model *m, int leader, int last, const cln_forward_options *o) {
    const network *net = &m->net;
    if (!runtime_tunable(m->rt, "GROUP_CONVS") || !m->weight_panels || m->no_groups) return false;
    const value_plan *x = &m->plan.values[net->layers[leader].src];
    if ((size_t)m->plan.n * x->h * x->w < (size_t)runtime_tunable(m->rt, "TILE_N")) return false;
    const size_t k = (size_t)net->value_channels[net->layers[leader].src];
    size_t rows = 0;
    for (int j = leader; j < net->layer_count; j++) {
        const layer *l = &net->layers[j];
        if (l->group != leader) continue;
        if (j > last || layer_algo(m, j, o) != CLN_CONV_TILED ||
            l->out_channels % WEIGHT_CHANNEL_ALIGN != 0 ||
            m->w_off[j] != m->w_off[leader] + rows * k || m->b_off[j] != m->b_off[leader] + rows)
            return false;
        rows += (size_t)l->out_channels;
    }
    return true;
}

/* A group's members as one GEMM (ops.h's op_conv_group), each into its own
 * slice, a pooled member unpooled into its pool's value. */
static cln_status run_group(cln_model *m, int leader, scratch_buffer scratch, cln_error *err) {
    const network *net = &m->net;
    tensor_view dst[NET_GROUP_MAX];
    bool raw[NET_GROUP_MAX];
    int count = 0;
    for (int j = leader; j < net->layer_count && count < NET_GROUP_MAX; j++) {
        const layer *l = &net->layers[j];
        if (l->group != leader) continue;
        raw[count] = l->pool_layer >= 0;
        dst[count] = raw[count]
                         ? slice(value_view(m, net->layers[l->pool_layer].dst), 0, l->out_channels)
                         : slice(value_view(m, l->dst), l->dst_channel, l->out_channels);
        count++;
    }
    layer_params p = {m->weights, m->w_off[leader], m->b_off[leader], 0, m->weight_panels};
    return op_conv_group(m->rt, value_view(m, net->layers[leader].src), p, dst, raw, count, scratch,
                         err);
}

static cln_status run_layer(cln_model *m, int i, const cln_forward_options *o, cln_error *err) {
    const layer *l = &m->net.layers[i];
    m->layers[i].ran_with = -1;
    if (l->op == LAYER_CONV && l->group >= 0 && m->group_on[l->group]) {
        m->layers[i].algo = CLN_CONV_TILED;
        if (l->group != i) m->layers[i].ran_with = l->group;
        scratch_buffer scratch = {m->scratch, m->plan.scratch_floats};
        return l->group == i ? run_group(m, i, scratch, err) : CLN_OK; /* else with the first */
    }
    const int pooled = l->op == LAYER_AVG_POOL ? m->pooled_member[i] : -1;
    if (pooled >= 0 && m->group_on[m->net.layers[pooled].group]) {
        /* the member's unpooled output, in this pool's value, pooled into
         * its slice with its bias and ReLU */
        const layer *c = &m->net.layers[pooled];
        layer_params pc = {m->weights, m->w_off[pooled], m->b_off[pooled], 0, m->weight_panels};
        return op_avg_pool(m->rt, slice(value_view(m, l->dst), 0, c->out_channels), l->kh, l->sh,
                           l->ph, l->count_include_pad,
                           slice(value_view(m, c->dst), c->dst_channel, c->out_channels), &pc, err);
    }
    tensor_view dst = slice(value_view(m, l->dst), l->dst_channel, l->out_channels);
    layer_params p = {m->weights, m->w_off[i], m->b_off[i], m->winograd_off[i], m->weight_panels};
    if (l->op == LAYER_INPUT) {
        static const float one[3] = {1, 1, 1}, zero[3] = {0, 0, 0};
        return op_input(m->rt, m->input, o->transform_input ? m->net.input_scale : one,
                        o->transform_input ? m->net.input_shift : zero, dst, err);
    }
    tensor_view src = value_view(m, l->src);
    conv_geometry g = {l->kh, l->kw, l->sh, l->sw, l->ph, l->pw};
    const cln_conv_algo algo = layer_algo(m, i, o);
    const gemm_engine engine = algo == CLN_CONV_GEMM ? GEMM_CLBLAST : GEMM_TILED;
    m->layers[i].algo = l->op == LAYER_CONV || l->op == LAYER_LINEAR ? algo : CLN_CONV_AUTO;
    scratch_buffer scratch = {m->scratch, m->plan.scratch_floats};
    switch (l->op) {
    case LAYER_CONV:
        if (algo == CLN_CONV_DIRECT) return op_conv_direct(m->rt, src, g, p, dst, l->relu, err);
        if (algo == CLN_CONV_WINOGRAD)
            return op_conv_winograd(m->rt, src, g, p, dst, l->relu, scratch, err);
        return op_conv_gemm(m->rt, src, g, p, dst, l->relu, scratch, engine, err);
    case LAYER_MAX_POOL:
        return op_max_pool(m->rt, src, l->kh, l->sh, l->ph, dst, err);
    case LAYER_AVG_POOL:
        return op_avg_pool(m->rt, src, l->kh, l->sh, l->ph, l->count_include_pad, dst, NULL, err);
    case LAYER_GLOBAL_AVG_POOL:
        return op_global_avg_pool(m->rt, src, dst, err);
    case LAYER_LINEAR:
        return op_linear(m->rt, src, p, dst, engine, err);
    case LAYER_INPUT:
        break;
    }
    return CLN_OK;
}

/* Turns the recorded events into cln_kernel_events, relative to the first start. */
static cln_status collect_profile(cln_model *m, cln_error *err) {
    cln_status status = CLN_OK;
    launch_recorder *r = &m->rt->recorder;
    if (r->count > m->event_cap) {
        cln_kernel_event *events = realloc(m->events, r->count * sizeof *events);
        if (!events) {
            status = cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "out of memory for the profile");
            goto cleanup;
        }
        m->events = events;
        m->event_cap = r->count;
    }
    cl_ulong base = 0;
    for (size_t i = 0; i < r->count; i++) {
        cl_ulong start, end;
        CL_TRY(clGetEventProfilingInfo(r->items[i].event, CL_PROFILING_COMMAND_START, sizeof start,
                                       &start, NULL),
               "clGetEventProfilingInfo(START) of %s", r->items[i].kernel);
        CL_TRY(clGetEventProfilingInfo(r->items[i].event, CL_PROFILING_COMMAND_END, sizeof end,
                                       &end, NULL),
               "clGetEventProfilingInfo(END) of %s", r->items[i].kernel);
        if (i == 0 || start < base) base = start;
        m->events[i] =
            (cln_kernel_event){r->items[i].layer, r->items[i].kernel, (double)start, (double)end};
    }
    for (size_t i = 0; i < r->count; i++) {
        m->events[i].start_ms = (m->events[i].start_ms - (double)base) / 1e6;
        m->events[i].end_ms = (m->events[i].end_ms - (double)base) / 1e6;
    }
    m->event_count = r->count;
cleanup:
    runtime_recorder_clear(m->rt);
    return status;
}

/* Refuses an input holding a NaN or an infinity, naming the first: the
 * network would carry it to the output (as torchvision does), and nothing
 * can be told from it. */
static cln_status check_finite(const float *input, int n, int h, int w, cln_error *err) {
    const size_t count = (size_t)n * 3 * h * w;
    for (size_t i = 0; i < count; i++)
        if (!isfinite(input[i])) {
            const size_t x = i % (size_t)w, y = i / (size_t)w % (size_t)h,
                         c = i / ((size_t)w * h) % 3, b = i / ((size_t)w * h * 3);
            return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                            "the input holds %s at [%zu, %zu, %zu, %zu] (image, channel, row, "
                            "column); the network needs finite values",
                            isnan(input[i]) ? "NaN" : "an infinity", b, c, y, x);
        }
    return CLN_OK;
}

/* Runs the network on the input up to layer `last` of tap t, no further, and
 * reads the tap's channels into out, n x channels x h x w (NCHW: the arena
 * holds them channel-major, transposed on the host). */
static cln_status run_to(cln_model *m, int t, const float *input, int n, int h, int w,
                         const cln_forward_options *options, float *out, cln_error *err) {
    cln_status status = CLN_OK;
    cln_forward_options defaults = {0};
    float *raw = NULL;
    const cln_forward_options *o = options ? options : &defaults;
    const net_tap *tap = &m->net.taps[t];
    status = prepare_plan(m, n, h, w, err);
    if (status != CLN_OK) return status;
    status = check_finite(input, n, h, w, err); /* after the plan has checked n, h and w */
    if (status != CLN_OK) return status;
    cl_command_queue q = m->rt->queue;
    m->event_count = 0;
    runtime_recorder_clear(m->rt);
    m->rt->recorder.on = o->profile;
    CL_TRY(clEnqueueWriteBuffer(q, m->input, CL_TRUE, 0, (size_t)n * 3 * h * w * sizeof(float),
                                input, 0, NULL, NULL),
           "clEnqueueWriteBuffer of the input (%d x 3 x %d x %d)", n, h, w);
    for (int i = 0; i < m->net.layer_count; i++) {
        m->group_on[i] = m->net.layers[i].group == i && group_runs(m, i, tap->last_layer, o);
        m->layers[i].ran_with = -1; /* also for the layers past the tap, which do not run */
    }
    for (int i = 0; i <= tap->last_layer; i++) {
        m->rt->recorder.layer = i;
        status = run_layer(m, i, o, err);
        if (status != CLN_OK) {
            cln_error_append(err, " (layer %s)", m->net.layers[i].name);
            goto cleanup;
        }
    }
    const value_plan *v = &m->plan.values[tap->value];
    const size_t pixels = (size_t)v->h * v->w, count = (size_t)tap->channels * n * pixels;
    raw = malloc(count * sizeof *raw);
    if (!raw) {
        status = cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "out of memory reading the output of %s",
                          tap->name);
        goto cleanup;
    }
    CL_TRY(
        clEnqueueReadBuffer(q, m->arena, CL_TRUE,
                            (v->offset + (size_t)tap->first_channel * n * pixels) * sizeof(float),
                            count * sizeof(float), raw, 0, NULL, NULL),
        "clEnqueueReadBuffer of the output of %s", tap->name);
    for (size_t c = 0; c < (size_t)tap->channels; c++)
        for (size_t b = 0; b < (size_t)n; b++)
            memcpy(out + (b * tap->channels + c) * pixels, raw + (c * n + b) * pixels,
                   pixels * sizeof *out);
    if (o->profile) status = collect_profile(m, err);
cleanup:
    free(raw);
    m->rt->recorder.on = false;
    if (status != CLN_OK) {
        (void)clFinish(q); /* drain; the first error is the one reported */
        runtime_recorder_clear(m->rt);
    }
    return status;
}

cln_status cln_model_forward(cln_model *m, const float *input, int n, int h, int w,
                             const cln_forward_options *options, float *logits, cln_error *err) {
    if (!m || !input || !logits)
        return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                        "cln_model_forward needs a model, an input and room for the logits");
    return run_to(m, m->net.output_tap, input, n, h, w, options, logits, err);
}

int cln_model_num_classes(const cln_model *m) {
    return m->net.value_channels[m->net.output];
}

const char *const *cln_model_feature_layers(const cln_model *m, size_t *count) {
    *count = (size_t)m->net.tap_count;
    return m->tap_names;
}

/* The tap named name, or an error listing the names. */
static cln_status find_tap(const cln_model *m, const char *name, int *t, cln_error *err) {
    *t = name ? network_find_tap(&m->net, name) : -1;
    if (*t >= 0) return CLN_OK;
    char names[2048] = "";
    size_t used = 0;
    for (int i = 0; i < m->net.tap_count && used < sizeof names; i++)
        if (!strchr(m->net.taps[i].name, '.'))
            used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", used ? ", " : "",
                                     m->net.taps[i].name);
    return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                    "there is no layer \"%s\"; the layers are %s, and the convolutions inside "
                    "the Mixed blocks by their full names, e.g. Mixed_5b.branch1x1",
                    name ? name : "(null)", names);
}

cln_status cln_model_feature_shape(const cln_model *m, const char *layer, int h, int w, int *c,
                                   int *oh, int *ow, cln_error *err) {
    int t;
    cln_status status = find_tap(m, layer, &t, err);
    if (status != CLN_OK) return status;
    plan *pl = malloc(sizeof *pl);
    if (!pl) return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "out of memory planning");
    status = plan_build(&m->net, 1, h, w, pl, err);
    if (status == CLN_OK) {
        const value_plan *v = &pl->values[m->net.taps[t].value];
        *c = m->net.taps[t].channels;
        *oh = v->h;
        *ow = v->w;
    }
    free(pl);
    return status;
}

cln_status cln_model_features(cln_model *m, const char *layer, const float *input, int n, int h,
                              int w, const cln_forward_options *options, float *out,
                              cln_error *err) {
    if (!m || !input || !out)
        return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                        "cln_model_features needs a model, an input and room for the output");
    int t;
    cln_status status = find_tap(m, layer, &t, err);
    if (status != CLN_OK) return status;
    return run_to(m, t, input, n, h, w, options, out, err);
}

cln_model_timings cln_model_get_timings(const cln_model *m) {
    return m->timings;
}

size_t cln_model_device_bytes(const cln_model *m) {
    return m->device_bytes;
}

size_t cln_model_peak_device_bytes(const cln_model *m) {
    return m->peak_device_bytes;
}

const cln_layer_info *cln_model_layers(const cln_model *m, size_t *count) {
    *count = (size_t)m->net.layer_count;
    return m->layers;
}

const cln_kernel_event *cln_model_profile(const cln_model *m, size_t *count) {
    *count = m->event_count;
    return m->event_count ? m->events : NULL;
}

const char *cln_model_tuning_path(const cln_model *m) {
    return m->tuning.path;
}

const char *cln_model_warning(const cln_model *m) {
    return m->tuning.warning[0] ? m->tuning.warning : NULL;
}

/* Per-layer device time of `repeats` forwards with every layer run `algo`
 * (best of the repeats; 0 for layers that ran another way). A layer's time is
 * from the end of the previous layer's last kernel to the end of its own
 * last: on an in-order queue that counts the helper kernels CLBlast runs
 * without events too. */
static cln_status time_layers(cln_model *m, cln_conv_algo algo, int repeats, const float *input,
                              int n, int h, int w, float *logits, double *best, cln_error *err) {
    cln_forward_options o = {.conv_algo = algo, .profile = true};
    for (int i = 0; i < m->net.layer_count; i++)
        best[i] = 0;
    for (int r = 0; r < repeats; r++) {
        double ms[NET_MAX_LAYERS] = {0}, previous_end = 0;
        m->no_groups = true; /* a grouped GEMM's time would go to its first member alone */
        cln_status status = cln_model_forward(m, input, n, h, w, &o, logits, err);
        m->no_groups = false;
        if (status != CLN_OK) return status;
        for (size_t e = 0; e < m->event_count; e++) {
            const cln_kernel_event *ev = &m->events[e];
            if (e + 1 < m->event_count && m->events[e + 1].layer == ev->layer) continue;
            ms[ev->layer] = ev->end_ms - previous_end;
            previous_end = ev->end_ms;
        }
        for (int i = 0; i < m->net.layer_count; i++)
            if (m->layers[i].algo == algo && (r == 0 || ms[i] < best[i])) best[i] = ms[i];
    }
    return CLN_OK;
}

/* On a CPU, CLBlast's Xgemm parameters: each candidate set timed on the
 * convolutions run through CLBlast; the fastest is kept and applied. */
static cln_status tune_xgemm(cln_model *m, int repeats, const float *input, int n, int h, int w,
                             float *logits, cln_tune_report *report, cln_error *err) {
    double ms[NET_MAX_LAYERS];
    size_t best = 0;
    double best_ms = 0;
    for (size_t c = 0; c < xgemm_cpu_candidate_count; c++) {
        cln_status status = tuning_apply_xgemm(m->rt->device, xgemm_cpu_candidates[c], err);
        if (status == CLN_OK)
            status = time_layers(m, CLN_CONV_GEMM, repeats, input, n, h, w, logits, ms, err);
        if (status != CLN_OK) return status;
        double total = 0;
        for (int i = 0; i < m->net.layer_count; i++)
            if (m->net.layers[i].op == LAYER_CONV) total += ms[i];
        if (report && c < CLN_GEMM_CANDIDATES_MAX) report->gemm_ms[c] = total;
        if (c == 0 || total < best_ms) {
            best = c;
            best_ms = total;
        }
    }
    m->tuning.has_xgemm = true;
    memcpy(m->tuning.xgemm, xgemm_cpu_candidates[best], sizeof m->tuning.xgemm);
    if (report) {
        report->gemm_candidates = (int)xgemm_cpu_candidate_count;
        report->gemm_best = (int)best;
    }
    return tuning_apply_xgemm(m->rt->device, m->tuning.xgemm, err);
}

cln_status cln_model_tune(cln_model *m, int n, int h, int w, int repeats, cln_tune_report *report,
                          cln_error *err) {
    static const cln_conv_algo ways[] = {CLN_CONV_GEMM, CLN_CONV_TILED, CLN_CONV_DIRECT,
                                         CLN_CONV_WINOGRAD};
    const int way_count = (int)(sizeof ways / sizeof ways[0]);
    cln_status status = CLN_OK;
    /* the input must fit the device before its batch is made on the host */
    status = prepare_plan(m, n, h, w, err);
    if (status != CLN_OK) return status;
    const size_t count = (size_t)n * 3 * h * w;
    cln_tune_layer *t = calloc(NET_MAX_LAYERS, sizeof *t);
    float *input = malloc(count * sizeof *input);
    float *logits = malloc((size_t)n * cln_model_num_classes(m) * sizeof *logits);
    if (!t || !input || !logits) {
        status = cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "out of memory for tuning");
        goto cleanup;
    }
    if (repeats < 1) repeats = 1;
    if (report) {
        report->gemm_candidates = 0;
        report->gemm_best = -1;
    }
    uint64_t state = 99; /* a seeded input in [-1, 1) */
    for (size_t i = 0; i < count; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        input[i] = (float)((state >> 40) / 8388608.0 - 1.0);
    }
    if (m->rt->info.is_cpu) status = tune_xgemm(m, repeats, input, n, h, w, logits, report, err);
    for (int a = 0; a < way_count && status == CLN_OK; a++) {
        double ms[NET_MAX_LAYERS];
        status = time_layers(m, ways[a], repeats, input, n, h, w, logits, ms, err);
        for (int i = 0; status == CLN_OK && i < m->net.layer_count; i++)
            t[i].ms[ways[a]] = ms[i];
    }
    for (int i = 0; status == CLN_OK && i < m->net.layer_count; i++) {
        if (m->net.layers[i].op != LAYER_CONV) continue;
        for (int a = 0; a < way_count; a++)
            if (t[i].ms[ways[a]] > 0 &&
                (t[i].best == CLN_CONV_AUTO || t[i].ms[ways[a]] < t[i].ms[t[i].best]))
                t[i].best = ways[a];
        status = tuning_set(&m->tuning, n, h, w, m->net.layers[i].name, t[i].best, err);
    }
    if (status == CLN_OK) status = tuning_save(&m->tuning, &m->rt->info, err);
    if (status == CLN_OK && report && report->layers)
        memcpy(report->layers, t, (size_t)m->net.layer_count * sizeof *t);
cleanup:
    free(logits);
    free(input);
    free(t);
    return status;
}
