/* test_grad.c: gradient checks in float64 by central finite differences (h = 1e-6 for ops,
 * 1e-5 for the model), for each op alone, for one head's dual-form mini-batch (through the
 * inner gradient step), and for every tensor of tiny whole models (both inner models, both
 * backbones, a remainder mini-batch, an untied head, λ away from the clamp's kink); and the
 * equivalence of the gradient with and without recomputation through time.
 *
 * Tolerance: |analytic − fd| <= 1e-7 + 1e-5·|fd|. In float64 the central difference has
 * truncation error O(h²·f''') ≈ 1e-10 and rounding error O(ε·|J|/h) ≈ 1e-10 here, so 1e-5
 * relative leaves a wide margin while any wrong term (typically O(1) relative) fails. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/real.h"
#include "core/rng.h"
#include "layers/ttt_inner.h"
#include "layers/ttt_inner_wide.h"
#include "model/model.h"
#include "models.h"
#include "ops/ops.h"
#include "test.h"

#define ATOL 1e-7
#define RTOL 1e-5

/* J(x) = Σ out(x) ⊙ R for an op; fn computes out from the current x */
typedef void (*op_fn)(void *ctx, double *out);

static double objective(op_fn fn, void *ctx, double *out, const double *R, int64_t nout) {
    fn(ctx, out);
    double s = 0;
    for (int64_t i = 0; i < nout; i++) s += out[i] * R[i];
    return s;
}

/* compare analytic gradient g of J w.r.t. x (n entries, all checked) with central differences */
static int fd_check(const char *what, op_fn fn, void *ctx, double *x, int64_t n, const double *g,
                    const double *R, int64_t nout, double h) {
    double *out = malloc(sizeof(double) * (size_t)nout), *fd = malloc(sizeof(double) * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        double x0 = x[i];
        x[i] = x0 + h;
        double jp = objective(fn, ctx, out, R, nout);
        x[i] = x0 - h;
        double jm = objective(fn, ctx, out, R, nout);
        x[i] = x0;
        fd[i] = (jp - jm) / (2 * h);
    }
    int ok = check_close(what, g, fd, n, ATOL, RTOL);
    free(out);
    free(fd);
    return ok;
}

static double *rnd(ttt_rng *r, int64_t n, double mean, double std) {
    double *p = malloc(sizeof(double) * (size_t)n);
    for (int64_t i = 0; i < n; i++) p[i] = mean + std * ttt_rng_normal(r);
    return p;
}

static double *zeros(int64_t n) { return calloc((size_t)n, sizeof(double)); }

/* ------------------------------------------------------------------------------------------ */
/* ops                                                                                         */

typedef struct {
    double *x, *w, *b, *mean, *rstd;
    int64_t N, D;
} norm_ctx;

static void rms_fn(void *c_, double *out) {
    norm_ctx *c = c_;
    rmsnorm_fwd_f64(out, c->rstd, c->x, c->w, c->N, c->D, 1e-6);
}
static void ln_fn(void *c_, double *out) {
    norm_ctx *c = c_;
    layernorm_fwd_f64(out, c->mean, c->rstd, c->x, c->w, c->b, c->N, c->D, 1e-6);
}

TEST(test_grad_ops_norms) {
    ttt_rng r;
    ttt_rng_seed(&r, 1);
    const int64_t N = 5, D = 12;
    norm_ctx c = {rnd(&r, N * D, 0.3, 1), rnd(&r, D, 1, 0.2), rnd(&r, D, 0, 0.2), zeros(N), zeros(N), N, D};
    double *R = rnd(&r, N * D, 0, 1), *out = zeros(N * D);
    for (int kind = 0; kind < 2; kind++) {
        op_fn fn = kind ? ln_fn : rms_fn;
        fn(&c, out);
        double *dx = zeros(N * D), *dw = zeros(D), *db = zeros(D);
        if (kind)
            layernorm_bwd_f64(dx, dw, db, R, c.x, c.w, c.mean, c.rstd, N, D);
        else
            rmsnorm_bwd_f64(dx, dw, R, c.x, c.w, c.rstd, N, D);
        const char *nm = kind ? "layernorm" : "rmsnorm";
        char w[64];
        snprintf(w, sizeof w, "%s dx", nm);
        EXPECT(fd_check(w, fn, &c, c.x, N * D, dx, R, N * D, 1e-6), "%s", w);
        snprintf(w, sizeof w, "%s dw", nm);
        EXPECT(fd_check(w, fn, &c, c.w, D, dw, R, N * D, 1e-6), "%s", w);
        if (kind) EXPECT(fd_check("layernorm db", fn, &c, c.b, D, db, R, N * D, 1e-6), "db");
        free(dx), free(dw), free(db);
    }
    free(c.x), free(c.w), free(c.b), free(c.mean), free(c.rstd), free(R), free(out);
    return TEST_PASS;
}

