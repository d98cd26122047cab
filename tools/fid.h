/* Fréchet Inception Distance as pytorch-fid computes it: the mean and the
 * covariance (N - 1) of feature rows in float64, streamed a batch at a time
 * in bounded memory; pytorch-fid's statistics files (.npz holding mu and
 * sigma); and d^2 = |mu1 - mu2|^2 + tr(s1 + s2 - 2 sqrtm(s1 s2)) through
 * LAPACK. */
#ifndef CLN_FID_H
#define CLN_FID_H

#include "../include/clinception.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FID_MAX_DIMS 4096                    /* the widest statistics read or made */
#define FID_MAX_FILE_BYTES ((size_t)1 << 30) /* a larger statistics file is refused unread */
#define FID_EPS 1e-6                         /* pytorch-fid's offset for a singular product */

/* Sums of feature rows minus the first (which keeps the covariance's
 * subtraction well conditioned), and of their outer products. */
typedef struct {
    int dims;
    size_t count;
    double *shift, *sum, *cross; /* dims, dims, dims x dims (its upper triangle kept) */
    double *rows;                /* a batch of shifted rows, FID_BATCH_ROWS x dims */
} fid_accumulator;

cln_status fid_accumulator_init(fid_accumulator *a, int dims, cln_error *err);
/* Adds n rows of dims floats. */
void fid_accumulate(fid_accumulator *a, const double *rows, size_t n);
void fid_accumulator_free(fid_accumulator *a);
/* An accumulator's count and sums as bytes (malloc'd), and those of
 * another (of the same dims, from another process) added to a. */
cln_status fid_accumulator_pack(const fid_accumulator *a, void **bytes, size_t *size,
                                cln_error *err);
cln_status fid_accumulator_merge(fid_accumulator *a, const void *bytes, size_t size,
                                 cln_error *err);

typedef struct {
    int dims;
    size_t count;       /* the images behind them; 0 when read from a file */
    double *mu, *sigma; /* dims, dims x dims */
} fid_stats;

/* mu and sigma of what a holds: CLN_ERR_INVALID_ARGUMENT with fewer than 2
 * rows (a covariance needs two). */
cln_status fid_stats_from(const fid_accumulator *a, fid_stats *out, cln_error *err);
/* Reads pytorch-fid's .npz (np.savez or np.savez_compressed, mu (D,) and
 * sigma (D, D), float32 or float64, finite): anything else is refused with
 * a message naming the file. */
cln_status fid_stats_read(const char *path, fid_stats *out, cln_error *err);
/* The same from the bytes of one in memory; name is used in messages. */
cln_status fid_stats_parse(const char *name, const uint8_t *bytes, size_t size, fid_stats *out,
                           cln_error *err);
/* Writes mu and sigma as float64 into a compressed .npz pytorch-fid reads,
 * through a temporary file renamed into place. */
cln_status fid_stats_write(const char *path, const fid_stats *s, cln_error *err);
void fid_stats_free(fid_stats *s);

/* The distance between two statistics of the same dims. tr sqrtm(s1 s2) is
 * the sum of the square roots of the eigenvalues of s1^1/2 s2 s1^1/2 (both
 * symmetric eigenproblems, LAPACK's dsyevd). Where that is not finite,
 * FID_EPS is added to both diagonals for it, as pytorch-fid does, and
 * *offset says so. */
cln_status fid_distance(const fid_stats *a, const fid_stats *b, double *fid, bool *offset,
                        cln_error *err);

#endif
