/* test_matmul.c: the fast float32 products against a double-precision reference: every GEMM
 * library built in (OpenBLAS, oneDNN), the matrix-vector path of decode (M = 1..4), the bf16
 * weight path; random shapes with odd sizes, both accumulate flags, bit-identical results for
 * 1, 2 and 3 threads; and the bf16 option on a small model (close to float32, training
 * unchanged, the copy refreshed after ttt_param_set).
 *
 * Tolerance (float32): any order of summation of K products satisfies
 *     |C − C_exact| <= γ_{K+1} · (Σ_k |a_k b_k| + |C_old|),   γ_n = n·u / (1 − n·u), u = 2^-24
 * (Higham, Accuracy and Stability of Numerical Algorithms, 3.1; fused multiply-adds only
 * tighten it), so a correct result never fails it, while a wrong index, transpose or panel
 * gives errors of the order of the terms themselves. bf16: each operand is rounded to 8
 * significant bits (relative error <= 2^-8 each), the products are exact in float32:
 *     |C − C_exact| <= (2·2^-8 + 2^-16 + γ_{K+1}) · (Σ_k |a_k b_k| + |C_old|). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models.h"
#include "ops/gemm.h"
#include "ops/kernels.h"
#include "test.h"

/* the float32 instantiation (the tests compile with TTT_REAL=64) */
void mm_nt_f32(float *C, const float *A, const float *B, int64_t M, int64_t N, int64_t K, int acc);
void mm_nn_f32(float *C, const float *A, const float *B, int64_t M, int64_t N, int64_t K, int acc);
void mm_tn_f32(float *C, const float *A, const float *B, int64_t M, int64_t N, int64_t K, int acc);

static uint64_t rng_state;
static float urand(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng_state >> 40) & 0xffffff) / 16777216.0f * 2.0f - 1.0f;
}

typedef struct {
    int64_t M, N, K;
} shp;

/* odd sizes, decode sizes (M = 1..4 on the gemv path for nt), panel remainders (> 128 rows or
 * columns), large K with a tiny output (where a library would split K among threads), and
 * panels copied out of strided operands (matmul.c compact_panel: mm_tn by rows at M = 1100,
 * mm_nn / mm_tn by columns at N = 3000), and
 * concurrent panels with a large copy of B (oneDNN's bf16 matmul with its own shared
 * scratchpad corrupted those from N = 16000 on; only every ROW_STEP-th row of the big shapes
 * is checked against the float64 reference, all rows for thread bit-identity) */
#define ROW_STEP(s) ((s)->M * (s)->N * (s)->K > 50000000 ? 17 : 1)
static const shp shapes[] = {{1, 1, 1},     {1, 7, 13},    {2, 33, 17},   {3, 65, 129},  {4, 130, 31},
                             {4, 3, 1000},  {5, 129, 64},  {17, 3, 200},  {130, 70, 33}, {129, 300, 77},
                             {300, 2, 50},  {8, 8, 20000}, {1, 515, 768}, {2, 64, 1},
                             {260, 3000, 64}, {1100, 40, 30}, {256, 16000, 64}};
#define NSH ((int)(sizeof shapes / sizeof shapes[0]))

/* op: 0 nt (A[M,K]·B[N,K]ᵀ), 1 nn (A[M,K]·B[K,N]), 2 tn (A[K,M]ᵀ·B[K,N]) */
static void run_op(int op, float *C, const float *A, const float *B, const shp *s, int acc) {
    if (op == 0) mm_nt_f32(C, A, B, s->M, s->N, s->K, acc);
    else if (op == 1) mm_nn_f32(C, A, B, s->M, s->N, s->K, acc);
    else mm_tn_f32(C, A, B, s->M, s->N, s->K, acc);
}

static double aget(int op, const float *A, const shp *s, int64_t i, int64_t k) {
    return op == 2 ? A[k * s->M + i] : A[i * s->K + k];
}
static double bget(int op, const float *B, const shp *s, int64_t k, int64_t j) {
    return op == 0 ? B[j * s->K + k] : B[k * s->N + j];
}

