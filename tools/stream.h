/* Many images: the paths of arguments, folders and lists, and a stream that
 * decodes and preprocesses them on worker threads, ahead of the device, into
 * a bounded ring of slots taken in input order. */
#ifndef CLN_STREAM_H
#define CLN_STREAM_H

#include "../include/clinception.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

/* Prints "clinception: MESSAGE" on stderr, with the control characters of
 * the paths in it escaped as the library's messages are (a file name can
 * hold a terminal escape sequence). */
void stream_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

typedef struct {
    char **paths; /* malloc'd copies */
    size_t count, cap;
} path_list;

/* Whether a file name ends in the extension of an image image_load reads
 * (.jpg, .jpeg, .png, .bmp, .gif; case-insensitive). */
bool path_is_image(const char *name);

/* Adds arg: a folder's image files (path_is_image), walked recursively
 * (symbolic links followed, a folder reached twice walked once, the first
 * time in path order), in sorted path order; anything else as it is (a file that is not there is
 * the decoder's to report). A folder that cannot be read is reported on
 * stderr and counted in *unreadable. Fails only when out of memory. */
cln_status paths_add_argument(path_list *list, const char *arg, size_t *unreadable, cln_error *err);
/* Adds each line of file list ("-": standard input) as paths_add_argument
 * does; blank lines are skipped, a line may end in CRLF. */
cln_status paths_add_list_file(path_list *list, const char *file, size_t *unreadable,
                               cln_error *err);
void paths_free(path_list *list);

typedef enum { SLOT_FREE, SLOT_BUSY, SLOT_READY } slot_state;

/* How images become a network's input: torchvision's eval transform for
 * Inception v3 (image_preprocess: resize, crop, scale to [-1, 1]), or
 * pytorch-fid's for the FID Inception (image_preprocess_fid: the whole
 * image to crop x crop, in [0, 1], the network's input transform after). */
typedef enum { PIPELINE_TORCHVISION, PIPELINE_FID } image_pipeline;

typedef struct {
    const path_list *paths;
    image_pipeline pipeline;
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
} image_stream;

/* Starts `workers` threads decoding paths into slot_count slots (at least
 * workers + 1): each image is resized to `resize` and cropped to `crop` as
 * image_preprocess does, or, for PIPELINE_FID, resized to crop x crop as
 * image_preprocess_fid does. */
cln_status image_stream_start(image_stream *s, const path_list *paths, image_pipeline pipeline,
                              int resize, int crop, int workers, size_t slot_count, cln_error *err);
/* Waits for the next image in input order. Returns false at the end;
 * otherwise *index is its index in paths, and either *pixels its
 * preprocessed floats (valid until image_stream_release) or, for an image
 * that could not be read, *pixels NULL and err its message. */
bool image_stream_next(image_stream *s, size_t *index, const float **pixels, cln_error *err);
/* Gives the slot of the image last taken back to the workers. */
void image_stream_release(image_stream *s);
/* Stops and joins the workers and frees the slots; safe on a zeroed stream. */
void image_stream_stop(image_stream *s);

#endif
