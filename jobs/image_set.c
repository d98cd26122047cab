/* Image sets (paths from files, folders and lists) and the stream whose
 * worker threads decode and preprocess them ahead of the device, into a
 * bounded ring of slots taken in input order. */
#define _POSIX_C_SOURCE 200809L
#include "../include/clinception.h"

#include "../common/error.h"

#include <pthread.h>

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define WALK_MAX_DEPTH 256 /* folders inside folders; deeper ones are reported and skipped */

#define DEFAULT_MAX_WORKERS 4 /* decoding threads by default, at most one per CPU */
#define DEFAULT_SLOTS 16

struct cln_image_set {
    char **paths; /* malloc'd copies */
    size_t count, cap;
    size_t unreadable; /* folders that could not be read */
    cln_warning_fn warn;
    void *warn_ctx;
};

typedef enum { SLOT_FREE, SLOT_BUSY, SLOT_READY } slot_state;

struct image_slot {
    slot_state state;
    size_t index;      /* the image it holds */
    cln_status status; /* of decoding it */
    cln_error error;
};

struct cln_image_stream {
    const char *const *paths;
    size_t count;
    cln_preprocess preprocess;
    int resize, crop;
    size_t per_image; /* floats: 3 x crop x crop */
    size_t slot_count;
    float *pixels; /* slot_count x per_image */
    struct image_slot *slots;
    size_t claimed; /* images handed to workers so far */
    size_t taken;   /* images taken by the consumer so far */
    bool stopping;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    pthread_t *workers;
    int worker_count;
};

/* Tells the set's listener what was skipped, its paths' control characters
 * escaped as every message's are. */
__attribute__((format(printf, 2, 3))) static void note(const cln_image_set *set,
                                                       const char *fmt, ...) {
    if (!set->warn) return;
    cln_error message;
    va_list ap;
    va_start(ap, fmt);
    cln_failv(&message, CLN_OK, fmt, ap);
    va_end(ap);
    set->warn(set->warn_ctx, message.message);
}

bool cln_path_is_image(const char *name) {
    static const char *const extensions[] = {".jpg", ".jpeg", ".png", ".bmp", ".gif"};
    const char *dot = strrchr(name, '.');
    if (!dot || strchr(dot, '/')) return false;
    for (size_t i = 0; i < sizeof extensions / sizeof extensions[0]; i++)
        if (strcasecmp(dot, extensions[i]) == 0) return true;
    return false;
}

static cln_status add_path(cln_image_set *list, const char *path, cln_error *err) {
    if (list->count == list->cap) {
        size_t cap = list->cap ? 2 * list->cap : 256;
        char **grown = realloc(list->paths, cap * sizeof *grown);
        if (!grown) return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "out of memory listing images");
        list->paths = grown;
        list->cap = cap;
    }
    char *copy = strdup(path);
    if (!copy) return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "out of memory listing images");
    list->paths[list->count++] = copy;
    return CLN_OK;
}

/* The folders walked so far, by device and inode in an open-addressing
 * table: a folder met again (through a link: a loop, or two links to one
 * folder) is not walked twice. */
typedef struct {
    dev_t *dev;
    ino_t *ino;
    bool *used;
    size_t cap, count;
    int depth; /* of the folder being walked */
} walk_state;

static size_t slot_of(const walk_state *w, dev_t dev, ino_t ino) {
    size_t h = ((size_t)ino * 0x9E3779B97F4A7C15ull) ^ (size_t)dev;
    size_t i = h & (w->cap - 1);
    while (w->used[i] && !(w->dev[i] == dev && w->ino[i] == ino))
        i = (i + 1) & (w->cap - 1);
    return i;
}

