/* Names of OpenCL and CLBlast status codes, for error messages. */
#include "cl_util.h"

#include <stdarg.h>
#include <stdio.h>

const char *cl_error_name(cl_int status) {
    switch (status) {
#define NAME(code)                                                                                 \
    case code:                                                                                     \
        return #code
        NAME(CL_SUCCESS);
        NAME(CL_DEVICE_NOT_FOUND);
        NAME(CL_DEVICE_NOT_AVAILABLE);
        NAME(CL_COMPILER_NOT_AVAILABLE);
        NAME(CL_MEM_OBJECT_ALLOCATION_FAILURE);
        NAME(CL_OUT_OF_RESOURCES);
        NAME(CL_OUT_OF_HOST_MEMORY);
        NAME(CL_PROFILING_INFO_NOT_AVAILABLE);
        NAME(CL_MEM_COPY_OVERLAP);
        NAME(CL_IMAGE_FORMAT_MISMATCH);
        NAME(CL_IMAGE_FORMAT_NOT_SUPPORTED);
        NAME(CL_BUILD_PROGRAM_FAILURE);
        NAME(CL_MAP_FAILURE);
        NAME(CL_MISALIGNED_SUB_BUFFER_OFFSET);
        NAME(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST);
        NAME(CL_COMPILE_PROGRAM_FAILURE);
        NAME(CL_LINKER_NOT_AVAILABLE);
        NAME(CL_LINK_PROGRAM_FAILURE);
        NAME(CL_DEVICE_PARTITION_FAILED);
        NAME(CL_KERNEL_ARG_INFO_NOT_AVAILABLE);
        NAME(CL_INVALID_VALUE);
        NAME(CL_INVALID_DEVICE_TYPE);
        NAME(CL_INVALID_PLATFORM);
        NAME(CL_INVALID_DEVICE);
        NAME(CL_INVALID_CONTEXT);
        NAME(CL_INVALID_QUEUE_PROPERTIES);
        NAME(CL_INVALID_COMMAND_QUEUE);
        NAME(CL_INVALID_HOST_PTR);
        NAME(CL_INVALID_MEM_OBJECT);
        NAME(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR);
        NAME(CL_INVALID_IMAGE_SIZE);
        NAME(CL_INVALID_SAMPLER);
        NAME(CL_INVALID_BINARY);
        NAME(CL_INVALID_BUILD_OPTIONS);
        NAME(CL_INVALID_PROGRAM);
        NAME(CL_INVALID_PROGRAM_EXECUTABLE);
        NAME(CL_INVALID_KERNEL_NAME);
        NAME(CL_INVALID_KERNEL_DEFINITION);
        NAME(CL_INVALID_KERNEL);
        NAME(CL_INVALID_ARG_INDEX);
        NAME(CL_INVALID_ARG_VALUE);
        NAME(CL_INVALID_ARG_SIZE);
        NAME(CL_INVALID_KERNEL_ARGS);
        NAME(CL_INVALID_WORK_DIMENSION);
        NAME(CL_INVALID_WORK_GROUP_SIZE);
        NAME(CL_INVALID_WORK_ITEM_SIZE);
        NAME(CL_INVALID_GLOBAL_OFFSET);
        NAME(CL_INVALID_EVENT_WAIT_LIST);
        NAME(CL_INVALID_EVENT);
        NAME(CL_INVALID_OPERATION);
        NAME(CL_INVALID_GL_OBJECT);
        NAME(CL_INVALID_BUFFER_SIZE);
        NAME(CL_INVALID_MIP_LEVEL);
        NAME(CL_INVALID_GLOBAL_WORK_SIZE);
        NAME(CL_INVALID_PROPERTY);
        NAME(CL_INVALID_IMAGE_DESCRIPTOR);
        NAME(CL_INVALID_COMPILER_OPTIONS);
        NAME(CL_INVALID_LINKER_OPTIONS);
        NAME(CL_INVALID_DEVICE_PARTITION_COUNT);
#undef NAME
    case -1001:
        return "CL_PLATFORM_NOT_FOUND_KHR";
    }
    return "unknown OpenCL error";
}

