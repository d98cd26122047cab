/* FID's statistics, their files and the distance (cln_fid_* in the public
 * header): BLAS for the
 * outer products, LAPACK (through LAPACKE) for the eigenproblems, libzip for
 * the .npz container. */
#include "../include/clinception.h"

#include "../common/error.h"
#include "../common/file_io.h"
#include "npy.h"

#include <cblas.h>
#include <errno.h>
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#define FID_BATCH_ROWS 64 /* rows shifted and added with one rank-k update */

struct cln_fid_accumulator {
    int dims;
    size_t count;
    double *shift, *sum, *cross; /* dims, dims, dims x dims (its upper triangle kept) */
    double *rows;                /* a batch of shifted rows, FID_BATCH_ROWS x dims */
};

static const struct {
    int dims;
    const char *layer;
} fid_blocks[] = {{2048, "avgpool"}, {768, "Mixed_6e"}, {192, "maxpool2"}, {64, "maxpool1"}};

const char *cln_fid_layer(int dims) {
    for (size_t i = 0; i < sizeof fid_blocks / sizeof fid_blocks[0]; i++)
        if (fid_blocks[i].dims == dims) return fid_blocks[i].layer;
    return NULL;
}

cln_status cln_fid_accumulator_create(int dims, cln_fid_accumulator **out, cln_error *err) {
    *out = NULL;
    if (dims < 1 || dims > CLN_FID_MAX_DIMS)
        return cln_fail(err, CLN_ERR_INVALID_ARGUMENT, "FID statistics of %d dims: 1 to %d work",
                        dims, CLN_FID_MAX_DIMS);
    cln_fid_accumulator *a = calloc(1, sizeof *a);
    if (!a)
        return cln_fail(err, CLN_ERR_OUT_OF_MEMORY,
                        "out of memory for the statistics of %d features", dims);
    const size_t d = (size_t)dims;
    a->dims = dims;
    a->shift = calloc(d, sizeof *a->shift);
    a->sum = calloc(d, sizeof *a->sum);
    a->cross = calloc(d * d, sizeof *a->cross);
    a->rows = malloc(FID_BATCH_ROWS * d * sizeof *a->rows);
    if (!a->shift || !a->sum || !a->cross || !a->rows) {
        cln_fid_accumulator_free(a);
        return cln_fail(err, CLN_ERR_OUT_OF_MEMORY,
                        "out of memory for the statistics of %d features", dims);
    }
    *out = a;
    return CLN_OK;
}

int cln_fid_accumulator_dims(const cln_fid_accumulator *a) {
    return a->dims;
}

size_t cln_fid_accumulator_count(const cln_fid_accumulator *a) {
    return a->count;
}

void cln_fid_accumulate(cln_fid_accumulator *a, const double *rows, size_t n) {
    const size_t d = (size_t)a->dims;
    if (a->count == 0 && n > 0) memcpy(a->shift, rows, d * sizeof *rows);
    for (size_t r0 = 0; r0 < n; r0 += FID_BATCH_ROWS) {
        const size_t m = n - r0 < FID_BATCH_ROWS ? n - r0 : FID_BATCH_ROWS;
        for (size_t r = 0; r < m; r++)
            for (size_t j = 0; j < d; j++) {
                const double v = rows[(r0 + r) * d + j] - a->shift[j];
                a->rows[r * d + j] = v;
                a->sum[j] += v;
            }
        /* cross += X^T X over the upper triangle */
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)m, 1.0, a->rows, (int)d,
                    1.0, a->cross, (int)d);
    }
    a->count += n;
}

cln_status cln_fid_accumulate_features(cln_fid_accumulator *a, const float *features, size_t n,
                                       int pixels, cln_error *err) {
    if (pixels < 1)
        return cln_fail(err, CLN_ERR_INVALID_ARGUMENT, "features of %d pixels to average", pixels);
    const size_t d = (size_t)a->dims, per_image = d * (size_t)pixels;
    double *rows = malloc((n ? n : 1) * d * sizeof *rows);
    if (!rows) return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "out of memory averaging features");
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < d; c++) {
            const float *plane = features + i * per_image + c * (size_t)pixels;
            double sum = 0.0;
            for (int p = 0; p < pixels; p++)
                sum += plane[p];
            rows[i * d + c] = sum / pixels;
        }
    cln_fid_accumulate(a, rows, n);
    free(rows);
    return CLN_OK;
}

