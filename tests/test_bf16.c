/* test_bf16.c: bf16 mixed-precision training (ttt_options.bf16_train, src/ops/bf16.c).
 *
 * The products: mm_nn with the bf16 copy of its weight (input gradients) and mm_tn into the
 * gradient region (weight gradients), random shapes with panel remainders on both sides, both
 * accumulate flags, against a float64 oracle on the bf16-rounded operands. Products of two
 * bf16 numbers are exact in float32, so what remains is float32 summation in some order:
 *     |C − C_oracle| <= γ_{K+1} · (Σ_k |ã_k b̃_k| + |C_old|),   γ_n = n·u / (1 − n·u), u = 2^-24
 * (ã, b̃: the rounded operands). The float32 product of the unrounded operands misses it by
 * orders of magnitude (its distance to the oracle is the operands' rounding, ~2^-8 relative),
 * so passing shows the operands really were rounded. Results bit-identical for 1, 2 and 3
 * threads; outside the region, the float32 path bit for bit.
 *
 * The models: every family's gradients with bf16_train differ from float32 and stay within
 * 1e-1 · max|g| per tensor of it (the golden cases hold the measured figures), bit-identical
 * for 1 and 2 threads; the bf16 training runs themselves are in test_train.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models.h"
#include "ops/gemm.h"
#include "ops/kernels.h"
#include "test.h"

/* the float32 instantiation (the tests compile with TTT_REAL=64) */
void mm_nn_f32(float *C, const float *A, const float *B, int64_t M, int64_t N, int64_t K, int acc);
void mm_tn_f32(float *C, const float *A, const float *B, int64_t M, int64_t N, int64_t K, int acc);

static uint64_t rng_state;
static float urand(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng_state >> 40) & 0xffffff) / 16777216.0f * 2.0f - 1.0f;
}

static float *rounded(const float *x, int64_t n) {
    uint16_t *h = malloc(sizeof(uint16_t) * (size_t)n);
    float *r = malloc(sizeof(float) * (size_t)n);
    bf16_from_f32(h, x, n);
    for (int64_t i = 0; i < n; i++) r[i] = bf16_to_f32(h[i]);
    free(h);
    return r;
}

/* tn: 0 for C[M,N] (+)= A[M,K]·B[K,N], 1 for C[M,N] (+)= A[K,M]ᵀ·B[K,N]; worst |C − oracle| as
 * a fraction of the bound of the file comment, on the rounded operands Ar, Br */
static double worst_ratio(int tn, const float *C, const float *C0, const float *Ar, const float *Br, int64_t M,
                          int64_t N, int64_t K, int acc, int64_t *wi, int64_t *wj) {
    double u = ldexp(1.0, -24), g = (double)(K + 1) * u / (1.0 - (double)(K + 1) * u), worst = 0;
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double e = acc ? C0[i * N + j] : 0, mag = fabs(e);
            for (int64_t k = 0; k < K; k++) {
                double p = (double)(tn ? Ar[k * M + i] : Ar[i * K + k]) * (double)Br[k * N + j];
                e += p;
                mag += fabs(p);
            }
            double r = fabs((double)C[i * N + j] - e) / (g * mag + 1e-30);
            if (r > worst) worst = r, *wi = i, *wj = j;
        }
    return worst;
}

/* odd sizes, panels split by rows (M >= N) and by columns, remainders of 128 */
static const int64_t shapes[][3] = {{1, 1, 1},    {3, 65, 129},  {17, 3, 200},  {130, 70, 33},
                                    {129, 300, 77}, {300, 2, 50}, {64, 1000, 40}, {260, 259, 300}};