/* max over elements of |C − exact| / bound, with the bound of the file comment; 'extra' is the
 * rounding of the operands (0 for float32, bf16: 2·2^-8 + 2^-16) */
static double worst_ratio(int op, const float *C, const float *C0, const float *A, const float *B, const shp *s,
                          int acc, double extra, int64_t *wi, int64_t *wj) {
    double u = ldexp(1.0, -24), g = (double)(s->K + 1) * u / (1.0 - (double)(s->K + 1) * u), worst = 0;
    for (int64_t i = 0; i < s->M; i += ROW_STEP(s))
        for (int64_t j = 0; j < s->N; j++) {
            double e = acc ? C0[i * s->N + j] : 0, mag = fabs(e);
            for (int64_t k = 0; k < s->K; k++) {
                double p = aget(op, A, s, i, k) * bget(op, B, s, k, j);
                e += p;
                mag += fabs(p);
            }
            double r = fabs((double)C[i * s->N + j] - e) / ((g + extra) * mag + 1e-30);
            if (r > worst) worst = r, *wi = i, *wj = j;
        }
    return worst;
}

static int check_lib(int lib) {
    static const char *ops[3] = {"nt", "nn", "tn"};
    int saved = ttt_gemm_lib;
    ttt_gemm_lib = lib;
    rng_state = 42;
    for (int si = 0; si < NSH; si++)
        for (int op = 0; op < 3; op++)
            for (int acc = 0; acc < 2; acc++) {
                const shp *s = &shapes[si];
                if (ROW_STEP(s) > 1) continue; /* the big shape is for the bf16 matmul */
                int64_t na = s->M * s->K, nb = s->N * s->K, nc = s->M * s->N;
                float *A = malloc(sizeof(float) * (size_t)na), *B = malloc(sizeof(float) * (size_t)nb);
                float *C0 = malloc(sizeof(float) * (size_t)nc), *C[3];
                for (int64_t i = 0; i < na; i++) A[i] = urand();
                for (int64_t i = 0; i < nb; i++) B[i] = urand();
                for (int64_t i = 0; i < nc; i++) C0[i] = urand();
                for (int t = 0; t < 3; t++) {
                    ttt_set_threads(t + 1);
                    C[t] = malloc(sizeof(float) * (size_t)nc);
                    memcpy(C[t], C0, sizeof(float) * (size_t)nc);
                    run_op(op, C[t], A, B, s, acc);
                }
                ttt_set_threads(2);
                int64_t wi = 0, wj = 0;
                double r = worst_ratio(op, C[0], C0, A, B, s, acc, 0, &wi, &wj);
                int ok = r <= 1;
                if (!ok)
                    test_fail("%s mm_%s %lldx%lldx%lld acc %d: C[%lld,%lld] error %.3g times the bound", ttt_gemm_lib_name(lib),
                              ops[op], (long long)s->M, (long long)s->N, (long long)s->K, acc, (long long)wi,
                              (long long)wj, r);
                for (int t = 1; t < 3 && ok; t++) {
                    char w[160];
                    snprintf(w, sizeof w, "%s mm_%s %lldx%lldx%lld acc %d, %d vs 1 threads", ttt_gemm_lib_name(lib), ops[op],
                             (long long)s->M, (long long)s->N, (long long)s->K, acc, t + 1);
                    ok = check_bits(w, C[0], C[t], sizeof(float) * (size_t)nc);
                }
                free(A), free(B), free(C0);
                for (int t = 0; t < 3; t++) free(C[t]);
                if (!ok) {
                    ttt_gemm_lib = saved;
                    return TEST_FAIL;
                }
            }
    EXPECT(ttt_get_threads() == 2, "the thread count changed to %d after the products", ttt_get_threads());
    ttt_gemm_lib = saved;
    return TEST_PASS;
}

