/* fuzz_util.h: helpers of the libFuzzer harnesses: the fuzz input as a file (the readers under
 * test take a path), written into a private temporary directory. */
#ifndef TTT_FUZZ_UTIL_H
#define TTT_FUZZ_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* a per-process scratch directory, made on first use */
static const char *fuzz_dir(void) {
    static char dir[64];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/ttt-fuzz-XXXXXX");
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            abort();
        }
    }
    return dir;
}

/* write data to DIR/name and return the path (static buffer) */
static const char *fuzz_file(const char *name, const unsigned char *data, size_t n) {
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", fuzz_dir(), name);
    FILE *fp = fopen(path, "wb");
    if (!fp || (n && fwrite(data, 1, n, fp) != n) || fclose(fp) != 0) {
        perror(path);
        abort();
    }
    return path;
}

#endif