static int check_product(int tn, const int64_t *s, int acc) {
    int64_t M = s[0], N = s[1], K = s[2], na = M * K, nb = K * N, nc = M * N;
    float *A = malloc(sizeof(float) * (size_t)na), *B = malloc(sizeof(float) * (size_t)nb);
    float *C0 = malloc(sizeof(float) * (size_t)nc), *G = malloc(sizeof(float) * (size_t)nc), *C[3];
    uint16_t *Bh = malloc(sizeof(uint16_t) * (size_t)nb);
    for (int64_t i = 0; i < na; i++) A[i] = urand();
    for (int64_t i = 0; i < nb; i++) B[i] = urand();
    for (int64_t i = 0; i < nc; i++) C0[i] = urand();
    bf16_from_f32(Bh, B, nb);
    for (int t = 0; t < 3; t++) {
        ttt_set_threads(t + 1);
        C[t] = malloc(sizeof(float) * (size_t)nc);
        memcpy(C[t], C0, sizeof(float) * (size_t)nc);
        if (tn) { /* C is the gradient region */
            ttt_bf16_active = (ttt_bf16_region){C[t], nc, Bh, C[t]};
            mm_tn_f32(C[t], A, B, M, N, K, acc);
        } else { /* B is the weight region */
            ttt_bf16_active = (ttt_bf16_region){B, nb, Bh, NULL};
            mm_nn_f32(C[t], A, B, M, N, K, acc);
        }
        ttt_bf16_active = (ttt_bf16_region){NULL, 0, NULL, NULL};
    }
    ttt_set_threads(2);
    /* outside the region: the float32 product, bit for bit */
    memcpy(G, C0, sizeof(float) * (size_t)nc);
    (tn ? mm_tn_f32 : mm_nn_f32)(G, A, B, M, N, K, acc);
    float *Ar = rounded(A, na), *Br = rounded(B, nb);
    int64_t wi = 0, wj = 0;
    double r = worst_ratio(tn, C[0], C0, Ar, Br, M, N, K, acc, &wi, &wj);
    double rf = worst_ratio(tn, G, C0, Ar, Br, M, N, K, acc, &wi, &wj);
    int ok = 1;
    if (r > 1) {
        test_fail("bf16 mm_%s %lldx%lldx%lld acc %d: C[%lld,%lld] error %.3g times the bound", tn ? "tn" : "nn",
                  (long long)M, (long long)N, (long long)K, acc, (long long)wi, (long long)wj, r);
        ok = 0;
    }
    /* the float32 product is farther from the rounded oracle (K = 1 with one product: both can be exact) */
    if (ok && K > 8 && rf <= 1) {
        test_fail("bf16 mm_%s %lldx%lldx%lld: the float32 product is within the bf16 oracle's bound too (%.3g): "
                  "the test cannot tell them apart", tn ? "tn" : "nn", (long long)M, (long long)N, (long long)K, rf);
        ok = 0;
    }
    for (int t = 1; t < 3 && ok; t++) ok = check_bits("bf16 product, threads", C[0], C[t], sizeof(float) * (size_t)nc);
    free(A), free(B), free(C0), free(G), free(Bh), free(Ar), free(Br);
    for (int t = 0; t < 3; t++) free(C[t]);
    return ok;
}

TEST(test_bf16_products) {
    rng_state = 123;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int tn = 0; tn < 2; tn++)
            for (int acc = 0; acc < 2; acc++)
                if (!check_product(tn, shapes[si], acc)) return TEST_FAIL;
    return TEST_PASS;
}

/* a region that does not hold the operand leaves the float32 path in place, bit for bit */
TEST(test_bf16_region_bounds) {
    enum { M = 5, N = 40, K = 30 };
    float A[M * K], At[K * M], B[K * N], C1[M * N], C2[M * N];
    uint16_t Bh[K * N];
    rng_state = 8;
    for (int i = 0; i < M * K; i++) A[i] = urand(), At[i] = urand();
    for (int i = 0; i < K * N; i++) B[i] = urand();
    bf16_from_f32(Bh, B, K * N);
    mm_nn_f32(C1, A, B, M, N, K, 0);
    ttt_bf16_active = (ttt_bf16_region){B, K * N - 1, Bh, NULL}; /* one element short */
    mm_nn_f32(C2, A, B, M, N, K, 0);
    ttt_bf16_active = (ttt_bf16_region){NULL, 0, NULL, NULL};
    EXPECT(check_bits("mm_nn outside the region", C1, C2, sizeof C1), "region");
    mm_tn_f32(C1, At, B, M, N, K, 0);
    ttt_bf16_active = (ttt_bf16_region){B, K * N, Bh, NULL}; /* inference: no gradient region */
    mm_tn_f32(C2, At, B, M, N, K, 0);
    ttt_bf16_active = (ttt_bf16_region){B, M * N - 1, Bh, C2}; /* one element short */
    mm_tn_f32(C2, At, B, M, N, K, 0);
    ttt_bf16_active = (ttt_bf16_region){NULL, 0, NULL, NULL};
    EXPECT(check_bits("mm_tn outside the gradient region", C1, C2, sizeof C1), "region");
    return TEST_PASS;
}

/* ------------------------------------------------------------------------------------------ */

