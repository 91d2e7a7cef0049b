/* test_mamba.c: the Mamba-1 language model on tiny models with "interesting" parameters (the
 * golden data's draws): finite-difference gradients in float64 for every tensor (tied and
 * untied heads, with and without biases, a masked per-sequence loss, scans crossing
 * recomputation chunks); prefill + decode == full forward (any prefill length, chunked
 * prefills); causality; gradients bit-identical for any recomputation chunk; results
 * bit-identical for 1, 2 and 3 threads; and bad Mamba configs and files through the command.
 *
 * Finite differences: central, h = 1e-5, |analytic − fd| <= 1e-7 + 1e-5·|fd| (as test_grad.c:
 * truncation and rounding errors ≈ 1e-10 in float64, a wrong term is O(1) relative). */
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "model/model.h"
#include "models.h"
#include "test.h"

#define ATOL 1e-7
#define RTOL 1e-5

/* a tiny Mamba: D 16, E 32, N 4, R 2, K 4, 2 layers, V 29 */
static void mamba_tiny(ttt_config *c) {
    ttt_config_preset("mamba-tiny", c);
    c->hidden_size = 16;
    c->expand = 2;
    c->intermediate_size = 32;
    c->state_size = 4;
    c->time_step_rank = 2;
    c->conv_kernel = 4;
    c->num_hidden_layers = 2;
    c->vocab_size = 29;
}

static int has(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

/* the golden data's parameter draws (golden/README.md, "Parameter values (Mamba)") */
static void mamba_randomize(ttt_model *m, uint64_t seed) {
    ttt_rng r;
    ttt_rng_seed(&r, seed);
    for (int64_t i = 0; i < ttt_param_count(m); i++) {
        const char *n = ttt_param_name(m, i);
        int64_t sh[8], numel = 1;
        int nd = ttt_param_shape(m, i, sh);
        for (int k = 0; k < nd; k++) numel *= sh[k];
        double fan_in = nd >= 2 ? (double)sh[nd - 1] : 1;
        float *v = malloc(sizeof(float) * (size_t)numel);
        for (int64_t j = 0; j < numel; j++) {
            double z = ttt_rng_normal(&r), x;
            if (has(n, "embedding") || has(n, "lm_head"))
                x = 1.5 / sqrt(fan_in) * z;
            else if (has(n, "norm"))
                x = 1.0 + 0.1 * z;
            else if (has(n, "x_proj"))
                x = 3.0 / sqrt(fan_in) * z;
            else if (has(n, "conv1d.weight"))
                x = 0.3 * z;
            else if (has(n, "dt_proj.bias")) {
                double dt = exp(log(0.1) + 0.6 * z);
                dt = dt < 1e-3 ? 1e-3 : dt > 1 ? 1 : dt;
                x = dt + log(-expm1(-dt)); /* softplus⁻¹ */
            } else if (has(n, "A_log"))
                x = log((double)(j % sh[1] + 1)) + 0.2 * z;
            else if (has(n, "mixer.D"))
                x = 1.0 + 0.3 * z;
            else if (has(n, "bias"))
                x = 0.1 * z;
            else
                x = z / sqrt(fan_in); /* in_proj, out_proj, dt_proj.weight */
            v[j] = (float)x;
        }
        ttt_param_set(m, i, v);
        free(v);
    }
}

static ttt_model *mamba_model(const ttt_config *c, ttt_precision prec, uint64_t seed) {
    ttt_options o;
    ttt_options_default(&o);
    o.precision = prec;
    ttt_model *m;
    if (ttt_model_create(c, seed, &o, &m) != TTT_OK) {
        test_fail("creating a Mamba model: %s", ttt_last_error());
        return NULL;
    }
    mamba_randomize(m, seed + 1000);
    return m;
}

static void opts(ttt_model *m, int threads, int remat, int reference) {
    ttt_options o;
    ttt_model_get_options(m, &o);
    o.threads = threads;
    o.remat_group = remat;
    o.reference_kernels = reference;
    ttt_model_set_options(m, &o);
}

/* ------------------------------------------------------------------------------------------ */
/* finite differences                                                                          */

static int model_fd(const ttt_config *c, int64_t B, int64_t L, int remat, int masked, const char *what) {
    ttt_model *m = mamba_model(c, TTT_PREC_F64, 17);
    EXPECT(m, "model");
    opts(m, 0, remat, 0);
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)(B * L)), *tg = masked ? malloc(sizeof(int32_t) * (size_t)(B * L)) : NULL;
    fd_inputs(ids, tg, B * L, c->vocab_size);
    int ok = fd_check_model(m, ids, tg, B, L, masked, 1, what);
    free(ids), free(tg);
    ttt_model_free(m);
    return ok;
}

