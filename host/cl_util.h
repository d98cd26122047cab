/* OpenCL and CLBlast status names, and the checking macros every host file
 * uses around their calls. */
#ifndef CLN_CL_UTIL_H
#define CLN_CL_UTIL_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <clblast_c.h>

#include "../common/error.h"
#include "fault.h"

const char *cl_error_name(cl_int status);
const char *clblast_status_name(CLBlastStatusCode status);

/* Runs an OpenCL call; on failure sets `status` and err, naming the operation
 * and the error, then jumps to `cleanup`. */
#define CL_TRY(call, ...)                                                                          \
    do {                                                                                           \
        cl_int cl_try_rc_ = (call);                                                                \
        if (cl_try_rc_ != CL_SUCCESS) {                                                            \
            status = cl_fail(err, cl_try_rc_, __VA_ARGS__);                                        \
            goto cleanup;                                                                          \
        }                                                                                          \
    } while (0)

/* Sets err to "<what> failed: <CL error name> (<code>)" and returns CLN_ERR_OPENCL. */
cln_status cl_fail(cln_error *err, cl_int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same for a CLBlast status, returning CLN_ERR_GEMM. */
cln_status clblast_fail(cln_error *err, CLBlastStatusCode rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
