/* Internal error reporting: fill a caller's cln_error and return its status. */
#ifndef CLN_ERROR_H
#define CLN_ERROR_H

#include "../include/clinception.h"

#include <stdarg.h>

/* Writes the formatted message into err (when err is not NULL) and returns
 * status, so a failing path reads `return cln_fail(err, CLN_ERR_IO, ...)`. */
cln_status cln_fail(cln_error *err, cln_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The same with the arguments as a va_list. */
cln_status cln_failv(cln_error *err, cln_status status, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Appends a formatted line to an error already set (context such as the
 * layer or file that was being processed). */
void cln_error_append(cln_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The same, its line breaks kept: the lines of a message made of several
 * (a device list, a build log); any other control character escaped. */
void cln_error_append_lines(cln_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
