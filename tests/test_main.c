/* test_main.c: the test runner: runs every registered test (or those whose name contains
 * one of the arguments), prints PASS/FAIL/SKIP per test with its time, and ends with
 * "N passed, N failed, N skipped"; the exit status is nonzero when anything failed. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

typedef struct {
    const char *name;
    test_fn fn;
} test_entry;

static test_entry tests[512];
static int n_tests;
static const char *current;

const char *test_ttt_bin = "build/ttt";
const char *test_fixtures = "tests/fixtures";
const char *test_tmpdir;

void test_register(const char *name, test_fn fn) {
    if (n_tests < (int)(sizeof tests / sizeof tests[0])) tests[n_tests++] = (test_entry){name, fn};
}

void test_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "  [%s] ", current);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

int test_skip(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "  [%s] skipped: ", current);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return TEST_SKIP;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(((const test_entry *)a)->name, ((const test_entry *)b)->name);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    const char *filters[64];
    int nf = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--ttt") == 0 && i + 1 < argc)
            test_ttt_bin = argv[++i];
        else if (strcmp(argv[i], "--fixtures") == 0 && i + 1 < argc)
            test_fixtures = argv[++i];
        else if (strcmp(argv[i], "--list") == 0) {
            qsort(tests, (size_t)n_tests, sizeof tests[0], cmp_name);
            for (int k = 0; k < n_tests; k++) printf("%s\n", tests[k].name);
            return 0;
        } else if (nf < 64)
            filters[nf++] = argv[i];
    }
    static char tmpl[] = "/tmp/ttt-tests-XXXXXX";
    test_tmpdir = mkdtemp(tmpl);
    if (!test_tmpdir) {
        perror("mkdtemp");
        return 1;
    }
    qsort(tests, (size_t)n_tests, sizeof tests[0], cmp_name);
    int passed = 0, failed = 0, skipped = 0;
    double t_all = now();
    for (int k = 0; k < n_tests; k++) {
        int match = nf == 0;
        for (int j = 0; j < nf && !match; j++) match = strstr(tests[k].name, filters[j]) != NULL;
        if (!match) continue;
        current = tests[k].name;
        double t0 = now();
        int r = tests[k].fn();
        double dt = now() - t0;
        const char *tag = r == TEST_PASS ? "PASS" : r == TEST_SKIP ? "SKIP" : "FAIL";
        printf("%s  %-50s %7.2f s\n", tag, tests[k].name, dt);
        fflush(stdout);
        if (r == TEST_PASS) passed++;
        else if (r == TEST_SKIP) skipped++;
        else failed++;
    }
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", test_tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", test_tmpdir);
    printf("%d passed, %d failed, %d skipped (%.1f s)\n", passed, failed, skipped, now() - t_all);
    return failed ? 1 : 0;
}