void cln_fid_accumulator_free(cln_fid_accumulator *a) {
    if (!a) return;
    free(a->shift);
    free(a->sum);
    free(a->cross);
    free(a->rows);
    free(a);
}

static cln_status stats_alloc(cln_fid_stats *s, int dims, cln_error *err) {
    memset(s, 0, sizeof *s);
    s->dims = dims;
    s->mu = malloc((size_t)dims * sizeof *s->mu);
    s->sigma = malloc((size_t)dims * dims * sizeof *s->sigma);
    if (!s->mu || !s->sigma) {
        cln_fid_stats_free(s);
        return cln_fail(err, CLN_ERR_OUT_OF_MEMORY,
                        "out of memory for the statistics of %d features", dims);
    }
    return CLN_OK;
}

cln_status cln_fid_stats_from(const cln_fid_accumulator *a, cln_fid_stats *out, cln_error *err) {
    memset(out, 0, sizeof *out);
    if (a->count < 2)
        return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                        "FID needs the features of at least 2 images for a covariance, not %zu",
                        a->count);
    cln_status status = stats_alloc(out, a->dims, err);
    if (status != CLN_OK) return status;
    const size_t d = (size_t)a->dims;
    const double n = (double)a->count;
    out->count = a->count;
    /* sigma = (sum of x x^T - n m m^T) / (n - 1), m the shifted mean */
    for (size_t i = 0; i < d; i++) {
        const double mi = a->sum[i] / n;
        out->mu[i] = a->shift[i] + mi;
        for (size_t j = i; j < d; j++) {
            const double v = (a->cross[i * d + j] - n * mi * (a->sum[j] / n)) / (n - 1);
            out->sigma[i * d + j] = out->sigma[j * d + i] = v;
        }
    }
    return CLN_OK;
}

void cln_fid_stats_free(cln_fid_stats *s) {
    free(s->mu);
    free(s->sigma);
    memset(s, 0, sizeof *s);
}

/* ---- .npz files ------------------------------------------------------ */

/* Entry `name` of the archive, whole, at most `limit` bytes: *bytes malloc'd. */
static cln_status read_entry(const char *path, zip_t *za, const char *name, size_t limit,
                             uint8_t **bytes, size_t *size, cln_error *err) {
    *bytes = NULL;
    zip_stat_t st;
    const zip_int64_t index = zip_name_locate(za, name, 0);
    if (index < 0)
        return cln_fail(err, CLN_ERR_FORMAT,
                        "%s: not FID statistics: the archive holds no %s (pytorch-fid's files "
                        "hold mu and sigma)",
                        path, name);
    zip_stat_init(&st);
    if (zip_stat_index(za, (zip_uint64_t)index, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE))
        return cln_fail(err, CLN_ERR_FORMAT, "%s: cannot read %s: %s", path, name,
                        zip_strerror(za));
    if (st.size > limit)
        return cln_fail(err, CLN_ERR_FORMAT,
                        "%s: %s is %llu bytes, more than the %zu of %d x %d float64 values", path,
                        name, (unsigned long long)st.size, limit, CLN_FID_MAX_DIMS, CLN_FID_MAX_DIMS);
    zip_file_t *f = zip_fopen_index(za, (zip_uint64_t)index, 0);
    uint8_t *buf = malloc((size_t)st.size + 1);
    if (!f || !buf) {
        free(buf);
        if (f) zip_fclose(f);
        return cln_fail(err, f ? CLN_ERR_OUT_OF_MEMORY : CLN_ERR_FORMAT, "%s: cannot read %s: %s",
                        path, name, f ? "out of memory" : zip_strerror(za));
    }
    /* one byte more than its size: an entry longer than it says is refused */
    const zip_int64_t got = zip_fread(f, buf, st.size + 1);
    const bool ok = got == (zip_int64_t)st.size;
    cln_status status = CLN_OK;
    if (!ok)
        status = cln_fail(err, CLN_ERR_FORMAT, "%s: cannot read %s: %s", path, name,
                          got < 0 ? zip_file_strerror(f) : "its size is not what the archive says");
    zip_fclose(f);
    if (status != CLN_OK) {
        free(buf);
        return status;
    }
    *bytes = buf;
    *size = (size_t)st.size;
    return CLN_OK;
}

