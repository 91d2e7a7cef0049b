/* test_llama_attn.c: the pieces of the Llama attention alone, in float64: the rotate_half
 * RoPE (against its formula, and its backward as the adjoint), and the tiled attention with
 * online softmax against a naive reference written plainly here (full softmax over each
 * row), forward (O and the logsumexp) and backward (dQ, dK, dV), for tile sizes that do not
 * divide the length, grouped / multi-query / multi-head layouts, queries that continue a
 * cache (Lq < Lk, rows with spare room); the backward also against finite differences; the
 * float32 build (vectorised exp) against the float64 reference with large scores. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/real.h"
#include "core/rng.h"
#include "layers/attention.h"
#include "ops/rope_half.h"
#include "test.h"

/* the float32 instantiation (this file is compiled with real = double) */
void attn_forward_f32(float *O, float *lse, const float *Q, const float *K, const float *V,
                      const attn_dims *d, float *scratch);

static double *rnd(ttt_rng *r, int64_t n, double std) {
    double *p = malloc(sizeof(double) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) p[i] = std * ttt_rng_normal(r);
    return p;
}

static double *zeros(int64_t n) { return calloc((size_t)(n ? n : 1), sizeof(double)); }

TEST(test_llama_rope_half) {
    ttt_rng r;
    ttt_rng_seed(&r, 1);
    const int64_t B = 2, L = 7, H = 3, F = 8, P = F / 2, pos0 = 1000, ld = 9 * F;
    const double theta = 10000.0;
    double *cs = zeros(L * F), *x = rnd(&r, B * L * H * F, 1), *y = zeros(B * H * ld);
    rope_half_table_f64(cs, pos0, L, F, theta);
    rope_half_split_f64(y, ld, x, cs, B, L, H, F);
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < L; t++)
            for (int64_t h = 0; h < H; h++)
                for (int64_t i = 0; i < P; i++) {
                    double a = (double)(pos0 + t) * pow(theta, -2.0 * (double)i / (double)F);
                    const double *xv = x + ((b * L + t) * H + h) * F;
                    const double *yv = y + (b * H + h) * ld + t * F;
                    double e1 = xv[i] * cos(a) - xv[i + P] * sin(a), e2 = xv[i + P] * cos(a) + xv[i] * sin(a);
                    EXPECT(fabs(yv[i] - e1) < 1e-12 && fabs(yv[i + P] - e2) < 1e-12,
                           "rope at b %lld t %lld h %lld i %lld: (%g, %g) vs (%g, %g)", (long long)b,
                           (long long)t, (long long)h, (long long)i, yv[i], yv[i + P], e1, e2);
                }
    /* backward = adjoint: <R, split(x)> = <merge(R), x>; and merge(split(x)) = x */
    double *R = zeros(B * H * ld), *g = zeros(B * L * H * F), *back = zeros(B * L * H * F);
    for (int64_t b = 0; b < B * H; b++)
        for (int64_t k = 0; k < L * F; k++) R[b * ld + k] = ttt_rng_normal(&r);
    rope_half_merge_f64(g, R, ld, cs, B, L, H, F);
    rope_half_merge_f64(back, y, ld, cs, B, L, H, F);
    double s1 = 0, s2 = 0;
    for (int64_t i = 0; i < B * H * ld; i++) s1 += R[i] * y[i];
    for (int64_t i = 0; i < B * L * H * F; i++) s2 += g[i] * x[i];
    EXPECT(fabs(s1 - s2) < 1e-12 * (1 + fabs(s1)), "<R, rope x> = %.15g, <rope^T R, x> = %.15g", s1, s2);
    EXPECT(check_close("merge(split(x))", back, x, B * L * H * F, 1e-14, 0), "inverse");
    /* cs NULL: a plain split */
    rope_half_split_f64(y, ld, x, NULL, B, L, H, F);
    EXPECT(y[(1 * H + 2) * ld + 3 * F + 5] == x[((1 * L + 3) * H + 2) * F + 5], "plain split");
    free(cs), free(x), free(y), free(R), free(g), free(back);
    return TEST_PASS;
}

/* ------------------------------------------------------------------------------------------ */
/* naive attention: each row's scores over all its visible keys, softmax, weighted sum         */

typedef struct {
    attn_dims d;
    double *Q, *K, *V; /* layouts of attention.h */
} problem;

