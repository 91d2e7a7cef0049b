/* fuzz_latest.c: libFuzzer harness for a run directory's `latest` (ckpt_parse_latest on the
 * bytes, and ckpt_latest with them as RUN/latest). RUN holds a real checkpoint directory
 * ckpt-00000001, a link ckpt-00000002 to a directory outside, a file ckpt-00000003, and a
 * sibling run OTHER with its own ckpt-00000001. Whatever is accepted must be exactly
 * "ckpt-<digits>" (one trailing newline allowed) and resolve to RUN/<that name>, a real
 * directory inside RUN. */
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "train/checkpoint.h"
#include "ttt.h"

static char run[256];

static void mk(const char *rel) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", fuzz_dir(), rel);
    if (mkdir(p, 0777) != 0) abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    mk("run");
    mk("run/ckpt-00000001");
    mk("other");
    mk("other/ckpt-00000001");
    char p[512], t[512];
    snprintf(p, sizeof p, "%s/run/ckpt-00000002", fuzz_dir());
    snprintf(t, sizeof t, "%s/other", fuzz_dir());
    if (symlink(t, p) != 0) abort();
    fuzz_file("run/ckpt-00000003", (const unsigned char *)"x", 1);
    snprintf(run, sizeof run, "%s/run", fuzz_dir());
    return 0;
}

static int valid_content(const unsigned char *d, size_t n) {
    if (n && d[n - 1] == '\n') n--;
    if (n < 6 || n > 24 || memcmp(d, "ckpt-", 5) != 0) return 0;
    for (size_t i = 5; i < n; i++)
        if (d[i] < '0' || d[i] > '9') return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t n) {
    char name[32];
    int64_t step = -1;
    int ok = ckpt_parse_latest((const char *)data, n, "fuzz", name, &step) == TTT_OK;
    if (ok) {
        size_t k = strlen(name);
        if (!valid_content(data, n) || step < 0 || memcmp(name, data, k) != 0 || (k != n && !(k + 1 == n && data[k] == '\n')))
            abort();
    } else if (valid_content(data, n) && n <= 20) {
        abort(); /* at most 15 digits always fit in an int64 */
    }
    fuzz_file("run/latest", data, n);
    char *path = NULL;
    int64_t st2 = -1;
    if (ckpt_latest(run, &path, &st2) == TTT_OK) {
        struct stat sb;
        size_t rl = strlen(run);
        if (!ok || st2 != step || strncmp(path, run, rl) != 0 || path[rl] != '/' || strcmp(path + rl + 1, name) != 0 ||
            lstat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
            abort();
        free(path);
    } else if (path) {
        abort();
    }
    return 0;
}