TEST(test_mamba_grad_fd_f64) {
    int ok = 1;
    ttt_config c;
    mamba_tiny(&c);
    ok &= model_fd(&c, 2, 21, 1, 0, "tied, conv bias, B=2 L=21 (chunks 16 + 5)");
    mamba_tiny(&c);
    c.tie_word_embeddings = 0;
    c.use_bias = 1;
    c.use_conv_bias = 0;
    c.conv_kernel = 3;
    ok &= model_fd(&c, 2, 11, 0, 1, "untied, in/out_proj biases, no conv bias, K=3, masked");
    mamba_tiny(&c);
    c.use_bias = 1;
    c.state_size = 3;
    c.expand = 3;
    c.intermediate_size = 48; /* two channel blocks of the scan, the second one partial */
    c.num_hidden_layers = 1;
    ok &= model_fd(&c, 1, 9, 1, 0, "tied, all biases, E=48 N=3, one layer");
    return ok ? TEST_PASS : TEST_FAIL;
}

/* ------------------------------------------------------------------------------------------ */
/* decode == forward, causality                                                                */

/* logits of prefills of `chunk` tokens up to P, then single-token decode, vs the forward */
static int decode_matches(ttt_model *m, const int32_t *ids, int64_t B, int64_t L, const float *ref, int64_t P,
                          int64_t chunk, double tol, const char *what) {
    int64_t V = ttt_config_vocab_rows(ttt_model_config(m));
    ttt_cache *c;
    EXPECT(ttt_cache_create(m, B, &c) == TTT_OK, "%s", ttt_last_error());
    float *got = malloc(sizeof(float) * (size_t)(B * L * V)), *tmp = malloc(sizeof(float) * (size_t)(B * L * V));
    int32_t *col = malloc(sizeof(int32_t) * (size_t)(B * L));
    int ok = 1;
    for (int pass = 0; pass < 2 && ok; pass++) { /* the second pass after a reset */
        int64_t t = 0;
        while (t < L && ok) {
            int64_t n = t < P ? (P - t < chunk ? P - t : chunk) : 1;
            for (int64_t b = 0; b < B; b++) memcpy(col + b * n, ids + b * L + t, sizeof(int32_t) * (size_t)n);
            if (ttt_prefill(m, c, col, n, tmp) != TTT_OK) {
                test_fail("%s: prefill: %s", what, ttt_last_error());
                ok = 0;
                break;
            }
            for (int64_t b = 0; b < B; b++)
                memcpy(got + (b * L + t) * V, tmp + b * n * V, sizeof(float) * (size_t)(n * V));
            t += n;
        }
        EXPECT(ttt_cache_position(c) == L, "%s: cache position %lld", what, (long long)ttt_cache_position(c));
        char w[256];
        snprintf(w, sizeof w, "%s: prefill %lld (chunks of %lld) + decode vs forward%s", what, (long long)P,
                 (long long)chunk, pass ? " after reset" : "");
        if (ok) ok = check_rel_max(w, got, ref, B * L * V, tol);
        ttt_cache_reset(c);
        EXPECT(ttt_cache_position(c) == 0, "reset");
    }
    free(got), free(tmp), free(col);
    ttt_cache_free(c);
    return ok;
}

static int decode_case(const ttt_config *c, ttt_precision prec, double tol, const char *what) {
    const int64_t B = 2, L = 37;
    ttt_model *m = mamba_model(c, prec, 7);
    EXPECT(m, "model");
    int64_t V = ttt_config_vocab_rows(c);
    int32_t ids[B * L];
    random_ids(ids, B * L, c->vocab_size, 3);
    float *ref = malloc(sizeof(float) * (size_t)(B * L * V));
    EXPECT(ttt_forward(m, ids, B, L, ref, NULL) == TTT_OK, "%s", ttt_last_error());
    int ok = 1;
    const int64_t Ps[] = {0, 1, 5, 16, 17, 36, 37};
    for (size_t i = 0; i < sizeof Ps / sizeof Ps[0]; i++) ok &= decode_matches(m, ids, B, L, ref, Ps[i], 1000, tol, what);
    ok &= decode_matches(m, ids, B, L, ref, 37, 5, tol, what);  /* chunked prefills */
    ok &= decode_matches(m, ids, B, L, ref, 30, 13, tol, what);
    ok &= decode_matches(m, ids, B, L, ref, 3, 1, tol, what);   /* one-token prefills */
    free(ref);
    ttt_model_free(m);
    return ok;
}