typedef struct {
    double *u, *w, *b;
    int64_t B, L, D, K;
} conv_ctx;
static void conv_fn(void *c_, double *out) {
    conv_ctx *c = c_;
    dwconv_fwd_f64(out, c->u, NULL, c->w, c->b, c->B, c->L, c->D, c->K);
}

TEST(test_grad_ops_conv) {
    ttt_rng r;
    ttt_rng_seed(&r, 2);
    for (int64_t K = 1; K <= 4; K += 3) {
        conv_ctx c = {NULL, NULL, NULL, 2, 7, 5, K};
        int64_t n = c.B * c.L * c.D;
        c.u = rnd(&r, n, 0, 1), c.w = rnd(&r, c.D * K, 0, 0.5), c.b = rnd(&r, c.D, 0, 0.2);
        double *R = rnd(&r, n, 0, 1), *du = zeros(n), *dw = zeros(c.D * K), *db = zeros(c.D);
        dwconv_bwd_f64(du, dw, db, R, c.u, c.w, c.B, c.L, c.D, K);
        EXPECT(fd_check("conv du", conv_fn, &c, c.u, n, du, R, n, 1e-6), "du");
        EXPECT(fd_check("conv dw", conv_fn, &c, c.w, c.D * K, dw, R, n, 1e-6), "dw");
        EXPECT(fd_check("conv dbias", conv_fn, &c, c.b, c.D, db, R, n, 1e-6), "db");
        /* history: a chunked convolution with the history of the previous chunk equals the whole */
        double *y = zeros(n), *y2 = zeros(n), *hist = zeros(c.B * (K - 1) * c.D + 1);
        dwconv_fwd_f64(y, c.u, NULL, c.w, c.b, c.B, c.L, c.D, K);
        double *part = zeros(n);
        for (int64_t t0 = 0; t0 < c.L; t0 += 3) {
            int64_t m = c.L - t0 < 3 ? c.L - t0 : 3;
            double *chunk = zeros(c.B * m * c.D), *yc = zeros(c.B * m * c.D);
            for (int64_t b = 0; b < c.B; b++)
                memcpy(chunk + b * m * c.D, c.u + (b * c.L + t0) * c.D, sizeof(double) * (size_t)(m * c.D));
            dwconv_fwd_f64(yc, chunk, hist, c.w, c.b, c.B, m, c.D, K);
            dwconv_hist_update_f64(hist, chunk, c.B, m, c.D, K);
            for (int64_t b = 0; b < c.B; b++)
                memcpy(y2 + (b * c.L + t0) * c.D, yc + b * m * c.D, sizeof(double) * (size_t)(m * c.D));
            free(chunk), free(yc);
        }
        EXPECT(check_close("chunked conv with history", y2, y, n, 1e-14, 0), "history");
        free(y), free(y2), free(hist), free(part);
        free(c.u), free(c.w), free(c.b), free(R), free(du), free(dw), free(db);
    }
    return TEST_PASS;
}

typedef struct {
    double *a, *b;
    int64_t n;
    int gate;
} act_ctx;
static void act_fn(void *c_, double *out) {
    act_ctx *c = c_;
    if (c->gate)
        gelu_gate_fwd_f64(out, c->a, c->b, c->n);
    else
        swiglu_fwd_f64(out, c->a, c->b, c->n);
}

TEST(test_grad_ops_activations) {
    ttt_rng r;
    ttt_rng_seed(&r, 3);
    for (int gate = 0; gate < 2; gate++) {
        act_ctx c = {rnd(&r, 40, 0, 2), rnd(&r, 40, 0, 2), 40, gate};
        double *R = rnd(&r, 40, 0, 1), *da = zeros(40), *db = zeros(40);
        if (gate)
            gelu_gate_bwd_f64(da, db, R, c.a, c.b, 40); /* d ln, d g */
        else
            swiglu_bwd_f64(da, db, R, c.a, c.b, 40);
        EXPECT(fd_check(gate ? "gelu gate d ln" : "swiglu d gate", act_fn, &c, c.a, 40, da, R, 40, 1e-6), "a");
        EXPECT(fd_check(gate ? "gelu gate d g" : "swiglu d up", act_fn, &c, c.b, 40, db, R, 40, 1e-6), "b");
        free(c.a), free(c.b), free(R), free(da), free(db);
    }
    /* the truncated-constant gelu' of ttt.py and its derivative */
    for (double x = -4; x <= 4; x += 0.37) {
        double h = 1e-6;
        double fd = (gelu_bwd_ttt_f64(x + h) - gelu_bwd_ttt_f64(x - h)) / (2 * h);
        EXPECT(fabs(fd - gelu_bwd_ttt_grad_f64(x)) <= 1e-8, "gelu_bwd_ttt' at %g: %.12g vs fd %.12g", x,
               gelu_bwd_ttt_grad_f64(x), fd);
        double fd1 = (gelu_f64(x + h) - gelu_f64(x - h)) / (2 * h);
        EXPECT(fabs(fd1 - gelu_grad_f64(x)) <= 1e-8, "gelu' at %g", x);
        EXPECT(fabs(gelu_bwd_ttt_f64(x) - gelu_grad_f64(x)) < 1e-7, "truncated gelu' far from exact at %g", x);
    }
    return TEST_PASS;
}

