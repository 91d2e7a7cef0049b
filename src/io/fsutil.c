/* fsutil.c: file reading and crash-safe writing (see fsutil.h). */
#include "io/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

ttt_status ttt_open_regular(const char *path, int *fd_out, size_t *size_out) {
    /* O_NONBLOCK: opening a FIFO for reading must not wait for a writer. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return ttt_err(TTT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return ttt_err(TTT_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        const char *kind = S_ISDIR(st.st_mode)    ? "a directory"
                           : S_ISFIFO(st.st_mode) ? "a FIFO (named pipe)"
                           : S_ISCHR(st.st_mode)  ? "a character device"
                           : S_ISBLK(st.st_mode)  ? "a block device"
                           : S_ISSOCK(st.st_mode) ? "a socket"
                                                  : "not a regular file";
        return ttt_err(TTT_ERR_IO, "%s: is %s; expected a regular file", path, kind);
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    *fd_out = fd;
    if (size_out) *size_out = (size_t)st.st_size;
    return TTT_OK;
}

ttt_status ttt_fopen_regular(const char *path, FILE **fp_out, size_t *size_out) {
    int fd;
    TRY(ttt_open_regular(path, &fd, size_out));
    FILE *fp = fdopen(fd, "rb");
    if (!fp) {
        int e = errno;
        close(fd);
        return ttt_err(TTT_ERR_IO, "%s: cannot open: %s", path, strerror(e));
    }
    *fp_out = fp;
    return TTT_OK;
}

ttt_status ttt_read_file(const char *path, size_t max_bytes, char **out, size_t *len) {
    int fd;
    size_t n;
    TRY(ttt_open_regular(path, &fd, &n));
    if (n > max_bytes) {
        close(fd);
        return ttt_err(TTT_ERR_FORMAT, "%s: file is %zu bytes, more than the %zu allowed", path,
                       n, max_bytes);
    }
    char *buf = malloc(n + 1);
    if (!buf) {
        close(fd);
        return ttt_err(TTT_ERR_NOMEM, "%s: out of memory for %zu bytes", path, n);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return ttt_err(TTT_ERR_IO, "%s: read failed: %s", path, strerror(e));
        }
        if (r == 0) break; /* shrank while reading: keep what is there */
        got += (size_t)r;
    }
    close(fd);
    buf[got] = 0;
    *out = buf;
    if (len) *len = got;
    return TTT_OK;
}

char *ttt_path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t k = a;
    if (a > 0 && dir[a - 1] != '/') p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}

ttt_status ttt_mkdir(const char *dir) {
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (S_ISDIR(st.st_mode)) return TTT_OK;
        return ttt_err(TTT_ERR_IO, "%s: exists and is not a directory", dir);
    }
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return ttt_err(TTT_ERR_IO, "%s: cannot create directory: %s", dir, strerror(errno));
    return TTT_OK;
}

ttt_status ttt_mkdir_p(const char *dir) {
    if (!*dir) return ttt_err(TTT_ERR_ARG, "an empty directory name");
    char *d = strdup(dir);
    if (!d) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    ttt_status s = TTT_OK;
    for (char *p = d + 1; *p && s == TTT_OK; p++)
        if (*p == '/' && p[-1] != '/') {
            *p = 0;
            s = ttt_mkdir(d);
            *p = '/';
        }
    if (s == TTT_OK) s = ttt_mkdir(d);
    free(d);
    return s;
}

/* The temporary file is ".NAME.tmp-XXXXXX" next to the target: created by mkstemp
 * (O_CREAT|O_EXCL, so never through an existing file or symlink), given the permissions a
 * plain creat() would (0666 less the umask), and renamed over the target on commit. */
