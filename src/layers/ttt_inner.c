/* ttt_inner.c: reference implementation of one head's TTT inner loop: the inner LayerNorm
 * with its fused L2 gradient, the dual-form mini-batch (Linear and MLP), its exact backward
 * (gradients through the inner gradient step), and the primal decode step.
 *
 * Notation (design.md 2.3-2.7, row convention): per mini-batch rows i = 0..n−1,
 *   E[i,j] = τ_i lr_j for j <= i, c_j = E[n−1, j] (the commit weights),
 *   ℓ_i(W) = ½‖LN(f_res(k_i; W)) − (v_i − k_i)‖²,  G = ∂ℓ/∂(LN input)  (closed form below).
 * All gradients inside a mini-batch are taken at its start weights. */
#include <string.h>

#include "layers/ttt_inner.h"
#include "layers/ttt_inner_ln.h"
#include "ops/ops.h"

static real dot(const real *a, const real *b, int64_t n) {
    real s = 0;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* y[n] = (acc ? y : bias or 0) + x[m] · W[m, n] */
static void vecmat(real *y, const real *x, const real *W, const real *bias, int64_t m, int64_t n,
                   int acc) {
    if (!acc) {
        if (bias)
            memcpy(y, bias, sizeof(real) * (size_t)n);
        else
            memset(y, 0, sizeof(real) * (size_t)n);
    }
    for (int64_t a = 0; a < m; a++) {
        real xa = x[a];
        const real *w = W + a * n;
        for (int64_t c = 0; c < n; c++) y[c] += xa * w[c];
    }
}

/* y[m] += W[m, n] · x[n] */
static void matvec_acc(real *y, const real *W, const real *x, int64_t m, int64_t n) {
    for (int64_t a = 0; a < m; a++) y[a] += dot(W + a * n, x, n);
}

/* W[m, n] += alpha · x[m] y[n]^T */
static void outer_acc(real *W, real alpha, const real *x, const real *y, int64_t m, int64_t n) {
    for (int64_t a = 0; a < m; a++) {
        real s = alpha * x[a];
        real *w = W + a * n;
        for (int64_t c = 0; c < n; c++) w[c] += s * y[c];
    }
}

static void axpy(real *y, real alpha, const real *x, int64_t n) {
    for (int64_t c = 0; c < n; c++) y[c] += alpha * x[c];
}

/* ------------------------------------------------------------------------------------------ */
/* TTT-Linear: f_res(x) = x W + b                                                              */

static void linear_mb_forward(const ttt_inner_dims *d, int64_t n, const RF(ttt_mb_in) *in,
                              real *state, real *sums, real *out, int64_t ldo, real *mbc) {
    int64_t f = d->f;
    ttt_mbc_layout L = ttt_mbc_layout_of(d);
    real *W = state, *bb = state + f * f;
    real *xh = mbc + L.xh, *rs = mbc + L.rs, *G = mbc + L.G, *xhb = mbc + L.xhb, *rsb = mbc + L.rsb;
    memcpy(mbc + L.st, state, sizeof(real) * (size_t)ttt_state_size(d));
    real z[f];
    /* Z = K W + b;  G = LNgrad(Z, V − K) */
    for (int64_t i = 0; i < n; i++) {
        const real *k = in->K + i * in->ld, *v = in->V + i * in->ld;
        vecmat(z, k, W, bb, f, f, 0);
        rs[i] = ln_stats(z, f, xh + i * f);
        lnl2_grad(G + i * f, xh + i * f, rs[i], in->gamma, in->beta, v, k, f);
    }
    /* Z̄_i = q_i W + b − Σ_{j<=i} τ_i lr_j (1 + q_i·k_j) G_j;  out_i = q_i + LN(Z̄_i) */
    for (int64_t i = 0; i < n; i++) {
        const real *q = in->Q + i * in->ld;
        vecmat(z, q, W, bb, f, f, 0);
        for (int64_t j = 0; j <= i; j++) {
            real e = in->tau[i] * in->lr[j * in->lr_ld];
            real a = dot(q, in->K + j * in->ld, f);
            axpy(z, -e * (RC(1) + a), G + j * f, f);
        }
        rsb[i] = ln_stats(z, f, xhb + i * f);
        ln_output(out + i * ldo, q, xhb + i * f, in->gamma, in->beta, f);
    }
    if (sums) {
        /* S_W = Σ_j lr_j k_jᵀ G_j,  S_b = Σ_j lr_j G_j */
        memset(sums, 0, sizeof(real) * (size_t)ttt_state_size(d));
        for (int64_t j = 0; j < n; j++) {
            real lr = in->lr[j * in->lr_ld];
            outer_acc(sums, lr, in->K + j * in->ld, G + j * f, f, f);
            axpy(sums + f * f, lr, G + j * f, f);
        }
    } else {
        /* W ← W − Σ_j c_j k_jᵀ G_j,  b ← b − Σ_j c_j G_j,  c_j = τ_{n−1} lr_j */
        for (int64_t j = 0; j < n; j++) {
            real c = in->tau[n - 1] * in->lr[j * in->lr_ld];
            outer_acc(W, -c, in->K + j * in->ld, G + j * f, f, f);
            axpy(bb, -c, G + j * f, f);
        }
    }
}

static void linear_mb_backward(const ttt_inner_dims *d, int64_t n, const RF(ttt_mb_in) *in,
                               const real *mbc, const real *dout, int64_t ldo, real *dstate,
                               real *dQ, real *dK, real *dV, real *dlr, real *dtau, real *dgamma,
                               real *dbeta, real *scratch) {
    int64_t f = d->f, S = ttt_state_size(d), ld = in->ld, lld = in->lr_ld;
    ttt_mbc_layout L = ttt_mbc_layout_of(d);
    const real *W = mbc + L.st;
    const real *xh = mbc + L.xh, *rs = mbc + L.rs, *G = mbc + L.G, *xhb = mbc + L.xhb,
               *rsb = mbc + L.rsb;
    const real *dWn = dstate, *dbn = dstate + f * f;
    real *dW = scratch, *db = scratch + f * f; /* gradient w.r.t. the start state */
    real *dG = scratch + S;                    /* [n, f] */
    real *t0 = dG + d->b * d->F, *t1 = t0 + d->F, *t2 = t1 + d->F;
    memcpy(dW, dstate, sizeof(real) * (size_t)S); /* W' = W − ...: dW += dW' */
    memset(dG, 0, sizeof(real) * (size_t)(n * f));
    real tl = in->tau[n - 1];

    /* (a) commit: W' = W − Σ c_j k_jᵀ G_j, b' = b − Σ c_j G_j */
    for (int64_t j = 0; j < n; j++) {
        const real *k = in->K + j * ld, *Gj = G + j * f;
        real lr = in->lr[j * lld], c = tl * lr;
        vecmat(t0, k, dWn, NULL, f, f, 0); /* k_j dW' */
        for (int64_t q = 0; q < f; q++) t0[q] += dbn[q];
        real dc = -dot(t0, Gj, f);
        for (int64_t a = 0; a < f; a++) dK[j * ld + a] -= c * dot(dWn + a * f, Gj, f);
        axpy(dG + j * f, -c, t0, f);
        dtau[n - 1] += dc * lr;
        dlr[j * lld] += dc * tl;
    }
    /* (b) output path: out_i = q_i + LN(Z̄_i), Z̄_i = q_i W + b − Σ_j E_ij (1 + A_ij) G_j */
    for (int64_t i = 0; i < n; i++) {
        const real *q = in->Q + i * ld, *go = dout + i * ldo;
        real *dq = dQ + i * ld;
        axpy(dq, 1, go, f);
        real *dzb = t1;
        ln_output_backward(dzb, go, xhb + i * f, rsb[i], in->gamma, dgamma, dbeta, f);
        matvec_acc(dq, W, dzb, f, f);
        outer_acc(dW, 1, q, dzb, f, f);
        axpy(db, 1, dzb, f);
        for (int64_t j = 0; j <= i; j++) {
            const real *k = in->K + j * ld;
            real lr = in->lr[j * lld], e = in->tau[i] * lr;
            real a = dot(q, k, f);
            real dP = -dot(dzb, G + j * f, f);
            real dE = dP * (RC(1) + a);
            dtau[i] += dE * lr;
            dlr[j * lld] += dE * in->tau[i];
            real dA = dP * e;
            axpy(dq, dA, k, f);
            axpy(dK + j * ld, dA, q, f);
            axpy(dG + j * f, -e * (RC(1) + a), dzb, f);
        }
    }
    /* (c) G = LNgrad(Z), Z = K W + b */
    for (int64_t i = 0; i < n; i++) {
        const real *k = in->K + i * ld, *v = in->V + i * ld;
        real *dz = t1;
        lnl2_backward(dz, dG + i * f, G + i * f, xh + i * f, rs[i], in->gamma, in->beta, v, k,
                      dV + i * ld, dK + i * ld, dgamma, dbeta, f, t2);
        matvec_acc(dK + i * ld, W, dz, f, f);
        outer_acc(dW, 1, k, dz, f, f);
        axpy(db, 1, dz, f);
    }
    memcpy(dstate, dW, sizeof(real) * (size_t)S);
}

/* ------------------------------------------------------------------------------------------ */
/* TTT-MLP: f_res(x) = gelu(x W1 + b1) W2 + b2                                                 */

static void mlp_mb_forward(const ttt_inner_dims *d, int64_t n, const RF(ttt_mb_in) *in,
                           real *state, real *sums, real *out, int64_t ldo, real *mbc) {
    int64_t f = d->f, F = d->F, ld = in->ld, lld = in->lr_ld;
    ttt_mbc_layout L = ttt_mbc_layout_of(d);
    real *W1 = state, *b1 = W1 + f * F, *W2 = b1 + F, *b2 = W2 + F * f;
    real *xh = mbc + L.xh, *rs = mbc + L.rs, *G2 = mbc + L.G, *xhb = mbc + L.xhb, *rsb = mbc + L.rsb;
    real *Z1 = mbc + L.Z1, *X2 = mbc + L.X2, *G1 = mbc + L.G1, *Zb1 = mbc + L.Zb1, *Xb2 = mbc + L.Xb2;
    memcpy(mbc + L.st, state, sizeof(real) * (size_t)ttt_state_size(d));
    real z[f];
    /* Z1 = K W1 + b1, X2 = gelu(Z1), Z2 = X2 W2 + b2, G2 = LNgrad(Z2, V − K),
     * G1 = (G2 W2ᵀ) ⊙ gelu'(Z1) */
    for (int64_t i = 0; i < n; i++) {
        const real *k = in->K + i * ld, *v = in->V + i * ld;
        vecmat(Z1 + i * F, k, W1, b1, f, F, 0);
        for (int64_t a = 0; a < F; a++) X2[i * F + a] = RF(gelu)(Z1[i * F + a]);
        vecmat(z, X2 + i * F, W2, b2, F, f, 0);
        rs[i] = ln_stats(z, f, xh + i * f);
        lnl2_grad(G2 + i * f, xh + i * f, rs[i], in->gamma, in->beta, v, k, f);
        for (int64_t a = 0; a < F; a++)
            G1[i * F + a] = dot(W2 + a * f, G2 + i * f, f) * RF(gelu_bwd_ttt)(Z1[i * F + a]);
    }
    for (int64_t i = 0; i < n; i++) {
        const real *q = in->Q + i * ld;
        /* Z̄1_i = q_i W1 + b1 − Σ_j E_ij (1 + q_i·k_j) G1_j;  X̄2 = gelu(Z̄1) */
        real *zb1 = Zb1 + i * F, *xb2 = Xb2 + i * F;
        vecmat(zb1, q, W1, b1, f, F, 0);
        for (int64_t j = 0; j <= i; j++) {
            real e = in->tau[i] * in->lr[j * lld];
            real a = dot(q, in->K + j * ld, f);
            axpy(zb1, -e * (RC(1) + a), G1 + j * F, F);
        }
        for (int64_t a = 0; a < F; a++) xb2[a] = RF(gelu)(zb1[a]);
        /* Z̄2_i = X̄2_i W2 + b2 − Σ_j E_ij (1 + X̄2_i·X2_j) G2_j */
        vecmat(z, xb2, W2, b2, F, f, 0);
        for (int64_t j = 0; j <= i; j++) {
            real e = in->tau[i] * in->lr[j * lld];
            real a = dot(xb2, X2 + j * F, F);
            axpy(z, -e * (RC(1) + a), G2 + j * f, f);
        }
        rsb[i] = ln_stats(z, f, xhb + i * f);
        ln_output(out + i * ldo, q, xhb + i * f, in->gamma, in->beta, f);
    }
    real *tW1 = W1, *tb1 = b1, *tW2 = W2, *tb2 = b2, sign = -1;
    if (sums) {
        memset(sums, 0, sizeof(real) * (size_t)ttt_state_size(d));
        tW1 = sums, tb1 = sums + f * F, tW2 = tb1 + F, tb2 = tW2 + F * f, sign = 1;
    }
    for (int64_t j = 0; j < n; j++) {
        real lr = in->lr[j * lld];
        real c = sums ? lr : in->tau[n - 1] * lr;
        outer_acc(tW1, sign * c, in->K + j * ld, G1 + j * F, f, F);
        axpy(tb1, sign * c, G1 + j * F, F);
        outer_acc(tW2, sign * c, X2 + j * F, G2 + j * f, F, f);
        axpy(tb2, sign * c, G2 + j * f, f);
    }
}

static void mlp_mb_backward(const ttt_inner_dims *d, int64_t n, const RF(ttt_mb_in) *in,
                            const real *mbc, const real *dout, int64_t ldo, real *dstate,
                            real *dQ, real *dK, real *dV, real *dlr, real *dtau, real *dgamma,
                            real *dbeta, real *scratch) {
    int64_t f = d->f, F = d->F, S = ttt_state_size(d), ld = in->ld, lld = in->lr_ld, b = d->b;
    ttt_mbc_layout L = ttt_mbc_layout_of(d);
    const real *W1 = mbc + L.st, *W2 = W1 + f * F + F;
    const real *xh = mbc + L.xh, *rs = mbc + L.rs, *G2 = mbc + L.G, *xhb = mbc + L.xhb,
               *rsb = mbc + L.rsb;
    const real *Z1 = mbc + L.Z1, *X2 = mbc + L.X2, *G1 = mbc + L.G1, *Zb1 = mbc + L.Zb1,
               *Xb2 = mbc + L.Xb2;
    const real *dW1n = dstate, *db1n = dW1n + f * F, *dW2n = db1n + F, *db2n = dW2n + F * f;
    real *dW1 = scratch, *db1 = dW1 + f * F, *dW2 = db1 + F, *db2 = dW2 + F * f;
    real *dG1 = scratch + S, *dX2 = dG1 + b * F, *dG2 = dX2 + b * F; /* [n,F], [n,F], [n,f] */
    real *t0 = dG2 + b * F, *t1 = t0 + F, *t2 = t1 + F, *t3 = t2 + F;
    memcpy(dW1, dstate, sizeof(real) * (size_t)S);
    memset(dG1, 0, sizeof(real) * (size_t)(n * F));
    memset(dX2, 0, sizeof(real) * (size_t)(n * F));
    memset(dG2, 0, sizeof(real) * (size_t)(n * f));
    real tl = in->tau[n - 1];

    /* (a) commit: W1' = W1 − Σ c_j k_jᵀ G1_j, b1' = b1 − Σ c_j G1_j,
     *             W2' = W2 − Σ c_j X2_jᵀ G2_j, b2' = b2 − Σ c_j G2_j */
    for (int64_t j = 0; j < n; j++) {
        const real *k = in->K + j * ld;
        real lr = in->lr[j * lld], c = tl * lr;
        vecmat(t0, k, dW1n, db1n, f, F, 0); /* k_j dW1' + db1' */
        real dc = -dot(t0, G1 + j * F, F);
        for (int64_t a = 0; a < f; a++) dK[j * ld + a] -= c * dot(dW1n + a * F, G1 + j * F, F);
        axpy(dG1 + j * F, -c, t0, F);
        vecmat(t1, X2 + j * F, dW2n, db2n, F, f, 0); /* X2_j dW2' + db2' */
        dc -= dot(t1, G2 + j * f, f);
        for (int64_t a = 0; a < F; a++) dX2[j * F + a] -= c * dot(dW2n + a * f, G2 + j * f, f);
        axpy(dG2 + j * f, -c, t1, f);
        dtau[n - 1] += dc * lr;
        dlr[j * lld] += dc * tl;
    }
    /* (b) output path */
    for (int64_t i = 0; i < n; i++) {
        const real *q = in->Q + i * ld, *go = dout + i * ldo, *xb2 = Xb2 + i * F;
        real *dq = dQ + i * ld;
        axpy(dq, 1, go, f);
        real *dzb2 = t0, *dxb2 = t1, *dzb1 = t2;
        ln_output_backward(dzb2, go, xhb + i * f, rsb[i], in->gamma, dgamma, dbeta, f);
        /* Z̄2 = X̄2 W2 + b2 − Σ_j E_ij (1 + X̄2_i·X2_j) G2_j */
        memset(dxb2, 0, sizeof(real) * (size_t)F);
        matvec_acc(dxb2, W2, dzb2, F, f);
        outer_acc(dW2, 1, xb2, dzb2, F, f);
        axpy(db2, 1, dzb2, f);
        for (int64_t j = 0; j <= i; j++) {
            real lr = in->lr[j * lld], e = in->tau[i] * lr;
            real a = dot(xb2, X2 + j * F, F);
            real dP = -dot(dzb2, G2 + j * f, f);
            real dE = dP * (RC(1) + a);
            dtau[i] += dE * lr;
            dlr[j * lld] += dE * in->tau[i];
            real dA = dP * e;
            axpy(dxb2, dA, X2 + j * F, F);
            axpy(dX2 + j * F, dA, xb2, F);
            axpy(dG2 + j * f, -e * (RC(1) + a), dzb2, f);
        }
        /* X̄2 = gelu(Z̄1) */
        for (int64_t a = 0; a < F; a++) dzb1[a] = dxb2[a] * RF(gelu_grad)(Zb1[i * F + a]);
        /* Z̄1 = q W1 + b1 − Σ_j E_ij (1 + q_i·k_j) G1_j */
        matvec_acc(dq, W1, dzb1, f, F);
        outer_acc(dW1, 1, q, dzb1, f, F);
        axpy(db1, 1, dzb1, F);
        for (int64_t j = 0; j <= i; j++) {
            const real *k = in->K + j * ld;
            real lr = in->lr[j * lld], e = in->tau[i] * lr;
            real a = dot(q, k, f);
            real dP = -dot(dzb1, G1 + j * F, F);
            real dE = dP * (RC(1) + a);
            dtau[i] += dE * lr;
            dlr[j * lld] += dE * in->tau[i];
            real dA = dP * e;
            axpy(dq, dA, k, f);
            axpy(dK + j * ld, dA, q, f);
            axpy(dG1 + j * F, -e * (RC(1) + a), dzb1, F);
        }
    }
    /* (c) the reconstruction path of each row j */
    for (int64_t j = 0; j < n; j++) {
        const real *k = in->K + j * ld, *v = in->V + j * ld, *z1 = Z1 + j * F;
        real *dz1 = t0, *dz2 = t1, *dh = t2;
        /* G1 = H ⊙ gelu'(Z1), H = G2 W2ᵀ:  dH = dG1 ⊙ gelu'(Z1), dZ1 = dG1 ⊙ H ⊙ gelu''(Z1),
         * dG2 += dH W2, dW2 += dHᵀ G2 */
        for (int64_t a = 0; a < F; a++) {
            real g = dG1[j * F + a];
            real h = dot(W2 + a * f, G2 + j * f, f);
            dh[a] = g * RF(gelu_bwd_ttt)(z1[a]);
            dz1[a] = g * h * RF(gelu_bwd_ttt_grad)(z1[a]);
        }
        vecmat(dG2 + j * f, dh, W2, NULL, F, f, 1);
        outer_acc(dW2, 1, dh, G2 + j * f, F, f);
        /* G2 = LNgrad(Z2, V − K) */
        lnl2_backward(dz2, dG2 + j * f, G2 + j * f, xh + j * f, rs[j], in->gamma, in->beta, v, k,
                      dV + j * ld, dK + j * ld, dgamma, dbeta, f, t3);
        /* Z2 = X2 W2 + b2 */
        matvec_acc(dX2 + j * F, W2, dz2, F, f);
        outer_acc(dW2, 1, X2 + j * F, dz2, F, f);
        axpy(db2, 1, dz2, f);
        /* X2 = gelu(Z1) */
        for (int64_t a = 0; a < F; a++) dz1[a] += dX2[j * F + a] * RF(gelu_grad)(z1[a]);
        /* Z1 = k W1 + b1 */
        matvec_acc(dK + j * ld, W1, dz1, f, F);
        outer_acc(dW1, 1, k, dz1, f, F);
        axpy(db1, 1, dz1, F);
    }
    memcpy(dstate, dW1, sizeof(real) * (size_t)S);
}

/* ------------------------------------------------------------------------------------------ */

void RF(ttt_mb_forward)(const ttt_inner_dims *d, int64_t n, const RF(ttt_mb_in) *in, real *state,
                        real *sums, real *out, int64_t ldo, real *mbc) {
    if (d->mlp)
        mlp_mb_forward(d, n, in, state, sums, out, ldo, mbc);
    else
        linear_mb_forward(d, n, in, state, sums, out, ldo, mbc);
}

void RF(ttt_mb_backward)(const ttt_inner_dims *d, int64_t n, const RF(ttt_mb_in) *in,
                         const real *mbc, const real *dout, int64_t ldo, real *dstate, real *dQ,
                         real *dK, real *dV, real *dlr, real *dtau, real *dgamma, real *dbeta,
                         real *scratch) {
    if (d->mlp)
        mlp_mb_backward(d, n, in, mbc, dout, ldo, dstate, dQ, dK, dV, dlr, dtau, dgamma, dbeta,
                        scratch);
    else
        linear_mb_backward(d, n, in, mbc, dout, ldo, dstate, dQ, dK, dV, dlr, dtau, dgamma, dbeta,
                           scratch);
}

/* Primal form of one token (design.md 2.9): gradients at the start-of-mini-batch weights W,
 * S += lr·∇ℓ(W), evaluated with W − τ·S:  Z̄ = q W + b − τ (q S_W + S_b). */
void RF(ttt_primal_step)(const ttt_inner_dims *d, const real *q, const real *k, const real *v,
                         real lr, real tau, const real *gamma, const real *beta, real *state,
                         real *sums, int commit, real *out, real *scratch) {
    int64_t f = d->f, F = d->F, S = ttt_state_size(d);
    real *xh = scratch, *G = xh + f, *z = G + f, *xhb = z + f;
    real *Z1 = xhb + f, *X2 = Z1 + F, *G1 = X2 + F;
    if (!d->mlp) {
        real *W = state, *bb = W + f * f, *SW = sums, *Sb = sums + f * f;
        vecmat(z, k, W, bb, f, f, 0);
        real r = ln_stats(z, f, xh);
        lnl2_grad(G, xh, r, gamma, beta, v, k, f);
        outer_acc(SW, lr, k, G, f, f);
        axpy(Sb, lr, G, f);
        vecmat(z, q, W, bb, f, f, 0);
        for (int64_t a = 0; a < f; a++) axpy(z, -tau * q[a], SW + a * f, f);
        axpy(z, -tau, Sb, f);
    } else {
        real *W1 = state, *b1 = W1 + f * F, *W2 = b1 + F, *b2 = W2 + F * f;
        real *SW1 = sums, *Sb1 = SW1 + f * F, *SW2 = Sb1 + F, *Sb2 = SW2 + F * f;
        vecmat(Z1, k, W1, b1, f, F, 0);
        for (int64_t a = 0; a < F; a++) X2[a] = RF(gelu)(Z1[a]);
        vecmat(z, X2, W2, b2, F, f, 0);
        real r = ln_stats(z, f, xh);
        lnl2_grad(G, xh, r, gamma, beta, v, k, f);
        for (int64_t a = 0; a < F; a++) G1[a] = dot(W2 + a * f, G, f) * RF(gelu_bwd_ttt)(Z1[a]);
        outer_acc(SW1, lr, k, G1, f, F);
        axpy(Sb1, lr, G1, F);
        outer_acc(SW2, lr, X2, G, F, f);
        axpy(Sb2, lr, G, f);
        /* reuse Z1/X2 for the test view */
        vecmat(Z1, q, W1, b1, f, F, 0);
        for (int64_t a = 0; a < f; a++) axpy(Z1, -tau * q[a], SW1 + a * F, F);
        axpy(Z1, -tau, Sb1, F);
        for (int64_t a = 0; a < F; a++) X2[a] = RF(gelu)(Z1[a]);
        vecmat(z, X2, W2, b2, F, f, 0);
        for (int64_t a = 0; a < F; a++) axpy(z, -tau * X2[a], SW2 + a * f, f);
        axpy(z, -tau, Sb2, f);
    }
    ln_stats(z, f, xhb);
    ln_output(out, q, xhb, gamma, beta, f);
    if (commit) {
        for (int64_t i = 0; i < S; i++) state[i] -= tau * sums[i];
        memset(sums, 0, sizeof(real) * (size_t)S);
    }
}
