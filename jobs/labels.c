/* ImageNet class names, split once from the embedded labels file; a
 * user's labels, read from theirs. */
#include "../include/clinception.h"

#include "../host/embedded.h"
#include "../common/file_io.h"
#include "../common/error.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const embedded_file cln_imagenet_classes[];

#define LABEL_TEXT_SIZE 32768

static char text[LABEL_TEXT_SIZE];
static const char *names[CLN_NUM_CLASSES];
static int loaded; /* -1: the embedded file is unusable */
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static void load(void) {
    const embedded_file *f = &cln_imagenet_classes[0];
    loaded = -1;
    if (f->size >= sizeof text) return;
    memcpy(text, f->data, f->size);
    text[f->size] = '\0';
    char *line = text;
    for (int i = 0; i < CLN_NUM_CLASSES; i++) {
        char *end = strchr(line, '\n');
        if (!end) return;
        *end = '\0';
        names[i] = line;
        line = end + 1;
    }
    loaded = 1;
}

const char *cln_imagenet_label(int index) {
    pthread_once(&load_once, load);
    if (loaded < 0 || index < 0 || index >= CLN_NUM_CLASSES) return NULL;
    return names[index];
}

/* The length of the UTF-8 sequence at s (of at most n bytes), 0 if it is
 * not one: no overlong forms, surrogates or code points past U+10FFFF. */
static size_t utf8_sequence(const unsigned char *s, size_t n) {
    unsigned cp;
    size_t len;
    if (s[0] < 0x80) return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        len = 2;
        cp = s[0] & 0x1Fu;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        len = 3;
        cp = s[0] & 0x0Fu;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        len = 4;
        cp = s[0] & 0x07u;
    } else {
        return 0;
    }
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3Fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* The length of the longest UTF-8 prefix of the n bytes at s. */
static size_t utf8_prefix(const char *s, size_t n) {
    size_t i = 0;
    for (size_t len; i < n && s[i] && (len = utf8_sequence((const unsigned char *)s + i, n - i));)
        i += len;
    return i;
}

bool cln_utf8_valid(const char *s, size_t n) {
    return utf8_prefix(s, n) == n;
}

void cln_labels_free(cln_labels *labels) {
    free(labels->names);
    free(labels->text);
    labels->names = NULL;
    labels->text = NULL;
    labels->count = 0;
}

cln_status cln_labels_read(const char *path, cln_labels *out, cln_error *err) {
    memset(out, 0, sizeof *out);
    unsigned char *bytes;
    size_t size;
    cln_status status =
        file_read_all(path, CLN_LABELS_MAX_FILE_BYTES, "a labels file", &bytes, &size, err);
    if (status != CLN_OK) return status;
    out->text = (char *)bytes;
    /* a byte-order mark, as editors on some systems write, is no label's */
    const size_t bom = size >= 3 && memcmp(bytes, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
    /* one label per line: check each, then point at them */
    int lines = 0;
    for (size_t at = bom; at < size; lines++) {
        char *eol = memchr(out->text + at, '\n', size - at);
        size_t end = eol ? (size_t)(eol - out->text) : size, stop = end;
        if (stop > at && out->text[stop - 1] == '\r') stop--;
        if (stop == at) {
            status = cln_fail(err, CLN_ERR_FORMAT, "%s: labels line %d is blank", path, lines + 1);
            goto done;
        }
        const size_t valid = utf8_prefix(out->text + at, stop - at);
        if (valid < stop - at) {
            status =
                cln_fail(err, CLN_ERR_FORMAT, "%s: labels line %d is not UTF-8 text (byte %zu)",
                         path, lines + 1, valid + 1);
            goto done;
        }
        at = end + 1;
    }
    if (lines == 0) {
        status = cln_fail(err, CLN_ERR_FORMAT, "%s: holds no labels", path);
        goto done;
    }
    out->names = malloc((size_t)lines * sizeof *out->names);
    if (!out->names) {
        status = cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "%s: cannot read: out of memory", path);
        goto done;
    }
    char *line = out->text + bom;
    for (int i = 0; i < lines; i++) {
        char *eol = strchr(line, '\n');
        if (eol) *eol = '\0';
        size_t len = strlen(line);
        if (len && line[len - 1] == '\r') line[len - 1] = '\0';
        out->names[i] = line;
        line = eol ? eol + 1 : line + len;
    }
    out->count = lines;
done:
    if (status != CLN_OK) cln_labels_free(out);
    return status;
}

void cln_top_classes(const float *logits, int classes, int k, int *best, double *prob) {
    double max = logits[0], sum = 0;
    for (int c = 1; c < classes; c++)
        if (logits[c] > max) max = logits[c];
    for (int c = 0; c < classes; c++)
        sum += exp((double)logits[c] - max);
    for (int j = 0; j < k; j++) {
        int pick = -1;
        for (int c = 0; c < classes; c++) {
            bool taken = false;
            for (int i = 0; i < j; i++)
                taken |= best[i] == c;
            if (!taken && (pick < 0 || logits[c] > logits[pick])) pick = c;
        }
        best[j] = pick;
        if (prob) prob[j] = exp((double)logits[pick] - max) / sum;
    }
}