static void naive_forward(const problem *p, double *O, double *lse) {
    const attn_dims *d = &p->d;
    int64_t F = d->F, off = d->Lk - d->Lq, grp = d->nh / d->nkv;
    double *s = zeros(d->Lk);
    for (int64_t b = 0; b < d->B; b++)
        for (int64_t j = 0; j < d->nh; j++)
            for (int64_t t = 0; t < d->Lq; t++) {
                const double *q = p->Q + ((b * d->nh + j) * d->Lq + t) * F;
                const double *K = p->K + (b * d->nkv + j / grp) * d->ldk, *V = p->V + (b * d->nkv + j / grp) * d->ldk;
                int64_t n = off + t + 1; /* keys 0 .. off + t */
                double mx = -INFINITY, sum = 0;
                for (int64_t k = 0; k < n; k++) {
                    s[k] = 0;
                    for (int64_t c = 0; c < F; c++) s[k] += q[c] * K[k * F + c];
                    s[k] /= sqrt((double)F);
                    mx = fmax(mx, s[k]);
                }
                for (int64_t k = 0; k < n; k++) sum += exp(s[k] - mx);
                double *o = O + (b * d->Lq + t) * d->nh * F + j * F;
                for (int64_t c = 0; c < F; c++) o[c] = 0;
                for (int64_t k = 0; k < n; k++)
                    for (int64_t c = 0; c < F; c++) o[c] += exp(s[k] - mx) / sum * V[k * F + c];
                if (lse) lse[(b * d->nh + j) * d->Lq + t] = mx + log(sum);
            }
    free(s);
}

/* softmax backward written the textbook way: dS = P ⊙ (dP − Σ P ⊙ dP) */
static void naive_backward(const problem *p, const double *dO, double *dQ, double *dK, double *dV) {
    const attn_dims *d = &p->d;
    int64_t F = d->F, off = d->Lk - d->Lq, grp = d->nh / d->nkv;
    double sc = 1 / sqrt((double)F), *P = zeros(d->Lk), *dP = zeros(d->Lk);
    memset(dQ, 0, sizeof(double) * (size_t)(d->B * d->nh * d->Lq * F));
    memset(dK, 0, sizeof(double) * (size_t)(d->B * d->nkv * d->ldk));
    memset(dV, 0, sizeof(double) * (size_t)(d->B * d->nkv * d->ldk));
    for (int64_t b = 0; b < d->B; b++)
        for (int64_t j = 0; j < d->nh; j++)
            for (int64_t t = 0; t < d->Lq; t++) {
                int64_t kv = (b * d->nkv + j / grp) * d->ldk, n = off + t + 1;
                const double *q = p->Q + ((b * d->nh + j) * d->Lq + t) * F, *K = p->K + kv, *V = p->V + kv;
                const double *g = dO + (b * d->Lq + t) * d->nh * F + j * F;
                double mx = -INFINITY, sum = 0, pdp = 0;
                for (int64_t k = 0; k < n; k++) {
                    P[k] = 0;
                    for (int64_t c = 0; c < F; c++) P[k] += q[c] * K[k * F + c];
                    P[k] *= sc;
                    mx = fmax(mx, P[k]);
                }
                for (int64_t k = 0; k < n; k++) sum += (P[k] = exp(P[k] - mx));
                for (int64_t k = 0; k < n; k++) {
                    P[k] /= sum;
                    dP[k] = 0;
                    for (int64_t c = 0; c < F; c++) dP[k] += g[c] * V[k * F + c];
                    pdp += P[k] * dP[k];
                }
                double *dq = dQ + ((b * d->nh + j) * d->Lq + t) * F;
                for (int64_t k = 0; k < n; k++) {
                    double ds = P[k] * (dP[k] - pdp) * sc;
                    for (int64_t c = 0; c < F; c++) {
                        dq[c] += ds * K[k * F + c];
                        dK[kv + k * F + c] += ds * q[c];
                        dV[kv + k * F + c] += P[k] * g[c];
                    }
                }
            }
    free(P), free(dP);
}

static problem make_problem(ttt_rng *r, int64_t B, int64_t nh, int64_t nkv, int64_t F, int64_t Lq, int64_t Lk,
                            int64_t spare, double std) {
    problem p;
    memset(&p, 0, sizeof p);
    p.d = (attn_dims){B, nh, nkv, F, Lq, Lk, (Lk + spare) * F, 1, 1, 1};
    p.Q = rnd(r, B * nh * Lq * F, std);
    p.K = rnd(r, B * nkv * p.d.ldk, std);
    p.V = rnd(r, B * nkv * p.d.ldk, 1);
    return p;
}

