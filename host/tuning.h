/* Per-device tuning: which way each convolution runs fastest at a given input
 * shape, measured by cln_model_tune and kept in a file in the user's cache,
 * one per platform, device and driver. */
#ifndef CLN_TUNING_H
#define CLN_TUNING_H

#include "cl_util.h"
#include "../include/clinception.h"
#include "../network/network.h"

#include <stddef.h>

typedef struct {
    int n, h, w;               /* input shape */
    char layer[NET_NAME_SIZE]; /* torchvision module name */
    cln_conv_algo algo;        /* never CLN_CONV_AUTO */
    int line;                  /* of the file it was read from (0: set by tuning) */
} tuned_choice;

/* The parameters of CLBlast's main GEMM kernel (Xgemm), in this order. */
#define XGEMM_PARAM_COUNT 16
extern const char *const xgemm_param_names[XGEMM_PARAM_COUNT];

/* Xgemm parameter sets worth trying on a CPU, best first: the first is the
 * default for CPU devices without a tuning file. */
extern const size_t xgemm_cpu_candidates[][XGEMM_PARAM_COUNT];
extern const size_t xgemm_cpu_candidate_count;

#define TUNING_MAX_FILE_BYTES (64 << 20) /* a larger tuning file is ignored */

typedef struct {
    char path[4096];     /* the device's tuning file */
    tuned_choice *items; /* in order of (n, h, w, layer) */
    size_t count, cap;
    char warning[CLN_ERROR_MESSAGE_SIZE]; /* why the file was ignored, or "" */
    bool has_xgemm;                       /* a "clblast Xgemm" line: the parameters tune chose */
    size_t xgemm[XGEMM_PARAM_COUNT];
} tuning_table;

/* The tuning file of a device: $CLINCEPTION_CACHE_DIR, else
 * $XDG_CACHE_HOME/clinception, else ~/.cache/clinception; named by a hash of
 * the platform, device and driver. */
void tuning_path(const cln_device_info *device, char *path, size_t size);

/* Reads t->path (set it first); a missing file is an empty table. The file
 * is a cache: one that cannot be read, or is malformed anywhere (a line, a
 * CLBlast parameter CLBlast could not build), or larger than
 * TUNING_MAX_FILE_BYTES, is ignored with the reason, its path and line in
 * t->warning, and the defaults apply. Fails only when out of memory. */
cln_status tuning_load(tuning_table *t, cln_error *err);
/* Writes the table to t->path (creating the folder), through a temporary
 * file renamed into place. */
cln_status tuning_save(const tuning_table *t, const cln_device_info *device, cln_error *err);

/* The choice for a layer at a shape, or CLN_CONV_AUTO when there is none. */
cln_conv_algo tuning_get(const tuning_table *t, int n, int h, int w, const char *layer);
cln_status tuning_set(tuning_table *t, int n, int h, int w, const char *layer, cln_conv_algo algo,
                      cln_error *err);
void tuning_free(tuning_table *t);

/* Applies Xgemm parameters to CLBlast for a device (CLBlastOverrideParameters);
 * CLBlast recompiles its kernel on the next GEMM. */
cln_status tuning_apply_xgemm(cl_device_id device, const size_t *values, cln_error *err);

/* "gemm", "tiled", "direct" ("auto" for CLN_CONV_AUTO); and back (-1: none). */
const char *tuning_algo_name(cln_conv_algo algo);
int tuning_algo_parse(const char *name);

#endif
