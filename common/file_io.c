/* Regular files only, read within a bound (file_io.h). */
#define _XOPEN_SOURCE 700
#include "file_io.h"

#include "error.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *kind_of(mode_t mode) {
    return S_ISDIR(mode)    ? "a folder"
           : S_ISFIFO(mode) ? "a named pipe"
           : S_ISCHR(mode)  ? "a character device"
           : S_ISBLK(mode)  ? "a block device"
           : S_ISSOCK(mode) ? "a socket"
                            : "not a regular file";
}

static cln_status refuse_kind(const char *path, const char *verb, mode_t mode, cln_error *err) {
    const char *kind = kind_of(mode);
    if (strcmp(kind, "not a regular file") == 0)
        return cln_fail(err, CLN_ERR_IO, "%s: cannot %s: it is not a regular file", path, verb);
    return cln_fail(err, CLN_ERR_IO, "%s: cannot %s: it is %s, not a regular file", path, verb,
                    kind);
}

cln_status cln_check_output(const char *path, const char *const *inputs, size_t count,
                             cln_error *err) {
    struct stat out, in;
    const char *slash = strrchr(path, '/');
    const size_t name = strlen(slash ? slash + 1 : path);
    if (name > NAME_MAX)
        return cln_fail(err, CLN_ERR_IO,
                        "%s: cannot write: its name is %zu bytes, more than the %d a file name "
                        "may have",
                        path, name, NAME_MAX);
    if (stat(path, &out) != 0) return CLN_OK; /* a new file */
    if (!S_ISREG(out.st_mode)) return refuse_kind(path, "write", out.st_mode, err);
    /* a user who made a file read-only meant it (root passes access(): the
     * mode says it too) */
    if (access(path, W_OK) != 0 || !(out.st_mode & 0222))
        return cln_fail(err, CLN_ERR_IO,
                        "%s: cannot write: it is read-only (mode %04o); make it writable, or "
                        "name another output",
                        path, (unsigned)(out.st_mode & 07777));
    for (size_t i = 0; i < count; i++)
        if (inputs[i] && stat(inputs[i], &in) == 0 && in.st_dev == out.st_dev &&
            in.st_ino == out.st_ino)
            return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                            "%s: cannot write: it is the input %s, which the run reads", path,
                            inputs[i]);
    return CLN_OK;
}

cln_status file_open_regular(const char *path, FILE **out, size_t *size, cln_error *err) {
    *out = NULL;
    *size = 0;
    struct stat st;
    if (stat(path, &st) != 0)
        return cln_fail(err, CLN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return refuse_kind(path, "read", st.st_mode, err);
    /* O_NONBLOCK: should it have become a pipe since, the open returns at once */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return cln_fail(err, CLN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        cln_status status = S_ISREG(st.st_mode) ? cln_fail(err, CLN_ERR_IO, "%s: cannot open: %s",
                                                           path, strerror(errno))
                                                : refuse_kind(path, "read", st.st_mode, err);
        close(fd);
        return status;
    }
    int flags = fcntl(fd, F_GETFL);
    FILE *f = flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0 ? NULL : fdopen(fd, "rb");
    if (!f) {
        cln_status status = cln_fail(err, CLN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        close(fd);
        return status;
    }
    if (st.st_size < 0 || (off_t)(size_t)st.st_size != st.st_size) {
        fclose(f);
        return cln_fail(err, CLN_ERR_IO, "%s: cannot read: the file is too large to address", path);
    }
    *out = f;
    *size = (size_t)st.st_size;
    return CLN_OK;
}

cln_status file_read_all(const char *path, size_t max_bytes, const char *what,
                         unsigned char **bytes, size_t *size, cln_error *err) {
    *bytes = NULL;
    *size = 0;
    FILE *f;
    size_t n;
    cln_status status = file_open_regular(path, &f, &n, err);
    if (status != CLN_OK) return status;
    if (n > max_bytes) {
        fclose(f);
        return cln_fail(err, CLN_ERR_FORMAT,
                        "%s: the file is %zu bytes, more than the %zu allowed for %s", path, n,
                        max_bytes, what);
    }
    unsigned char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "%s: out of memory reading %zu bytes", path, n);
    }
    /* one byte more than the size: a file that grew since is refused, not cut */
    size_t got = fread(buf, 1, n + 1, f);
    if (ferror(f))
        status = cln_fail(err, CLN_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    else if (got != n)
        status = cln_fail(err, CLN_ERR_IO,
                          "%s: cannot read: the file changed size while it was read", path);
    fclose(f);
    if (status != CLN_OK) {
        free(buf);
        return status;
    }
    buf[n] = '\0';
    *bytes = buf;
    *size = n;
    return CLN_OK;
}

/* The temporary files open now, for cln_remove_temporaries: slots taken and
 * given back atomically, so that a signal handler may read them at any
 * time. A file past the table's room is simply not listed. */
#define LIVE_TEMPS 64
static char *_Atomic live_temps[LIVE_TEMPS];

static void list_temp(char *temp) {
    for (int i = 0; i < LIVE_TEMPS; i++) {
        char *empty = NULL;
        if (atomic_compare_exchange_strong(&live_temps[i], &empty, temp)) return;
    }
}

static void unlist_temp(char *temp) {
    for (int i = 0; i < LIVE_TEMPS; i++) {
        char *expected = temp;
        if (temp && atomic_compare_exchange_strong(&live_temps[i], &expected, NULL)) return;
    }
}

void cln_remove_temporaries(void) {
    for (int i = 0; i < LIVE_TEMPS; i++) {
        char *temp = atomic_load(&live_temps[i]);
        if (temp) unlink(temp); /* async-signal-safe */
    }
}

cln_status temp_file_open(temp_file *t, const char *path, cln_error *err) {
    memset(t, 0, sizeof *t);
    size_t len = strlen(path);
    t->path = malloc(len + 1);
    t->temp = malloc(len + 8);
    if (!t->path || !t->temp) {
        temp_file_abort(t);
        return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "%s: cannot write: out of memory", path);
    }
    memcpy(t->path, path, len + 1);
    /* PATH.XXXXXX, its name shortened to fit NAME_MAX where PATH's is long */
    const char *slash = strrchr(path, '/');
    const size_t dir = slash ? (size_t)(slash - path) + 1 : 0;
    size_t keep = len;
    if (len - dir + 7 > NAME_MAX) keep = dir + NAME_MAX - 7;
    memcpy(t->temp, path, keep);
    memcpy(t->temp + keep, ".XXXXXX", sizeof ".XXXXXX");
    /* mkstemp makes it 0600: give it the mode of the file it replaces, else
     * what the umask leaves of 0666, as creating it by name would */
    struct stat st;
    mode_t mode;
    if (stat(path, &st) == 0) {
        mode = st.st_mode & 07777;
    } else {
        mode = umask(0);
        umask(mode);
        mode = 0666 & ~mode;
    }
    int fd = mkstemp(t->temp);
    if (fd < 0 || fchmod(fd, mode) != 0 || !(t->f = fdopen(fd, "w+b"))) {
        cln_status status =
            cln_fail(err, CLN_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(t->temp);
        }
        free(t->temp);
        t->temp = NULL;
        temp_file_abort(t);
        return status;
    }
    list_temp(t->temp);
    return CLN_OK;
}

