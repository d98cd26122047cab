/* The wrappers of fault.h: count each call, fail the armed one, else pass it
 * through to OpenCL or CLBlast. Empty unless CLN_FAULT_INJECTION is defined. */
#define CLN_FAULT_IMPLEMENTATION
#include "cl_util.h"

#include <pthread.h>
#include <stdlib.h>

#ifdef CLN_FAULT_INJECTION

static long armed, calls;
static bool env_read; /* $CLN_FAULT_AT arms the program's first call count */

void fault_arm(long n) {
    armed = n;
    calls = 0;
    env_read = true;
}

long fault_count(void) {
    return calls;
}

/* Whether this call is the one to fail. Runtimes on several threads (one
 * per device) count together: the Nth call of the process fails, on
 * whichever thread makes it. */
static bool fail_now(void) {
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&lock);
    if (!env_read) {
        const char *at = getenv("CLN_FAULT_AT");
        armed = at ? atol(at) : 0;
        env_read = true;
    }
    const bool now = ++calls == armed;
    pthread_mutex_unlock(&lock);
    return now;
}

cl_context
fault_clCreateContext(const cl_context_properties *props, cl_uint ndev, const cl_device_id *devices,
                      void(CL_CALLBACK *notify)(const char *, const void *, size_t, void *),
                      void *user, cl_int *rc) {
    if (fail_now()) {
        *rc = CL_OUT_OF_HOST_MEMORY;
        return NULL;
    }
    return clCreateContext(props, ndev, devices, notify, user, rc);
}

cl_command_queue fault_clCreateCommandQueue(cl_context context, cl_device_id device,
                                            cl_command_queue_properties props, cl_int *rc) {
    if (fail_now()) {
        *rc = CL_OUT_OF_RESOURCES;
        return NULL;
    }
    return clCreateCommandQueue(context, device, props, rc);
}

cl_program fault_clCreateProgramWithSource(cl_context context, cl_uint count, const char **strings,
                                           const size_t *lengths, cl_int *rc) {
    if (fail_now()) {
        *rc = CL_OUT_OF_HOST_MEMORY;
        return NULL;
    }
    return clCreateProgramWithSource(context, count, strings, lengths, rc);
}

cl_int fault_clBuildProgram(cl_program program, cl_uint ndev, const cl_device_id *devices,
                            const char *options, void(CL_CALLBACK *notify)(cl_program, void *),
                            void *user) {
    if (fail_now()) return CL_BUILD_PROGRAM_FAILURE;
    return clBuildProgram(program, ndev, devices, options, notify, user);
}

cl_kernel fault_clCreateKernel(cl_program program, const char *name, cl_int *rc) {
    if (fail_now()) {
        *rc = CL_OUT_OF_RESOURCES;
        return NULL;
    }
    return clCreateKernel(program, name, rc);
}

cl_mem fault_clCreateBuffer(cl_context context, cl_mem_flags flags, size_t size, void *host,
                            cl_int *rc) {
    if (fail_now()) {
        *rc = CL_MEM_OBJECT_ALLOCATION_FAILURE;
        return NULL;
    }
    return clCreateBuffer(context, flags, size, host, rc);
}

cl_int fault_clEnqueueNDRangeKernel(cl_command_queue q, cl_kernel k, cl_uint dims,
                                    const size_t *offset, const size_t *global, const size_t *local,
                                    cl_uint nwait, const cl_event *wait, cl_event *ev) {
    if (fail_now()) return CL_OUT_OF_RESOURCES;
    return clEnqueueNDRangeKernel(q, k, dims, offset, global, local, nwait, wait, ev);
}

cl_int fault_clEnqueueWriteBuffer(cl_command_queue q, cl_mem buf, cl_bool blocking, size_t offset,
                                  size_t size, const void *ptr, cl_uint nwait, const cl_event *wait,
                                  cl_event *ev) {
    if (fail_now()) return CL_OUT_OF_RESOURCES;
    return clEnqueueWriteBuffer(q, buf, blocking, offset, size, ptr, nwait, wait, ev);
}

cl_int fault_clEnqueueReadBuffer(cl_command_queue q, cl_mem buf, cl_bool blocking, size_t offset,
                                 size_t size, void *ptr, cl_uint nwait, const cl_event *wait,
                                 cl_event *ev) {
    if (fail_now()) return CL_OUT_OF_RESOURCES;
    return clEnqueueReadBuffer(q, buf, blocking, offset, size, ptr, nwait, wait, ev);
}

cl_int fault_clFinish(cl_command_queue q) {
    if (fail_now()) return CL_OUT_OF_RESOURCES;
    return clFinish(q);
}

CLBlastStatusCode fault_CLBlastSgemm(const CLBlastLayout layout, const CLBlastTranspose ta,
                                     const CLBlastTranspose tb, const size_t m, const size_t n,
                                     const size_t k, const float alpha, const cl_mem a,
                                     const size_t a_off, const size_t lda, const cl_mem b,
                                     const size_t b_off, const size_t ldb, const float beta,
                                     cl_mem c, const size_t c_off, const size_t ldc,
                                     cl_command_queue *q, cl_event *ev) {
    if (fail_now()) return CLBlastTempBufferAllocFailure;
    return CLBlastSgemm(layout, ta, tb, m, n, k, alpha, a, a_off, lda, b, b_off, ldb, beta, c,
                        c_off, ldc, q, ev);
}

CLBlastStatusCode fault_CLBlastOverrideParameters(const cl_device_id device, const char *kernel,
                                                  const CLBlastPrecision precision,
                                                  const size_t count, const char **names,
                                                  const size_t *values) {
    if (fail_now()) return CLBlastInvalidOverrideKernel;
    return CLBlastOverrideParameters(device, kernel, precision, count, names, values);
}

#endif /* CLN_FAULT_INJECTION */