/* Entry name of the archive as a finite float64 array of ndim dims (the
 * first of them, dims, or any up to CLN_FID_MAX_DIMS when *dims is 0), square
 * when ndim is 2. */
static cln_status read_array(const char *path, zip_t *za, const char *name, int ndim, int *dims,
                             double **out, cln_error *err) {
    uint8_t *bytes;
    size_t size = 0;
    const size_t limit = (size_t)8 * CLN_FID_MAX_DIMS * CLN_FID_MAX_DIMS + (1 << 20);
    cln_status status = read_entry(path, za, name, limit, &bytes, &size, err);
    if (status != CLN_OK) return status;
    char label[4096 + 64];
    snprintf(label, sizeof label, "%s: %s", path, name);
    npy_f64 a;
    status = npy_parse_f64(label, bytes, size, &a, err);
    free(bytes);
    if (status != CLN_OK) return status;
    const int64_t d = a.ndim >= 1 ? a.shape[0] : 0;
    if (a.ndim != ndim || d < 1 || d > CLN_FID_MAX_DIMS || (ndim == 2 && a.shape[1] != d) ||
        (*dims && d != *dims)) {
        status = cln_fail(err, CLN_ERR_FORMAT,
                          "%s: %s has %d dimensions of which the first is %lld; FID statistics "
                          "need mu (D,) and sigma (D, D) with the same D, 1 to %d",
                          path, name, a.ndim, (long long)d, CLN_FID_MAX_DIMS);
        npy_f64_free(&a);
        return status;
    }
    for (size_t i = 0; i < a.numel; i++)
        if (!isfinite(a.data[i])) {
            status = cln_fail(err, CLN_ERR_FORMAT, "%s: %s holds a non-finite value (%g) at %zu",
                              path, name, a.data[i], i);
            npy_f64_free(&a);
            return status;
        }
    *dims = (int)d;
    *out = a.data; /* the array's only allocation */
    return CLN_OK;
}

/* A covariance is symmetric: np.cov's are, up to rounding (float32 files
 * round each entry apart). Anything further is refused rather than read
 * through one triangle. */
static cln_status check_symmetric(const char *name, const double *sigma, int dims,
                                  cln_error *err) {
    const size_t d = (size_t)dims;
    double scale = 0;
    for (size_t i = 0; i < d * d; i++)
        scale = fmax(scale, fabs(sigma[i]));
    for (size_t i = 0; i < d; i++)
        for (size_t j = i + 1; j < d; j++) {
            const double a = sigma[i * d + j], b = sigma[j * d + i];
            if (fabs(a - b) > 1e-5 * fmax(fabs(a), fabs(b)) + 1e-12 * scale)
                return cln_fail(err, CLN_ERR_FORMAT,
                                "%s: sigma.npy is not symmetric: sigma[%zu][%zu] is %.9g but "
                                "sigma[%zu][%zu] is %.9g; a covariance is symmetric",
                                name, i, j, a, j, i, b);
        }
    return CLN_OK;
}

cln_status cln_fid_stats_parse(const char *name, const uint8_t *bytes, size_t size, cln_fid_stats *out,
                           cln_error *err) {
    memset(out, 0, sizeof *out);
    cln_status status;
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(bytes, size, 0, &ze);
    zip_t *za = src ? zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze) : NULL;
    if (!za) {
        status = cln_fail(err, CLN_ERR_FORMAT, "%s: not an .npz of FID statistics: %s", name,
                          zip_error_code_zip(&ze) == ZIP_ER_EXISTS
                              ? "two of its members have one name (which is the real one?)"
                              : zip_error_strerror(&ze));
        if (src) zip_source_free(src);
    } else {
        int dims = 0;
        status = read_array(name, za, "mu.npy", 1, &dims, &out->mu, err);
        if (status == CLN_OK)
            status = read_array(name, za, "sigma.npy", 2, &dims, &out->sigma, err);
        if (status == CLN_OK) status = check_symmetric(name, out->sigma, dims, err);
        out->dims = dims;
        zip_discard(za); /* frees src */
    }
    zip_error_fini(&ze);
    if (status != CLN_OK) cln_fid_stats_free(out);
    return status;
}

