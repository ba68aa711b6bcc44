/* Atomic file writes (temp file in the same directory, fsync, rename) and mkdir -p. */
#include "bc_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* The process umask without changing it (umask() itself is a racy read-modify-write):
 * Linux reports it in /proc/self/status; elsewhere assume the common 022. */
static mode_t bc__current_umask(void) {
    mode_t m = 022;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return m;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        unsigned v;
        if (sscanf(line, "Umask: %o", &v) == 1) {
            m = (mode_t)(v & 0777);
            break;
        }
    }
    fclose(f);
    return m;
}

/* Makes the rename durable; best effort, since some file systems refuse fsync on directories. */
static void bc__fsync_parent(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir = NULL;
    if (!slash) {
        dir = malloc(2);
        if (dir) memcpy(dir, ".", 2);
    } else {
        size_t n = slash == path ? 1 : (size_t)(slash - path);
        dir = malloc(n + 1);
        if (dir) {
            memcpy(dir, path, n);
            dir[n] = '\0';
        }
    }
    if (!dir) return;
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

bc_status bc__atomic_open(const char *path, FILE **f, char **tmp_path) {
    bc_status st = BC_OK;
    char *tmp = NULL;
    int fd = -1;
    size_t n;
    *f = NULL;
    *tmp_path = NULL;
    if (!path || !*path) return bc__fail(BC_ERR_PARAM, "atomic write: empty path");
    if (!bc__add_size(strlen(path), sizeof ".tmp.XXXXXX", &n)) {
        st = bc__fail(BC_ERR_NOMEM, "%s: path too long", path);
        goto out;
    }
    if (!(tmp = malloc(n))) {
        st = bc__fail(BC_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, n);
        goto out;
    }
    snprintf(tmp, n, "%s.tmp.XXXXXX", path);
    if ((fd = mkstemp(tmp)) < 0) {
        st = bc__fail(BC_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
        free(tmp);
        tmp = NULL;
        goto out;
    }
    /* mkstemp makes 0600 files; give the result the mode a plain fopen would, or keep the
     * mode of the file being replaced. */
    struct stat sb;
    mode_t mode = 0666 & ~bc__current_umask();
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) mode = sb.st_mode & 07777;
    (void)fchmod(fd, mode);
    if (!(*f = fdopen(fd, "wb"))) {
        st = bc__fail(BC_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
        goto out;
    }
    fd = -1; /* owned by *f now */
    *tmp_path = tmp;
    tmp = NULL;
out:
    if (fd >= 0) close(fd);
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    return st;
}

bc_status bc__atomic_commit(FILE *f, char *tmp_path, const char *path, bool ok) {
    bc_status st = BC_OK;
    int err = 0;
    if (!ok) {
        if (f) fclose(f);
        if (tmp_path) unlink(tmp_path);
        goto out;
    }
    if (!f || !tmp_path) {
        st = bc__fail(BC_ERR_PARAM, "%s: atomic commit without an open temp file", path);
        if (f) fclose(f);
        if (tmp_path) unlink(tmp_path);
        goto out;
    }
    /* ferror catches earlier fwrite failures the caller did not check. */
    if (fflush(f) != 0 || ferror(f)) err = errno ? errno : EIO;
    if (!err && fsync(fileno(f)) != 0) err = errno;
    if (fclose(f) != 0 && !err) err = errno ? errno : EIO;
    if (!err && rename(tmp_path, path) != 0) err = errno;
    if (err) {
        unlink(tmp_path);
        st = bc__fail(BC_ERR_IO, "%s: cannot write: %s", path, strerror(err));
        goto out;
    }
    bc__fsync_parent(path);
out:
    free(tmp_path);
    return st;
}

bc_status bc_write_file_atomic(const char *path, const void *data, size_t bytes) {
    FILE *f = NULL;
    char *tmp = NULL;
    if (!path || !*path) return bc__fail(BC_ERR_PARAM, "bc_write_file_atomic: empty path");
    if (!data && bytes) return bc__fail(BC_ERR_PARAM, "%s: NULL data with %zu bytes", path, bytes);
    bc_status st = bc__atomic_open(path, &f, &tmp);
    if (st != BC_OK) return st;
    errno = 0;
    if (bytes && fwrite(data, 1, bytes, f) != bytes)
        st = bc__fail(BC_ERR_IO, "%s: cannot write: %s", path, strerror(errno ? errno : EIO));
    bc_status st2 = bc__atomic_commit(f, tmp, path, st == BC_OK);
    return st != BC_OK ? st : st2;
}

/* Creates one directory `dir` (a prefix of `path`); an existing directory is fine, whatever
 * mkdir says (a read-only parent can give EROFS or EACCES for one that exists). */
static bc_status bc__mkdir1(const char *dir, const char *path) {
    if (mkdir(dir, 0777) == 0) return BC_OK;
    int err = errno;
    struct stat sb;
    if (stat(dir, &sb) == 0) {
        if (S_ISDIR(sb.st_mode)) return BC_OK;
        err = ENOTDIR;
    }
    if (strcmp(dir, path) == 0)
        return bc__fail(BC_ERR_IO, "%s: cannot create directory: %s", path, strerror(err));
    return bc__fail(BC_ERR_IO, "%s: cannot create directory %s: %s", path, dir, strerror(err));
}

bc_status bc_mkdirs(const char *path) {
    bc_status st = BC_OK;
    char *buf = NULL;
    if (!path || !*path) return bc__fail(BC_ERR_PARAM, "bc_mkdirs: empty path");
    size_t n = strlen(path);
    if (!(buf = malloc(n + 1))) {
        st = bc__fail(BC_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, n + 1);
        goto out;
    }
    memcpy(buf, path, n + 1);
    /* buf: the path, cut at each '/' in turn to create every prefix ("a", "a/b", ...). */
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        if (buf[i - 1] == '/') continue; /* "//" or a trailing slash */
        char saved = buf[i];
        buf[i] = '\0';
        st = bc__mkdir1(buf, path);
        buf[i] = saved;
        if (st != BC_OK) goto out;
    }
out:
    free(buf);
    return st;
}
