/* Class names: the 1000 ImageNet ones (tools/data/imagenet_classes.txt,
 * embedded in the program at build time), or a user's file of one label per
 * line. */
#ifndef CLN_LABELS_H
#define CLN_LABELS_H

#include "../include/clinception.h"

#include <stdbool.h>
#include <stddef.h>

/* The name of class index (0..999), e.g. 281 -> "tabby"; "?" if out of range. */
const char *imagenet_label(int index);

/* Whether the n bytes at s are UTF-8: no overlong forms, surrogates, code
 * points past U+10FFFF or NUL. */
bool utf8_valid(const char *s, size_t n);

#define LABELS_MAX_FILE_BYTES (64 << 20) /* a larger labels file is refused */

typedef struct {
    int count;
    char **names; /* count NUL-terminated UTF-8 strings */
    char *text;   /* the file, which names point into */
} label_list;

/* Reads one label per line (LF or CRLF; a last line without a newline
 * counts) of UTF-8 text. A file that cannot be read is CLN_ERR_IO; one that
 * is not UTF-8, holds a blank line or a NUL, or is larger than
 * LABELS_MAX_FILE_BYTES is CLN_ERR_FORMAT, the message naming the file and
 * the line. *out is zeroed on failure. */
cln_status labels_read(const char *path, label_list *out, cln_error *err);
void labels_free(label_list *labels);

#endif