TEST(test_matmul_openblas) { return check_lib(TTT_GEMM_OPENBLAS); }

TEST(test_matmul_dnnl) {
    int saved = ttt_gemm_lib;
    if (ttt_gemm_select("dnnl") != 0) return test_skip("built without oneDNN (libdnnl-dev)");
    ttt_gemm_lib = saved;
    return check_lib(TTT_GEMM_DNNL);
}

/* the AVX-512 matrix-vector kernel against the portable one (same lanes, FMA or not) */
TEST(test_matmul_gemv_kernels) {
    rng_state = 7;
    for (int64_t M = 1; M <= 4; M++)
        for (int64_t K = 1; K <= 70; K += 23) {
            shp s = {M, 37, K};
            float *A = malloc(sizeof(float) * (size_t)(M * K)), *B = malloc(sizeof(float) * (size_t)(37 * K));
            float C[4 * 37], P[4 * 37], C0[4 * 37];
            for (int64_t i = 0; i < M * K; i++) A[i] = urand();
            for (int64_t i = 0; i < 37 * K; i++) B[i] = urand();
            for (int i = 0; i < 4 * 37; i++) C0[i] = C[i] = P[i] = urand();
            gemv_nt_f32(C, A, B, M, 37, K, 1);
            gemv_nt_portable_f32(P, A, B, M, 37, K, 1);
            int64_t wi, wj;
            EXPECT(worst_ratio(0, C, C0, A, B, &s, 1, 0, &wi, &wj) <= 1, "gemv M %lld K %lld", (long long)M, (long long)K);
            EXPECT(worst_ratio(0, P, C0, A, B, &s, 1, 0, &wi, &wj) <= 1, "portable gemv M %lld K %lld", (long long)M,
                   (long long)K);
            free(A), free(B);
        }
    return TEST_PASS;
}

/* bf16 weights: mm_nt reads the copy inside the active region (gemv kernel for M <= 4, oneDNN
 * panels above), within the bf16 bound, bit-identical for 1, 2, 3 threads */
TEST(test_matmul_bf16) {
    rng_state = 99;
    for (int si = 0; si < NSH; si++) {
        const shp *s = &shapes[si];
        int64_t na = s->M * s->K, nb = s->N * s->K, nc = s->M * s->N;
        float *A = malloc(sizeof(float) * (size_t)na), *B = malloc(sizeof(float) * (size_t)nb);
        float *C0 = malloc(sizeof(float) * (size_t)nc), *C[3], *P = malloc(sizeof(float) * (size_t)nc);
        uint16_t *Bh = malloc(sizeof(uint16_t) * (size_t)nb);
        for (int64_t i = 0; i < na; i++) A[i] = urand();
        for (int64_t i = 0; i < nb; i++) B[i] = urand();
        for (int64_t i = 0; i < nc; i++) C0[i] = urand();
        bf16_from_f32(Bh, B, nb);
        /* the exact reference uses the rounded weights' source B: the bound covers both roundings */
        for (int acc = 0; acc < 2; acc++) {
            ttt_bf16_active = (ttt_bf16_region){B, nb, Bh, NULL};
            for (int t = 0; t < 3; t++) {
                ttt_set_threads(t + 1);
                C[t] = malloc(sizeof(float) * (size_t)nc);
                memcpy(C[t], C0, sizeof(float) * (size_t)nc);
                mm_nt_f32(C[t], A, B, s->M, s->N, s->K, acc);
            }
            ttt_bf16_active = (ttt_bf16_region){NULL, 0, NULL, NULL};
            ttt_set_threads(2);
            memcpy(P, C0, sizeof(float) * (size_t)nc);
            if (ROW_STEP(s) == 1) /* (slow on the big shape) */
                gemv_nt_bf16_portable(P, A, Bh, s->M, s->N, s->K, acc);
            int64_t wi = 0, wj = 0;
            double extra = 2 * ldexp(1.0, -8) + ldexp(1.0, -16);
            double r = worst_ratio(0, C[0], C0, A, B, s, acc, extra, &wi, &wj);
            double rp = ROW_STEP(s) == 1 ? worst_ratio(0, P, C0, A, B, s, acc, extra, &wi, &wj) : 0;
            int ok = r <= 1 && rp <= 1;
            if (!ok)
                test_fail("bf16 mm_nt %lldx%lldx%lld acc %d: error %.3g (portable %.3g) times the bound", (long long)s->M,
                          (long long)s->N, (long long)s->K, acc, r, rp);
            /* the copy was used: the result differs from the float32 product somewhere */
            for (int t = 1; t < 3 && ok; t++)
                ok = check_bits("bf16 mm_nt, threads", C[0], C[t], sizeof(float) * (size_t)nc);
            for (int t = 0; t < 3; t++) free(C[t]);
            if (!ok) {
                free(A), free(B), free(C0), free(P), free(Bh);
                return TEST_FAIL;
            }
        }
        free(A), free(B), free(C0), free(P), free(Bh);
    }
    return TEST_PASS;
}