static float *grads(ttt_model *m, const int32_t *ids, int64_t B, int64_t L) {
    if (ttt_zero_grad(m) != TTT_OK || ttt_forward_backward(m, ids, NULL, B, L, 0, 1.0, NULL) != TTT_OK) {
        test_fail("forward_backward: %s", ttt_last_error());
        return NULL;
    }
    return flat_tensors(m, 1);
}

static int bf16_grads_case(ttt_model *m, const char *name) {
    const int64_t B = 2, L = 48, V = ttt_model_config(m)->vocab_size;
    int32_t ids[2 * 48];
    random_ids(ids, B * L, V, 4);
    ttt_options o;
    ttt_model_get_options(m, &o);
    float *g32 = grads(m, ids, B, L);
    o.bf16_train = 1, o.threads = 1;
    EXPECT(ttt_model_set_options(m, &o) == TTT_OK, "%s", ttt_last_error());
    float *g1 = grads(m, ids, B, L);
    o.threads = 2;
    EXPECT(ttt_model_set_options(m, &o) == TTT_OK, "%s", ttt_last_error());
    float *g2 = grads(m, ids, B, L);
    EXPECT(g32 && g1 && g2, "%s: gradients", name);
    int ok = check_bits("bf16 gradients, 1 vs 2 threads", g1, g2, sizeof(float) * (size_t)ttt_param_numel_total(m));
    int64_t off = 0, differ = 0;
    double worst = 0;
    for (int64_t i = 0; i < ttt_param_count(m) && ok; i++) {
        int64_t sh[8], n = 1;
        int nd = ttt_param_shape(m, i, sh);
        for (int q = 0; q < nd; q++) n *= sh[q];
        double mx = 0, md = 0;
        for (int64_t k = 0; k < n; k++) {
            mx = fmax(mx, fabs(g32[off + k]));
            md = fmax(md, fabs((double)g1[off + k] - g32[off + k]));
            differ += g1[off + k] != g32[off + k];
        }
        if (mx > 0) worst = fmax(worst, md / mx);
        char what[200];
        snprintf(what, sizeof what, "%s: bf16 vs float32 gradient of %s", name, ttt_param_name(m, i));
        ok &= check_rel_max(what, g1 + off, g32 + off, n, 1e-1);
        off += n;
    }
    printf("      %-12s bf16 gradients: worst max|Δ| %.3g of max|g| (bound 1e-1), %lld of %lld elements differ\n", name,
           worst, (long long)differ, (long long)off);
    if (ok && differ == 0) {
        test_fail("%s: bf16 gradients equal float32 ones: the bf16 products were not used", name);
        ok = 0;
    }
    free(g32), free(g1), free(g2);
    return ok;
}

TEST(test_bf16_model_gradients) {
    int ok = 1;
    const char *kinds[][2] = {{"mamba", "linear"}, {"tf", "mlp"}};
    for (int i = 0; i < 2; i++) {
        ttt_config c;
        tiny_config(&c, kinds[i][0], kinds[i][1]);
        c.hidden_size = 64, c.intermediate_size = 96, c.vocab_size = 301;
        ttt_model *m = make_model(&c, TTT_PREC_F32, 11);
        EXPECT(m, "model");
        ok &= bf16_grads_case(m, kinds[i][1][0] == 'l' ? "ttt-linear" : "ttt-mlp");
        ttt_model_free(m);
    }
    const char *presets[] = {"llama-tiny", "mamba-tiny"};
    for (int i = 0; i < 2; i++) {
        ttt_config c;
        EXPECT(ttt_config_preset(presets[i], &c) == TTT_OK, "%s", ttt_last_error());
        c.vocab_size = 301;
        ttt_model *m;
        EXPECT(ttt_model_create(&c, 3, NULL, &m) == TTT_OK, "%s", ttt_last_error());
        ok &= bf16_grads_case(m, presets[i]);
        ttt_model_free(m);
    }
    return ok ? TEST_PASS : TEST_FAIL;
}

/* bf16 training needs a float32 model */
TEST(test_bf16_needs_f32) {
    ttt_config c;
    tiny_config(&c, "mamba", "linear");
    ttt_options o;
    ttt_options_default(&o);
    o.precision = TTT_PREC_F64;
    o.bf16_train = 1;
    ttt_model *m = NULL;
    EXPECT(ttt_model_create(&c, 1, &o, &m) == TTT_ERR_ARG && !m, "a float64 model with bf16_train was created");
    EXPECT(strstr(ttt_last_error(), "bf16 training needs a float32 model"), "message: %s", ttt_last_error());
    return TEST_PASS;
}
