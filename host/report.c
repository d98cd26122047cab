/* Profile reports from a model's recorded kernel events: the table printed
 * by --profile, the --csv file and the --trace Chrome trace. */
#include "../include/clinception.h"

#include "../common/error.h"
#include "../common/file_io.h"

#include <errno.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define MAX_KERNELS_PER_LAYER 8

typedef struct {
    int index;
    double ms;
    int launches;
    char kernels[160]; /* distinct kernel names joined by '+' */
} layer_row;

/* Per-layer sums of the recorded events; rows[i] is layer i. */
static layer_row *layer_rows(const cln_model *model, size_t *count) {
    size_t nlayers, nevents;
    cln_model_layers(model, &nlayers);
    const cln_kernel_event *ev = cln_model_profile(model, &nevents);
    layer_row *rows = calloc(nlayers ? nlayers : 1, sizeof *rows);
    if (!rows) return NULL;
    for (size_t i = 0; i < nlayers; i++)
        rows[i].index = (int)i;
    for (size_t e = 0; e < nevents; e++) {
        layer_row *r = &rows[ev[e].layer];
        r->ms += ev[e].end_ms - ev[e].start_ms;
        r->launches++;
        char *k = r->kernels;
        const char *name = ev[e].kernel;
        /* append the kernel's name unless the row has it already */
        bool seen = false;
        for (const char *p = k; (p = strstr(p, name)) != NULL; p++) {
            size_t n = strlen(name);
            if ((p == k || p[-1] == '+') && (p[n] == '\0' || p[n] == '+')) seen = true;
        }
        if (!seen) {
            size_t used = strlen(k);
            snprintf(k + used, sizeof r->kernels - used, "%s%s", used ? "+" : "", name);
        }
    }
    *count = nlayers;
    return rows;
}

static int slower_first(const void *a, const void *b) {
    const layer_row *x = a, *y = b;
    return x->ms < y->ms ? 1 : x->ms > y->ms ? -1 : x->index - y->index;
}

static double gflops(double flops, double ms) {
    return ms > 0 ? flops / (ms * 1e6) : 0;
}

/* Adds ms and flops to the total named key, creating it. */
typedef struct {
    char key[40];
    double ms, flops;
    int count;
} total;

static void add_total(total *totals, int *n, int cap, const char *key, double ms, double flops) {
    int i = 0;
    while (i < *n && strcmp(totals[i].key, key) != 0)
        i++;
    if (i == *n) {
        if (*n == cap) return;
        snprintf(totals[i].key, sizeof totals[i].key, "%s", key);
        totals[i].ms = totals[i].flops = 0;
        totals[i].count = 0;
        (*n)++;
    }
    totals[i].ms += ms;
    totals[i].flops += flops;
    totals[i].count++;
}

static void print_totals(FILE *out, const char *title, const char *unit, total *totals, int n,
                         double sum, double peak) {
    fprintf(out, "\n%-22s %8s %12s %10s %7s%s\n", title, unit, "device ms", "GFLOP/s", "share",
            peak > 0 ? "  of peak" : "");
    for (int i = 0; i < n; i++) {
        const double rate = gflops(totals[i].flops, totals[i].ms);
        fprintf(out, "%-22s %8d %12.3f %10.1f %6.1f%%", totals[i].key, totals[i].count,
                totals[i].ms, rate, sum > 0 ? 100 * totals[i].ms / sum : 0);
        if (peak > 0) fprintf(out, "  %6.1f%%", 100 * rate / peak);
        fprintf(out, "\n");
    }
}

