/* test_golden.c: the TTT golden cases (tests/fixtures/golden, produced by the authors' ttt.py
 * in float64) through the `ttt forward --grad --decode --hidden-states` command, per tensor
 * max|Δ| <= tol · max|expected| with the golden README's float32 tolerances (logits and
 * decode_logits 5e-5, hidden states 2e-5, gradients 1e-4; loss |Δ| <= 1e-5), for the fast
 * kernels, the reference kernels (with every mini-batch kept instead of recomputed) and, at
 * 1e-6 relative, the float64 build of the same code. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "test.h"

static const char *cases[] = {"linear_mamba", "mlp_mamba", "linear_tfbackbone", "mlp_tfbackbone",
                              "linear_mamba_f64"};

static float *read_f32(st_file *f, const st_tensor *t) {
    float *p = malloc(sizeof(float) * (size_t)(t->numel ? t->numel : 1));
    if (p && st_read_f32(f, t, p, t->numel) != TTT_OK) {
        free(p);
        return NULL;
    }
    return p;
}

/* compare every tensor of expected.safetensors that OUT has (input_ids excepted) */
static int compare_case(const char *name, const char *out, double scale, double *worst) {
    char exp_path[512];
    snprintf(exp_path, sizeof exp_path, "%s/golden/%s/expected.safetensors", test_fixtures, name);
    st_file e, g;
    EXPECT(st_open(&e, exp_path) == TTT_OK, "%s", ttt_last_error());
    EXPECT(st_open(&g, out) == TTT_OK, "%s", ttt_last_error());
    int ok = 1, ncmp = 0;
    for (int i = 0; i < e.n; i++) {
        const st_tensor *te = &e.t[i];
        if (strcmp(te->name, "input_ids") == 0) continue;
        const st_tensor *tg = st_find(&g, te->name);
        if (!tg) {
            test_fail("%s: output has no tensor '%s'", name, te->name);
            ok = 0;
            continue;
        }
        if (tg->numel != te->numel) {
            test_fail("%s: '%s' has %lld elements, expected %lld", name, te->name, (long long)tg->numel,
                      (long long)te->numel);
            ok = 0;
            continue;
        }
        float *a = read_f32(&g, tg), *r = read_f32(&e, te);
        char what[256];
        snprintf(what, sizeof what, "%s: %s", name, te->name);
        if (strcmp(te->name, "loss") == 0) {
            double d = fabs((double)a[0] - (double)r[0]);
            *worst = fmax(*worst, d / (1e-5 * scale));
            if (d > 1e-5 * scale) {
                test_fail("%s: |loss - expected| = %.3e > %.1e (got %.8f, expected %.8f)", name, d,
                          1e-5 * scale, a[0], r[0]);
                ok = 0;
            }
        } else {
            double tol = strncmp(te->name, "grad.", 5) == 0 ? 1e-4 : strncmp(te->name, "hidden", 6) == 0 ? 2e-5 : 5e-5;
            tol *= scale;
            double mref = 0, md = 0;
            for (int64_t k = 0; k < te->numel; k++) {
                mref = fmax(mref, fabs(r[k]));
                md = fmax(md, fabs((double)a[k] - (double)r[k]));
            }
            if (mref > 0) *worst = fmax(*worst, md / (tol * mref));
            ok &= check_rel_max(what, a, r, te->numel, tol);
        }
        ncmp++;
        free(a);
        free(r);
    }
    st_close(&e);
    st_close(&g);
    EXPECT(ncmp >= 30, "%s: only %d tensors compared", name, ncmp);
    return ok;
}

static int run_case(const char *name, const char *flags, double scale) {
    char *log;
    const char *out = tmp_path("golden_out.safetensors");
    int rc = run_cmd(&log, "%s forward --model %s/golden/%s --input %s/golden/%s/expected.safetensors "
                     "--output %s --grad --decode --hidden-states %s",
                     test_ttt_bin, test_fixtures, name, test_fixtures, name, out, flags);
    if (rc != 0) {
        test_fail("%s: ttt forward failed (status %d): %s", name, rc, log);
        free(log);
        return 0;
    }
    free(log);
    double worst = 0;
    int ok = compare_case(name, out, scale, &worst);
    printf("      %-18s %-40s worst error %.3f of tolerance\n", name, flags[0] ? flags : "(fast kernels)", worst);
    return ok;
}

TEST(test_golden_ttt_fast_f32) {
    int ok = 1;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) ok &= run_case(cases[i], "", 1.0);
    return ok ? TEST_PASS : TEST_FAIL;
}

TEST(test_golden_ttt_reference_f32) {
    int ok = 1;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ok &= run_case(cases[i], "--kernels reference --remat-group 0", 1.0);
    return ok ? TEST_PASS : TEST_FAIL;
}

/* float64: the remaining difference is the float32 rounding of the stored expected values */
TEST(test_golden_ttt_f64) {
    int ok = 1;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ok &= run_case(cases[i], "--precision f64 --remat-group 3", 1e-6 / 5e-5);
    return ok ? TEST_PASS : TEST_FAIL;
}

/* bf16 mixed precision (--bf16: the products of the linear layers in bfloat16 with float32
 * accumulation, forward, backward and decode): every tolerance times 1000, i.e. per tensor
 * gradients within 1e-1 · max|expected|, logits 5e-2, hidden states 2e-2, loss 1e-2. Measured:
 * gradients 2.7-4.3e-2 (2.3-3.5e-2 in the 2-norm), hidden states 0.7-1.4e-2, logits 0.9-1.5e-2,
 * loss 0.6-2e-3 (each operand carries 8 significant bits: relative errors up to 2^-8 each).
 * That the products really are bf16 is checked in test_bf16.c. */
TEST(test_golden_ttt_bf16) {
    int ok = 1;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0] - 1; i++) ok &= run_case(cases[i], "--bf16", 1000);
    return ok ? TEST_PASS : TEST_FAIL;
}
