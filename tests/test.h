/* test.h: the project's test framework. Each test is a function returning TEST_PASS,
 * TEST_FAIL or TEST_SKIP, registered at load time with TEST(name) (so test files need no
 * central list). Checks compare numbers with written tolerances and print the worst element
 * on failure. */
#ifndef TTT_TESTS_TEST_H
#define TTT_TESTS_TEST_H

#include <stdint.h>
#include <stdio.h>

enum { TEST_PASS = 0, TEST_FAIL = 1, TEST_SKIP = 2 };

typedef int (*test_fn)(void);
void test_register(const char *name, test_fn fn);

#define TEST(name) \
    static int name(void); \
    __attribute__((constructor)) static void register_##name(void) { test_register(#name, name); } \
    static int name(void)

/* settings from the runner's command line */
extern const char *test_ttt_bin;   /* path of the ttt command */
extern const char *test_fixtures;  /* tests/fixtures */
extern const char *test_tmpdir;    /* a scratch directory for this run */

/* print a failure message (prefixed with the test name) */
void test_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* a skipped test says why */
int test_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define EXPECT(cond, ...) \
    do { \
        if (!(cond)) { \
            test_fail(__VA_ARGS__); \
            return TEST_FAIL; \
        } \
    } while (0)

/* golden style: max|a − ref| <= tol · max|ref| over the tensor */
int check_rel_max(const char *what, const float *a, const float *ref, int64_t n, double tol);
/* elementwise |a − ref| <= atol + rtol·|ref| */
int check_close(const char *what, const double *a, const double *ref, int64_t n, double atol, double rtol);
int check_close_f(const char *what, const float *a, const float *ref, int64_t n, double atol, double rtol);
/* bitwise equality */
int check_bits(const char *what, const void *a, const void *b, size_t bytes);

/* run a shell command; returns its exit status; stderr (and stdout) captured into *out
 * (malloc'd, may be NULL) */
int run_cmd(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* run `ttt ARGS`; expect exit status 1 or 2 (an error, not a crash) and every |-separated
 * needle in its output; prints what was missing */
int expect_cli_error(const char *needles, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* a whole file (malloc'd, NUL-terminated; len nullable), or NULL */
char *read_whole(const char *path, size_t *len);
void write_whole(const char *path, const void *data, size_t len);
/* path inside the scratch directory (static buffer rotation of 8) */
const char *tmp_path(const char *name);
/* a fresh tiny model directory tmp_path(name) from `ttt init` with the tiny TTT-Linear flags
 * (1 layer, width 8, 2 heads, vocab 11) followed by extra_flags (may be ""); NULL on failure
 * (the failure is reported) */
const char *tiny_model(const char *name, const char *extra_flags);
/* a token file tmp_path(name) of n ids below vocab (a fixed pattern, moved along by shift),
 * recording tokenizer name TOKENIZER (may be ""); NULL on failure (reported) */
const char *tiny_tokens(const char *name, int64_t n, int64_t vocab, const char *tokenizer, int shift);
/* the number after "KEY": in a JSON text (as `ttt eval --json` writes it), or NAN */
double json_num(const char *js, const char *key);
/* fixture path: test_fixtures/name */
const char *fixture(const char *name);

#endif