cln_status cln_fid_stats_read(const char *path, cln_fid_stats *out, cln_error *err) {
    memset(out, 0, sizeof *out);
    unsigned char *bytes;
    size_t size = 0;
    cln_status status =
        file_read_all(path, CLN_FID_MAX_FILE_BYTES, "a statistics file", &bytes, &size, err);
    if (status != CLN_OK) return status;
    status = cln_fid_stats_parse(path, bytes, size, out, err);
    free(bytes);
    return status;
}

/* Adds data (freed by libzip once written) as entry name, deflated. */
static bool add_entry(zip_t *za, const char *name, uint8_t *data, size_t size) {
    zip_source_t *src = zip_source_buffer(za, data, size, 1);
    if (!src) {
        free(data);
        return false;
    }
    const zip_int64_t index = zip_file_add(za, name, src, ZIP_FL_OVERWRITE);
    if (index < 0) {
        zip_source_free(src);
        return false;
    }
    return zip_set_file_compression(za, (zip_uint64_t)index, ZIP_CM_DEFLATE, 0) == 0;
}

cln_status cln_fid_stats_write(const char *path, const cln_fid_stats *s, cln_error *err) {
    const int64_t mu_shape[1] = {s->dims}, sigma_shape[2] = {s->dims, s->dims};
    uint8_t *mu = NULL, *sigma = NULL;
    size_t mu_size = 0, sigma_size = 0;
    cln_status status = npy_format_f64(s->mu, 1, mu_shape, &mu, &mu_size, err);
    if (status == CLN_OK)
        status = npy_format_f64(s->sigma, 2, sigma_shape, &sigma, &sigma_size, err);
    if (status != CLN_OK) {
        free(mu);
        return status;
    }
    /* the archive is made in memory, then written through a temporary file */
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *archive = zip_source_buffer_create(NULL, 0, 0, &ze);
    zip_t *za = archive ? zip_open_from_source(archive, ZIP_TRUNCATE, &ze) : NULL;
    if (archive) zip_source_keep(archive);
    bool ok = za && add_entry(za, "mu.npy", mu, mu_size);
    mu = NULL;
    ok = ok && add_entry(za, "sigma.npy", sigma, sigma_size);
    sigma = NULL;
    if (za && (!ok || zip_close(za) != 0)) {
        status = cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "%s: cannot make the archive: %s", path,
                          zip_strerror(za));
        zip_discard(za);
    } else if (!za) {
        status = cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "%s: cannot make the archive: %s", path,
                          zip_error_strerror(&ze));
    }
    free(mu);
    free(sigma);
    temp_file out = {0};
    zip_stat_t st;
    zip_stat_init(&st);
    if (status == CLN_OK && (zip_source_stat(archive, &st) != 0 || zip_source_open(archive) != 0))
        status = cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "%s: cannot read the archive back", path);
    if (status == CLN_OK) {
        uint8_t *bytes = malloc(st.size ? st.size : 1);
        const bool read = bytes && zip_source_read(archive, bytes, st.size) == (zip_int64_t)st.size;
        zip_source_close(archive);
        if (!read)
            status = cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "%s: cannot read the archive back", path);
        if (status == CLN_OK) status = temp_file_open(&out, path, err);
        if (status == CLN_OK && fwrite(bytes, 1, st.size, out.f) != st.size) {
            status = cln_fail(err, CLN_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
            temp_file_abort(&out);
        } else if (status == CLN_OK) {
            status = temp_file_commit(&out, err);
        }
        free(bytes);
    }
    if (archive) zip_source_free(archive);
    zip_error_fini(&ze);
    return status;
}