TEST(test_mamba_decode_equals_forward) {
    int ok = 1;
    ttt_config c;
    mamba_tiny(&c);
    ok &= decode_case(&c, TTT_PREC_F64, 1e-12, "f64 tied");
    mamba_tiny(&c);
    c.tie_word_embeddings = 0;
    c.use_bias = 1;
    c.conv_kernel = 3;
    c.mamba_ssm_format = 1; /* padded vocabulary: 29 -> 32 logits */
    c.pad_vocab_size_multiple = 8;
    ok &= decode_case(&c, TTT_PREC_F64, 1e-12, "f64 untied, biases, K=3, padded vocab");
    mamba_tiny(&c);
    ok &= decode_case(&c, TTT_PREC_F32, 5e-6, "f32");
    return ok ? TEST_PASS : TEST_FAIL;
}

/* outputs at positions < P do not depend on tokens at positions >= P */
TEST(test_mamba_causality) {
    ttt_config c;
    mamba_tiny(&c);
    ttt_model *m = mamba_model(&c, TTT_PREC_F64, 11);
    EXPECT(m, "model");
    const int64_t L = 37, P = 21, V = c.vocab_size;
    int32_t ids[L], ids2[L];
    random_ids(ids, L, V, 5);
    memcpy(ids2, ids, sizeof ids);
    random_ids(ids2 + P, L - P, V, 6);
    float *a = malloc(sizeof(float) * (size_t)(L * V)), *b = malloc(sizeof(float) * (size_t)(L * V)),
          *p = malloc(sizeof(float) * (size_t)(P * V));
    EXPECT(ttt_forward(m, ids, 1, L, a, NULL) == TTT_OK, "%s", ttt_last_error());
    EXPECT(ttt_forward(m, ids2, 1, L, b, NULL) == TTT_OK, "%s", ttt_last_error());
    EXPECT(ttt_forward(m, ids, 1, P, p, NULL) == TTT_OK, "%s", ttt_last_error());
    EXPECT(check_bits("changed future: logits before P", b, a, sizeof(float) * (size_t)(P * V)), "causality");
    EXPECT(check_bits("shorter sequence", p, a, sizeof(float) * (size_t)(P * V)), "causality");
    double d = 0;
    for (int64_t i = P * V; i < L * V; i++) d = fmax(d, fabs(a[i] - b[i]));
    EXPECT(d > 1e-3, "the future tokens changed nothing (max diff %.3e)", d);
    free(a), free(b), free(p);
    ttt_model_free(m);
    return TEST_PASS;
}

/* ------------------------------------------------------------------------------------------ */
/* bit-identity: recomputation chunks, threads                                                 */

/* the gradient does not depend on the recomputation chunk (16·remat_group steps; 0 = all) */
TEST(test_mamba_remat_chunks_bit_identical) {
    for (int prec = 0; prec < 2; prec++) {
        ttt_config c;
        mamba_tiny(&c);
        ttt_model *m = mamba_model(&c, prec ? TTT_PREC_F64 : TTT_PREC_F32, 23);
        EXPECT(m, "model");
        const int64_t B = 2, L = 85;
        int32_t ids[B * L];
        random_ids(ids, B * L, c.vocab_size, 1);
        size_t bytes = (size_t)m->tab.total * m->elem;
        void *ref = malloc(bytes);
        const int groups[] = {0, 1, 2, 4, 5, 6, 100};
        double l0 = 0;
        for (size_t k = 0; k < sizeof groups / sizeof groups[0]; k++) {
            opts(m, 2, groups[k], 0);
            double loss;
            EXPECT(ttt_zero_grad(m) == TTT_OK && ttt_forward_backward(m, ids, NULL, B, L, 0, 1.0, &loss) == TTT_OK,
                   "%s", ttt_last_error());
            if (k == 0) {
                memcpy(ref, m->g, bytes);
                l0 = loss;
            } else {
                char w[96];
                snprintf(w, sizeof w, "%s gradients, chunk %d steps vs the whole sequence", prec ? "f64" : "f32",
                         16 * groups[k]);
                EXPECT(check_bits(w, ref, m->g, bytes), "remat");
                EXPECT(loss == l0, "loss differs with group %d", groups[k]);
            }
        }
        free(ref);
        ttt_model_free(m);
    }
    return TEST_PASS;
}