/* a region that does not contain B leaves the float32 path in place (bit-identical) */
TEST(test_matmul_bf16_region) {
    float A[3 * 40], B[50 * 40], C1[3 * 50], C2[3 * 50];
    uint16_t Bh[50 * 40];
    rng_state = 5;
    for (int i = 0; i < 3 * 40; i++) A[i] = urand();
    for (int i = 0; i < 50 * 40; i++) B[i] = urand();
    bf16_from_f32(Bh, B, 50 * 40);
    mm_nt_f32(C1, A, B, 3, 50, 40, 0);
    ttt_bf16_active = (ttt_bf16_region){B, 50 * 40 - 1, Bh, NULL}; /* one element short */
    mm_nt_f32(C2, A, B, 3, 50, 40, 0);
    ttt_bf16_active = (ttt_bf16_region){NULL, 0, NULL, NULL};
    EXPECT(check_bits("outside the region", C1, C2, sizeof C1), "region");
    ttt_bf16_active = (ttt_bf16_region){B, 50 * 40, Bh, NULL};
    mm_nt_f32(C2, A, B, 3, 50, 40, 0);
    ttt_bf16_active = (ttt_bf16_region){NULL, 0, NULL, NULL};
    EXPECT(memcmp(C1, C2, sizeof C1) != 0, "inside the region the bf16 copy was not used");
    return TEST_PASS;
}

/* the bf16 option on a small model: logits within 2e-2 of max|logit| of float32 (forward,
 * prefill + decode), bit-identical for 1 and 2 threads, gradients unchanged (training stays
 * float32), and the copy follows ttt_param_set */