ttt_status ttt_atomic_open(ttt_atomic_file *af, const char *path) {
    memset(af, 0, sizeof *af);
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        /* never rename over a device, FIFO or directory: a device or FIFO (/dev/null,
         * /dev/stdout, a pipe) is written in place, with every error reported at commit */
        if (!S_ISCHR(st.st_mode) && !S_ISFIFO(st.st_mode))
            return ttt_err(TTT_ERR_IO, "%s: is %s; expected a regular file or a new file name", path,
                           S_ISDIR(st.st_mode) ? "a directory" : S_ISSOCK(st.st_mode) ? "a socket"
                                                                                     : "not a regular file");
        /* O_NONBLOCK: a FIFO without a reader fails at once (ENXIO) instead of waiting */
        int fd = open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd < 0) return ttt_err(TTT_ERR_IO, "%s: cannot open for writing: %s", path, strerror(errno));
        int fl = fcntl(fd, F_GETFL);
        if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
        af->final_path = strdup(path);
        af->fp = af->final_path ? fdopen(fd, "wb") : NULL;
        if (!af->fp) {
            close(fd);
            free(af->final_path);
            af->final_path = NULL;
            return ttt_err(TTT_ERR_NOMEM, "%s: cannot open for writing", path);
        }
        af->direct = 1;
        return TTT_OK;
    }
    size_t n = strlen(path);
    const char *slash = strrchr(path, '/');
    size_t dlen = slash ? (size_t)(slash - path) + 1 : 0;
    af->final_path = malloc(n + 1);
    af->tmp_path = malloc(n + 32);
    if (!af->final_path || !af->tmp_path) {
        free(af->final_path);
        free(af->tmp_path);
        return ttt_err(TTT_ERR_NOMEM, "out of memory");
    }
    memcpy(af->final_path, path, n + 1);
    snprintf(af->tmp_path, n + 32, "%.*s.%s.tmp-XXXXXX", (int)dlen, path, path + dlen);
    int fd = mkstemp(af->tmp_path);
    if (fd < 0) {
        ttt_status s = ttt_err(TTT_ERR_IO, "%s: cannot create a temporary file next to it: %s",
                               path, strerror(errno));
        free(af->final_path);
        free(af->tmp_path);
        af->final_path = af->tmp_path = NULL;
        return s;
    }
    mode_t um = umask(0);
    umask(um);
    fchmod(fd, 0666 & ~um);
    af->fp = fdopen(fd, "wb");
    if (!af->fp) {
        ttt_status s = ttt_err(TTT_ERR_IO, "%s: cannot open: %s", af->tmp_path, strerror(errno));
        close(fd);
        unlink(af->tmp_path);
        free(af->final_path);
        free(af->tmp_path);
        af->final_path = af->tmp_path = NULL;
        return s;
    }
    return TTT_OK;
}

ttt_status ttt_atomic_write_file(const char *path, const void *data, size_t bytes) {
    ttt_atomic_file af;
    TRY(ttt_atomic_open(&af, path));
    ttt_status s = ttt_atomic_write(&af, data, bytes);
    if (s != TTT_OK) {
        ttt_atomic_abort(&af);
        return s;
    }
    return ttt_atomic_commit(&af);
}

ttt_status ttt_atomic_write(ttt_atomic_file *af, const void *data, size_t bytes) {
    if (af->failed) return TTT_ERR_IO;
    if (bytes && fwrite(data, 1, bytes, af->fp) != bytes) {
        af->failed = errno ? errno : EIO;
        return ttt_err(TTT_ERR_IO, "%s: write failed: %s", af->final_path, strerror(af->failed));
    }
    return TTT_OK;
}

static void af_cleanup(ttt_atomic_file *af) {
    free(af->final_path);
    free(af->tmp_path);
    af->final_path = af->tmp_path = NULL;
    af->fp = NULL;
}

void ttt_atomic_abort(ttt_atomic_file *af) {
    if (af->fp) fclose(af->fp);
    if (af->tmp_path && !af->direct) unlink(af->tmp_path);
    af_cleanup(af);
}

ttt_status ttt_atomic_commit(ttt_atomic_file *af) {
    int err = af->failed;
    if (!err && ferror(af->fp)) err = EIO; /* a failed fprintf straight onto af->fp */
    if (!err && fflush(af->fp) != 0) err = errno ? errno : EIO;
    if (af->direct) { /* a device or FIFO: no temporary file, no rename */
        if (fclose(af->fp) != 0 && !err) err = errno ? errno : EIO;
        ttt_status s = err ? ttt_err(TTT_ERR_IO, "%s: cannot write: %s", af->final_path, strerror(err)) : TTT_OK;
        af_cleanup(af);
        return s;
    }
    if (!err && fsync(fileno(af->fp)) != 0) err = errno ? errno : EIO;
    if (fclose(af->fp) != 0 && !err) err = errno ? errno : EIO;
    af->fp = NULL;
    if (!err && rename(af->tmp_path, af->final_path) != 0) err = errno ? errno : EIO;
    if (err) {
        ttt_status s =
            ttt_err(TTT_ERR_IO, "%s: cannot write file: %s", af->final_path, strerror(err));
        unlink(af->tmp_path);
        af_cleanup(af);
        return s;
    }
    /* make the rename durable */
    char *d = strdup(af->final_path);
    if (d) {
        int dfd = open(dirname(d), O_RDONLY | O_DIRECTORY);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
        free(d);
    }
    af_cleanup(af);
    return TTT_OK;
}

