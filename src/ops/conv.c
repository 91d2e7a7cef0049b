/* conv.c: depthwise causal convolution over time (ttt.py's Conv1d with groups = channels,
 * padding K−1, first L outputs kept), with an optional history of the K−1 previous inputs
 * for prefill and decode. */
#include <string.h>

#include "core/prof.h"
#include "ops/ops.h"

#define COLBLK 64
#define CONV_MAX_K_BLOCKED 16 /* kernels up to this width keep their dw sums in registers/L1 */

/* y[t,c] = bias[c] + Σ_{k<K} w[c,k] · u[t−K+1+k, c] */
void RF(dwconv_fwd)(real *y, const real *u, const real *hist, const real *w, const real *bias,
                    int64_t B, int64_t L, int64_t D, int64_t K) {
    TTT_PROF_SCOPE(TTT_PROF_CONV, 0);
#pragma omp parallel for collapse(2) schedule(static) if (TTT_PAR(B * L * D * K))
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < L; t++) {
            real *yr = y + (b * L + t) * D;
            for (int64_t c = 0; c < D; c++) yr[c] = bias ? bias[c] : 0;
            for (int64_t k = 0; k < K; k++) {
                int64_t s = t - K + 1 + k;
                const real *ur;
                if (s >= 0)
                    ur = u + (b * L + s) * D;
                else if (hist)
                    ur = hist + (b * (K - 1) + (K - 1 + s)) * D;
                else
                    continue;
                for (int64_t c = 0; c < D; c++) yr[c] += w[c * K + k] * ur[c];
            }
        }
}

/* du[s,c] += Σ_k w[c,k] dy[s+K−1−k, c];  dw[c,k] += Σ_t dy[t,c] u[t−K+1+k,c];  dbias += Σ dy */
void RF(dwconv_bwd)(real *du, real *dw, real *dbias, const real *dy, const real *u, const real *w,
                    int64_t B, int64_t L, int64_t D, int64_t K) {
    TTT_PROF_SCOPE(TTT_PROF_CONV, 0);
    if (du) {
#pragma omp parallel for collapse(2) schedule(static) if (TTT_PAR(B * L * D * K))
        for (int64_t b = 0; b < B; b++)
            for (int64_t s = 0; s < L; s++) {
                real *dr = du + (b * L + s) * D;
                for (int64_t k = 0; k < K; k++) {
                    int64_t t = s + K - 1 - k;
                    if (t >= L) continue;
                    const real *g = dy + (b * L + t) * D;
                    for (int64_t c = 0; c < D; c++) dr[c] += w[c * K + k] * g[c];
                }
            }
    }
    /* dw and dbias per block of COLBLK channels: rows in the outer loop, so that each row's
     * channels are read contiguously; each (c, k) still sums its terms in (b, t) order, so the
     * result does not depend on the blocking or the thread count */
    int64_t nb = (D + COLBLK - 1) / COLBLK;
#pragma omp parallel for schedule(static) if (TTT_PAR(B * L * D * K))
    for (int64_t bi = 0; bi < nb; bi++) {
        int64_t c0 = bi * COLBLK, nc = c0 + COLBLK < D ? COLBLK : D - c0;
        real sb[COLBLK], sw[CONV_MAX_K_BLOCKED * COLBLK];
        int blocked = K <= CONV_MAX_K_BLOCKED;
        memset(sb, 0, sizeof sb);
        if (blocked) memset(sw, 0, sizeof(real) * (size_t)(K * COLBLK));
        for (int64_t b = 0; b < B; b++)
            for (int64_t t = 0; t < L; t++) {
                const real *g = dy + (b * L + t) * D + c0;
                for (int64_t c = 0; c < nc; c++) sb[c] += g[c];
                for (int64_t k = 0; blocked && k < K; k++) {
                    int64_t s = t - K + 1 + k;
                    if (s < 0) continue;
                    const real *ur = u + (b * L + s) * D + c0;
                    real *acc = sw + k * COLBLK;
                    for (int64_t c = 0; c < nc; c++) acc[c] += g[c] * ur[c];
                }
            }
        for (int64_t c = 0; c < nc; c++) {
            if (dbias) dbias[c0 + c] += sb[c];
            for (int64_t k = 0; k < K; k++) {
                real v = 0;
                if (blocked) {
                    v = sw[k * COLBLK + c];
                } else { /* a long kernel: one channel at a time, the same order */
                    for (int64_t b = 0; b < B; b++)
                        for (int64_t t = 0; t < L; t++) {
                            int64_t s = t - K + 1 + k;
                            if (s >= 0) v += dy[(b * L + t) * D + c0 + c] * u[(b * L + s) * D + c0 + c];
                        }
                }
                if (dw) dw[(c0 + c) * K + k] += v;
            }
        }
    }
}

/* hist ← the last K−1 inputs among (old hist, this chunk) */
void RF(dwconv_hist_update)(real *hist, const real *u, int64_t B, int64_t L, int64_t D, int64_t K) {
    int64_t H = K - 1;
    if (H <= 0) return;
    for (int64_t b = 0; b < B; b++) {
        real *h = hist + b * H * D;
        if (L >= H) {
            memcpy(h, u + (b * L + L - H) * D, sizeof(real) * (size_t)(H * D));
        } else {
            memmove(h, h + L * D, sizeof(real) * (size_t)((H - L) * D));
            memcpy(h + (H - L) * D, u + b * L * D, sizeof(real) * (size_t)(L * D));
        }
    }
}