cln_status temp_file_commit(temp_file *t, cln_error *err) {
    bool ok = fflush(t->f) == 0 && fsync(fileno(t->f)) == 0;
    int saved = errno;
    if (fclose(t->f) != 0 && ok) {
        ok = false;
        saved = errno;
    }
    t->f = NULL;
    if (ok && rename(t->temp, t->path) != 0) {
        ok = false;
        saved = errno;
    }
    if (!ok) {
        cln_status status =
            cln_fail(err, CLN_ERR_IO, "%s: cannot write: %s", t->path, strerror(saved));
        temp_file_abort(t);
        return status;
    }
    unlist_temp(t->temp);
    free(t->temp); /* renamed: nothing to remove */
    t->temp = NULL;
    temp_file_abort(t);
    return CLN_OK;
}

void temp_file_abort(temp_file *t) {
    if (t->f) fclose(t->f);
    unlist_temp(t->temp);
    if (t->temp) unlink(t->temp);
    free(t->temp);
    free(t->path);
    memset(t, 0, sizeof *t);
}

/* The file a path names, existing or not: its device and inode, or its
 * folder's real path and its name. */
static bool same_file(const char *a, const char *b) {
    struct stat sa, sb;
    if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    char *ra = NULL, *rb = NULL, *da = strdup(a), *db = strdup(b);
    const char *na = a, *nb = b;
    bool same = false;
    if (da && db) {
        char *sla = strrchr(da, '/'), *slb = strrchr(db, '/');
        na = sla ? sla + 1 : a;
        nb = slb ? slb + 1 : b;
        if (sla) *(sla == da ? sla + 1 : sla) = '\0';
        if (slb) *(slb == db ? slb + 1 : slb) = '\0';
        ra = realpath(sla ? da : ".", NULL);
        rb = realpath(slb ? db : ".", NULL);
        same = ra && rb && strcmp(ra, rb) == 0 && strcmp(na, nb) == 0;
    }
    free(ra);
    free(rb);
    free(da);
    free(db);
    return same;
}

cln_status cln_check_outputs(const char *const *outputs, size_t count, const char *const *inputs,
                             size_t input_count, cln_error *err) {
    for (size_t i = 0; i < count; i++) {
        if (!outputs[i]) continue;
        cln_status st = cln_check_output(outputs[i], inputs, input_count, err);
        if (st != CLN_OK) return st;
        for (size_t j = 0; j < i; j++)
            if (outputs[j] && same_file(outputs[i], outputs[j]))
                return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                                "%s: cannot write: it is also %s, another output of the run; one "
                                "would be lost",
                                outputs[i], outputs[j]);
    }
    return CLN_OK;
}

/* ---- The public face of temp_file ---------------------------------------- */

struct cln_output {
    temp_file file;
};

cln_status cln_output_open(const char *path, cln_output **out, FILE **stream, cln_error *err) {
    *out = NULL;
    cln_status st = cln_check_output(path, NULL, 0, err);
    if (st != CLN_OK) return st;
    cln_output *o = calloc(1, sizeof *o);
    if (!o) return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "%s: cannot write: out of memory", path);
    if ((st = temp_file_open(&o->file, path, err)) != CLN_OK) {
        free(o);
        return st;
    }
    *out = o;
    *stream = o->file.f;
    return CLN_OK;
}

cln_status cln_output_commit(cln_output *out, cln_error *err) {
    cln_status st = temp_file_commit(&out->file, err);
    temp_file_abort(&out->file);
    free(out);
    return st;
}

void cln_output_abort(cln_output *out) {
    if (!out) return;
    temp_file_abort(&out->file);
    free(out);
}