void cln_profile_print(FILE *out, const cln_model *model, double wall_ms, double peak_gflops) {
    size_t nlayers, nevents;
    const cln_layer_info *layers = cln_model_layers(model, &nlayers);
    const cln_kernel_event *ev = cln_model_profile(model, &nevents);
    layer_row *rows = layer_rows(model, &nlayers);
    if (!rows || nevents == 0) {
        fprintf(out, "no profile recorded\n");
        free(rows);
        return;
    }
    /* totals per layer kind, in execution order: conv by kernel shape, pool,
     * concat, GEMM (fc), other */
    double sum = 0, flops = 0;
    total kinds[16];
    int nk = 0;
    for (size_t i = 0; i < nlayers; i++) {
        const char *kind = layers[i].kind;
        const char *key = strncmp(kind, "conv", 4) == 0  ? kind
                          : strstr(kind, "pool") != NULL ? "pool"
                          : strcmp(kind, "fc") == 0      ? "GEMM (fc)"
                                                         : "other (input)";
        add_total(kinds, &nk, 16, key, rows[i].ms, layers[i].flops);
        sum += rows[i].ms;
        flops += layers[i].flops;
    }
    qsort(rows, nlayers, sizeof *rows, slower_first);
    fprintf(out, "%-30s %-34s %-16s %10s %8s %7s\n", "layer", "kernels", "output NxCxHxW",
            "device ms", "GFLOP/s", "share");
    for (size_t r = 0; r < nlayers; r++) {
        const cln_layer_info *l = &layers[rows[r].index];
        char shape[48], names[sizeof rows[r].kernels];
        snprintf(shape, sizeof shape, "%dx%dx%dx%d", l->n, l->c, l->h, l->w);
        /* a layer computed by another's kernels: its time and work are that one's */
        double work = l->flops;
        for (size_t j = 0; j < nlayers; j++)
            if (layers[j].ran_with == rows[r].index) work += layers[j].flops;
        if (l->ran_with >= 0)
            snprintf(names, sizeof names, "(in %s)", layers[l->ran_with].name);
        else
            snprintf(names, sizeof names, "%s", rows[r].kernels);
        fprintf(out, "%-30s %-34s %-16s %10.3f %8.1f %6.1f%%\n", l->name, names, shape, rows[r].ms,
                gflops(work, rows[r].ms), 100 * rows[r].ms / (sum > 0 ? sum : 1));
    }

    print_totals(out, "per layer kind", "layers", kinds, nk, sum, peak_gflops);
    fprintf(out, "%-22s %8s %12.3f %10s %7s   (no kernel: each branch writes its slice)\n",
            "concat", "-", 0.0, "-", "0.0%");

    total kernels[16];
    int nkern = 0;
    for (size_t e = 0; e < nevents; e++)
        add_total(kernels, &nkern, 16, ev[e].kernel, ev[e].end_ms - ev[e].start_ms, 0);
    fprintf(out, "\n%-22s %8s %12s %7s\n", "per kernel", "launches", "device ms", "share");
    for (int i = 0; i < nkern; i++)
        fprintf(out, "%-22s %8d %12.3f %6.1f%%\n", kernels[i].key, kernels[i].count, kernels[i].ms,
                sum > 0 ? 100 * kernels[i].ms / sum : 0);

    fprintf(out,
            "\nkernel time %.3f ms (%zu launches, %.1f GFLOP, %.1f GFLOP/s) of a forward taking "
            "%.3f ms wall (%.0f%%; the rest is host work, transfers and gaps)\n",
            sum, nevents, flops / 1e9, gflops(flops, sum), wall_ms,
            wall_ms > 0 ? 100 * sum / wall_ms : 0);
    if (peak_gflops > 0)
        fprintf(out,
                "device peak %.1f GFLOP/s (measured FMA rate): the kernels ran at %.1f%% of it, "
                "the whole forward at %.1f%%\n",
                peak_gflops, 100 * gflops(flops, sum) / peak_gflops,
                100 * gflops(flops, wall_ms) / peak_gflops);
    free(rows);
}