/* logits, loss, gradients and decode logits for 1, 2, 3 threads, with shapes that cross the
 * parallel threshold (scan B·L·E·N = 2·200·128·16, matmuls, elementwise loops) */
TEST(test_mamba_threads_bit_identical) {
    ttt_config c;
    int th0 = omp_get_max_threads();
    ttt_config_preset("mamba-tiny", &c); /* D 64, E 128, N 16, R 4, K 4, 2 layers, V 97 */
    c.use_bias = 1;
    ttt_model *m = mamba_model(&c, TTT_PREC_F32, 31);
    EXPECT(m, "model");
    const int64_t B = 2, L = 200, V = c.vocab_size, n = B * L * V;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)(B * L));
    random_ids(ids, B * L, V, 2);
    size_t gbytes = (size_t)m->tab.total * m->elem;
    float *lg[3], *dec[3];
    void *gr[3];
    double loss[3];
    for (int th = 1; th <= 3; th++) {
        opts(m, th, 1, 0);
        lg[th - 1] = malloc(sizeof(float) * (size_t)n);
        dec[th - 1] = malloc(sizeof(float) * (size_t)(B * 40 * V));
        gr[th - 1] = malloc(gbytes);
        EXPECT(ttt_forward(m, ids, B, L, lg[th - 1], &loss[th - 1]) == TTT_OK, "%s", ttt_last_error());
        EXPECT(ttt_zero_grad(m) == TTT_OK && ttt_forward_backward(m, ids, NULL, B, L, 0, 1.0, NULL) == TTT_OK, "%s",
               ttt_last_error());
        memcpy(gr[th - 1], m->g, gbytes);
        /* prefill 160 tokens (from position 0) then decode 40 */
        ttt_cache *cache;
        EXPECT(ttt_cache_create(m, B, &cache) == TTT_OK, "%s", ttt_last_error());
        int32_t *pre = malloc(sizeof(int32_t) * (size_t)(B * 160)), col[2];
        for (int64_t b = 0; b < B; b++) memcpy(pre + b * 160, ids + b * L, sizeof(int32_t) * 160);
        EXPECT(ttt_prefill(m, cache, pre, 160, NULL) == TTT_OK, "%s", ttt_last_error());
        for (int64_t t = 0; t < 40; t++) {
            for (int64_t b = 0; b < B; b++) col[b] = ids[b * L + 160 + t];
            float row[2 * 97];
            EXPECT(ttt_decode_step(m, cache, col, row) == TTT_OK, "%s", ttt_last_error());
            for (int64_t b = 0; b < B; b++) memcpy(dec[th - 1] + (b * 40 + t) * V, row + b * V, sizeof(float) * (size_t)V);
        }
        free(pre);
        ttt_cache_free(cache);
    }
    int ok = 1;
    for (int k = 1; k < 3; k++) {
        char w[64];
        snprintf(w, sizeof w, "logits, %d threads vs 1", k + 1);
        ok &= check_bits(w, lg[k], lg[0], sizeof(float) * (size_t)n);
        snprintf(w, sizeof w, "gradients, %d threads vs 1", k + 1);
        ok &= check_bits(w, gr[k], gr[0], gbytes);
        snprintf(w, sizeof w, "decode logits, %d threads vs 1", k + 1);
        ok &= check_bits(w, dec[k], dec[0], sizeof(float) * (size_t)(B * 40 * V));
        if (loss[k] != loss[0]) {
            test_fail("loss with %d threads %.17g vs %.17g", k + 1, loss[k], loss[0]);
            ok = 0;
        }
    }
    for (int k = 0; k < 3; k++) free(lg[k]), free(gr[k]), free(dec[k]);
    free(ids);
    opts(m, th0, 4, 0); /* the thread count is process-wide: restore it */
    ttt_model_free(m);
    return ok ? TEST_PASS : TEST_FAIL;
}