/* rope's backward is the inverse rotation: <R, rope(x)> = <rope⁻¹(R), x> */
TEST(test_grad_ops_rope) {
    ttt_rng r;
    ttt_rng_seed(&r, 4);
    const int64_t B = 2, L = 9, H = 3, F = 8, per = 4;
    float cs[2 * 4 * 4];
    for (int64_t p = 0; p < per; p++)
        for (int64_t m = 0; m < F / 2; m++) {
            double a = (double)p * pow(10000.0, -2.0 * (double)m / (double)F);
            cs[p * 4 + m] = (float)cos(a), cs[16 + p * 4 + m] = (float)sin(a);
        }
    int64_t n = B * L * H * F;
    double *x = rnd(&r, n, 0, 1), *R = rnd(&r, n, 0, 1), *y = zeros(n), *g = zeros(n);
    memcpy(y, x, sizeof(double) * (size_t)n);
    memcpy(g, R, sizeof(double) * (size_t)n);
    rope_interleaved_f64(y, cs, B, L, H, F, 3, per, 0);
    rope_interleaved_f64(g, cs, B, L, H, F, 3, per, 1);
    double a = 0, b = 0;
    for (int64_t i = 0; i < n; i++) a += R[i] * y[i], b += g[i] * x[i];
    EXPECT(fabs(a - b) < 1e-12 * (1 + fabs(a)), "<R, rope x> = %.15g, <rope^-1 R, x> = %.15g", a, b);
    /* the inverse undoes the rotation up to cos² + sin² of the float32 tables (ttt.py's) */
    rope_interleaved_f64(y, cs, B, L, H, F, 3, per, 1);
    EXPECT(check_close("rope inverse", y, x, n, 0, 1e-6), "inverse");
    free(x), free(R), free(y), free(g);
    return TEST_PASS;
}

typedef struct {
    double *logits;
    int32_t *tg;
    double *wt;
    int64_t N, V;
} xent_ctx;
static void xent_fn(void *c_, double *out) {
    xent_ctx *c = c_;
    out[0] = xent_fwd_bwd_f64(NULL, c->logits, c->tg, c->wt, 1.0, c->N, c->V);
}

TEST(test_grad_ops_cross_entropy) {
    ttt_rng r;
    ttt_rng_seed(&r, 5);
    enum { N = 6, V = 11 };
    int32_t tg[N] = {3, -1, 0, 10, 5, -1};
    double wt[N] = {0.1, 0.2, 0.3, 0.25, 0.15, 0.5};
    xent_ctx c = {rnd(&r, N * V, 0, 2), tg, wt, N, V};
    double *g = zeros(N * V), one = 1;
    xent_fwd_bwd_f64(g, c.logits, tg, wt, 1.0, N, V);
    EXPECT(fd_check("cross-entropy dlogits", xent_fn, &c, c.logits, N * V, g, &one, 1, 1e-6), "xent");
    free(c.logits), free(g);
    return TEST_PASS;
}

/* ------------------------------------------------------------------------------------------ */
/* one head's dual-form mini-batch: J = Σ out ⊙ R + Σ state_after ⊙ Rs; the reference
 * kernels, and the wide mini-batch ones (ttt_inner_wide.c, TTT-Linear, mini-batch 40)       */

typedef struct {
    ttt_inner_dims d;
    int64_t n;
    int wide;
    double *wsc; /* the wide kernels' work space */
    double *Q, *K, *V, *lr, *tau, *gamma, *beta, *state0, *Rs, *st, *sc;
} mb_ctx;