cln_status cln_profile_write_csv(const char *path, const cln_model *model, cln_error *err) {
    size_t nlayers;
    const cln_layer_info *layers = cln_model_layers(model, &nlayers);
    layer_row *rows = layer_rows(model, &nlayers);
    if (!rows) return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "out of memory for the profile");
    double sum = 0;
    for (size_t i = 0; i < nlayers; i++)
        sum += rows[i].ms;
    temp_file out;
    cln_status status = temp_file_open(&out, path, err);
    if (status != CLN_OK) {
        free(rows);
        return status;
    }
    FILE *f = out.f;
    fprintf(f, "layer,kind,kernels,launches,n,c,h,w,device_ms,gflop,gflop_per_s,share\n");
    for (size_t i = 0; i < nlayers; i++) {
        const cln_layer_info *l = &layers[i];
        fprintf(f, "%s,%s,%s,%d,%d,%d,%d,%d,%.6f,%.6f,%.3f,%.6f\n", l->name, l->kind,
                rows[i].kernels, rows[i].launches, l->n, l->c, l->h, l->w, rows[i].ms,
                l->flops / 1e9, gflops(l->flops, rows[i].ms), sum > 0 ? rows[i].ms / sum : 0);
    }
    free(rows);
    if (ferror(f)) {
        temp_file_abort(&out);
        return cln_fail(err, CLN_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    }
    return temp_file_commit(&out, err);
}

/* One complete event; times in milliseconds, written in microseconds. */
static int add_event(json_t *list, const char *name, const char *category, int tid, double start_ms,
                     double dur_ms, json_t *args) {
    json_t *e =
        json_pack("{s:s, s:s, s:s, s:i, s:i, s:f, s:f}", "name", name, "cat", category, "ph", "X",
                  "pid", 1, "tid", tid, "ts", start_ms * 1e3, "dur", dur_ms * 1e3);
    if (!e) {
        json_decref(args);
        return -1;
    }
    if (args && json_object_set_new(e, "args", args) != 0) {
        json_decref(e);
        return -1;
    }
    return json_array_append_new(list, e);
}

cln_status cln_profile_write_trace(const char *path, const cln_model *model, const cln_host_phase *phases,
                        size_t phase_count, double forward_start_ms, cln_error *err) {
    size_t nlayers, nevents;
    const cln_layer_info *layers = cln_model_layers(model, &nlayers);
    const cln_kernel_event *ev = cln_model_profile(model, &nevents);
    json_t *root = json_object(), *list = json_array();
    int failed = !root || !list || json_object_set_new(root, "traceEvents", list) != 0;
    if (failed && list && root && !json_object_get(root, "traceEvents")) json_decref(list);
    double origin = phase_count ? phases[0].start_ms : forward_start_ms;
    static const char *const tracks[2] = {"host", "device kernels"};
    for (int t = 0; t < 2 && !failed; t++) /* track names, shown by the viewers */
        failed = json_array_append_new(list, json_pack("{s:s, s:s, s:i, s:i, s:{s:s}}", "name",
                                                       "thread_name", "ph", "M", "pid", 1, "tid",
                                                       t + 1, "args", "name", tracks[t])) != 0;
    for (size_t i = 0; i < phase_count && !failed; i++)
        failed = add_event(list, phases[i].name, "host", 1, phases[i].start_ms - origin,
                           phases[i].end_ms - phases[i].start_ms, NULL) != 0;
    for (size_t e = 0; e < nevents && !failed; e++) {
        const cln_layer_info *l = &layers[ev[e].layer];
        char name[128];
        snprintf(name, sizeof name, "%s: %s", l->name, ev[e].kernel);
        json_t *args =
            json_pack("{s:s, s:s, s:s}", "layer", l->name, "kernel", ev[e].kernel, "kind", l->kind);
        failed =
            !args || add_event(list, name, "kernel", 2, forward_start_ms - origin + ev[e].start_ms,
                               ev[e].end_ms - ev[e].start_ms, args) != 0;
    }
    cln_status status = CLN_OK;
    if (failed) status = cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "out of memory building the trace");
    temp_file out = {0};
    if (status == CLN_OK) status = temp_file_open(&out, path, err);
    if (status == CLN_OK && json_dumpf(root, out.f, JSON_COMPACT) != 0) {
        status = cln_fail(err, CLN_ERR_IO, "%s: cannot write the trace: %s", path, strerror(errno));
        temp_file_abort(&out);
    }
    if (status == CLN_OK) status = temp_file_commit(&out, err);
    json_decref(root);
    return status;
}
