/* ttt_inner_wide.c: TTT-Linear's dual-form mini-batch and its exact backward with the sums
 * over token pairs (i, j <= i) as matrix products, for wide mini-batches (see
 * ttt_inner_wide.h). The formulas are the reference's (ttt_inner.c), line for line:
 *   Z = K W + b,  G_i = LNgrad(Z_i; v_i − k_i),
 *   P_ij = −τ_i lr_j (1 + q_i·k_j) for j <= i (0 above the diagonal),
 *   Z̄ = Q W + b + P G,  out_i = q_i + LN(Z̄_i),
 *   commit: W ← W − Kᵀ C G, b ← b − Σ_j c_j G_j  (C = diag(c), c_j = τ_{n−1} lr_j),
 *   partial: S_W = Kᵀ diag(lr) G, S_b = Σ_j lr_j G_j.
 * Every product is one single-threaded GEMM call (the scan runs one head per thread). */
#include <string.h>

#include "layers/ttt_inner_ln.h"
#include "layers/ttt_inner_wide.h"
#include "ops/ops.h"

#define GEMM RF(gemm_block)

/* work space: P, P2 [b, b] | R0, R1, R2, R3 [b, f] | dW [state] | t [f] */
typedef struct {
    real *P, *P2, *R0, *R1, *R2, *R3, *dW, *t;
} wide_ws;

static wide_ws wide_ws_of(const ttt_inner_dims *d, real *s) {
    wide_ws w;
    int64_t b = d->b, f = d->f;
    w.P = s, w.P2 = w.P + b * b, w.R0 = w.P2 + b * b, w.R1 = w.R0 + b * f, w.R2 = w.R1 + b * f;
    w.R3 = w.R2 + b * f, w.dW = w.R3 + b * f, w.t = w.dW + ttt_state_size(d);
    return w;
}

static void add_row(real *y, const real *x, int64_t f) {
    for (int64_t c = 0; c < f; c++) y[c] += x[c];
}

void RF(ttt_wide_mb_forward)(const ttt_inner_dims *d, int64_t n, const RF(ttt_mb_in) *in, real *state,
                             real *sums, real *out, int64_t ldo, real *mbc, real *scratch) {
    int64_t f = d->f, ld = in->ld, lld = in->lr_ld;
    ttt_mbc_layout L = ttt_mbc_layout_of(d);
    wide_ws w = wide_ws_of(d, scratch);
    real *W = state, *bb = state + f * f;
    real *xh = mbc + L.xh, *rs = mbc + L.rs, *G = mbc + L.G, *xhb = mbc + L.xhb, *rsb = mbc + L.rsb;
    real *Z = w.R0, *Zb = w.R1, *Gs = w.R2;
    memcpy(mbc + L.st, state, sizeof(real) * (size_t)ttt_state_size(d));

    /* Z = K W + b;  G_i = LNgrad(Z_i; v_i − k_i) */
    GEMM(0, 0, n, f, f, in->K, ld, W, f, 0, Z, f);
    for (int64_t i = 0; i < n; i++) {
        real *z = Z + i * f;
        add_row(z, bb, f);
        rs[i] = ln_stats(z, f, xh + i * f);
        lnl2_grad(G + i * f, xh + i * f, rs[i], in->gamma, in->beta, in->V + i * ld, in->K + i * ld, f);
    }
    /* P = Q Kᵀ, then P_ij = −τ_i lr_j (1 + P_ij) on and below the diagonal, 0 above */
    real *P = w.P;
    GEMM(0, 1, n, n, f, in->Q, ld, in->K, ld, 0, P, n);
    for (int64_t i = 0; i < n; i++) {
        real *p = P + i * n;
        for (int64_t j = 0; j <= i; j++) p[j] = -in->tau[i] * in->lr[j * lld] * (RC(1) + p[j]);
        for (int64_t j = i + 1; j < n; j++) p[j] = 0;
    }
    /* Z̄ = Q W + b + P G;  out_i = q_i + LN(Z̄_i) */
    GEMM(0, 0, n, f, f, in->Q, ld, W, f, 0, Zb, f);
    GEMM(0, 0, n, f, n, P, n, G, f, 1, Zb, f);
    for (int64_t i = 0; i < n; i++) {
        real *zb = Zb + i * f;
        add_row(zb, bb, f);
        rsb[i] = ln_stats(zb, f, xhb + i * f);
        ln_output(out + i * ldo, in->Q + i * ld, xhb + i * f, in->gamma, in->beta, f);
    }
    /* partial: S_W = Kᵀ (lr ⊙ G), S_b = Σ_j lr_j G_j;  commit: W += Kᵀ (−c ⊙ G), b += Σ_j −c_j G_j */
    real scale = sums ? RC(1) : -in->tau[n - 1];
    real *bsum = sums ? sums + f * f : bb;
    if (sums) memset(bsum, 0, sizeof(real) * (size_t)f);
    for (int64_t j = 0; j < n; j++) {
        real s = scale * in->lr[j * lld];
        for (int64_t c = 0; c < f; c++) Gs[j * f + c] = s * G[j * f + c];
        add_row(bsum, Gs + j * f, f);
    }
    GEMM(1, 0, f, f, n, in->K, ld, Gs, f, sums ? 0 : 1, sums ? sums : W, f);
}

