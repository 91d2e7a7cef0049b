/* test_python.c: runs the Python package's tests (tests/python/test_*.py, unittest) against
 * this build's libttt.so and ttt command, and fails when they fail. The Python tests check the
 * package against the command line bit for bit (forward logits, loss, gradients, decode logits,
 * generated text, trained weights), against finite differences and against golden token ids
 * (see each file). Skips when no python3 with numpy is found (TTT_PYTHON, /usr/bin/python3,
 * python3 on PATH). In the sanitizer build the ASan runtime is preloaded into python (leak
 * checks off: the interpreter's own allocations are not ours). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

static int has_numpy(const char *py) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "%s -c 'import numpy' >/dev/null 2>&1", py);
    return system(cmd) == 0;
}

/* the ASan runtime the compiler links (empty when not a sanitizer build) */
static void asan_preload(char *buf, size_t cap) {
    buf[0] = 0;
#if defined(__SANITIZE_ADDRESS__)
    FILE *p = popen("cc -print-file-name=libasan.so 2>/dev/null", "r");
    if (p) {
        if (fgets(buf, (int)cap, p)) buf[strcspn(buf, "\n")] = 0;
        pclose(p);
    }
    if (buf[0] != '/' || access(buf, R_OK) != 0) buf[0] = 0;
#else
    (void)cap;
#endif
}

static int run_python_tests(const char *pattern) {
    const char *cands[3] = {getenv("TTT_PYTHON"), "/usr/bin/python3", "python3"};
    const char *py = NULL;
    for (int i = 0; i < 3 && !py; i++)
        if (cands[i] && cands[i][0] && has_numpy(cands[i])) py = cands[i];
    if (!py) return test_skip("no python3 with numpy (install python3-numpy, or set TTT_PYTHON)");
    if (access("tests/python/helpers.py", R_OK) != 0) return test_skip("tests/python not found (run from the repository root)");
    char bin[4096], dir[4096], pre[1024] = "";
    if (!realpath(test_ttt_bin, bin)) return test_skip("cannot resolve the ttt command %s", test_ttt_bin);
    snprintf(dir, sizeof dir, "%s", bin);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    char lib[4200];
    snprintf(lib, sizeof lib, "%s/libttt.so", dir);
    if (access(lib, R_OK) != 0) return test_skip("%s not built (make lib)", lib);
#if defined(__SANITIZE_ADDRESS__)
    char asan[900];
    asan_preload(asan, sizeof asan);
    if (!asan[0]) return test_skip("sanitizer build: libasan.so not found to preload into python");
    snprintf(pre, sizeof pre, "LD_PRELOAD=%s ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 ", asan);
#else
    (void)asan_preload;
#endif
    const char *tmp = tmp_path(pattern);
    char *out = NULL;
    int rc = run_cmd(&out, "mkdir -p %s && cd tests/python && %sTTT_LIB=%s TTT_BIN=%s TTT_TMP=%s %s -m unittest -v %s 2>&1",
                     tmp, pre, lib, bin, tmp, py, pattern);
    if (rc != 0) {
        test_fail("python -m unittest %s failed (exit %d):\n%s", pattern, rc, out ? out : "");
        free(out);
        return TEST_FAIL;
    }
    /* a summary line per test file ("Ran N tests ... OK") */
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

TEST(test_python_model) { return run_python_tests("test_model"); }
TEST(test_python_text) { return run_python_tests("test_text"); }
TEST(test_python_install) { return run_python_tests("test_install"); }
TEST(test_python_golden) { return run_python_tests("test_golden"); }
