/* test_llama_golden.c: the Llama golden case (tests/fixtures/golden/llama_lm: a float64
 * re-implementation of Hugging Face LlamaForCausalLM with grouped KV heads) through
 * `ttt forward --grad --decode --hidden-states`, per tensor max|Δ| <= tol · max|expected|
 * with the golden README's float32 tolerances (logits and decode_logits 5e-5, hidden states
 * 2e-5, every gradient 1e-4; loss |Δ| <= 1e-5), for the fast kernels, the reference kernels
 * and, at 1e-6 relative, the float64 build of the same code. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "test.h"

static float *read_all(st_file *f, const st_tensor *t) {
    float *p = malloc(sizeof(float) * (size_t)(t->numel ? t->numel : 1));
    if (p && st_read_f32(f, t, p, t->numel) != TTT_OK) {
        free(p);
        return NULL;
    }
    return p;
}

/* compare every tensor of expected.safetensors (input_ids excepted) with OUT; tolerances
 * multiplied by scale; *worst = largest error as a fraction of its tolerance */
static int compare(const char *name, const char *out, double scale, double *worst, int *ncmp) {
    char exp_path[512];
    snprintf(exp_path, sizeof exp_path, "%s/golden/%s/expected.safetensors", test_fixtures, name);
    st_file e, g;
    EXPECT(st_open(&e, exp_path) == TTT_OK, "%s", ttt_last_error());
    if (st_open(&g, out) != TTT_OK) {
        st_close(&e);
        EXPECT(0, "%s", ttt_last_error());
    }
    int ok = 1;
    for (int i = 0; i < e.n; i++) {
        const st_tensor *te = &e.t[i];
        if (strcmp(te->name, "input_ids") == 0) continue;
        const st_tensor *tg = st_find(&g, te->name);
        if (!tg || tg->numel != te->numel) {
            test_fail("%s: output tensor '%s' missing or of the wrong size", name, te->name);
            ok = 0;
            continue;
        }
        float *a = read_all(&g, tg), *r = read_all(&e, te);
        if (!a || !r) {
            test_fail("%s: reading '%s': %s", name, te->name, ttt_last_error());
            ok = 0;
        } else if (strcmp(te->name, "loss") == 0) {
            double d = fabs((double)a[0] - (double)r[0]), tol = 1e-5 * scale;
            *worst = fmax(*worst, d / tol);
            if (d > tol) {
                test_fail("%s: |loss - expected| = %.3e > %.1e (got %.8f, expected %.8f)", name, d, tol,
                          a[0], r[0]);
                ok = 0;
            }
        } else {
            double tol = strncmp(te->name, "grad.", 5) == 0    ? 1e-4
                         : strncmp(te->name, "hidden", 6) == 0 ? 2e-5
                                                               : 5e-5;
            tol *= scale;
            double mref = 0, md = 0;
            for (int64_t k = 0; k < te->numel; k++) {
                mref = fmax(mref, fabs(r[k]));
                md = fmax(md, fabs((double)a[k] - (double)r[k]));
            }
            if (mref > 0) *worst = fmax(*worst, md / (tol * mref));
            char what[256];
            snprintf(what, sizeof what, "%s: %s", name, te->name);
            ok &= check_rel_max(what, a, r, te->numel, tol);
        }
        (*ncmp)++;
        free(a);
        free(r);
    }
    st_close(&e);
    st_close(&g);
    return ok;
}

static int run_case(const char *name, const char *flags, double scale) {
    char *log;
    const char *out = tmp_path("llama_golden_out.safetensors");
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
    int ncmp = 0;
    int ok = compare(name, out, scale, &worst, &ncmp);
    /* logits, loss, decode_logits, 3 hidden states, 2·9 + 2 gradients */
    if (ncmp != 26) {
        test_fail("%s: compared %d tensors, expected 26", name, ncmp);
        ok = 0;
    }
    printf("      %-10s %-22s worst error %.3f of tolerance\n", name, flags[0] ? flags : "(fast kernels)", worst);
    return ok;
}

TEST(test_llama_golden_fast_f32) { return run_case("llama_lm", "", 1.0) ? TEST_PASS : TEST_FAIL; }

TEST(test_llama_golden_reference_f32) {
    return run_case("llama_lm", "--kernels reference", 1.0) ? TEST_PASS : TEST_FAIL;
}

/* float64: logits and decode at 1e-6 relative (the others scaled alike: hidden states 4e-7,
 * gradients 2e-6, loss 2e-7); what remains is the float32 rounding of the stored values */
TEST(test_llama_golden_f64) {
    return run_case("llama_lm", "--precision f64", 1e-6 / 5e-5) ? TEST_PASS : TEST_FAIL;
}

/* bf16 mixed precision (--bf16), every tolerance times 1000 as for the TTT cases
 * (test_golden.c): gradients 1e-1 · max|expected|, logits 5e-2, hidden states 2e-2 */
TEST(test_llama_golden_bf16) { return run_case("llama_lm", "--bf16", 1000) ? TEST_PASS : TEST_FAIL; }
