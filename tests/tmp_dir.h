/* A temporary folder per test process (each Criterion test runs in its own),
 * for the files a test writes, removed with them at the end. */
#ifndef CLN_TMP_DIR_H
#define CLN_TMP_DIR_H

#include <stddef.h>

/* Creates /tmp/<prefix>_XXXXXX (the test fails if it cannot). */
void tmp_dir_make(const char *prefix);
/* Removes the folder and everything in it (links are not followed). */
void tmp_dir_remove(void);
/* The folder itself. */
const char *tmp_dir_path(void);
/* The path of name inside the folder, in one of a few rotating buffers. */
const char *tmp_path(const char *name);
/* A whole file, malloc'd, with a NUL after its *size bytes (the test fails
 * if it cannot be read). */
char *tmp_read(const char *path, size_t *size);
/* Expects two files of the same bytes, and not empty. */
void tmp_expect_same_bytes(const char *a, const char *b);

#endif
