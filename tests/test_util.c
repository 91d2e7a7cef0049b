/* test_util.c: number comparisons, command running and paths for the tests. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "test.h"
#include "ttt_tokenizer.h"

int check_rel_max(const char *what, const float *a, const float *ref, int64_t n, double tol) {
    double mref = 0, md = 0;
    int64_t at = 0;
    for (int64_t i = 0; i < n; i++) {
        mref = fmax(mref, fabs((double)ref[i]));
        double d = fabs((double)a[i] - (double)ref[i]);
        if (!(d <= md)) { /* NaN counts as worst */
            md = isnan(d) ? INFINITY : d;
            at = i;
        }
    }
    if (md <= tol * mref) return 1;
    test_fail("%s: max|a-ref| = %.3e at element %lld (a = %.8g, ref = %.8g) > %.1e * max|ref| = %.3e",
              what, md, (long long)at, (double)a[at], (double)ref[at], tol, tol * mref);
    return 0;
}

int check_close(const char *what, const double *a, const double *ref, int64_t n, double atol, double rtol) {
    double worst = 0;
    int64_t at = -1;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs(a[i] - ref[i]), lim = atol + rtol * fabs(ref[i]);
        double ex = isnan(d) ? INFINITY : d / lim;
        if (ex > 1 && ex > worst) {
            worst = ex;
            at = i;
        }
    }
    if (at < 0) return 1;
    test_fail("%s: element %lld: got %.10g, expected %.10g (|diff| %.3e > %.1e + %.1e*|ref|)", what,
              (long long)at, a[at], ref[at], fabs(a[at] - ref[at]), atol, rtol);
    return 0;
}

int check_close_f(const char *what, const float *a, const float *ref, int64_t n, double atol, double rtol) {
    double *x = malloc(sizeof(double) * (size_t)(n ? n : 1)), *y = malloc(sizeof(double) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) x[i] = a[i], y[i] = ref[i];
    int ok = check_close(what, x, y, n, atol, rtol);
    free(x);
    free(y);
    return ok;
}

int check_bits(const char *what, const void *a, const void *b, size_t bytes) {
    if (memcmp(a, b, bytes) == 0) return 1;
    const unsigned char *p = a, *q = b;
    size_t i = 0;
    while (p[i] == q[i]) i++;
    test_fail("%s: not bit-identical (first difference at byte %zu of %zu)", what, i, bytes);
    return 0;
}

int run_cmd(char **out, const char *fmt, ...) {
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char full[9400], log[1024];
    snprintf(log, sizeof log, "%s/cmd.log", test_tmpdir);
    snprintf(full, sizeof full, "(%s) >%s 2>&1", cmd, log);
    int st = system(full);
    int rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    if (out) {
        FILE *fp = fopen(log, "rb");
        size_t cap = 1 << 16, len = 0;
        char *buf = malloc(cap + 1);
        if (fp) {
            len = fread(buf, 1, cap, fp);
            fclose(fp);
        }
        buf[len] = 0;
        *out = buf;
    }
    return rc;
}

/* paths are interned for the whole run (freed at exit), so they stay valid */
static char *interned[8192];
static int n_interned;

static void free_interned(void) {
    for (int i = 0; i < n_interned; i++) free(interned[i]);
}

static const char *intern_path(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    if (n_interned == 0) atexit(free_interned);
    if (n_interned < (int)(sizeof interned / sizeof interned[0])) interned[n_interned++] = p;
    return p;
}

const char *tmp_path(const char *name) { return intern_path(test_tmpdir, name); }

const char *fixture(const char *name) { return intern_path(test_fixtures, name); }

const char *tiny_model(const char *name, const char *extra_flags) {
    const char *dir = tmp_path(name);
    char *out;
    int rc = run_cmd(&out,
                     "rm -rf %s && %s init --preset ttt-linear-tiny --layers 1 --width 8 --heads 2 "
                     "--intermediate 8 --vocab 11 %s --out %s",
                     dir, test_ttt_bin, extra_flags, dir);
    if (rc != 0) test_fail("init of %s failed: %s", name, out);
    free(out);
    return rc == 0 ? dir : NULL;
}

int expect_cli_error(const char *needles, const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char *out;
    int rc = run_cmd(&out, "%s %s", test_ttt_bin, cmd);
    int ok = 1;
    if (rc != 1 && rc != 2) {
        test_fail("'ttt %s' exited with status %d (expected 1 or 2); output: %s", cmd, rc, out);
        ok = 0;
    }
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", needles);
    for (char *tok = strtok(buf, "|"); tok && ok; tok = strtok(NULL, "|"))
        if (!strstr(out, tok)) {
            test_fail("'ttt %s': message does not mention \"%s\": %s", cmd, tok, out);
            ok = 0;
        }
    free(out);
    return ok;
}

char *read_whole(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    rewind(fp);
    char *b = malloc((size_t)(n > 0 ? n : 0) + 1);
    if (n < 0 || fread(b, 1, (size_t)n, fp) != (size_t)n) n = 0;
    fclose(fp);
    b[n] = 0;
    if (len) *len = (size_t)n;
    return b;
}

void write_whole(const char *path, const void *data, size_t len) {
    FILE *fp = fopen(path, "wb");
    if (!fp) return;
    if (len) fwrite(data, 1, len, fp);
    fclose(fp);
}

const char *tiny_tokens(const char *name, int64_t n, int64_t vocab, const char *tokenizer, int shift) {
    const char *p = tmp_path(name);
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)n);
    if (!ids) return NULL;
    for (int64_t i = 0; i < n; i++) ids[i] = (int32_t)(3 + (i * 7 + shift + (i / 13) % 5) % (vocab - 3));
    ttt_tokfile tf;
    memset(&tf, 0, sizeof tf);
    tf.version = TTT_TOKFILE_VERSION;
    tf.n_tokens = n;
    tf.n_docs = 1;
    tf.bos_id = 1;
    tf.eos_id = 2;
    tf.vocab_size = vocab;
    snprintf(tf.tokenizer, sizeof tf.tokenizer, "%s", tokenizer);
    tf.ids = ids;
    int64_t start = 0;
    tf.doc_start = &start;
    int ok = ttt_tokfile_write(p, &tf) == TTT_OK;
    free(ids);
    if (!ok) test_fail("writing %s: %s", p, ttt_last_error());
    return ok ? p : NULL;
}

double json_num(const char *js, const char *key) {
    char k[64];
    snprintf(k, sizeof k, "\"%s\": ", key);
    const char *p = js ? strstr(js, k) : NULL;
    return p ? strtod(p + strlen(k), NULL) : NAN;
}
