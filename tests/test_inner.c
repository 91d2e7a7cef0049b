/* test_inner.c: the TTT inner loop of one head alone (float64 build): the dual form equals
 * the per-token primal loop (outputs and final state, Linear and MLP, full and short
 * mini-batches), the partial dual form equals primal steps without commit, a mini-batch of
 * size 1 is online gradient descent written out independently here, and with lr = 0 the
 * output is q + LN(f_res(q; W0)). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/real.h"
#include "core/rng.h"
#include "layers/ttt_inner.h"
#include "ops/ops.h"
#include "test.h"

typedef struct {
    ttt_inner_dims d;
    int64_t n;
    double *Q, *K, *V, *lr, *tau, *gamma, *beta, *state;
} inner_case;

static double *rnd(ttt_rng *r, int64_t n, double mean, double std) {
    double *p = malloc(sizeof(double) * (size_t)n);
    for (int64_t i = 0; i < n; i++) p[i] = mean + std * ttt_rng_normal(r);
    return p;
}

static inner_case make_case(int mlp, int64_t n, uint64_t seed) {
    inner_case c;
    ttt_rng r;
    ttt_rng_seed(&r, seed);
    c.d = (ttt_inner_dims){8, mlp ? 32 : 8, 16, mlp};
    c.n = n;
    int64_t f = c.d.f;
    c.Q = rnd(&r, n * f, 0, 1);
    c.K = rnd(&r, n * f, 0, 1);
    c.V = rnd(&r, n * f, 0, 1);
    c.lr = rnd(&r, n, 0, 0.1);
    c.tau = rnd(&r, 16, 0, 0.05);
    for (int64_t i = 0; i < n; i++) c.lr[i] = 0.5 / (double)f + fabs(c.lr[i]); /* η sigmoid / f scale */
    for (int64_t i = 0; i < 16; i++) c.tau[i] += 1.0 / (double)(i + 1);
    c.gamma = rnd(&r, f, 1, 0.1);
    c.beta = rnd(&r, f, 0, 0.1);
    int64_t S = ttt_state_size(&c.d);
    c.state = rnd(&r, S, 0, 1.2 / sqrt((double)f));
    return c;
}

static void free_case(inner_case *c) {
    free(c->Q), free(c->K), free(c->V), free(c->lr), free(c->tau), free(c->gamma), free(c->beta), free(c->state);
}

static ttt_mb_in_f64 inputs(const inner_case *c) {
    ttt_mb_in_f64 in = {c->Q, c->K, c->V, c->d.f, c->lr, 1, c->tau, c->gamma, c->beta};
    return in;
}

static double *scratch(const ttt_inner_dims *d) {
    return calloc((size_t)(ttt_inner_scratch_size(d) + ttt_mbc_layout_of(d).total), sizeof(double));
}

