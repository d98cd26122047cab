/* Paths from folders and lists, and the worker threads that decode them
 * ahead of the device (stream.h). */
#define _POSIX_C_SOURCE 200809L
#include "stream.h"

#include "../common/error.h"
#include "image.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define WALK_MAX_DEPTH 256 /* folders inside folders; deeper ones are reported and skipped */

struct image_slot {
    slot_state state;
    size_t index;      /* the image it holds */
    cln_status status; /* of decoding it */
    cln_error error;
};

void stream_note(const char *fmt, ...) {
    cln_error note;
    va_list ap;
    va_start(ap, fmt);
    cln_failv(&note, CLN_OK, fmt, ap);
    va_end(ap);
    fprintf(stderr, "clinception: %s\n", note.message);
}

bool path_is_image(const char *name) {
    static const char *const extensions[] = {".jpg", ".jpeg", ".png", ".bmp", ".gif"};
    const char *dot = strrchr(name, '.');
    if (!dot || strchr(dot, '/')) return false;
    for (size_t i = 0; i < sizeof extensions / sizeof extensions[0]; i++)
        if (strcasecmp(dot, extensions[i]) == 0) return true;
    return false;
}

static cln_status add_path(path_list *list, const char *path, cln_error *err) {
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

static cln_status walk(path_list *list, const char *dir, walk_state *state, size_t *unreadable,
                       cln_error *err) {
    struct stat st;
    if (stat(dir, &st) != 0) return CLN_OK; /* gone since it was listed */
    bool first;
    cln_status status = visit(state, st.st_dev, st.st_ino, &first, err);
    if (status != CLN_OK) return status;
    if (!first) {
        stream_note("%s: skipped: a link to a folder walked already", dir);
        return CLN_OK;
    }
    if (state->depth == WALK_MAX_DEPTH) {
        stream_note("%s: skipped: more than %d folders deep", dir, WALK_MAX_DEPTH);
        ++*unreadable;
        return CLN_OK;
    }
    DIR *d = opendir(dir);
    if (!d) {
        stream_note("%s: cannot read the folder: %s", dir, strerror(errno));
        ++*unreadable;
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
            status = walk(list, path, state, unreadable, err);
        else if (path_is_image(names[k]))
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

cln_status paths_add_argument(path_list *list, const char *arg, size_t *unreadable,
                              cln_error *err) {
    struct stat st;
    if (stat(arg, &st) != 0 || !S_ISDIR(st.st_mode)) return add_path(list, arg, err);
    const size_t first = list->count;
    walk_state state = {0};
    cln_status status = walk(list, arg, &state, unreadable, err);
    free(state.dev);
    free(state.ino);
    free(state.used);
    if (status == CLN_OK)
        qsort(list->paths + first, list->count - first, sizeof *list->paths, compare_paths);
    return status;
}

cln_status paths_add_list_file(path_list *list, const char *file, size_t *unreadable,
                               cln_error *err) {
    const bool standard_input = strcmp(file, "-") == 0;
    FILE *f = standard_input ? stdin : fopen(file, "r");
    if (!f) return cln_fail(err, CLN_ERR_IO, "%s: cannot open the list: %s", file, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    cln_status status = CLN_OK;
    while (status == CLN_OK && (got = getline(&line, &cap, f)) >= 0) {
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
            line[--got] = '\0';
        if (got == 0) continue;
        if (strlen(line) != (size_t)got)
            status =
                cln_fail(err, CLN_ERR_FORMAT, "%s: the list holds a NUL byte: not a list of paths",
                         standard_input ? "standard input" : file);
        else
            status = paths_add_argument(list, line, unreadable, err);
    }
    if (status == CLN_OK && ferror(f))
        status = cln_fail(err, CLN_ERR_IO, "%s: cannot read the list: %s",
                          standard_input ? "standard input" : file, strerror(errno));
    free(line);
    if (!standard_input) fclose(f);
    return status;
}

void paths_free(path_list *list) {
    for (size_t i = 0; i < list->count; i++)
        free(list->paths[i]);
    free(list->paths);
    memset(list, 0, sizeof *list);
}

/* ---- The stream -------------------------------------------------------- */

static void *worker(void *arg) {
    image_stream *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (!s->stopping && s->claimed < s->paths->count &&
               s->slots[s->claimed % s->slot_count].state != SLOT_FREE)
            pthread_cond_wait(&s->changed, &s->lock);
        if (s->stopping || s->claimed >= s->paths->count) break;
        const size_t i = s->claimed++;
        struct image_slot *slot = &s->slots[i % s->slot_count];
        slot->state = SLOT_BUSY;
        slot->index = i;
        pthread_mutex_unlock(&s->lock);
        rgb_image img = {0};
        cln_status st = image_load(s->paths->paths[i], &img, &slot->error);
        float *pixels = s->pixels + (i % s->slot_count) * s->per_image;
        if (st == CLN_OK)
            st = s->pipeline == PIPELINE_FID
                     ? image_preprocess_fid(&img, s->crop, pixels, &slot->error)
                     : image_preprocess(&img, s->resize, s->crop, pixels, &slot->error);
        image_free(&img);
        pthread_mutex_lock(&s->lock);
        slot->status = st;
        slot->state = SLOT_READY;
        pthread_cond_broadcast(&s->changed);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

cln_status image_stream_start(image_stream *s, const path_list *paths, image_pipeline pipeline,
                              int resize, int crop, int workers, size_t slot_count,
                              cln_error *err) {
    memset(s, 0, sizeof *s);
    s->pipeline = pipeline;
    if (workers < 1) workers = 1;
    if (slot_count < (size_t)workers + 1) slot_count = (size_t)workers + 1;
    s->paths = paths;
    s->resize = resize;
    s->crop = crop;
    s->per_image = 3 * (size_t)crop * crop;
    s->slot_count = slot_count;
    s->pixels = malloc(slot_count * s->per_image * sizeof *s->pixels);
    s->slots = calloc(slot_count, sizeof *s->slots);
    s->workers = calloc((size_t)workers, sizeof *s->workers);
    if (!s->pixels || !s->slots || !s->workers) {
        free(s->pixels);
        free(s->slots);
        free(s->workers);
        memset(s, 0, sizeof *s);
        return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "out of memory for %zu decoded images",
                        slot_count);
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->changed, NULL);
    for (int i = 0; i < workers; i++) {
        int rc = pthread_create(&s->workers[i], NULL, worker, s);
        if (rc != 0) {
            image_stream_stop(s);
            return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "cannot start a decoding thread: %s",
                            strerror(rc));
        }
        s->worker_count++;
    }
    return CLN_OK;
}

bool image_stream_next(image_stream *s, size_t *index, const float **pixels, cln_error *err) {
    pthread_mutex_lock(&s->lock);
    if (s->taken >= s->paths->count) {
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
    else
        *err = slot->error;
    pthread_mutex_unlock(&s->lock);
    return true;
}

void image_stream_release(image_stream *s) {
    pthread_mutex_lock(&s->lock);
    if (s->taken > 0) s->slots[(s->taken - 1) % s->slot_count].state = SLOT_FREE;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
}

void image_stream_stop(image_stream *s) {
    if (!s->slots) return;
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
    memset(s, 0, sizeof *s);
}
