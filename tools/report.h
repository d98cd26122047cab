/* Reports of a profiled forward: the per-layer table (text or CSV) and a
 * Chrome trace of every kernel launch and the host phases. */
#ifndef CLN_REPORT_H
#define CLN_REPORT_H

#include "../include/clinception.h"

#include <stdio.h>

/* A host phase for the trace, on the monotonic clock of runtime_now_ms-like
 * readings (milliseconds). */
typedef struct {
    const char *name;
    double start_ms, end_ms;
} host_phase;

/* The per-layer table (slowest first), totals per layer kind and per kernel,
 * and the kernel sum against the forward's wall time; with the device's
 * measured peak (GFLOP/s, cln_runtime_measure_peak; 0: not known) each layer
 * kind's and the whole forward's share of it. */
void report_profile_table(FILE *out, const cln_model *model, double wall_ms, double peak_gflops);

/* The per-layer table as CSV, in execution order. */
cln_status report_profile_csv(const char *path, const cln_model *model, cln_error *err);

/* A Chrome trace ({"traceEvents": [...]}, complete "X" events): the host
 * phases on one track and every kernel launch of the last profiled forward on
 * another, placed so that the forward starts at forward_start_ms. */
cln_status report_trace(const char *path, const cln_model *model, const host_phase *phases,
                        size_t phase_count, double forward_start_ms, cln_error *err);

#endif
