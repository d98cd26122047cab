/* Many images for classify, features and fid (cli.h): the set of the
 * arguments and lists, and the library's run of it over the session's
 * devices, spread over ranks for clinception-mpi (batch k of the run on
 * rank k mod R, rank 0 taking every rank's outputs in input order), with
 * progress and a summary on stderr. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include "cluster.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROGRESS_EVERY_MS 1000.0

static void print_warning(void *ctx, const char *message) {
    (void)ctx;
    fprintf(stderr, "clinception: %s\n", message);
}

cln_status new_image_set(cln_image_set **out, cln_error *err) {
    return cln_image_set_create(print_warning, NULL, out, err);
}

cln_status outputs_not_inputs(const char *const *outputs, size_t count, const cln_image_set *set,
                              const char *list, cln_error *err) {
    cln_status st = CLN_OK;
    for (size_t i = 0; i < count && st == CLN_OK; i++)
        if (outputs[i] && (st = cln_check_output(outputs[i], cln_image_set_paths(set),
                                                 cln_image_set_count(set), err)) == CLN_OK)
            st = cln_check_output(outputs[i], &list, 1, err);
    return st;
}

cln_status list_images(const image_args *ia, int argc, char **argv, const char *const *outputs,
                       size_t output_count, cln_image_set *set, cln_error *err) {
    cln_status st = CLN_OK;
    for (int i = optind; i < argc && st == CLN_OK; i++)
        st = cln_image_set_add(set, argv[i], err);
    if (st == CLN_OK && ia->files_from) st = cln_image_set_add_list(set, ia->files_from, err);
    if (st == CLN_OK) st = outputs_not_inputs(outputs, output_count, set, ia->files_from, err);
    if (st == CLN_OK && cln_image_set_count(set) == 0)
        st = cln_error_set(err, CLN_ERR_INVALID_ARGUMENT,
                           "no images: the folders and lists given hold no file with an image "
                           "extension%s",
                           cln_image_set_unreadable(set) ? " that could be read" : "");
    return st;
}

static void print_progress(size_t done, size_t total, double elapsed_ms, bool terminal) {
    const double rate = elapsed_ms > 0 ? 1000.0 * (double)done / elapsed_ms : 0;
    char eta[32] = "?";
    if (rate > 0) snprintf(eta, sizeof eta, "%.0f s", (double)(total - done) / rate);
    fprintf(stderr, "%s%zu/%zu images, %.1f images/s, %s left%s", terminal ? "\r" : "", done, total,
            rate, eta, terminal ? "   " : "\n");
    fflush(stderr);
}

/* run_images' state, shared with the library's callbacks. */
typedef struct {
    const common_args *a;
    session *s;
    const char *const *paths; /* every image of the run */
    size_t count;
    const char **mine; /* this rank's: its batches of paths (all of them on one rank) */
    size_t mine_count;
    size_t *global;  /* the index in paths of each of mine */
    common_args reported; /* --profile, --csv and --trace: of the first batch */
    batch_sink *sink;
    size_t done, failures, batches_emitted;
    size_t *items;      /* a batch's indices in the run */
    const char **names; /* a batch's paths, for the sink */
    int crop, batch;
    bool progress, terminal;
    double start, shown;
} image_run;

/* An image that cannot be read: named on stderr and counted. */
static void image_failed(void *ctx, size_t index, const cln_error *why) {
    image_run *r = ctx;
    (void)index;
    if (r->progress && r->terminal) fputc('\n', stderr);
    fprintf(stderr, "clinception: %s\n", why->message);
    r->failures++;
    r->done++;
}

/* A batch on device d, on that device's thread. */
static cln_status run_batch(void *ctx, int d, cln_model *model, const float *input, int n, int h,
                            int w, float *out, cln_error *err) {
    (void)model;
    image_run *r = ctx;
    /* torchvision's preprocessing does transform_input itself; pytorch-fid's
     * leaves its 2x - 1 to the FID Inception's input transform */
    cln_forward_options fwd = r->a->fwd;
    fwd.transform_input = r->a->network == CLN_NETWORK_FID;
    const cln_status st =
        forward_on(d == 0 ? &r->reported : r->a, r->s, d, input, n, h, w, fwd, out, NULL, err);
    if (d == 0) {
        r->reported.profile = false; /* only the first batch is profiled */
        r->reported.csv = r->reported.trace = NULL;
    }
    return st;
}