TEST(test_matmul_bf16_model) {
    ttt_config c;
    tiny_config(&c, "mamba", "linear");
    c.hidden_size = 64;
    c.num_attention_heads = 4;
    c.intermediate_size = 96;
    c.vocab_size = 301;
    ttt_model *m = make_model(&c, TTT_PREC_F32, 17);
    EXPECT(m, "model");
    const int64_t B = 2, L = 40, V = c.vocab_size;
    int32_t ids[2 * 40];
    random_ids(ids, B * L, V, 9);
    float *ref = malloc(sizeof(float) * (size_t)(B * L * V)), *lb = malloc(sizeof(float) * (size_t)(B * L * V));
    float *lb2 = malloc(sizeof(float) * (size_t)(B * L * V)), *dec = malloc(sizeof(float) * (size_t)(B * V));
    double loss32, loss16;
    EXPECT(ttt_forward(m, ids, B, L, ref, &loss32) == TTT_OK, "%s", ttt_last_error());
    int64_t np = ttt_param_numel_total(m);
    EXPECT(ttt_zero_grad(m) == TTT_OK && ttt_forward_backward(m, ids, NULL, B, L, 0, 1.0, NULL) == TTT_OK, "%s",
           ttt_last_error());
    float *g32 = flat_tensors(m, 1);
    ttt_options o;
    ttt_model_get_options(m, &o);
    o.bf16_weights = 1;
    o.threads = 1;
    EXPECT(ttt_model_set_options(m, &o) == TTT_OK, "%s", ttt_last_error());
    EXPECT(ttt_forward(m, ids, B, L, lb, &loss16) == TTT_OK, "%s", ttt_last_error());
    double mx = 0, d = 0;
    for (int64_t i = 0; i < B * L * V; i++) mx = fmax(mx, fabs(ref[i])), d = fmax(d, fabs(lb[i] - ref[i]));
    EXPECT(d > 0, "bf16 logits are identical to float32: the copy was not used");
    EXPECT(d <= 2e-2 * mx, "bf16 logits: max |Δ| %.3g > 2e-2 · max|logit| %.3g", d, mx);
    EXPECT(fabs(loss16 - loss32) <= 1e-2 * fabs(loss32), "bf16 loss %.6f vs float32 %.6f", loss16, loss32);
    o.threads = 2;
    EXPECT(ttt_model_set_options(m, &o) == TTT_OK, "%s", ttt_last_error());
    EXPECT(ttt_forward(m, ids, B, L, lb2, NULL) == TTT_OK, "%s", ttt_last_error());
    EXPECT(check_bits("bf16 logits, 1 vs 2 threads", lb, lb2, sizeof(float) * (size_t)(B * L * V)), "threads");
    /* prefill L-1, decode the last token: close to the bf16 forward's last position */
    ttt_cache *cc;
    EXPECT(ttt_cache_create(m, B, &cc) == TTT_OK, "%s", ttt_last_error());
    int32_t pre[2 * 39], last[2];
    for (int64_t b = 0; b < B; b++) memcpy(pre + b * (L - 1), ids + b * L, sizeof(int32_t) * (size_t)(L - 1)), last[b] = ids[b * L + L - 1];
    EXPECT(ttt_prefill(m, cc, pre, L - 1, NULL) == TTT_OK && ttt_decode_step(m, cc, last, dec) == TTT_OK, "%s",
           ttt_last_error());
    ttt_cache_free(cc);
    d = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t v = 0; v < V; v++) d = fmax(d, fabs(dec[b * V + v] - ref[(b * L + L - 1) * V + v]));
    EXPECT(d <= 2e-2 * mx, "bf16 decode vs float32 forward: max |Δ| %.3g > 2e-2 · %.3g", d, mx);
    /* training with the option set is float32: the same gradients bit for bit */
    EXPECT(ttt_zero_grad(m) == TTT_OK && ttt_forward_backward(m, ids, NULL, B, L, 0, 1.0, NULL) == TTT_OK, "%s",
           ttt_last_error());
    float *g16 = flat_tensors(m, 1);
    EXPECT(check_bits("gradients with bf16_weights set", g32, g16, sizeof(float) * (size_t)np), "training");
    /* changing a parameter refreshes the copy: zeroing the head zeroes the logits */
    int64_t hi = ttt_param_find(m, c.tie_word_embeddings ? "model.embed_tokens.weight" : "lm_head.weight");
    EXPECT(hi >= 0, "head parameter");
    int64_t sh[8];
    ttt_param_shape(m, hi, sh);
    float *z = calloc((size_t)(sh[0] * sh[1]), sizeof(float));
    ttt_param_set(m, hi, z);
    EXPECT(ttt_forward(m, ids, B, L, lb, NULL) == TTT_OK, "%s", ttt_last_error());
    for (int64_t i = 0; i < B * L * V; i++) EXPECT(lb[i] == 0, "logit %lld = %g after zeroing the head", (long long)i, lb[i]);
    free(z), free(ref), free(lb), free(lb2), free(dec), free(g32), free(g16);
    ttt_model_free(m);
    return TEST_PASS;
}
