/* attention.c: causal grouped-query attention in tiles with an online softmax (forward) and
 * the FlashAttention-2 backward that recomputes the scores tile by tile (see attention.h).
 *
 * Forward, per query tile of one head, over the key tiles it can see (running row max m and
 * row sum l, unnormalised output acc):
 *   S = Q_t K_tᵀ · F^-½;  m' = max(m, rowmax S);  P = exp(S − m');  l = l·e^(m−m') + rowsum P;
 *   acc = acc·e^(m−m') + P V_t;   at the end  O = acc / l,  lse = m + log l.
 * Backward, with P = exp(S − lse) recomputed and delta = rowsum(dO ⊙ O) (= rowsum(P ⊙ dP)):
 *   dP = dO Vᵀ,  dS = P ⊙ (dP − delta),  dV = Pᵀ dO,  dK = dSᵀ Q · F^-½,  dQ = dS K · F^-½,
 * in two sweeps so that every task owns its outputs: one task per (b, kv head, key tile) for
 * dK and dV (summing over the group's query heads and the query tiles in order), one task per
 * (b, head, query tile) for dQ. Tiles are multiplied with the matmul ops (BLAS panels or the
 * reference loops). */
#include "core/prof.h"
#include "layers/attention.h"

#include <omp.h>
#include <string.h>

#include "core/error.h"
#include "ops/kernels.h"
#include "ops/fast_math.h"
#include "ops/ops.h"

#define LANES 16 /* independent accumulators: reductions that vectorise in a fixed order */


static inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

/* max of x[0..n), n >= 1 */
static real row_max(const real *x, int64_t n) {
    real acc[LANES];
    for (int k = 0; k < LANES; k++) acc[k] = x[0];
    int64_t c = 0;
    for (; c + LANES <= n; c += LANES)
        for (int k = 0; k < LANES; k++) acc[k] = x[c + k] > acc[k] ? x[c + k] : acc[k];
    for (; c < n; c++) acc[0] = x[c] > acc[0] ? x[c] : acc[0];
    real m = acc[0];
    for (int k = 1; k < LANES; k++) m = acc[k] > m ? acc[k] : m;
    return m;
}

/* s[c] = exp(s[c]·scale − sub) for c < n; returns Σ s[c] (lane sums, then lanes in order) */
static real exp_row(real *s, int64_t n, real scale, real sub) {
    real acc[LANES] = {0};
    int64_t c = 0;
    if (ttt_reference_kernels) {
        for (; c < n; c++) {
            s[c] = exp(s[c] * scale - sub);
            acc[c % LANES] += s[c];
        }
    } else {
        for (; c + LANES <= n; c += LANES)
            for (int k = 0; k < LANES; k++) {
                real p = exp_fast(s[c + k] * scale - sub);
                s[c + k] = p;
                acc[k] += p;
            }
        for (; c < n; c++) {
            s[c] = exp_fast(s[c] * scale - sub);
            acc[c % LANES] += s[c];
        }
    }
    real sum = 0;
    for (int k = 0; k < LANES; k++) sum += acc[k];
    return sum;
}

/* keys of the tile [k0, k0 + kn) that query position qp sees: the first nv of them */
static inline int64_t visible(int64_t qp, int64_t k0, int64_t kn) { return imax(0, imin(kn, qp - k0 + 1)); }

/* S [qn, kn] (scores of a tile) becomes P = exp(S·scale − lse) on the visible keys, 0 elsewhere */
static void probs(real *S, int64_t qn, int64_t kn, int64_t qp0, int64_t k0, const real *lse, real scale) {
    for (int64_t r = 0; r < qn; r++) {
        real *s = S + r * kn;
        int64_t nv = visible(qp0 + r, k0, kn);
        exp_row(s, nv, scale, lse[r]);
        for (int64_t c = nv; c < kn; c++) s[c] = 0;
    }
}

/* One query row (decode steps), fast kernels: the products as streaming loops over the key and
 * value rows instead of BLAS calls of M = 1 (memory-bound: each cached row is read once).
 * s[c] = q · K[c] with LANES partial sums over the head dim, added in a fixed order. */