static void free_problem(problem *p) { free(p->Q), free(p->K), free(p->V); }

/* the rows of the kv blocks that hold keys (the spare room of a cache is not compared) */
static void kv_rows(double *dst, const double *src, const attn_dims *d) {
    for (int64_t i = 0; i < d->B * d->nkv; i++)
        memcpy(dst + i * d->Lk * d->F, src + i * d->ldk, sizeof(double) * (size_t)(d->Lk * d->F));
}

/* tiled forward and backward with tiles tq × tk against the naive versions */
static int tiled_case(problem *p, int64_t tq, int64_t tk, const char *what) {
    attn_dims d = p->d;
    d.tq = tq, d.tk = tk, d.nthreads = 1;
    int64_t nO = d.B * d.Lq * d.nh * d.F, nl = d.B * d.nh * d.Lq, nKV = d.B * d.nkv * d.ldk, nk = d.B * d.nkv * d.Lk * d.F;
    ttt_rng r;
    ttt_rng_seed(&r, 77);
    double *O = zeros(nO), *lse = zeros(nl), *Or = zeros(nO), *lr = zeros(nl), *dO = rnd(&r, nO, 1);
    double *scr = zeros(attn_scratch_elems(&d)), *delta = zeros(nl);
    double *dQ = zeros(nO), *dK = zeros(nKV), *dV = zeros(nKV), *dQr = zeros(nO), *dKr = zeros(nKV), *dVr = zeros(nKV);
    double *a = zeros(nk), *b = zeros(nk);
    attn_forward_f64(O, lse, p->Q, p->K, p->V, &d, scr);
    naive_forward(p, Or, lr);
    attn_backward_f64(dQ, dK, dV, delta, dO, O, lse, p->Q, p->K, p->V, &d, scr);
    naive_backward(p, dO, dQr, dKr, dVr);
    char w[160];
    int ok = 1;
#define CMP(name, x, y, n) \
    snprintf(w, sizeof w, "%s tiles %lldx%lld: %s", what, (long long)tq, (long long)tk, name); \
    ok &= check_close(w, x, y, n, 1e-12, 1e-12);
    CMP("O", O, Or, nO)
    CMP("lse", lse, lr, nl)
    CMP("dQ", dQ, dQr, nO)
    kv_rows(a, dK, &d), kv_rows(b, dKr, &d);
    CMP("dK", a, b, nk)
    kv_rows(a, dV, &d), kv_rows(b, dVr, &d);
    CMP("dV", a, b, nk)
#undef CMP
    free(O), free(lse), free(Or), free(lr), free(dO), free(scr), free(delta);
    free(dQ), free(dK), free(dV), free(dQr), free(dKr), free(dVr), free(a), free(b);
    return ok;
}

TEST(test_llama_attn_tiled_vs_naive) {
    ttt_rng r;
    ttt_rng_seed(&r, 2);
    static const int64_t tiles[][2] = {{5, 7}, {4, 3}, {7, 5}, {1, 1}, {23, 23}, {64, 128}, {3, 16}};
    int ok = 1;
    /* grouped-query (4 heads, 2 kv), a full sequence of 23 */
    problem p = make_problem(&r, 2, 4, 2, 6, 23, 23, 0, 1.0);
    for (size_t i = 0; i < sizeof tiles / sizeof tiles[0]; i++) ok &= tiled_case(&p, tiles[i][0], tiles[i][1], "GQA L=23");
    free_problem(&p);
    /* queries continuing a cache: 9 new after 14 cached, kv rows with room for 30 */
    p = make_problem(&r, 2, 4, 2, 6, 9, 23, 7, 1.0);
    for (size_t i = 0; i < 4; i++) ok &= tiled_case(&p, tiles[i][0], tiles[i][1], "prefill 9 after 14");
    free_problem(&p);
    /* one decode row against 40 keys; multi-query and multi-head */
    p = make_problem(&r, 1, 3, 1, 4, 1, 40, 3, 1.5);
    ok &= tiled_case(&p, 4, 6, "decode MQA");
    free_problem(&p);
    p = make_problem(&r, 1, 2, 2, 8, 19, 19, 0, 2.0);
    ok &= tiled_case(&p, 6, 4, "MHA large scores");
    free_problem(&p);
    return ok ? TEST_PASS : TEST_FAIL;
}

