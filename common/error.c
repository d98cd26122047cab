/* Formatting of cln_error messages, the names of the status codes, and the
 * library's version. */
#define _POSIX_C_SOURCE 200809L
#include "error.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

const char *cln_version(void) {
    return CLN_VERSION_STRING;
}

/* Messages quote what files hold (tensor names, header keys, paths): a
 * control character there (an escape sequence that would rewrite the user's
 * terminal, a carriage return, a line break that would forge a line) is
 * written as \xNN, from `from` on. Tabs stay, and line breaks where
 * keep_breaks says (the lines a message is made of: device lists, build
 * logs, added by cln_error_append_lines). */
static void escape_controls(cln_error *err, size_t from, bool keep_breaks) {
    char escaped[CLN_ERROR_MESSAGE_SIZE];
    size_t out = 0, i = from;
    const char *m = err->message;
    for (; m[i] && out + 5 < sizeof escaped; i++) {
        const unsigned char c = (unsigned char)m[i];
        if ((c < 0x20 && c != '\t' && !(keep_breaks && c == '\n')) || c == 0x7f)
            out += (size_t)snprintf(escaped + out, sizeof escaped - out, "\\x%02x", c);
        else
            escaped[out++] = (char)c;
    }
    escaped[out] = '\0';
    snprintf(err->message + from, sizeof err->message - from, "%s", escaped);
}

cln_status cln_failv(cln_error *err, cln_status status, const char *fmt, va_list ap) {
    if (err) {
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        err->status = status;
        escape_controls(err, 0, false);
    }
    return status;
}

cln_status cln_fail(cln_error *err, cln_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    cln_failv(err, status, fmt, ap);
    va_end(ap);
    return status;
}

cln_status cln_error_set(cln_error *err, cln_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    cln_failv(err, status, fmt, ap);
    va_end(ap);
    return status;
}

static void append(cln_error *err, bool keep_breaks, const char *fmt, va_list ap) {
    if (!err) return;
    size_t used = strnlen(err->message, sizeof err->message);
    if (used + 2 >= sizeof err->message) return;
    vsnprintf(err->message + used, sizeof err->message - used, fmt, ap);
    escape_controls(err, used, keep_breaks);
}

void cln_error_append(cln_error *err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    append(err, false, fmt, ap);
    va_end(ap);
}

void cln_error_append_lines(cln_error *err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    append(err, true, fmt, ap);
    va_end(ap);
}

const char *cln_status_name(cln_status status) {
    switch (status) {
    case CLN_OK:
        return "CLN_OK";
    case CLN_ERR_INVALID_ARGUMENT:
        return "CLN_ERR_INVALID_ARGUMENT";
    case CLN_ERR_IO:
        return "CLN_ERR_IO";
    case CLN_ERR_FORMAT:
        return "CLN_ERR_FORMAT";
    case CLN_ERR_MODEL:
        return "CLN_ERR_MODEL";
    case CLN_ERR_DEVICE:
        return "CLN_ERR_DEVICE";
    case CLN_ERR_OPENCL:
        return "CLN_ERR_OPENCL";
    case CLN_ERR_GEMM:
        return "CLN_ERR_GEMM";
    case CLN_ERR_OUT_OF_MEMORY:
        return "CLN_ERR_OUT_OF_MEMORY";
    }
    return "CLN_ERR_UNKNOWN";
}