static void mb_fn(void *c_, double *out) {
    mb_ctx *c = c_;
    int64_t S = ttt_state_size(&c->d);
    memcpy(c->st, c->state0, sizeof(double) * (size_t)S);
    ttt_mb_in_f64 in = {c->Q, c->K, c->V, c->d.f, c->lr, 1, c->tau, c->gamma, c->beta};
    if (c->wide)
        ttt_wide_mb_forward_f64(&c->d, c->n, &in, c->st, NULL, out, c->d.f, c->sc, c->wsc);
    else
        ttt_mb_forward_f64(&c->d, c->n, &in, c->st, NULL, out, c->d.f, c->sc);
    /* append the state: the objective weighs it with Rs */
    memcpy(out + c->n * c->d.f, c->st, sizeof(double) * (size_t)S);
}

TEST(test_grad_inner_minibatch) {
    /* {mlp, mini-batch b, rows n, wide kernels} */
    static const int64_t cases[][4] = {{0, 16, 16, 0}, {0, 16, 7, 0}, {1, 16, 16, 0}, {1, 16, 7, 0},
                                       {0, 40, 40, 1}, {0, 40, 23, 1}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int mlp = (int)cases[k][0];
        int64_t b = cases[k][1], n = cases[k][2];
        ttt_rng r;
        ttt_rng_seed(&r, 40 + (uint64_t)(mlp * 100 + n));
        mb_ctx c;
        c.d = (ttt_inner_dims){6, mlp ? 24 : 6, b, mlp};
        c.n = n, c.wide = (int)cases[k][3];
        c.wsc = c.wide ? zeros(ttt_wide_scratch_elems(&c.d)) : NULL;
        int64_t f = c.d.f, S = ttt_state_size(&c.d), nout = n * f + S;
        c.Q = rnd(&r, n * f, 0, 1), c.K = rnd(&r, n * f, 0, 1), c.V = rnd(&r, n * f, 0, 1);
        c.lr = rnd(&r, n, 0.1, 0.03), c.tau = rnd(&r, b, 0, 0.05);
        for (int64_t i = 0; i < b; i++) c.tau[i] += 1.0 / (double)(i + 1);
        c.gamma = rnd(&r, f, 1, 0.2), c.beta = rnd(&r, f, 0, 0.2);
        c.state0 = rnd(&r, S, 0, 0.4);
        c.st = zeros(S);
        c.sc = zeros(ttt_mbc_layout_of(&c.d).total);
        double *R = rnd(&r, nout, 0, 1), *out = zeros(nout);
        mb_fn(&c, out);
        /* analytic: backward with dout = R[:n f], dstate_after = R[n f:] */
        double *dQ = zeros(n * f), *dK = zeros(n * f), *dV = zeros(n * f), *dlr = zeros(n), *dtau = zeros(b);
        double *dg = zeros(f), *db = zeros(f), *dstate = zeros(S), *isc = zeros(ttt_inner_scratch_size(&c.d));
        memcpy(dstate, R + n * f, sizeof(double) * (size_t)S);
        ttt_mb_in_f64 in = {c.Q, c.K, c.V, f, c.lr, 1, c.tau, c.gamma, c.beta};
        if (c.wide)
            ttt_wide_mb_backward_f64(&c.d, n, &in, c.sc, R, f, dstate, dQ, dK, dV, dlr, dtau, dg, db, c.wsc);
        else
            ttt_mb_backward_f64(&c.d, n, &in, c.sc, R, f, dstate, dQ, dK, dV, dlr, dtau, dg, db, isc);
        char w[64];
        const char *nm = c.wide ? "wide linear" : mlp ? "mlp" : "linear";
#define CHK(arr, grad, cnt) \
    snprintf(w, sizeof w, "%s n=%lld d" #arr, nm, (long long)n); \
    EXPECT(fd_check(w, mb_fn, &c, c.arr, cnt, grad, R, nout, 1e-6), "%s", w);
        CHK(Q, dQ, n * f)
        CHK(K, dK, n * f)
        CHK(V, dV, n * f)
        CHK(lr, dlr, n)
        CHK(tau, dtau, n)
        CHK(gamma, dg, f)
        CHK(beta, db, f)
        CHK(state0, dstate, S)
#undef CHK
        free(c.Q), free(c.K), free(c.V), free(c.lr), free(c.tau), free(c.gamma), free(c.beta);
        free(c.state0), free(c.st), free(c.sc), free(c.wsc), free(R), free(out);
        free(dQ), free(dK), free(dV), free(dlr), free(dtau), free(dg), free(db), free(dstate), free(isc);
    }
    return TEST_PASS;
}

/* ------------------------------------------------------------------------------------------ */
/* whole model                                                                                 */

static int model_fd(ttt_config *c, int64_t B, int64_t L, int masked, const char *what) {
    ttt_model *m = make_model(c, TTT_PREC_F64, 17);
    EXPECT(m, "model");
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)(B * L)), *tg = masked ? malloc(sizeof(int32_t) * (size_t)(B * L)) : NULL;
    fd_inputs(ids, tg, B * L, c->vocab_size);
    /* the ablations hold some tensors fixed: their gradients are zero */
    int ok = fd_check_model(m, ids, tg, B, L, masked, !c->ttt_fixed_lr_gate && !c->ttt_unit_token_scale, what);
    free(ids), free(tg);
    ttt_model_free(m);
    return ok;
}