const char *clblast_status_name(CLBlastStatusCode status) {
    switch (status) {
#define NAME(code)                                                                                 \
    case code:                                                                                     \
        return #code
        NAME(CLBlastSuccess);
        NAME(CLBlastOpenCLCompilerNotAvailable);
        NAME(CLBlastTempBufferAllocFailure);
        NAME(CLBlastOpenCLOutOfResources);
        NAME(CLBlastOpenCLOutOfHostMemory);
        NAME(CLBlastOpenCLBuildProgramFailure);
        NAME(CLBlastInvalidValue);
        NAME(CLBlastInvalidCommandQueue);
        NAME(CLBlastInvalidMemObject);
        NAME(CLBlastInvalidBinary);
        NAME(CLBlastInvalidBuildOptions);
        NAME(CLBlastInvalidProgram);
        NAME(CLBlastInvalidProgramExecutable);
        NAME(CLBlastInvalidKernelName);
        NAME(CLBlastInvalidKernelDefinition);
        NAME(CLBlastInvalidKernel);
        NAME(CLBlastInvalidArgIndex);
        NAME(CLBlastInvalidArgValue);
        NAME(CLBlastInvalidArgSize);
        NAME(CLBlastInvalidKernelArgs);
        NAME(CLBlastInvalidLocalNumDimensions);
        NAME(CLBlastInvalidLocalThreadsTotal);
        NAME(CLBlastInvalidLocalThreadsDim);
        NAME(CLBlastInvalidGlobalOffset);
        NAME(CLBlastInvalidEventWaitList);
        NAME(CLBlastInvalidEvent);
        NAME(CLBlastInvalidOperation);
        NAME(CLBlastInvalidBufferSize);
        NAME(CLBlastInvalidGlobalWorkSize);
        NAME(CLBlastNotImplemented);
        NAME(CLBlastInvalidMatrixA);
        NAME(CLBlastInvalidMatrixB);
        NAME(CLBlastInvalidMatrixC);
        NAME(CLBlastInvalidVectorX);
        NAME(CLBlastInvalidVectorY);
        NAME(CLBlastInvalidDimension);
        NAME(CLBlastInvalidLeadDimA);
        NAME(CLBlastInvalidLeadDimB);
        NAME(CLBlastInvalidLeadDimC);
        NAME(CLBlastInvalidIncrementX);
        NAME(CLBlastInvalidIncrementY);
        NAME(CLBlastInsufficientMemoryA);
        NAME(CLBlastInsufficientMemoryB);
        NAME(CLBlastInsufficientMemoryC);
        NAME(CLBlastInsufficientMemoryX);
        NAME(CLBlastInsufficientMemoryY);
        NAME(CLBlastInsufficientMemoryTemp);
        NAME(CLBlastInvalidBatchCount);
        NAME(CLBlastInvalidOverrideKernel);
        NAME(CLBlastMissingOverrideParameter);
        NAME(CLBlastInvalidLocalMemUsage);
        NAME(CLBlastNoHalfPrecision);
        NAME(CLBlastNoDoublePrecision);
        NAME(CLBlastInvalidVectorScalar);
        NAME(CLBlastInsufficientMemoryScalar);
        NAME(CLBlastDatabaseError);
        NAME(CLBlastUnknownError);
        NAME(CLBlastUnexpectedError);
#undef NAME
    }
    return "unknown CLBlast status";
}

static cln_status vfail(cln_error *err, cln_status st, const char *name, int rc, const char *fmt,
                        va_list ap) {
    char what[1024];
    vsnprintf(what, sizeof what, fmt, ap);
    return cln_fail(err, st, "%s failed: %s (%d)", what, name, rc);
}

cln_status cl_fail(cln_error *err, cl_int rc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    cln_status st = vfail(err, CLN_ERR_OPENCL, cl_error_name(rc), rc, fmt, ap);
    va_end(ap);
    return st;
}

cln_status clblast_fail(cln_error *err, CLBlastStatusCode rc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    cln_status st = vfail(err, CLN_ERR_GEMM, clblast_status_name(rc), rc, fmt, ap);
    va_end(ap);
    return st;
}
