/* fsutil.c: file reading and crash-safe writing (see fsutil.h). */
#include "io/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

ttt_status ttt_read_file(const char *path, size_t max_bytes, char **out, size_t *len) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return ttt_err(TTT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fseek(fp, 0, SEEK_END) != 0) {
        fclose(fp);
        return ttt_err(TTT_ERR_IO, "%s: cannot seek: %s", path, strerror(errno));
    }
    long n = ftell(fp);
    if (n < 0) {
        fclose(fp);
        return ttt_err(TTT_ERR_IO, "%s: cannot read (not a regular file?)", path);
    }
    if ((size_t)n > max_bytes) {
        fclose(fp);
        return ttt_err(TTT_ERR_FORMAT, "%s: file is %ld bytes, more than the %zu allowed", path,
                       n, max_bytes);
    }
    rewind(fp);
    char *buf = malloc((size_t)n + 1);
    if (!buf) {
        fclose(fp);
        return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", path);
    }
    if (n > 0 && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        fclose(fp);
        return ttt_err(TTT_ERR_IO, "%s: read failed", path);
    }
    fclose(fp);
    buf[n] = 0;
    *out = buf;
    if (len) *len = (size_t)n;
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

ttt_status ttt_atomic_open(ttt_atomic_file *af, const char *path) {
    memset(af, 0, sizeof *af);
    size_t n = strlen(path);
    af->final_path = malloc(n + 1);
    af->tmp_path = malloc(n + 32);
    if (!af->final_path || !af->tmp_path) {
        free(af->final_path);
        free(af->tmp_path);
        return ttt_err(TTT_ERR_NOMEM, "out of memory");
    }
    memcpy(af->final_path, path, n + 1);
    snprintf(af->tmp_path, n + 32, "%s.tmp.%ld", path, (long)getpid());
    af->fp = fopen(af->tmp_path, "wb");
    if (!af->fp) {
        ttt_status s = ttt_err(TTT_ERR_IO, "%s: cannot create: %s", af->tmp_path, strerror(errno));
        free(af->final_path);
        free(af->tmp_path);
        af->final_path = af->tmp_path = NULL;
        return s;
    }
    return TTT_OK;
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
    if (af->tmp_path) unlink(af->tmp_path);
    af_cleanup(af);
}

ttt_status ttt_atomic_commit(ttt_atomic_file *af) {
    int err = af->failed;
    if (!err && fflush(af->fp) != 0) err = errno ? errno : EIO;
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
