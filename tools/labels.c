/* ImageNet class names, split once from the embedded labels file. */
#include "labels.h"

#include "clinception.h"
#include "embedded.h"

#include <string.h>

extern const embedded_file cln_labels[];

#define LABEL_TEXT_SIZE 32768

static char text[LABEL_TEXT_SIZE];
static const char *names[CLN_NUM_CLASSES];
static int loaded; /* -1: the embedded file is unusable */

static void load(void) {
    const embedded_file *f = &cln_labels[0];
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

const char *imagenet_label(int index) {
    if (!loaded) load();
    if (loaded < 0 || index < 0 || index >= CLN_NUM_CLASSES) return "?";
    return names[index];
}
