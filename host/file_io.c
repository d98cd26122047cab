/* Regular files only, read within a bound (file_io.h). */
#define _POSIX_C_SOURCE 200809L
#include "file_io.h"

#include "error.h"

#include <errno.h>
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

static cln_status refuse_kind(const char *path, mode_t mode, cln_error *err) {
    const char *kind = kind_of(mode);
    if (strcmp(kind, "not a regular file") == 0)
        return cln_fail(err, CLN_ERR_IO, "%s: cannot read: it is not a regular file", path);
    return cln_fail(err, CLN_ERR_IO, "%s: cannot read: it is %s, not a regular file", path, kind);
}

cln_status file_open_regular(const char *path, FILE **out, size_t *size, cln_error *err) {
    *out = NULL;
    *size = 0;
    struct stat st;
    if (stat(path, &st) != 0)
        return cln_fail(err, CLN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return refuse_kind(path, st.st_mode, err);
    /* O_NONBLOCK: should it have become a pipe since, the open returns at once */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return cln_fail(err, CLN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        cln_status status = S_ISREG(st.st_mode) ? cln_fail(err, CLN_ERR_IO, "%s: cannot open: %s",
                                                           path, strerror(errno))
                                                : refuse_kind(path, st.st_mode, err);
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
