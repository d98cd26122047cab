/* A program of someone else's, built against the installed library through
 * pkg-config by tests/test_install.c: the version, then one forward of a
 * seeded random model on the default device. Prints "version V" and
 * "class C", exits 0; on an error, prints it and exits 1. */
#include <clinception.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    if (strcmp(cln_version(), CLN_VERSION_STRING) != 0) {
        fprintf(stderr, "header %s, library %s\n", CLN_VERSION_STRING, cln_version());
        return 1;
    }
    printf("version %s (%d.%d.%d)\n", cln_version(), CLN_VERSION_MAJOR, CLN_VERSION_MINOR,
           CLN_VERSION_PATCH);
    enum { n = 1, side = CLN_MIN_INPUT_SIZE };
    static float input[n * 3 * side * side], logits[n * CLN_NUM_CLASSES];
    for (size_t i = 0; i < sizeof input / sizeof input[0]; i++)
        input[i] = (float)(i % 13) / 13.0f;
    cln_error err;
    cln_runtime *rt = NULL;
    cln_model *model = NULL;
    cln_status st = cln_runtime_create(NULL, &rt, &err);
    if (st == CLN_OK) st = cln_model_load_random(rt, 3, &model, &err);
    if (st == CLN_OK) st = cln_model_forward(model, input, n, side, side, NULL, logits, &err);
    if (st == CLN_OK) {
        int best = 0;
        for (int c = 1; c < CLN_NUM_CLASSES; c++)
            if (logits[c] > logits[best]) best = c;
        printf("class %d\n", best);
    } else {
        fprintf(stderr, "%s: %s\n", cln_status_name(st), err.message);
    }
    cln_model_free(model);
    cln_runtime_free(rt);
    return st == CLN_OK ? 0 : 1;
}