/* ---- The distance ----------------------------------------------------- */

/* tr sqrtm(s1 s2) = tr sqrtm(R s2 R), R = s1^1/2 (symmetric, from s1's
 * eigenvectors), with eps on both diagonals; NAN where LAPACK fails. */
static double trace_sqrt_product(const double *s1, const double *s2, int dims, double eps,
                                 double *work) {
    const size_t d = (size_t)dims, dd = d * d;
    double *v = work, *r = work + dd, *t = work + 2 * dd, *w = work + 3 * dd;
    memcpy(v, s1, dd * sizeof *v);
    memcpy(t, s2, dd * sizeof *t);
    for (size_t i = 0; i < d; i++) {
        v[i * d + i] += eps;
        t[i * d + i] += eps;
    }
    if (LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', dims, v, dims, w) != 0) return NAN;
    /* r = V diag(sqrt(w)) V^T: V's columns scaled, then times V^T */
    memcpy(r, v, dd * sizeof *r);
    for (size_t j = 0; j < d; j++) {
        const double root = w[j] > 0 ? sqrt(w[j]) : 0.0;
        for (size_t i = 0; i < d; i++)
            r[i * d + j] *= root;
    }
    double *sqrt1 = work + 3 * dd + d; /* d x d after w */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, dims, dims, dims, 1.0, r, dims, v, dims,
                0.0, sqrt1, dims);
    /* m = sqrt1 s2 sqrt1, symmetric up to rounding: its upper triangle */
    cblas_dsymm(CblasRowMajor, CblasRight, CblasUpper, dims, dims, 1.0, t, dims, sqrt1, dims, 0.0,
                r, dims);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, dims, dims, dims, 1.0, r, dims, sqrt1,
                dims, 0.0, v, dims);
    if (LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'N', 'U', dims, v, dims, w) != 0) return NAN;
    double trace = 0.0;
    for (size_t i = 0; i < d; i++)
        trace += w[i] > 0 ? sqrt(w[i]) : 0.0;
    return trace;
}

/* A covariance is positive semidefinite: an eigenvalue of sigma below
 * -1e-5 of its largest (more than rounding gives) is refused, where the
 * square root would be complex (pytorch-fid refuses such statistics for the
 * imaginary part of its sqrtm). `which` names the statistics. */
static cln_status check_semidefinite(const double *sigma, int dims, const char *which,
                                     double *work, cln_error *err) {
    const size_t d = (size_t)dims;
    double *v = work, *w = work + d * d;
    memcpy(v, sigma, d * d * sizeof *v);
    if (LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'N', 'U', dims, v, dims, w) != 0)
        return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                        "the eigenvalues of %s statistics' sigma could not be computed", which);
    const double lo = w[0], hi = w[d - 1]; /* ascending */
    if (lo < -1e-5 * fmax(hi, 0.0) || (hi <= 0 && lo < 0))
        return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                        "%s statistics' sigma is not a covariance: it has the eigenvalue %.6g "
                        "(its largest is %.6g), and a covariance has none below 0; its square "
                        "root would be complex",
                        which, lo, hi);
    return CLN_OK;
}