/* One batch into the sink, its images by their index in the run. */
static cln_status sink_batch(image_run *r, const size_t *items, int n, const float *out,
                             cln_error *err) {
    for (int i = 0; i < n; i++)
        r->names[i] = r->paths[items[i]];
    cln_status st = r->sink->emit(r->sink, r->names, n, out, err);
    if (st != CLN_OK) return st;
    fflush(stdout);
    r->done += (size_t)n;
    const double now = now_ms();
    if (r->progress && now - r->shown >= PROGRESS_EVERY_MS) {
        print_progress(r->done, r->count, now - r->start, r->terminal);
        r->shown = now;
    }
    return CLN_OK;
}

/* Over several ranks, run batch k is rank k % R's: round j holds batch
 * j * R + r of each rank r, and every round has rank 0's. */
static bool rank_has_batch(const image_run *r, size_t round, int rank) {
    const size_t batches = (r->count + (size_t)r->batch - 1) / (size_t)r->batch;
    return round * (size_t)cluster_ranks() + (size_t)rank < batches;
}

/* Rank 0: rank `from`'s next batch, into the sink. */
static cln_status receive_batch(image_run *r, int from, cln_error *err) {
    void *message;
    int n;
    const float *out;
    cln_status st = cluster_receive_batch(from, r->batch, r->count, r->sink->out_floats, &message,
                                          r->items, &n, &out, err);
    if (st != CLN_OK) return st;
    st = sink_batch(r, r->items, n, out, err);
    free(message);
    return st;
}

static cln_status emit_batch(void *ctx, const size_t *indices, int n, const float *out,
                             cln_error *err) {
    image_run *r = ctx;
    size_t items[n > 0 ? n : 1];
    for (int i = 0; i < n; i++)
        items[i] = r->global[indices[i]];
    if (cluster_ranks() == 1 || r->sink->local) return sink_batch(r, items, n, out, err);
    if (cluster_rank() > 0) {
        cluster_send_batch(items, n, out, r->sink->out_floats);
        return CLN_OK;
    }
    /* rank 0: its batch of this round, then the others' */
    cln_status st = sink_batch(r, items, n, out, err);
    for (int from = 1; from < cluster_ranks() && st == CLN_OK; from++)
        if (rank_has_batch(r, r->batches_emitted, from)) st = receive_batch(r, from, err);
    r->batches_emitted++;
    return st;
}

/* This rank's images: over one rank, all; over several, batch k of the run
 * when k % R is this rank. */
static bool take_my_images(image_run *r) {
    const size_t ranks = (size_t)cluster_ranks();
    r->mine = malloc((r->count ? r->count : 1) * sizeof *r->mine);
    r->global = malloc((r->count ? r->count : 1) * sizeof *r->global);
    if (!r->mine || !r->global) return false;
    for (size_t i = 0; i < r->count; i++)
        if ((i / (size_t)r->batch) % ranks == (size_t)cluster_rank()) {
            r->global[r->mine_count] = i;
            r->mine[r->mine_count++] = r->paths[i];
        }
    return true;
}

/* After the batches, over several ranks: each other rank's failures (and
 * a local sink's state) to rank 0. */
static cln_status gather_ranks(image_run *r, cln_error *err) {
    if (cluster_ranks() == 1) return CLN_OK;
    if (cluster_rank() > 0) {
        void *state = NULL;
        size_t state_size = 0;
        if (r->sink->local && r->sink->pack(r->sink, &state, &state_size, err) != CLN_OK)
            return err->status;
        cluster_send_results(r->failures + r->sink->failures, state, state_size);
        free(state);
        return CLN_OK;
    }
    cln_status st = CLN_OK;
    for (int from = 1; from < cluster_ranks() && st == CLN_OK; from++) {
        void *message;
        const void *state;
        size_t failures, state_size;
        st = cluster_receive_results(from, &failures, &message, &state, &state_size, err);
        if (st != CLN_OK) break;
        r->failures += failures;
        r->done += failures;
        if (r->sink->local) st = r->sink->merge(r->sink, state, state_size, err);
        free(message);
    }
    return st;
}

