/* The per-test temporary folder of tmp_dir.h. */
#define _XOPEN_SOURCE 700
#include "tmp_dir.h"

#include <criterion/criterion.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmp_dir[64];

void tmp_dir_make(const char *prefix) {
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/%s_XXXXXX", prefix);
    cr_assert_not_null(mkdtemp(tmp_dir), "mkdtemp failed");
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void tmp_dir_remove(void) {
    if (tmp_dir[0]) nftw(tmp_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *tmp_dir_path(void) {
    return tmp_dir;
}

const char *tmp_path(const char *name) {
    static char buffers[8][512];
    static int next = 0;
    char *path = buffers[next];
    next = (next + 1) % 8;
    snprintf(path, sizeof buffers[0], "%s/%s", tmp_dir, name);
    return path;
}

char *tmp_read(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *bytes = malloc(*size + 1);
    cr_assert_not_null(bytes);
    cr_assert_eq(fread(bytes, 1, *size, f), *size, "cannot read %s", path);
    bytes[*size] = '\0';
    fclose(f);
    return bytes;
}

void tmp_expect_same_bytes(const char *a, const char *b) {
    size_t na, nb;
    char *x = tmp_read(a, &na), *y = tmp_read(b, &nb);
    cr_expect(na > 0 && na == nb && memcmp(x, y, na) == 0, "%s and %s differ", a, b);
    free(x);
    free(y);
}
