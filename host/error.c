/* Formatting of cln_error messages, the names of the status codes, and the
 * library's version. */
#define _POSIX_C_SOURCE 200809L
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *cln_version(void) {
    return CLN_VERSION_STRING;
}

cln_status cln_fail(cln_error *err, cln_status status, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
        err->status = status;
    }
    return status;
}

void cln_error_append(cln_error *err, const char *fmt, ...) {
    if (!err) return;
    size_t used = strnlen(err->message, sizeof err->message);
    if (used + 2 >= sizeof err->message) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message + used, sizeof err->message - used, fmt, ap);
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
    case CLN_ERR_CLBLAST:
        return "CLN_ERR_CLBLAST";
    case CLN_ERR_OUT_OF_MEMORY:
        return "CLN_ERR_OUT_OF_MEMORY";
    }
    return "CLN_ERR_UNKNOWN";
}
