/* Paths from folders and lists, and the worker threads that decode them
 * ahead of the device (stream.h). */
#define _POSIX_C_SOURCE 200809L
#include "stream.h"

#include "../host/error.h"
#include "image.h"

#include <dirent.h>
#include <errno.h>
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

/* The folders being walked, outermost first: a folder met again inside
 * itself (through a link) is a loop. */
typedef struct {
    dev_t dev[WALK_MAX_DEPTH];
    ino_t ino[WALK_MAX_DEPTH];
    int depth;
} walk_stack;

static cln_status walk(path_list *list, const char *dir, walk_stack *stack, size_t *unreadable,
                       cln_error *err) {
    struct stat st;
    if (stat(dir, &st) != 0) return CLN_OK; /* gone since it was listed */
    for (int i = 0; i < stack->depth; i++)
        if (stack->dev[i] == st.st_dev && stack->ino[i] == st.st_ino) {
            fprintf(stderr, "clinception: skipping %s: a link back to a folder it is in\n", dir);
            return CLN_OK;
        }
    if (stack->depth == WALK_MAX_DEPTH) {
        fprintf(stderr, "clinception: skipping %s: more than %d folders deep\n", dir,
                WALK_MAX_DEPTH);
        ++*unreadable;
        return CLN_OK;
    }
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "clinception: cannot read folder %s: %s\n", dir, strerror(errno));
        ++*unreadable;
        return CLN_OK;
    }
    stack->dev[stack->depth] = st.st_dev;
    stack->ino[stack->depth] = st.st_ino;
    stack->depth++;
    cln_status status = CLN_OK;
    const size_t len = strlen(dir);
    struct dirent *e;
    while (status == CLN_OK && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        size_t size = len + strlen(e->d_name) + 2;
        char *path = malloc(size);
        if (!path) {
            status = cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "out of memory listing %s", dir);
            break;
        }
        snprintf(path, size, "%s%s%s", dir, len && dir[len - 1] == '/' ? "" : "/", e->d_name);
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            status = walk(list, path, stack, unreadable, err);
        else if (path_is_image(e->d_name))
            status = add_path(list, path, err); /* a broken link too: reported when decoded */
        free(path);
    }
    closedir(d);
    stack->depth--;
    return status;
}

static int compare_paths(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

cln_status paths_add_argument(path_list *list, const char *arg, size_t *unreadable,
                              cln_error *err) {
    struct stat st;
    if (stat(arg, &st) != 0 || !S_ISDIR(st.st_mode)) return add_path(list, arg, err);
    const size_t first = list->count;
    walk_stack *stack = malloc(sizeof *stack);
    if (!stack) return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "out of memory listing %s", arg);
    stack->depth = 0;
    cln_status status = walk(list, arg, stack, unreadable, err);
    free(stack);
    if (status == CLN_OK)
        qsort(list->paths + first, list->count - first, sizeof *list->paths, compare_paths);
    return status;
}

cln_status paths_add_list_file(path_list *list, const char *file, size_t *unreadable,
                               cln_error *err) {
    const bool standard_input = strcmp(file, "-") == 0;
    FILE *f = standard_input ? stdin : fopen(file, "r");
    if (!f) return cln_fail(err, CLN_ERR_IO, "cannot open list %s: %s", file, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    cln_status status = CLN_OK;
    while (status == CLN_OK && (got = getline(&line, &cap, f)) >= 0) {
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
            line[--got] = '\0';
        if (got == 0) continue;
        if (strlen(line) != (size_t)got)
            status = cln_fail(err, CLN_ERR_FORMAT, "list %s holds a NUL byte: not a list of paths",
                              standard_input ? "on standard input" : file);
        else
            status = paths_add_argument(list, line, unreadable, err);
    }
    if (status == CLN_OK && ferror(f))
        status = cln_fail(err, CLN_ERR_IO, "cannot read list %s: %s", file, strerror(errno));
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
        if (st == CLN_OK)
            st = image_preprocess(&img, s->resize, s->crop,
                                  s->pixels + (i % s->slot_count) * s->per_image, &slot->error);
        image_free(&img);
        pthread_mutex_lock(&s->lock);
        slot->status = st;
        slot->state = SLOT_READY;
        pthread_cond_broadcast(&s->changed);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

cln_status image_stream_start(image_stream *s, const path_list *paths, int resize, int crop,
                              int workers, size_t slot_count, cln_error *err) {
    memset(s, 0, sizeof *s);
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