/* Remove the entry NAME of directory DFD without following any symbolic link: a link is
 * removed itself, a directory is emptied through descriptors opened with O_NOFOLLOW. */
static ttt_status remove_at(int dfd, const char *name, const char *shown, int depth) {
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) return TTT_OK;
        return ttt_err(TTT_ERR_IO, "%s: cannot stat: %s", shown, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode)) {
        if (unlinkat(dfd, name, 0) != 0 && errno != ENOENT)
            return ttt_err(TTT_ERR_IO, "%s: cannot remove: %s", shown, strerror(errno));
        return TTT_OK;
    }
    if (depth > 64) return ttt_err(TTT_ERR_IO, "%s: directory tree too deep to remove", shown);
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return ttt_err(TTT_ERR_IO, "%s: cannot open: %s", shown, strerror(errno));
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return ttt_err(TTT_ERR_IO, "%s: cannot read: %s", shown, strerror(errno));
    }
    ttt_status s = TTT_OK;
    struct dirent *e;
    while (s == TTT_OK && (e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        s = remove_at(dirfd(d), e->d_name, shown, depth + 1);
    }
    closedir(d);
    if (s == TTT_OK && unlinkat(dfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
        s = ttt_err(TTT_ERR_IO, "%s: cannot remove directory: %s", shown, strerror(errno));
    return s;
}

ttt_status ttt_remove_tree(const char *path) {
    char *d = strdup(path), *b = strdup(path);
    if (!d || !b) {
        free(d);
        free(b);
        return ttt_err(TTT_ERR_NOMEM, "out of memory");
    }
    ttt_status s;
    int dfd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        s = ttt_err(TTT_ERR_IO, "%s: cannot open its directory: %s", path, strerror(errno));
    } else {
        s = remove_at(dfd, basename(b), path, 0);
        close(dfd);
    }
    free(d);
    free(b);
    return s;
}

ttt_status ttt_remove_tree_at(int dfd, const char *name, const char *shown) {
    return remove_at(dfd, name, shown, 0);
}

/* The lock is an flock on DIR/.lock, which holds the holder's pid as text. The file is left in
 * place when released (unlinking lock files races with a process that just opened one). */
ttt_status ttt_dir_lock(const char *dir, int *fd_out) {
    char *p = ttt_path_join(dir, ".lock");
    if (!p) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    int fd = open(p, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0) {
        ttt_status s = ttt_err(TTT_ERR_IO, "%s: cannot open the lock file: %s", p, strerror(errno));
        free(p);
        return s;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char buf[32] = {0};
        ssize_t r = pread(fd, buf, sizeof buf - 1, 0);
        close(fd);
        long pid = r > 0 ? strtol(buf, NULL, 10) : 0;
        ttt_status s;
        if (e == EWOULDBLOCK && pid > 0)
            s = ttt_err(TTT_ERR_IO,
                        "%s: the run directory is in use by another ttt process (pid %ld); wait "
                        "for it to finish or use another --run",
                        dir, pid);
        else if (e == EWOULDBLOCK)
            s = ttt_err(TTT_ERR_IO,
                        "%s: the run directory is in use by another ttt process; wait for it to "
                        "finish or use another --run",
                        dir);
        else
            s = ttt_err(TTT_ERR_IO, "%s: cannot lock: %s", p, strerror(e));
        free(p);
        return s;
    }
    free(p);
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
        /* the lock holds even if the pid could not be recorded */
    }
    *fd_out = fd;
    return TTT_OK;
}

void ttt_dir_unlock(int fd) {
    if (fd >= 0) close(fd);
}