static void row_scores(real *s, const real *q, const real *K, int64_t kn, int64_t F) {
    for (int64_t c = 0; c < kn; c++) {
        const real *k = K + c * F;
        real acc[LANES] = {0};
        int64_t i = 0;
        for (; i + LANES <= F; i += LANES)
            for (int l = 0; l < LANES; l++) acc[l] += q[i + l] * k[i + l];
        for (; i < F; i++) acc[0] += q[i] * k[i];
        real t = 0;
        for (int l = 0; l < LANES; l++) t += acc[l];
        s[c] = t;
    }
}

/* o[0..F) += Σ_c p[c] V[c] */
static void row_accumulate(real *o, const real *p, const real *V, int64_t kn, int64_t F) {
    for (int64_t c = 0; c < kn; c++) {
        real pc = p[c];
        const real *v = V + c * F;
        for (int64_t i = 0; i < F; i++) o[i] += pc * v[i];
    }
}

/* work of a call for the threading threshold: multiply-adds of Q Kᵀ (about half the keys
 * visible), counted like the BLAS products (per 16: a tile's product is fast next to an
 * element-wise op) */
static int64_t attn_work(const attn_dims *d) {
    int64_t off = d->Lk - d->Lq;
    return d->B * d->nh * d->Lq * (off + d->Lq / 2 + 1) * d->F / 16;
}

/* a row-tile [n, F] of head j out of a token-major [B, L, nh·F] tensor */
static void gather_rows(real *dst, const real *src, int64_t b, int64_t j, int64_t t0, int64_t n,
                        const attn_dims *d) {
    int64_t HF = d->nh * d->F;
    for (int64_t r = 0; r < n; r++)
        memcpy(dst + r * d->F, src + (b * d->Lq + t0 + r) * HF + j * d->F, sizeof(real) * (size_t)d->F);
}

void RF(attn_forward)(real *O, real *lse, const real *Q, const real *K, const real *V,
                      const attn_dims *d, real *scratch) {
    TTT_PROF_SCOPE(TTT_PROF_ATTN_FWD, 0);
    const int64_t F = d->F, Lq = d->Lq, nh = d->nh, tq = d->tq, tk = d->tk, HF = nh * F;
    const int64_t off = d->Lk - Lq, grp = nh / d->nkv, nqt = (Lq + tq - 1) / tq;
    const int64_t ntask = d->B * nh * nqt, se = attn_scratch_elems(d);
    const real scale = RC(1) / sqrt((real)F);
#pragma omp parallel for schedule(dynamic, 1) num_threads(d->nthreads) \
    if (ntask > 1 && TTT_PAR(attn_work(d)))
    for (int64_t task = 0; task < ntask; task++) {
        /* the last query tiles see the most keys: start with them */
        int64_t qt = nqt - 1 - task % nqt, bh = task / nqt, b = bh / nh, j = bh % nh, g = j / grp;
        int64_t q0 = qt * tq, qn = imin(tq, Lq - q0);
        int tid = omp_get_thread_num();
        TTT_ASSERT(tid < d->nthreads);
        real *S = scratch + tid * se, *acc = S + tq * tk, *m = acc + tq * F, *l = m + tq;
        const real *Qt = Q + ((b * nh + j) * Lq + q0) * F;
        const real *Kb = K + (b * d->nkv + g) * d->ldk, *Vb = V + (b * d->nkv + g) * d->ldk;
        for (int64_t r = 0; r < qn; r++) m[r] = -INFINITY, l[r] = 0;
        memset(acc, 0, sizeof(real) * (size_t)(qn * F));
        int64_t kend = off + q0 + qn; /* keys any row of the tile sees */
        int row = qn == 1 && !ttt_reference_kernels;
        for (int64_t k0 = 0; k0 < kend; k0 += tk) {
            int64_t kn = imin(tk, kend - k0);
            /* S = Q_t K_tᵀ (scaled inside the exponent) */
            if (row)
                row_scores(S, Qt, Kb + k0 * F, kn, F);
            else
                RF(mm_nt)(S, Qt, Kb + k0 * F, qn, kn, F, 0);
            for (int64_t r = 0; r < qn; r++) {
                real *s = S + r * kn;
                int64_t nv = visible(off + q0 + r, k0, kn);
                if (nv == 0) {
                    memset(s, 0, sizeof(real) * (size_t)kn);
                    continue;
                }
                /* m' = max(m, rowmax S);  P = exp(S − m');  l = l·e^(m − m') + Σ P */
                real mx = row_max(s, nv) * scale, mn = mx > m[r] ? mx : m[r];
                real corr = exp(m[r] - mn);
                real sum = exp_row(s, nv, scale, mn);
                for (int64_t c = nv; c < kn; c++) s[c] = 0;
                l[r] = l[r] * corr + sum;
                m[r] = mn;
                if (corr != RC(1))
                    for (int64_t c = 0; c < F; c++) acc[r * F + c] *= corr;
            }
            /* acc += P V_t */
            if (row)
                row_accumulate(acc, S, Vb + k0 * F, kn, F);
            else
                RF(mm_nn)(acc, S, Vb + k0 * F, qn, F, kn, 1);
        }
        /* O = acc / l,  lse = m + log l */
        for (int64_t r = 0; r < qn; r++) {
            real inv = RC(1) / l[r], *o = O + (b * Lq + q0 + r) * HF + j * F;
            for (int64_t c = 0; c < F; c++) o[c] = acc[r * F + c] * inv;
            lse[(b * nh + j) * Lq + q0 + r] = m[r] + log(l[r]);
        }
    }
}