TEST(test_inner_dual_equals_primal) {
    for (int mlp = 0; mlp < 2; mlp++)
        for (int64_t n = 16; n >= 5; n -= 11) {
            inner_case c = make_case(mlp, n, 100 + (uint64_t)(mlp * 10 + n));
            int64_t f = c.d.f, S = ttt_state_size(&c.d);
            ttt_mb_in_f64 in = inputs(&c);
            double *st_dual = malloc(sizeof(double) * (size_t)S), *st_pr = malloc(sizeof(double) * (size_t)S);
            double *sums = calloc((size_t)S, sizeof(double)), *sums_pr = calloc((size_t)S, sizeof(double));
            double *out_d = malloc(sizeof(double) * (size_t)(n * f)), *out_p = malloc(sizeof(double) * (size_t)(n * f));
            double *out_part = malloc(sizeof(double) * (size_t)(n * f));
            double *sc = scratch(&c.d), *mbc = sc + ttt_inner_scratch_size(&c.d);
            memcpy(st_dual, c.state, sizeof(double) * (size_t)S);
            ttt_mb_forward_f64(&c.d, n, &in, st_dual, NULL, out_d, f, mbc);
            /* partial (no commit): same outputs, state unchanged, sums = Σ lr ∇ */
            double *st_part = malloc(sizeof(double) * (size_t)S);
            memcpy(st_part, c.state, sizeof(double) * (size_t)S);
            ttt_mb_forward_f64(&c.d, n, &in, st_part, sums, out_part, f, mbc);
            /* primal: one token at a time, committing at the last */
            memcpy(st_pr, c.state, sizeof(double) * (size_t)S);
            for (int64_t i = 0; i < n; i++)
                ttt_primal_step_f64(&c.d, c.Q + i * f, c.K + i * f, c.V + i * f, c.lr[i], c.tau[i], c.gamma,
                                    c.beta, st_pr, sums_pr, i == n - 1 && n == c.d.b ? 1 : 0, out_p + i * f, sc);
            char w[64];
            snprintf(w, sizeof w, "%s n=%lld outputs", mlp ? "mlp" : "linear", (long long)n);
            EXPECT(check_close(w, out_d, out_p, n * f, 1e-12, 1e-12), "dual vs primal");
            EXPECT(check_close("partial outputs", out_part, out_d, n * f, 0, 0), "partial");
            EXPECT(check_bits("partial keeps the state", st_part, c.state, sizeof(double) * (size_t)S), "state");
            if (n == c.d.b) { /* committed: same final state */
                EXPECT(check_close("final state", st_dual, st_pr, S, 1e-12, 1e-12), "state");
            } else { /* not committed: same running sums, state untouched */
                EXPECT(check_close("running sums", sums, sums_pr, S, 1e-12, 1e-12), "sums");
                EXPECT(check_bits("primal keeps the state", st_pr, c.state, sizeof(double) * (size_t)S), "state");
                /* the dual commit equals state − τ_{n−1}·sums */
                for (int64_t k = 0; k < S; k++) st_pr[k] = c.state[k] - c.tau[n - 1] * sums_pr[k];
                EXPECT(check_close("commit of a short mini-batch", st_dual, st_pr, S, 1e-12, 1e-12), "state");
            }
            free(st_dual), free(st_pr), free(st_part), free(sums), free(sums_pr), free(out_d), free(out_p);
            free(out_part), free(sc);
            free_case(&c);
        }
    return TEST_PASS;
}

/* independent online-GD reference for TTT-Linear with mini-batch size 1:
 * W_t = W_{t−1} − τ_0 lr_t ∇_W ℓ_t(W_{t−1}),  z_t = q_t + LN(q_t W_t + b_t) */
static void ln_ref(const double *z, int64_t f, double *xh, double *r) {
    double mu = 0, var = 0;
    for (int64_t c = 0; c < f; c++) mu += z[c] / (double)f;
    for (int64_t c = 0; c < f; c++) var += (z[c] - mu) * (z[c] - mu) / (double)f;
    *r = 1 / sqrt(var + 1e-6);
    for (int64_t c = 0; c < f; c++) xh[c] = (z[c] - mu) * *r;
}