cln_status cln_fid_distance(const cln_fid_stats *a, const cln_fid_stats *b, double *fid, bool *offset_out,
                        cln_error *err) {
    bool unused, *offset = offset_out ? offset_out : &unused;
    *offset = false;
    if (a->dims != b->dims)
        return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                        "the two statistics have %d and %d dims; FID compares the same features",
                        a->dims, b->dims);
    const size_t d = (size_t)a->dims, dd = d * d;
    double *work = malloc((4 * dd + d) * sizeof *work);
    if (!work)
        return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "out of memory comparing %d x %d covariances",
                        a->dims, a->dims);
    double diff = 0.0, traces = 0.0;
    for (size_t i = 0; i < d; i++) {
        diff += (a->mu[i] - b->mu[i]) * (a->mu[i] - b->mu[i]);
        traces += a->sigma[i * d + i] + b->sigma[i * d + i];
    }
    cln_status st = CLN_OK;
    if (!isfinite(diff))
        st = cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                      "|mu1 - mu2|^2 overflows: the statistics' means are too far apart (or "
                      "too large) for a finite distance");
    else if (!isfinite(traces))
        st = cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                      "the traces of the covariances overflow: their diagonals are too large "
                      "for a finite distance");
    if (st == CLN_OK) st = check_semidefinite(a->sigma, a->dims, "the first", work, err);
    if (st == CLN_OK) st = check_semidefinite(b->sigma, b->dims, "the second", work, err);
    if (st != CLN_OK) {
        free(work);
        return st;
    }
    double root = trace_sqrt_product(a->sigma, b->sigma, a->dims, 0.0, work);
    if (!isfinite(root)) {
        *offset = true;
        root = trace_sqrt_product(a->sigma, b->sigma, a->dims, CLN_FID_EPS, work);
    }
    free(work);
    if (!isfinite(root))
        return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                        "the covariances' product has no finite square root, even with %g on "
                        "their diagonals",
                        CLN_FID_EPS);
    *fid = diff + traces - 2.0 * root;
    if (!isfinite(*fid))
        return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                        "the distance overflows (|mu1 - mu2|^2 %g, traces %g, tr sqrtm %g)", diff,
                        traces, root);
    return CLN_OK;
}

/* ---- Several accumulators --------------------------------------------- */

cln_status cln_fid_accumulator_pack(const cln_fid_accumulator *a, void **bytes, size_t *size,
                                cln_error *err) {
    const size_t d = (size_t)a->dims, doubles = 2 + 2 * d + d * d;
    double *out = malloc(doubles * sizeof *out);
    if (!out) return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "out of memory packing statistics");
    out[0] = (double)a->dims;
    out[1] = (double)a->count;
    memcpy(out + 2, a->shift, d * sizeof *out);
    memcpy(out + 2 + d, a->sum, d * sizeof *out);
    memcpy(out + 2 + 2 * d, a->cross, d * d * sizeof *out);
    *bytes = out;
    *size = doubles * sizeof *out;
    return CLN_OK;
}

/* The other's sums moved to a's shift K (they are about their own, L):
 * with e = L - K, sum(x - K) = S + n e and sum((x - K)(x - K)^T) =
 * C + e S^T + S e^T + n e e^T; then added. */
cln_status cln_fid_accumulator_merge(cln_fid_accumulator *a, const void *bytes, size_t size,
                                 cln_error *err) {
    const size_t d = (size_t)a->dims;
    double first;
    if (size == (2 + 2 * d + d * d) * sizeof(double)) memcpy(&first, bytes, sizeof first);
    if (size != (2 + 2 * d + d * d) * sizeof(double) || first != (double)a->dims)
        return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                        "statistics of another size than %d dims to merge", a->dims);
    /* the caller's bytes need not be aligned for doubles */
    double *copy = NULL;
    const double *in = bytes;
    if ((uintptr_t)bytes % _Alignof(double) != 0) {
        if (!(copy = malloc(size)))
            return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "out of memory merging statistics");
        memcpy(copy, bytes, size);
        in = copy;
    }
    const double n = in[1];
    const double *shift = in + 2, *sum = in + 2 + d, *cross = in + 2 + 2 * d;
    if (n == 0) {
        free(copy);
        return CLN_OK;
    }
    if (a->count == 0) memcpy(a->shift, shift, d * sizeof *shift);
    double *e = malloc(d * sizeof *e);
    if (!e) {
        free(copy);
        return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "out of memory merging statistics");
    }
    for (size_t i = 0; i < d; i++)
        e[i] = shift[i] - a->shift[i];
    for (size_t i = 0; i < d; i++) {
        for (size_t j = i; j < d; j++)
            a->cross[i * d + j] +=
                cross[i * d + j] + e[i] * sum[j] + sum[i] * e[j] + n * e[i] * e[j];
        a->sum[i] += sum[i] + n * e[i];
    }
    a->count += (size_t)n;
    free(e);
    free(copy);
    return CLN_OK;
}