cln_status run_images(const char *command, const common_args *a, session *s, const image_args *ia,
                      const cln_image_set *set, batch_sink *sink, bool *all_read, cln_error *err) {
    image_run r = {.a = a, .s = s, .sink = sink};
    r.paths = cln_image_set_paths(set);
    r.count = cln_image_set_count(set);
    r.crop = (int)ia->crop;
    r.batch = (int)ia->batch;
    r.terminal = isatty(STDERR_FILENO);
    r.progress = (ia->progress || r.terminal) && cluster_rank() == 0;
    r.reported = *a;
    *all_read = false;
    cln_status st = CLN_OK;
    size_t *images = calloc((size_t)s->devices, sizeof *images);
    r.names = malloc((size_t)r.batch * sizeof *r.names);
    r.items = malloc((size_t)r.batch * sizeof *r.items);
    if (!images || !r.names || !r.items || !take_my_images(&r)) {
        st = cln_error_set(err, CLN_ERR_OUT_OF_MEMORY, "out of memory listing the images");
        goto done;
    }
    cln_run_params p = cln_run_default_params();
    p.layer = s->layer;
    p.forward = a->fwd;
    p.batch = r.batch;
    p.stream.preprocess =
        a->network == CLN_NETWORK_FID ? CLN_PREPROCESS_FID : CLN_PREPROCESS_TORCHVISION;
    p.stream.resize = (int)ia->resize;
    p.stream.crop = r.crop;
    p.stream.workers = (int)ia->workers;
    p.stream.slots = 2 * (size_t)r.batch;
    p.exact_batches = cluster_ranks() > 1;
    p.on_batch = emit_batch;
    p.on_failure = image_failed;
    p.run = run_batch;
    p.ctx = &r;
    /* over several ranks, first: every rank sees this run (the same paths,
     * preprocessing and model), else batches would go missing or differ */
    uint64_t paths = FNV_START;
    for (size_t i = 0; i < r.count; i++)
        paths = fnv1a(paths, r.paths[i], strlen(r.paths[i]) + 1);
    const int preprocessing[3] = {(int)p.stream.preprocess, p.stream.resize, p.stream.crop};
    st = agree_on_run(a, s, r.count, paths, fnv1a(FNV_START, preprocessing, sizeof preprocessing),
                      err);
    if (st != CLN_OK) goto done;
    r.start = r.shown = now_ms();
    st = cln_pool_run_images(s->pool, r.mine, r.mine_count, &p, images, err);
    if (st == CLN_OK) st = gather_ranks(&r, err);
    if (r.progress && r.terminal) fputc('\n', stderr);
    if (st != CLN_OK) goto done;
    sink->completed = true;
    const size_t failures = r.failures + sink->failures;
    const size_t unreadable = cln_image_set_unreadable(set);
    *all_read = !failures && !unreadable;
    if (cluster_rank() > 0) goto done; /* rank 0 reports the run */
    if (r.progress) print_progress(r.done, r.count, now_ms() - r.start, r.terminal);
    if (r.progress && r.terminal) fputc('\n', stderr);
    const double seconds = (now_ms() - r.start) / 1000.0;
    fprintf(stderr, "%s: %zu images, %zu failed, %.1f s, %.2f images/s", command, r.count,
            failures, seconds, seconds > 0 ? (double)(r.count - failures) / seconds : 0.0);
    if (unreadable) fprintf(stderr, "; %zu folders could not be read", unreadable);
    if (cluster_ranks() > 1) fprintf(stderr, " over %d ranks", cluster_ranks());
    fputc('\n', stderr);
    if (s->devices > 1) report_shares(s, images);
done:
    free(images);
    free(r.names);
    free(r.items);
    free(r.mine);
    free(r.global);
    return st;
}
