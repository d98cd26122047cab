/* Reading the files a user names: only regular files (a named pipe, a
 * device or a socket is refused before it is opened, so nothing blocks),
 * and never more bytes than the caller's bound. Every message reads
 * "PATH: what went wrong: reason". */
#ifndef CLN_FILE_IO_H
#define CLN_FILE_IO_H

#include "../include/clinception.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Opens path for reading if it is a regular file; *size is its size. A
 * folder, a named pipe, a device or a socket is CLN_ERR_IO: "PATH: cannot
 * read: it is a named pipe, not a regular file". */
cln_status file_open_regular(const char *path, FILE **out, size_t *size, cln_error *err);

/* Reads all of a regular file of at most max_bytes into a malloc'd buffer
 * with a NUL after the last byte (*size does not count it). A larger file is
 * CLN_ERR_FORMAT, "PATH: the file is N bytes, more than the M allowed for
 * WHAT", and is not read; what names the kind of file ("an image"). */
cln_status file_read_all(const char *path, size_t max_bytes, const char *what,
                         unsigned char **bytes, size_t *size, cln_error *err);

/* Refuses an output path that exists and is not a regular file (a device,
 * a pipe: "PATH: cannot write: it is a character device, not a regular
 * file"), or that is one of the inputs (same device and inode: through a
 * link too): "PATH: cannot write: it is the input IN". inputs may hold
 * NULLs. */
cln_status cln_check_output(const char *path, const char *const *inputs, size_t count,
                             cln_error *err);

/* A file written under a temporary name beside path (path.XXXXXX) and renamed
 * to path when committed: an existing file at path is replaced whole or not
 * at all, and an aborted one leaves nothing behind. */
typedef struct {
    FILE *f;
    char *path, *temp;
} temp_file;

cln_status temp_file_open(temp_file *t, const char *path, cln_error *err);
/* Flushes, closes and renames; on failure the temporary file is removed. */
cln_status temp_file_commit(temp_file *t, cln_error *err);
/* Closes and removes the temporary file; safe on a zeroed or committed one. */
void temp_file_abort(temp_file *t);

#endif
