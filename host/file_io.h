/* Reading the files a user names: only regular files (a named pipe, a
 * device or a socket is refused before it is opened, so nothing blocks),
 * and never more bytes than the caller's bound. Every message reads
 * "PATH: what went wrong: reason". */
#ifndef CLN_FILE_IO_H
#define CLN_FILE_IO_H

#include "clinception.h"

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

#endif
