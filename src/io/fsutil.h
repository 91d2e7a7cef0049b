/* fsutil.h: whole-file reading and atomic file writing (temporary file in the same
 * directory, fsync, rename, fsync of the directory), so that a crash never leaves a
 * half-written file under the final name. */
#ifndef TTT_IO_FSUTIL_H
#define TTT_IO_FSUTIL_H

#include <stddef.h>
#include <stdio.h>

#include "ttt.h"

/* Open PATH for reading, refusing anything but a regular file (a directory, FIFO, device or
 * socket is an error that says which); a FIFO never blocks the open. size_out may be NULL. */
ttt_status ttt_open_regular(const char *path, int *fd_out, size_t *size_out);
ttt_status ttt_fopen_regular(const char *path, FILE **fp_out, size_t *size_out);

/* Read a whole file into a NUL-terminated malloc'd buffer (max_bytes guards memory). */
ttt_status ttt_read_file(const char *path, size_t max_bytes, char **out, size_t *len);

typedef struct {
    FILE *fp;
    char *final_path;
    char *tmp_path;
    int failed;
    int direct; /* the target is a character device or FIFO, written in place */
} ttt_atomic_file;

/* A target that exists as a character device or FIFO (/dev/null, /dev/stdout, a pipe) is
 * written in place; a directory or socket is an error. Nothing else is ever replaced but a
 * regular file or a symbolic link itself (never the link's target). */
ttt_status ttt_atomic_open(ttt_atomic_file *af, const char *path);
/* Write bytes; errors are remembered and reported by commit (which also reports an error of
 * a fprintf made straight onto af->fp). */
ttt_status ttt_atomic_write(ttt_atomic_file *af, const void *data, size_t bytes);
/* Flush, fsync, rename over the final path. On failure the temporary file is removed. */
ttt_status ttt_atomic_commit(ttt_atomic_file *af);
void ttt_atomic_abort(ttt_atomic_file *af);
/* The whole atomic write of one buffer. */
ttt_status ttt_atomic_write_file(const char *path, const void *data, size_t bytes);

/* Remove PATH and, if it is a directory, everything below it, never following a symbolic
 * link (a link is removed itself; its target is never touched). A missing PATH is not an
 * error. The _at form removes entry NAME of the open directory DFD (SHOWN names it in
 * messages). */
ttt_status ttt_remove_tree(const char *path);
ttt_status ttt_remove_tree_at(int dfd, const char *name, const char *shown);

/* Exclusive lock on directory DIR (flock on DIR/.lock, which records the holder's pid).
 * Fails at once, naming the holder's pid, when another process holds it. Released by
 * ttt_dir_unlock or when the process exits. */
ttt_status ttt_dir_lock(const char *dir, int *fd_out);
void ttt_dir_unlock(int fd);

/* mkdir -p for one level (the directory itself; its parent must exist). */
ttt_status ttt_mkdir(const char *dir);
/* mkdir -p: DIR and every missing parent. */
ttt_status ttt_mkdir_p(const char *dir);
/* Join a directory and a file name into a malloc'd path. */
char *ttt_path_join(const char *dir, const char *name);

#endif