TEST(test_inner_minibatch1_is_online_gd) {
    inner_case c = make_case(0, 12, 77);
    c.d.b = 1;
    int64_t f = c.d.f, n = c.n, S = ttt_state_size(&c.d);
    double *W = malloc(sizeof(double) * (size_t)S), *st = malloc(sizeof(double) * (size_t)S);
    memcpy(W, c.state, sizeof(double) * (size_t)S);
    memcpy(st, c.state, sizeof(double) * (size_t)S);
    double *out = malloc(sizeof(double) * (size_t)(n * f)), *ref = malloc(sizeof(double) * (size_t)(n * f));
    double *sc = scratch(&c.d), *mbc = sc + ttt_inner_scratch_size(&c.d);
    for (int64_t t = 0; t < n; t++) {
        ttt_mb_in_f64 in = {c.Q + t * f, c.K + t * f, c.V + t * f, f, c.lr + t, 1, c.tau, c.gamma, c.beta};
        ttt_mb_forward_f64(&c.d, 1, &in, st, NULL, out + t * f, f, mbc);
        /* reference: gradient of ½‖LN(kW+b) − (v−k)‖² by the chain rule, written plainly */
        double z[8], xh[8], r, y[8], gy[8], gz[8];
        const double *k = c.K + t * f, *v = c.V + t * f, *q = c.Q + t * f;
        for (int64_t j = 0; j < f; j++) {
            z[j] = W[f * f + j];
            for (int64_t a = 0; a < f; a++) z[j] += k[a] * W[a * f + j];
        }
        ln_ref(z, f, xh, &r);
        for (int64_t j = 0; j < f; j++) y[j] = c.gamma[j] * xh[j] + c.beta[j], gy[j] = (y[j] - (v[j] - k[j])) * c.gamma[j];
        double m1 = 0, m2 = 0;
        for (int64_t j = 0; j < f; j++) m1 += gy[j] / (double)f, m2 += gy[j] * xh[j] / (double)f;
        for (int64_t j = 0; j < f; j++) gz[j] = r * (gy[j] - m1 - xh[j] * m2);
        double step = c.tau[0] * c.lr[t];
        for (int64_t a = 0; a < f; a++)
            for (int64_t j = 0; j < f; j++) W[a * f + j] -= step * k[a] * gz[j];
        for (int64_t j = 0; j < f; j++) W[f * f + j] -= step * gz[j];
        for (int64_t j = 0; j < f; j++) {
            z[j] = W[f * f + j];
            for (int64_t a = 0; a < f; a++) z[j] += q[a] * W[a * f + j];
        }
        ln_ref(z, f, xh, &r);
        for (int64_t j = 0; j < f; j++) ref[t * f + j] = q[j] + c.gamma[j] * xh[j] + c.beta[j];
    }
    EXPECT(check_close("online GD outputs", out, ref, n * f, 1e-12, 1e-12), "b=1");
    EXPECT(check_close("online GD final state", st, W, S, 1e-12, 1e-12), "b=1");
    free(W), free(st), free(out), free(ref), free(sc);
    free_case(&c);
    return TEST_PASS;
}

TEST(test_inner_zero_lr_is_static) {
    for (int mlp = 0; mlp < 2; mlp++) {
        inner_case c = make_case(mlp, 16, 55);
        int64_t f = c.d.f, F = c.d.F, S = ttt_state_size(&c.d), n = c.n;
        for (int64_t i = 0; i < n; i++) c.lr[i] = 0;
        ttt_mb_in_f64 in = inputs(&c);
        double *st = malloc(sizeof(double) * (size_t)S), *out = malloc(sizeof(double) * (size_t)(n * f));
        double *sc = scratch(&c.d), *mbc = sc + ttt_inner_scratch_size(&c.d);
        memcpy(st, c.state, sizeof(double) * (size_t)S);
        ttt_mb_forward_f64(&c.d, n, &in, st, NULL, out, f, mbc);
        EXPECT(check_bits("state with lr 0", st, c.state, sizeof(double) * (size_t)S), "state");
        for (int64_t i = 0; i < n; i++) {
            const double *q = c.Q + i * f, *W1 = c.state, *b1 = W1 + f * F;
            double h[32], z[8], xh[8], r;
            for (int64_t j = 0; j < F; j++) {
                h[j] = b1[j];
                for (int64_t a = 0; a < f; a++) h[j] += q[a] * W1[a * F + j];
                if (mlp) h[j] = gelu_f64(h[j]);
            }
            if (mlp) {
                const double *W2 = b1 + F, *b2 = W2 + F * f;
                for (int64_t j = 0; j < f; j++) {
                    z[j] = b2[j];
                    for (int64_t a = 0; a < F; a++) z[j] += h[a] * W2[a * f + j];
                }
            } else {
                memcpy(z, h, sizeof(double) * (size_t)f);
            }
            ln_ref(z, f, xh, &r);
            double want[8];
            for (int64_t j = 0; j < f; j++) want[j] = q[j] + c.gamma[j] * xh[j] + c.beta[j];
            EXPECT(check_close("q + LN(f_res(q; W0))", out + i * f, want, f, 1e-12, 1e-12), "lr 0");
        }
        free(st), free(out), free(sc);
        free_case(&c);
    }
    return TEST_PASS;
}