/* Records a folder; *first is false if it was walked already. */
static cln_status visit(walk_state *w, dev_t dev, ino_t ino, bool *first, cln_error *err) {
    if (2 * (w->count + 1) > w->cap) { /* keep the table at most half full */
        walk_state grown = {.cap = w->cap ? 2 * w->cap : 1024, .depth = w->depth};
        grown.dev = malloc(grown.cap * sizeof *grown.dev);
        grown.ino = malloc(grown.cap * sizeof *grown.ino);
        grown.used = calloc(grown.cap, sizeof *grown.used);
        if (!grown.dev || !grown.ino || !grown.used) {
            free(grown.dev);
            free(grown.ino);
            free(grown.used);
            return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "out of memory listing folders");
        }
        for (size_t i = 0; i < w->cap; i++)
            if (w->used[i]) {
                size_t j = slot_of(&grown, w->dev[i], w->ino[i]);
                grown.used[j] = true;
                grown.dev[j] = w->dev[i];
                grown.ino[j] = w->ino[i];
                grown.count++;
            }
        free(w->dev);
        free(w->ino);
        free(w->used);
        *w = grown;
    }
    size_t i = slot_of(w, dev, ino);
    *first = !w->used[i];
    if (*first) {
        w->used[i] = true;
        w->dev[i] = dev;
        w->ino[i] = ino;
        w->count++;
    }
    return CLN_OK;
}

static int compare_paths(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static cln_status walk(cln_image_set *list, const char *dir, walk_state *state, cln_error *err) {
    struct stat st;
    if (stat(dir, &st) != 0) return CLN_OK; /* gone since it was listed */
    bool first;
    cln_status status = visit(state, st.st_dev, st.st_ino, &first, err);
    if (status != CLN_OK) return status;
    if (!first) {
        note(list, "%s: skipped: a link to a folder walked already", dir);
        return CLN_OK;
    }
    if (state->depth == WALK_MAX_DEPTH) {
        note(list, "%s: skipped: more than %d folders deep", dir, WALK_MAX_DEPTH);
        list->unreadable++;
        return CLN_OK;
    }
    DIR *d = opendir(dir);
    if (!d) {
        note(list, "%s: cannot read the folder: %s", dir, strerror(errno));
        list->unreadable++;
        return CLN_OK;
    }
    /* the entries in sorted order, so that of two links to one folder the
     * first in path order is the one walked */
    char **names = NULL;
    size_t count = 0, cap = 0;
    struct dirent *e;
    while (status == CLN_OK && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (count == cap) {
            cap = cap ? 2 * cap : 64;
            char **grown = realloc(names, cap * sizeof *names);
            if (!grown) {
                status = cln_fail(err, CLN_ERR_OUT_OF_MEMORY,
                                  "%s: cannot list the folder: out of memory", dir);
                break;
            }
            names = grown;
        }
        if (!(names[count] = strdup(e->d_name)))
            status = cln_fail(err, CLN_ERR_OUT_OF_MEMORY,
                              "%s: cannot list the folder: out of memory", dir);
        else
            count++;
    }
    closedir(d);
    if (status == CLN_OK) qsort(names, count, sizeof *names, compare_paths);
    state->depth++;
    const size_t len = strlen(dir);
    for (size_t k = 0; k < count && status == CLN_OK; k++) {
        size_t size = len + strlen(names[k]) + 2;
        char *path = malloc(size);
        if (!path) {
            status = cln_fail(err, CLN_ERR_OUT_OF_MEMORY,
                              "%s: cannot list the folder: out of memory", dir);
            break;
        }
        snprintf(path, size, "%s%s%s", dir, len && dir[len - 1] == '/' ? "" : "/", names[k]);
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            status = walk(list, path, state, err);
        else if (cln_path_is_image(names[k]))
            status =
                add_path(list, path, err); /* not regular, or a broken link: refused when read */
        free(path);
    }
    for (size_t k = 0; k < count; k++)
        free(names[k]);
    free(names);
    state->depth--;
    return status;
}

cln_status cln_image_set_create(cln_warning_fn warn, void *ctx, cln_image_set **out,
                                cln_error *err) {
    *out = calloc(1, sizeof **out);
    if (!*out) return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "out of memory for an image set");
    (*out)->warn = warn;
    (*out)->warn_ctx = ctx;
    return CLN_OK;
}