/* the tiled backward against central differences of J = Σ O ⊙ R */
TEST(test_llama_attn_grad_fd) {
    ttt_rng r;
    ttt_rng_seed(&r, 3);
    problem p = make_problem(&r, 1, 4, 2, 4, 6, 9, 2, 1.0);
    attn_dims d = p.d;
    d.tq = 4, d.tk = 3;
    int64_t nO = d.B * d.Lq * d.nh * d.F, nl = d.B * d.nh * d.Lq, nKV = d.B * d.nkv * d.ldk;
    double *R = rnd(&r, nO, 1), *O = zeros(nO), *lse = zeros(nl), *scr = zeros(attn_scratch_elems(&d));
    double *dQ = zeros(nO), *dK = zeros(nKV), *dV = zeros(nKV), *delta = zeros(nl);
    attn_forward_f64(O, lse, p.Q, p.K, p.V, &d, scr);
    attn_backward_f64(dQ, dK, dV, delta, R, O, lse, p.Q, p.K, p.V, &d, scr);
    struct {
        const char *name;
        double *x, *g;
        int64_t n;
    } ins[] = {{"dQ", p.Q, dQ, nO}, {"dK", p.K, dK, nKV}, {"dV", p.V, dV, nKV}};
    int ok = 1;
    for (int v = 0; v < 3; v++)
        for (int64_t i = 0; i < ins[v].n; i++) {
            double x0 = ins[v].x[i], h = 1e-6, J[2];
            for (int s = 0; s < 2; s++) {
                ins[v].x[i] = x0 + (s ? -h : h);
                attn_forward_f64(O, lse, p.Q, p.K, p.V, &d, scr);
                J[s] = 0;
                for (int64_t k = 0; k < nO; k++) J[s] += O[k] * R[k];
            }
            ins[v].x[i] = x0;
            double fd = (J[0] - J[1]) / (2 * h), an = ins[v].g[i];
            /* rows of a cache's spare room take no part: their gradient is left alone (0) */
            if (fabs(an - fd) > 1e-8 + 1e-6 * fabs(fd)) {
                test_fail("%s[%lld]: analytic %.10g, finite difference %.10g", ins[v].name, (long long)i, an, fd);
                ok = 0;
                break;
            }
        }
    free(R), free(O), free(lse), free(scr), free(dQ), free(dK), free(dV), free(delta);
    free_problem(&p);
    return ok ? TEST_PASS : TEST_FAIL;
}

/* float32 (vectorised exp, rows longer than its 16 lanes) against the float64 reference,
 * scores of std ≈ 4 so that the exponent covers a wide range */
TEST(test_llama_attn_f32) {
    ttt_rng r;
    ttt_rng_seed(&r, 4);
    problem p = make_problem(&r, 1, 2, 1, 16, 150, 150, 0, 1.0);
    for (int64_t i = 0; i < p.d.B * p.d.nh * p.d.Lq * p.d.F; i++) p.Q[i] *= 4.0;
    attn_dims d = p.d;
    d.tq = 64, d.tk = 128;
    int64_t nO = d.B * d.Lq * d.nh * d.F, nl = d.B * d.nh * d.Lq, nKV = d.B * d.nkv * d.ldk;
    double *Or = zeros(nO), *lr = zeros(nl);
    naive_forward(&p, Or, lr);
    float *Q = malloc(sizeof(float) * (size_t)nO), *K = malloc(sizeof(float) * (size_t)nKV),
          *V = malloc(sizeof(float) * (size_t)nKV), *O = malloc(sizeof(float) * (size_t)nO),
          *lse = malloc(sizeof(float) * (size_t)nl), *scr = malloc(sizeof(float) * (size_t)attn_scratch_elems(&d));
    for (int64_t i = 0; i < nO; i++) Q[i] = (float)p.Q[i];
    for (int64_t i = 0; i < nKV; i++) K[i] = (float)p.K[i], V[i] = (float)p.V[i];
    attn_forward_f32(O, lse, Q, K, V, &d, scr);
    double *Od = zeros(nO), *ld = zeros(nl);
    for (int64_t i = 0; i < nO; i++) Od[i] = O[i];
    for (int64_t i = 0; i < nl; i++) ld[i] = lse[i];
    /* inputs rounded to float32 move scores of ~±20 by ~1e-6: O by ~1e-5 at most */
    int ok = check_close("f32 O", Od, Or, nO, 2e-5, 0) && check_close("f32 lse", ld, lr, nl, 2e-5, 1e-6);
    free(Or), free(lr), free(Q), free(K), free(V), free(O), free(lse), free(scr), free(Od), free(ld);
    free_problem(&p);
    return ok ? TEST_PASS : TEST_FAIL;
}
