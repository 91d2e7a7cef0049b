/* test_torch.c: runs the PyTorch tests of ttt.torch (tests/python/test_torch.py, unittest)
 * against this build's libttt.so: gradcheck of the inner-loop autograd functions in float64,
 * float32 against a pure-PyTorch primal-form reference written in the test, the error paths of
 * the C API (include/ttt_layer.h), and the nn.Modules against the authors' ttt.py when
 * TTT_PY=/path/to/ttt.py is set (those skip otherwise). Skips when no python3 with torch is
 * found (TTT_PYTHON, /usr/bin/python3, python3 on PATH), and in the sanitizer build (PyTorch's
 * own libraries are not built with the sanitizers and preloading libasan into it is not
 * supported here). */
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

static int run_torch_tests(const char *pattern) {
#if defined(__SANITIZE_ADDRESS__)
    (void)pattern;
    (void)has_torch;
    return test_skip("sanitizer build: the PyTorch tests run in the release build only (PyTorch is not "
                     "sanitizer-instrumented; the C API's own paths are exercised there)");
#else
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
    int rc = run_cmd(&out, "cd tests/python && OMP_NUM_THREADS=2 TTT_LIB=%s %s -m unittest -v %s 2>&1", lib, py, pattern);
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
#endif
}

TEST(test_torch) { return run_torch_tests("test_torch"); }
