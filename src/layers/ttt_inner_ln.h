/* ttt_inner_ln.h: the per-token pieces of the TTT inner loop around its LayerNorm, shared by
 * the reference kernels (ttt_inner.c) and the wide mini-batch kernels (ttt_inner_wide.c): the
 * LayerNorm statistics, the fused gradient of the L2 reconstruction loss through it (and that
 * gradient's own backward), and the output LayerNorm with its residual. Generic over `real`
 * (include core/real.h first). Row vectors of length f. */
#ifndef TTT_LAYERS_TTT_INNER_LN_H
#define TTT_LAYERS_TTT_INNER_LN_H

#include <stdint.h>

#include "core/real.h"

#define INNER_EPS RC(1e-6) /* inner LayerNorm eps, hard-coded in ttt.py */

/* x̂ = (z − μ)·r, r = 1/sqrt(var(z) + eps) (biased variance); returns r */
static inline real ln_stats(const real *z, int64_t f, real *xh) {
    real mu = 0, var = 0;
    for (int64_t c = 0; c < f; c++) mu += z[c];
    mu /= (real)f;
    for (int64_t c = 0; c < f; c++) var += (z[c] - mu) * (z[c] - mu);
    var /= (real)f;
    real r = RC(1) / sqrt(var + INNER_EPS);
    for (int64_t c = 0; c < f; c++) xh[c] = (z[c] - mu) * r;
    return r;
}

/* ln_fused_l2_bwd: with y = γ x̂ + β, e = y − (v − k), h = e ⊙ γ,
 *   G = r/f · (f·h − Σh − x̂·Σ(h ⊙ x̂)) */
static inline void lnl2_grad(real *G, const real *xh, real r, const real *gamma, const real *beta,
                             const real *v, const real *k, int64_t f) {
    real sh = 0, shx = 0;
    for (int64_t c = 0; c < f; c++) {
        real h = (gamma[c] * xh[c] + beta[c] - (v[c] - k[c])) * gamma[c];
        sh += h;
        shx += h * xh[c];
    }
    real s = r / (real)f;
    for (int64_t c = 0; c < f; c++) {
        real h = (gamma[c] * xh[c] + beta[c] - (v[c] - k[c])) * gamma[c];
        G[c] = ((real)f * h - sh - xh[c] * shx) * s;
    }
}

/* Backward of G = lnl2_grad(z) (second order): given dG, returns dz and accumulates
 * dk, dv (through the target v − k), dγ, dβ.
 *   dh = r/f (f dG − ΣdG − x̂ Σ(dG x̂)),  dx̂ = −r/f (dG Σ(h x̂) + h Σ(dG x̂)),
 *   de = dh γ; dγ += dh e + de x̂; dβ += de; dx̂ += de γ; dv −= de; dk += de;
 *   dz = r (dx̂ − mean(dx̂) − x̂ mean(dx̂ x̂)) − (Σ dG G) r x̂ / f   (the last term: ∂G/∂r) */
static inline void lnl2_backward(real *dz, const real *dG, const real *G, const real *xh, real r,
                                 const real *gamma, const real *beta, const real *v, const real *k,
                                 real *dv, real *dk, real *dgamma, real *dbeta, int64_t f, real *dxh) {
    real shx = 0, sdg = 0, sdgx = 0, t1 = 0;
    for (int64_t c = 0; c < f; c++) {
        real h = (gamma[c] * xh[c] + beta[c] - (v[c] - k[c])) * gamma[c];
        shx += h * xh[c];
        sdg += dG[c];
        sdgx += dG[c] * xh[c];
        t1 += dG[c] * G[c];
    }
    real s = r / (real)f;
    real m1 = 0, m2 = 0;
    for (int64_t c = 0; c < f; c++) {
        real e = gamma[c] * xh[c] + beta[c] - (v[c] - k[c]);
        real h = e * gamma[c];
        real dh = s * ((real)f * dG[c] - sdg - xh[c] * sdgx);
        real dx = -s * (dG[c] * shx + h * sdgx);
        real de = dh * gamma[c];
        dgamma[c] += dh * e + de * xh[c];
        dbeta[c] += de;
        dx += de * gamma[c];
        dv[c] -= de;
        dk[c] += de;
        dxh[c] = dx;
        m1 += dx;
        m2 += dx * xh[c];
    }
    m1 /= (real)f;
    m2 /= (real)f;
    for (int64_t c = 0; c < f; c++) dz[c] = r * (dxh[c] - m1 - xh[c] * m2) - t1 * s * xh[c];
}

/* out = q + γ x̂b + β where x̂b = LN(zb) */
static inline void ln_output(real *out, const real *q, const real *xhb, const real *gamma,
                             const real *beta, int64_t f) {
    for (int64_t c = 0; c < f; c++) out[c] = q[c] + gamma[c] * xhb[c] + beta[c];
}

/* Backward of out = q + γ x̂b + β through the LayerNorm: dzb, and dγ, dβ accumulated
 * (the residual dq += dout is done by the caller). */
static inline void ln_output_backward(real *dzb, const real *dout, const real *xhb, real rb,
                                      const real *gamma, real *dgamma, real *dbeta, int64_t f) {
    real m1 = 0, m2 = 0;
    for (int64_t c = 0; c < f; c++) {
        dgamma[c] += dout[c] * xhb[c];
        dbeta[c] += dout[c];
        real g = dout[c] * gamma[c];
        m1 += g;
        m2 += g * xhb[c];
    }
    m1 /= (real)f;
    m2 /= (real)f;
    for (int64_t c = 0; c < f; c++) dzb[c] = rb * (dout[c] * gamma[c] - m1 - xhb[c] * m2);
}

#endif