/* dS = P ⊙ (dP − delta_r) · scale, in place of dP (P = 0 on masked keys makes dS 0 there) */
static void dscores(real *dP, const real *P, int64_t qn, int64_t kn, const real *delta, real scale) {
    for (int64_t r = 0; r < qn; r++) {
        real dl = delta[r];
        real *dp = dP + r * kn;
        const real *p = P + r * kn;
        for (int64_t c = 0; c < kn; c++) dp[c] = p[c] * (dp[c] - dl) * scale;
    }
}

void RF(attn_backward)(real *dQ, real *dK, real *dV, real *delta, const real *dO, const real *O,
                       const real *lse, const real *Q, const real *K, const real *V,
                       const attn_dims *d, real *scratch) {
    TTT_PROF_SCOPE(TTT_PROF_ATTN_BWD, 0);
    const int64_t F = d->F, Lq = d->Lq, Lk = d->Lk, nh = d->nh, nkv = d->nkv, tq = d->tq, tk = d->tk;
    const int64_t HF = nh * F, off = Lk - Lq, grp = nh / nkv, se = attn_scratch_elems(d);
    const int64_t nqt = (Lq + tq - 1) / tq, nkt = (Lk + tk - 1) / tk;
    const real scale = RC(1) / sqrt((real)F);
    const int64_t work = attn_work(d);

    /* delta = rowsum(dO ⊙ O) per (b, head, query) */
#pragma omp parallel for schedule(static) if (TTT_PAR(d->B * Lq * HF))
    for (int64_t bt = 0; bt < d->B * Lq; bt++) {
        int64_t b = bt / Lq, t = bt % Lq;
        for (int64_t j = 0; j < nh; j++) {
            const real *x = dO + bt * HF + j * F, *y = O + bt * HF + j * F;
            real s = 0;
            for (int64_t c = 0; c < F; c++) s += x[c] * y[c];
            delta[(b * nh + j) * Lq + t] = s;
        }
    }

    /* dK, dV: one task per (b, kv head, key tile); the first key tiles are seen by the most
     * queries, so they come first */
    const int64_t ntk = d->B * nkv * nkt;
#pragma omp parallel for schedule(dynamic, 1) num_threads(d->nthreads) if (ntk > 1 && TTT_PAR(work))
    for (int64_t task = 0; task < ntk; task++) {
        int64_t kt = task % nkt, bg = task / nkt, b = bg / nkv, g = bg % nkv;
        int64_t k0 = kt * tk, kn = imin(tk, Lk - k0);
        int tid = omp_get_thread_num();
        TTT_ASSERT(tid < d->nthreads);
        real *P = scratch + tid * se, *dP = P + tq * tk, *dOt = dP + tq * tk;
        const real *Kt = K + bg * d->ldk + k0 * F, *Vt = V + bg * d->ldk + k0 * F;
        real *dKt = dK + bg * d->ldk + k0 * F, *dVt = dV + bg * d->ldk + k0 * F;
        memset(dKt, 0, sizeof(real) * (size_t)(kn * F));
        memset(dVt, 0, sizeof(real) * (size_t)(kn * F));
        /* query rows that see key k0: positions >= k0, i.e. rows >= k0 − off */
        int64_t qstart = imax(0, k0 - off) / tq * tq;
        for (int64_t j = g * grp; j < (g + 1) * grp; j++)
            for (int64_t q0 = qstart; q0 < Lq; q0 += tq) {
                int64_t qn = imin(tq, Lq - q0);
                const real *Qt = Q + ((b * nh + j) * Lq + q0) * F;
                const real *lt = lse + (b * nh + j) * Lq + q0, *dt = delta + (b * nh + j) * Lq + q0;
                gather_rows(dOt, dO, b, j, q0, qn, d);
                /* P = exp(Q_t K_tᵀ·scale − lse) */
                RF(mm_nt)(P, Qt, Kt, qn, kn, F, 0);
                probs(P, qn, kn, off + q0, k0, lt, scale);
                /* dV_t += Pᵀ dO_t */
                RF(mm_tn)(dVt, P, dOt, kn, F, qn, 1);
                /* dP = dO_t V_tᵀ;  dS = P ⊙ (dP − delta) · scale;  dK_t += dSᵀ Q_t */
                RF(mm_nt)(dP, dOt, Vt, qn, kn, F, 0);
                dscores(dP, P, qn, kn, dt, scale);
                RF(mm_tn)(dKt, dP, Qt, kn, F, qn, 1);
            }
    }

    /* dQ: one task per (b, head, query tile), the key tiles in order */
    const int64_t ntq = d->B * nh * nqt;
#pragma omp parallel for schedule(dynamic, 1) num_threads(d->nthreads) if (ntq > 1 && TTT_PAR(work))
    for (int64_t task = 0; task < ntq; task++) {
        int64_t qt = nqt - 1 - task % nqt, bh = task / nqt, b = bh / nh, j = bh % nh, g = j / grp;
        int64_t q0 = qt * tq, qn = imin(tq, Lq - q0);
        int tid = omp_get_thread_num();
        TTT_ASSERT(tid < d->nthreads);
        real *P = scratch + tid * se, *dP = P + tq * tk, *dOt = dP + tq * tk;
        const real *Qt = Q + ((b * nh + j) * Lq + q0) * F;
        const real *Kb = K + (b * nkv + g) * d->ldk, *Vb = V + (b * nkv + g) * d->ldk;
        const real *lt = lse + (b * nh + j) * Lq + q0, *dt = delta + (b * nh + j) * Lq + q0;
        real *dQt = dQ + ((b * nh + j) * Lq + q0) * F;
        memset(dQt, 0, sizeof(real) * (size_t)(qn * F));
        gather_rows(dOt, dO, b, j, q0, qn, d);
        int64_t kend = off + q0 + qn;
        for (int64_t k0 = 0; k0 < kend; k0 += tk) {
            int64_t kn = imin(tk, kend - k0);
            RF(mm_nt)(P, Qt, Kb + k0 * F, qn, kn, F, 0);
            probs(P, qn, kn, off + q0, k0, lt, scale);
            RF(mm_nt)(dP, dOt, Vb + k0 * F, qn, kn, F, 0);
            dscores(dP, P, qn, kn, dt, scale);
            /* dQ_t += dS K_t */
            RF(mm_nn)(dQt, dP, Kb + k0 * F, qn, F, kn, 1);
        }
    }
}
