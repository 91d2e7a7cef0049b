/* fsutil.h: whole-file reading and atomic file writing (temporary file in the same
 * directory, fsync, rename, fsync of the directory), so that a crash never leaves a
 * half-written file under the final name. */
#ifndef TTT_IO_FSUTIL_H
#define TTT_IO_FSUTIL_H

#include <stddef.h>
#include <stdio.h>

#include "ttt.h"

/* Read a whole file into a NUL-terminated malloc'd buffer (max_bytes guards memory). */
ttt_status ttt_read_file(const char *path, size_t max_bytes, char **out, size_t *len);

typedef struct {
    FILE *fp;
    char *final_path;
    char *tmp_path;
    int failed;
} ttt_atomic_file;

ttt_status ttt_atomic_open(ttt_atomic_file *af, const char *path);
/* Write bytes; errors are remembered and reported by commit. */
ttt_status ttt_atomic_write(ttt_atomic_file *af, const void *data, size_t bytes);
/* Flush, fsync, rename over the final path. On failure the temporary file is removed. */
ttt_status ttt_atomic_commit(ttt_atomic_file *af);
void ttt_atomic_abort(ttt_atomic_file *af);

/* mkdir -p for one level (the directory itself; its parent must exist). */
ttt_status ttt_mkdir(const char *dir);
/* Join a directory and a file name into a malloc'd path. */
char *ttt_path_join(const char *dir, const char *name);

#endif