size_t cln_image_set_count(const cln_image_set *set) {
    return set->count;
}

const char *const *cln_image_set_paths(const cln_image_set *set) {
    return (const char *const *)set->paths;
}

size_t cln_image_set_unreadable(const cln_image_set *set) {
    return set->unreadable;
}

cln_status cln_image_set_add(cln_image_set *list, const char *arg, cln_error *err) {
    struct stat st;
    if (stat(arg, &st) != 0 || !S_ISDIR(st.st_mode)) return add_path(list, arg, err);
    const size_t first = list->count;
    walk_state state = {0};
    cln_status status = walk(list, arg, &state, err);
    free(state.dev);
    free(state.ino);
    free(state.used);
    if (status == CLN_OK)
        qsort(list->paths + first, list->count - first, sizeof *list->paths, compare_paths);
    return status;
}

cln_status cln_image_set_add_list(cln_image_set *list, const char *file, cln_error *err) {
    const bool standard_input = strcmp(file, "-") == 0;
    FILE *f = standard_input ? stdin : fopen(file, "r");
    if (!f) return cln_fail(err, CLN_ERR_IO, "%s: cannot open the list: %s", file, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    cln_status status = CLN_OK;
    for (bool first = true; status == CLN_OK && (got = getline(&line, &cap, f)) >= 0;
         first = false) {
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
            line[--got] = '\0';
        /* a byte-order mark before the first path is no part of it */
        const size_t bom = first && got >= 3 && memcmp(line, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
        if (got - (ssize_t)bom == 0) continue;
        if (strlen(line) != (size_t)got)
            status =
                cln_fail(err, CLN_ERR_FORMAT, "%s: the list holds a NUL byte: not a list of paths",
                         standard_input ? "standard input" : file);
        else
            status = cln_image_set_add(list, line + bom, err);
    }
    if (status == CLN_OK && ferror(f))
        status = cln_fail(err, CLN_ERR_IO, "%s: cannot read the list: %s",
                          standard_input ? "standard input" : file, strerror(errno));
    free(line);
    if (!standard_input) fclose(f);
    return status;
}

void cln_image_set_free(cln_image_set *list) {
    if (!list) return;
    for (size_t i = 0; i < list->count; i++)
        free(list->paths[i]);
    free(list->paths);
    free(list);
}

/* ---- The stream -------------------------------------------------------- */

static void *worker(void *arg) {
    cln_image_stream *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (!s->stopping && s->claimed < s->count &&
               s->slots[s->claimed % s->slot_count].state != SLOT_FREE)
            pthread_cond_wait(&s->changed, &s->lock);
        if (s->stopping || s->claimed >= s->count) break;
        const size_t i = s->claimed++;
        struct image_slot *slot = &s->slots[i % s->slot_count];
        slot->state = SLOT_BUSY;
        slot->index = i;
        pthread_mutex_unlock(&s->lock);
        cln_image img = {0};
        cln_status st = cln_image_load(s->paths[i], &img, &slot->error);
        float *pixels = s->pixels + (i % s->slot_count) * s->per_image;
        if (st == CLN_OK)
            st = s->preprocess == CLN_PREPROCESS_FID
                     ? cln_image_preprocess_fid(&img, s->crop, pixels, &slot->error)
                     : cln_image_preprocess(&img, s->resize, s->crop, pixels, &slot->error);
        cln_image_free(&img);
        pthread_mutex_lock(&s->lock);
        slot->status = st;
        slot->state = SLOT_READY;
        pthread_cond_broadcast(&s->changed);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

cln_stream_params cln_stream_default_params(void) {
    return (cln_stream_params){.preprocess = CLN_PREPROCESS_TORCHVISION, .resize = 342, .crop = 299};
}

cln_status cln_image_stream_start(const char *const *paths, size_t count,
                                  const cln_stream_params *params, cln_image_stream **out,
                                  cln_error *err) {
    *out = NULL;
    const cln_stream_params p = params ? *params : cln_stream_default_params();
    if (p.crop < 1 || p.crop > CLN_IMAGE_MAX_CROP ||
        (p.preprocess == CLN_PREPROCESS_TORCHVISION &&
         (p.resize < 1 || p.resize > CLN_IMAGE_MAX_RESIZE)) ||
        (p.preprocess != CLN_PREPROCESS_TORCHVISION && p.preprocess != CLN_PREPROCESS_FID))
        return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                        "an image stream of resize %d and crop %d: resize from 1 to %d, crop "
                        "from 1 to %d",
                        p.resize, p.crop, CLN_IMAGE_MAX_RESIZE, CLN_IMAGE_MAX_CROP);
    int workers = p.workers;
    if (workers < 1) {
        const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        workers = cpus < 1 ? 1 : cpus > DEFAULT_MAX_WORKERS ? DEFAULT_MAX_WORKERS : (int)cpus;
    }
    size_t slot_count = p.slots ? p.slots : DEFAULT_SLOTS;
    if (slot_count < (size_t)workers + 1) slot_count = (size_t)workers + 1;
    const size_t per_image = 3 * (size_t)p.crop * p.crop;
    if (slot_count > SIZE_MAX / sizeof(float) / per_image)
        return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                        "an image stream of %zu slots of %d x %d images: more than memory holds",
                        slot_count, p.crop, p.crop);
    cln_image_stream *s = calloc(1, sizeof *s);
    if (!s) return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "out of memory for an image stream");
    s->preprocess = p.preprocess;
    s->paths = paths;
    s->count = count;
    s->resize = p.resize;
    s->crop = p.crop;
    s->per_image = per_image;
    s->slot_count = slot_count;
    s->pixels = malloc(slot_count * s->per_image * sizeof *s->pixels);
    s->slots = calloc(slot_count, sizeof *s->slots);
    s->workers = calloc((size_t)workers, sizeof *s->workers);
    if (!s->pixels || !s->slots || !s->workers) {
        free(s->pixels);
        free(s->slots);
        free(s->workers);
        free(s);
        return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "out of memory for %zu decoded images",
                        slot_count);
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->changed, NULL);
    for (int i = 0; i < workers; i++) {
        int rc = pthread_create(&s->workers[i], NULL, worker, s);
        if (rc != 0) {
            cln_image_stream_free(s);
            return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "cannot start a decoding thread: %s",
                            strerror(rc));
        }
        s->worker_count++;
    }
    *out = s;
    return CLN_OK;
}

