/* Fault injection, for tests of every failure path: in a build with
 * CLN_FAULT_INJECTION defined (meson -Dfault_injection=true), each OpenCL and
 * CLBlast call that creates, builds, enqueues, transfers or waits goes through
 * a wrapper that counts it, and the call numbered by fault_arm fails with an
 * error its real version can return. Other builds are untouched. */
#ifndef CLN_FAULT_H
#define CLN_FAULT_H

#ifdef CLN_FAULT_INJECTION

/* Makes the nth counted call from now fail (n >= 1; 0: none), and restarts
 * the count. Until it is called, $CLN_FAULT_AT=N arms the Nth call of the
 * process (for running the program itself with a fault). */
void fault_arm(long n);
/* Calls counted since the last fault_arm. */
long fault_count(void);

cl_context
fault_clCreateContext(const cl_context_properties *props, cl_uint ndev, const cl_device_id *devices,
                      void(CL_CALLBACK *notify)(const char *, const void *, size_t, void *),
                      void *user, cl_int *rc);
cl_command_queue fault_clCreateCommandQueue(cl_context context, cl_device_id device,
                                            cl_command_queue_properties props, cl_int *rc);
cl_program fault_clCreateProgramWithSource(cl_context context, cl_uint count, const char **strings,
                                           const size_t *lengths, cl_int *rc);
cl_int fault_clBuildProgram(cl_program program, cl_uint ndev, const cl_device_id *devices,
                            const char *options, void(CL_CALLBACK *notify)(cl_program, void *),
                            void *user);
cl_kernel fault_clCreateKernel(cl_program program, const char *name, cl_int *rc);
cl_mem fault_clCreateBuffer(cl_context context, cl_mem_flags flags, size_t size, void *host,
                            cl_int *rc);
cl_int fault_clEnqueueNDRangeKernel(cl_command_queue q, cl_kernel k, cl_uint dims,
                                    const size_t *offset, const size_t *global, const size_t *local,
                                    cl_uint nwait, const cl_event *wait, cl_event *ev);
cl_int fault_clEnqueueWriteBuffer(cl_command_queue q, cl_mem buf, cl_bool blocking, size_t offset,
                                  size_t size, const void *ptr, cl_uint nwait, const cl_event *wait,
                                  cl_event *ev);
cl_int fault_clEnqueueReadBuffer(cl_command_queue q, cl_mem buf, cl_bool blocking, size_t offset,
                                 size_t size, void *ptr, cl_uint nwait, const cl_event *wait,
                                 cl_event *ev);
cl_int fault_clFinish(cl_command_queue q);
CLBlastStatusCode fault_CLBlastSgemm(const CLBlastLayout layout, const CLBlastTranspose ta,
                                     const CLBlastTranspose tb, const size_t m, const size_t n,
                                     const size_t k, const float alpha, const cl_mem a,
                                     const size_t a_off, const size_t lda, const cl_mem b,
                                     const size_t b_off, const size_t ldb, const float beta,
                                     cl_mem c, const size_t c_off, const size_t ldc,
                                     cl_command_queue *q, cl_event *ev);
CLBlastStatusCode fault_CLBlastOverrideParameters(const cl_device_id device, const char *kernel,
                                                  const CLBlastPrecision precision,
                                                  const size_t count, const char **names,
                                                  const size_t *values);

#ifndef CLN_FAULT_IMPLEMENTATION
#define clCreateContext fault_clCreateContext
#define clCreateCommandQueue fault_clCreateCommandQueue
#define clCreateProgramWithSource fault_clCreateProgramWithSource
#define clBuildProgram fault_clBuildProgram
#define clCreateKernel fault_clCreateKernel
#define clCreateBuffer fault_clCreateBuffer
#define clEnqueueNDRangeKernel fault_clEnqueueNDRangeKernel
#define clEnqueueWriteBuffer fault_clEnqueueWriteBuffer
#define clEnqueueReadBuffer fault_clEnqueueReadBuffer
#define clFinish fault_clFinish
#define CLBlastSgemm fault_CLBlastSgemm
#define CLBlastOverrideParameters fault_CLBlastOverrideParameters
#endif

#endif /* CLN_FAULT_INJECTION */

#endif