TEST(test_grad_model_fd_f64) {
    static const char *bbs[] = {"mamba", "tf"}, *ins[] = {"linear", "mlp"};
    int ok = 1;
    for (int b = 0; b < 2; b++)
        for (int i = 0; i < 2; i++) {
            ttt_config c;
            tiny_config(&c, bbs[b], ins[i]);
            c.hidden_size = 16;
            c.intermediate_size = 24;
            char what[64];
            snprintf(what, sizeof what, "%s/%s B=2 L=21 (b=8, remainder 5)", bbs[b], ins[i]);
            c.mini_batch_size = 8;
            ok &= model_fd(&c, 2, 21, 0, what);
        }
    ttt_config c;
    tiny_config(&c, "mamba", "mlp");
    c.hidden_size = 16;
    c.intermediate_size = 24;
    c.mini_batch_size = 4;
    c.conv_kernel = 3;
    c.tie_word_embeddings = 0;
    c.share_qk = 0; /* a mixed backbone: pre_conv and gate without shared q/k */
    ok &= model_fd(&c, 2, 11, 1, "mixed, untied, K=3, masked per-sequence loss");
    /* the ablations: the lr gate held at zero, τ ≡ 1 (their tensors get zero gradients) */
    tiny_config(&c, "mamba", "linear");
    c.hidden_size = 16;
    c.intermediate_size = 24;
    c.mini_batch_size = 8;
    c.ttt_fixed_lr_gate = 1;
    c.ttt_unit_token_scale = 1;
    ok &= model_fd(&c, 2, 21, 0, "ablations: fixed lr gate, unit token scale");
    /* batch gradient descent: one mini-batch wider than the fused kernels take (the wide
     * kernels), and a sequence of 2 of them with a remainder */
    tiny_config(&c, "mamba", "linear");
    c.hidden_size = 16;
    c.intermediate_size = 24;
    c.mini_batch_size = 24;
    ok &= model_fd(&c, 1, 24, 0, "mini-batch = sequence (24)");
    c.mini_batch_size = 17;
    ok &= model_fd(&c, 1, 40, 0, "mini-batch 17, remainder 6");
    return ok ? TEST_PASS : TEST_FAIL;
}

/* the gradient with recomputation in groups equals the gradient that keeps every
 * mini-batch, bit for bit (the same operations in the same order) */
TEST(test_grad_remat_bit_identical) {
    for (int prec = 0; prec < 2; prec++) {
        ttt_config c;
        tiny_config(&c, "mamba", prec ? "linear" : "mlp");
        ttt_model *m = make_model(&c, prec ? TTT_PREC_F64 : TTT_PREC_F32, 23);
        EXPECT(m, "model");
        const int64_t B = 2, L = 85; /* 6 mini-batches, the last one short */
        int32_t ids[B * L];
        random_ids(ids, B * L, c.vocab_size, 1);
        size_t bytes = (size_t)m->tab.total * m->elem;
        void *ref = malloc(bytes);
        const int groups[] = {0, 1, 2, 4, 5, 6, 100};
        double l0 = 0;
        for (size_t k = 0; k < sizeof groups / sizeof groups[0]; k++) {
            set_opts(m, 2, groups[k], 0);
            double loss;
            EXPECT(ttt_zero_grad(m) == TTT_OK && ttt_forward_backward(m, ids, NULL, B, L, 0, 1.0, &loss) == TTT_OK,
                   "%s", ttt_last_error());
            if (k == 0) {
                memcpy(ref, m->g, bytes);
                l0 = loss;
            } else {
                char w[64];
                snprintf(w, sizeof w, "%s gradients, group %d vs all kept", prec ? "f64" : "f32", groups[k]);
                EXPECT(check_bits(w, ref, m->g, bytes), "remat");
                EXPECT(loss == l0, "loss differs with group %d", groups[k]);
            }
        }
        free(ref);
        ttt_model_free(m);
    }
    return TEST_PASS;
}
