/* test_python.c: runs the Python tests (tests/python/test_*.py, unittest classes) with pytest
 * (Debian's python3-pytest; `python3 -m unittest` where pytest is missing) against this build's
 * libttt.so and ttt command, and fails when they fail.
 *   - The package's tests (test_model, test_text, test_install, test_golden) check it against
 *     the command line bit for bit (forward logits, loss, gradients, decode logits, generated
 *     text, trained weights), against finite differences and against golden token ids (see each
 *     file). They skip when no python3 with numpy is found.
 *   - test_torch checks ttt.torch: gradcheck of the inner-loop autograd functions in float64,
 *     float32 against a pure-PyTorch primal-form reference written in the test, the error paths
 *     of the C API (include/ttt_inner_loop.h), and the nn.Modules against the authors' ttt.py
 *     when TTT_PY=/path/to/ttt.py is set (those skip otherwise). It skips without torch.
 * The interpreter is TTT_PYTHON, /usr/bin/python3 or python3 on PATH, the first that has the
 * modules. In the sanitizer build the ASan runtime is preloaded into python (leak checks off:
 * the interpreter's and PyTorch's own allocations are not ours), so what Python calls is the
 * library's code under the sanitizers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

static int has_modules(const char *py, const char *modules) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "%s -c 'import %s' >/dev/null 2>&1", py, modules);
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

/* `python -m pytest MODULE.py` in tests/python with this build's library and command; the
 * interpreter must import MODULES (else the test skips, saying INSTALL) */
static int run_unittest(const char *module, const char *modules, const char *install) {
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
        if (cands[i] && cands[i][0] && has_modules(cands[i], modules)) py = cands[i];
    if (!py) return test_skip("no python3 that imports %s (%s, or set TTT_PYTHON)", modules, install);
    if (access("tests/python/helpers.py", R_OK) != 0) return test_skip("tests/python not found (run from the repository root)");
    char bin[4096], dir[4096];
    if (!realpath(test_ttt_bin, bin)) return test_skip("cannot resolve the ttt command %s", test_ttt_bin);
    snprintf(dir, sizeof dir, "%s", bin);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    char lib[4200];
    snprintf(lib, sizeof lib, "%s/libttt.so", dir);
    if (access(lib, R_OK) != 0) return test_skip("%s not built (make lib)", lib);
    const char *tmp = tmp_path(module);
    char *out = NULL;
    /* two threads at most: the machine's cores are shared with the rest of the suite */
    int pytest = has_modules(py, "pytest");
    int rc = run_cmd(&out,
                     "mkdir -p %s && cd tests/python && %sOMP_NUM_THREADS=2 TTT_LIB=%s TTT_BIN=%s TTT_TMP=%s %s -m %s %s%s "
                     "2>&1",
                     tmp, pre, lib, bin, tmp, py, pytest ? "pytest -q -rs -p no:cacheprovider" : "unittest -v", module,
                     pytest ? ".py" : "");
    if (rc != 0) {
        test_fail("python -m %s %s failed (exit %d):\n%s", pytest ? "pytest" : "unittest", module, rc, out ? out : "");
        free(out);
        return TEST_FAIL;
    }
    /* the summary: pytest's "N passed[, M skipped] in T s", unittest's "Ran N tests in T s" */
    const char *sum = NULL;
    if (out && pytest)
        for (const char *p = strstr(out, " passed"); p; p = strstr(p + 1, " passed")) sum = p;
    if (sum)
        while (sum > out && sum[-1] != '\n') sum--;
    if (!sum && out && !pytest) sum = strstr(out, "\nRan ");
    if (!sum) {
        test_fail("python -m %s %s: no test ran:\n%s", pytest ? "pytest" : "unittest", module, out ? out : "");
        free(out);
        return TEST_FAIL;
    }
    if (*sum == '\n') sum++;
    printf("    %s: %.*s\n", module, (int)strcspn(sum, "\n"), sum);
    for (const char *sk = out; (sk = strstr(sk, "SKIPPED")) != NULL; sk++) printf("    (%.*s)\n", (int)strcspn(sk, "\n"), sk);
    if (!pytest && strstr(out, "skipped "))
        printf("    (%.*s)\n", (int)strcspn(strstr(out, "skipped "), "\n"), strstr(out, "skipped "));
    free(out);
    return TEST_PASS;
}

#define NUMPY "numpy", "install python3-numpy"
TEST(test_python_model) { return run_unittest("test_model", NUMPY); }
TEST(test_python_text) { return run_unittest("test_text", NUMPY); }
TEST(test_python_install) { return run_unittest("test_install", NUMPY); }
TEST(test_python_golden) { return run_unittest("test_golden", NUMPY); }
TEST(test_torch) { return run_unittest("test_torch", "numpy, torch", "PyTorch: apt-get install python3-torch"); }
