/* The per-test temporary folder of tmp_dir.h. */
#define _POSIX_C_SOURCE 200809L
#include "tmp_dir.h"

#include <criterion/criterion.h>

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char tmp_dir[64];

void tmp_dir_make(const char *prefix) {
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/%s_XXXXXX", prefix);
    cr_assert_not_null(mkdtemp(tmp_dir), "mkdtemp failed");
}

void tmp_dir_remove(void) {
    DIR *dir = opendir(tmp_dir);
    if (!dir) return;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", tmp_dir, entry->d_name);
        unlink(path);
    }
    closedir(dir);
    rmdir(tmp_dir);
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