void RF(ttt_wide_mb_backward)(const ttt_inner_dims *d, int64_t n, const RF(ttt_mb_in) *in,
                              const real *mbc, const real *dout, int64_t ldo, real *dstate, real *dQ,
                              real *dK, real *dV, real *dlr, real *dtau, real *dgamma, real *dbeta,
                              real *scratch) {
    int64_t f = d->f, S = ttt_state_size(d), ld = in->ld, lld = in->lr_ld;
    ttt_mbc_layout L = ttt_mbc_layout_of(d);
    wide_ws w = wide_ws_of(d, scratch);
    const real *W = mbc + L.st;
    const real *xh = mbc + L.xh, *rs = mbc + L.rs, *G = mbc + L.G, *xhb = mbc + L.xhb,
               *rsb = mbc + L.rsb;
    const real *dWn = dstate, *dbn = dstate + f * f;
    real *dW = w.dW, *db = w.dW + f * f; /* gradient w.r.t. the start state */
    real *T0 = w.R0, *Gc = w.R1, *dG = w.R2, *dZb = w.R3;
    memcpy(dW, dstate, sizeof(real) * (size_t)S); /* W' = W − ...: dW += dW' */
    real tl = in->tau[n - 1];

    /* (a) commit: W' = W − Kᵀ C G, b' = b − Σ c_j G_j.
     *   T0 = K dW' + db';  dc_j = −T0_j·G_j;  dK −= C G dW'ᵀ;  dG = −C T0 */
    GEMM(0, 0, n, f, f, in->K, ld, dWn, f, 0, T0, f);
    for (int64_t j = 0; j < n; j++) {
        real lr = in->lr[j * lld], c = tl * lr, dc = 0;
        real *t0 = T0 + j * f;
        add_row(t0, dbn, f);
        for (int64_t q = 0; q < f; q++) {
            dc -= t0[q] * G[j * f + q];
            Gc[j * f + q] = -c * G[j * f + q];
            dG[j * f + q] = -c * t0[q];
        }
        dtau[n - 1] += dc * lr;
        dlr[j * lld] += dc * tl;
    }
    GEMM(0, 1, n, f, f, Gc, f, dWn, f, 1, dK, ld);

    /* (b) output path: out_i = q_i + LN(Z̄_i), Z̄ = Q W + b + P G.
     *   dZ̄ from the LayerNorm; dQ += dZ̄ Wᵀ; dW += Qᵀ dZ̄; db += Σ dZ̄_i;
     *   with A = Q Kᵀ, dP_ij = −dZ̄_i·G_j (j <= i), E_ij = τ_i lr_j:
     *   dτ_i += Σ_j dP_ij (1 + A_ij) lr_j,  dlr_j += Σ_i dP_ij (1 + A_ij) τ_i,
     *   dA = dP ⊙ E: dQ += dA K, dK += dAᵀ Q;  dG += Pᵀ dZ̄ */
    for (int64_t i = 0; i < n; i++) {
        const real *go = dout + i * ldo;
        add_row(dQ + i * ld, go, f);
        ln_output_backward(dZb + i * f, go, xhb + i * f, rsb[i], in->gamma, dgamma, dbeta, f);
        add_row(db, dZb + i * f, f);
    }
    GEMM(0, 1, n, f, f, dZb, f, W, f, 1, dQ, ld);
    GEMM(1, 0, f, f, n, in->Q, ld, dZb, f, 1, dW, f);
    real *A = w.P, *P = w.P2; /* A becomes dA, and the dZ̄ Gᵀ products become P */
    GEMM(0, 1, n, n, f, in->Q, ld, in->K, ld, 0, A, n);
    GEMM(0, 1, n, n, f, dZb, f, G, f, 0, P, n);
    for (int64_t i = 0; i < n; i++) {
        real *a = A + i * n, *p = P + i * n, ti = in->tau[i], dti = 0;
        for (int64_t j = 0; j <= i; j++) {
            real lr = in->lr[j * lld], e = ti * lr;
            real dP = -p[j], dE = dP * (RC(1) + a[j]);
            dti += dE * lr;
            dlr[j * lld] += dE * ti;
            p[j] = -e * (RC(1) + a[j]);
            a[j] = dP * e;
        }
        for (int64_t j = i + 1; j < n; j++) a[j] = p[j] = 0;
        dtau[i] += dti;
    }
    GEMM(0, 0, n, f, n, A, n, in->K, ld, 1, dQ, ld);
    GEMM(1, 0, n, f, n, A, n, in->Q, ld, 1, dK, ld);
    GEMM(1, 0, n, f, n, P, n, dZb, f, 1, dG, f);

    /* (c) G = LNgrad(Z), Z = K W + b:  dZ from the LayerNorm; dK += dZ Wᵀ; dW += Kᵀ dZ */
    real *dZ = T0;
    for (int64_t i = 0; i < n; i++) {
        lnl2_backward(dZ + i * f, dG + i * f, G + i * f, xh + i * f, rs[i], in->gamma, in->beta,
                      in->V + i * ld, in->K + i * ld, dV + i * ld, dK + i * ld, dgamma, dbeta, f, w.t);
        add_row(db, dZ + i * f, f);
    }
    GEMM(0, 1, n, f, f, dZ, f, W, f, 1, dK, ld);
    GEMM(1, 0, f, f, n, in->K, ld, dZ, f, 1, dW, f);
    memcpy(dstate, dW, sizeof(real) * (size_t)S);
}
