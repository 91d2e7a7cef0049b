/* test_torch.c: runs the PyTorch tests of ttt.torch (tests/python/test_torch.py, unittest)
 * against this build's libttt.so: gradcheck of the inner-loop autograd functions in float64,
 * float32 against a pure-PyTorch primal-form reference written in the test, the error paths of
 * the C API (include/ttt_inner_loop.h), and the nn.Modules against the authors' ttt.py when
 * TTT_PY=/path/to/ttt.py is set (those skip otherwise). Skips when no python3 with torch is
 * found (TTT_PYTHON, /usr/bin/python3, python3 on PATH). In the sanitizer build the ASan
 * runtime is preloaded into python (leak checks off: the interpreter's and PyTorch's own
 * allocations are not ours), so the library's code under the sanitizers is what torch calls. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

static int has_torch(const char *py) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "%s -c 'import numpy, torch' >/dev/null 2>&1", py);
    return system(cmd) == 0;
}

/* the ASan runtime the compiler links (empty when not found) */
static void asan_runtime(char *buf, size_t cap) {
    buf[0] = 0;
    FILE *p = popen("cc -print-file-name=libasan.so 2>/dev/null", "r");
    if (p) {
        if (fgets(buf, (int)cap, p)) buf[strcspn(buf, "\n")] = 0;
        pclose(p);
    }
    if (buf[0] != '/' || access(buf, R_OK) != 0) buf[0] = 0;
}

static int run_torch_tests(const char *pattern) {
    char pre[1100] = "";
#if defined(__SANITIZE_ADDRESS__)
    char asan[900];
    asan_runtime(asan, sizeof asan);
    if (!asan[0]) return test_skip("sanitizer build: libasan.so not found to preload into python");
    snprintf(pre, sizeof pre, "LD_PRELOAD=%s ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 ", asan);
#else
    (void)asan_runtime;
#endif
    const char *cands[3] = {getenv("TTT_PYTHON"), "/usr/bin/python3", "python3"};
    const char *py = NULL;
    for (int i = 0; i < 3 && !py; i++)
        if (cands[i] && cands[i][0] && has_torch(cands[i])) py = cands[i];
    if (!py) return test_skip("PyTorch not installed: no python3 with torch and numpy (apt-get install python3-torch, or set TTT_PYTHON)");
    if (access("tests/python/test_torch.py", R_OK) != 0) return test_skip("tests/python not found (run from the repository root)");
    char bin[4096], dir[4096];
    if (!realpath(test_ttt_bin, bin)) return test_skip("cannot resolve the ttt command %s", test_ttt_bin);
    snprintf(dir, sizeof dir, "%s", bin);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    char lib[4200];
    snprintf(lib, sizeof lib, "%s/libttt.so", dir);
    if (access(lib, R_OK) != 0) return test_skip("%s not built (make lib)", lib);
    char *out = NULL;
    /* two threads at most: the machine's cores are shared with the rest of the suite */
    int rc = run_cmd(&out, "cd tests/python && %sOMP_NUM_THREADS=2 TTT_LIB=%s %s -m unittest -v %s 2>&1", pre, lib, py,
                     pattern);
    if (rc != 0) {
        test_fail("python -m unittest %s failed (exit %d):\n%s", pattern, rc, out ? out : "");
        free(out);
        return TEST_FAIL;
    }
    const char *ran = out ? strstr(out, "\nRan ") : NULL;
    if (!ran) {
        test_fail("python -m unittest %s: no test ran:\n%s", pattern, out ? out : "");
        free(out);
        return TEST_FAIL;
    }
    printf("    %s: %.*s\n", pattern, (int)strcspn(ran + 1, "\n"), ran + 1);
    const char *sk = strstr(out, "skipped ");
    if (sk) printf("    (%.*s)\n", (int)strcspn(sk, "\n"), sk);
    free(out);
    return TEST_PASS;
}

TEST(test_torch) { return run_torch_tests("test_torch"); }