bool cln_image_stream_next(cln_image_stream *s, size_t *index, const float **pixels,
                           cln_error *err) {
    pthread_mutex_lock(&s->lock);
    if (s->taken >= s->count) {
        pthread_mutex_unlock(&s->lock);
        return false;
    }
    struct image_slot *slot = &s->slots[s->taken % s->slot_count];
    while (!(slot->state == SLOT_READY && slot->index == s->taken))
        pthread_cond_wait(&s->changed, &s->lock);
    *index = s->taken++;
    *pixels = NULL;
    if (slot->status == CLN_OK)
        *pixels = s->pixels + (*index % s->slot_count) * s->per_image;
    else if (err)
        *err = slot->error;
    pthread_mutex_unlock(&s->lock);
    return true;
}

void cln_image_stream_release(cln_image_stream *s) {
    pthread_mutex_lock(&s->lock);
    if (s->taken > 0) s->slots[(s->taken - 1) % s->slot_count].state = SLOT_FREE;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
}

void cln_image_stream_free(cln_image_stream *s) {
    if (!s) return;
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
    for (int i = 0; i < s->worker_count; i++)
        pthread_join(s->workers[i], NULL);
    pthread_cond_destroy(&s->changed);
    pthread_mutex_destroy(&s->lock);
    free(s->pixels);
    free(s->slots);
    free(s->workers);
    free(s);
}
