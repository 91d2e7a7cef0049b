/* norm.c: RMSNorm (the model's norms) and LayerNorm over the full width (the TTT layer's
 * post_norm), forward and backward. Row statistics are saved for the backward pass. */
#include <string.h>

#include "core/prof.h"
#include "ops/ops.h"

#define COLBLK 64 /* parameter gradients: threads own blocks of columns */

/* y = w ⊙ x · rstd,  rstd = 1/sqrt(mean(x²) + eps) */
void RF(rmsnorm_fwd)(real *y, real *rstd, const real *x, const real *w, int64_t N, int64_t D,
                     real eps) {
    TTT_PROF_SCOPE(TTT_PROF_NORM, 0);
#pragma omp parallel for schedule(static) if (TTT_PAR(N * D))
    for (int64_t r = 0; r < N; r++) {
        const real *xr = x + r * D;
        real ss = 0;
        for (int64_t c = 0; c < D; c++) ss += xr[c] * xr[c];
        real rs = RC(1) / sqrt(ss / (real)D + eps);
        if (rstd) rstd[r] = rs;
        real *yr = y + r * D;
        for (int64_t c = 0; c < D; c++) yr[c] = w[c] * (xr[c] * rs);
    }
}

/* with x̂ = x·rstd:  dx = rstd · (g − x̂ · mean(g ⊙ x̂)),  g = dy ⊙ w;   dw += Σ_rows dy ⊙ x̂ */
void RF(rmsnorm_bwd)(real *dx, real *dw, const real *dy, const real *x, const real *w,
                     const real *rstd, int64_t N, int64_t D) {
    TTT_PROF_SCOPE(TTT_PROF_NORM, 0);
    if (dx) {
#pragma omp parallel for schedule(static) if (TTT_PAR(N * D))
        for (int64_t r = 0; r < N; r++) {
            const real *xr = x + r * D, *gr = dy + r * D;
            real rs = rstd[r], m = 0;
            for (int64_t c = 0; c < D; c++) m += gr[c] * w[c] * xr[c] * rs;
            m /= (real)D;
            real *dr = dx + r * D;
            for (int64_t c = 0; c < D; c++) dr[c] += rs * (gr[c] * w[c] - xr[c] * rs * m);
        }
    }
    if (dw) {
        int64_t nb = (D + COLBLK - 1) / COLBLK;
#pragma omp parallel for schedule(static) if (TTT_PAR(N * D))
        for (int64_t bi = 0; bi < nb; bi++) {
            int64_t c0 = bi * COLBLK, c1 = c0 + COLBLK < D ? c0 + COLBLK : D;
            real acc[COLBLK];
            for (int64_t c = c0; c < c1; c++) acc[c - c0] = 0;
            for (int64_t r = 0; r < N; r++)
                for (int64_t c = c0; c < c1; c++) acc[c - c0] += dy[r * D + c] * x[r * D + c] * rstd[r];
            for (int64_t c = c0; c < c1; c++) dw[c] += acc[c - c0];
        }
    }
}

void RF(layernorm_fwd)(real *y, real *mean, real *rstd, const real *x, const real *w, const real *b,
                       int64_t N, int64_t D, real eps) {
    TTT_PROF_SCOPE(TTT_PROF_NORM, 0);
#pragma omp parallel for schedule(static) if (TTT_PAR(N * D))
    for (int64_t r = 0; r < N; r++) {
        const real *xr = x + r * D;
        real mu = 0;
        for (int64_t c = 0; c < D; c++) mu += xr[c];
        mu /= (real)D;
        real var = 0;
        for (int64_t c = 0; c < D; c++) var += (xr[c] - mu) * (xr[c] - mu);
        var /= (real)D;
        real rs = RC(1) / sqrt(var + eps);
        if (mean) mean[r] = mu;
        if (rstd) rstd[r] = rs;
        real *yr = y + r * D;
        for (int64_t c = 0; c < D; c++) yr[c] = w[c] * ((xr[c] - mu) * rs) + b[c];
    }
}

/* dx = rstd · (g − mean(g) − x̂ · mean(g ⊙ x̂)),  g = dy ⊙ w */
void RF(layernorm_bwd)(real *dx, real *dw, real *db, const real *dy, const real *x, const real *w,
                       const real *mean, const real *rstd, int64_t N, int64_t D) {
    TTT_PROF_SCOPE(TTT_PROF_NORM, 0);
    if (dx) {
#pragma omp parallel for schedule(static) if (TTT_PAR(N * D))
        for (int64_t r = 0; r < N; r++) {
            const real *xr = x + r * D, *gr = dy + r * D;
            real mu = mean[r], rs = rstd[r], m1 = 0, m2 = 0;
            for (int64_t c = 0; c < D; c++) {
                real g = gr[c] * w[c];
                m1 += g;
                m2 += g * (xr[c] - mu) * rs;
            }
            m1 /= (real)D;
            m2 /= (real)D;
            real *dr = dx + r * D;
            for (int64_t c = 0; c < D; c++) dr[c] += rs * (gr[c] * w[c] - m1 - (xr[c] - mu) * rs * m2);
        }
    }
    int64_t nb = (D + COLBLK - 1) / COLBLK;
#pragma omp parallel for schedule(static) if (TTT_PAR(N * D))
    for (int64_t bi = 0; bi < nb; bi++) {
        int64_t c0 = bi * COLBLK, c1 = c0 + COLBLK < D ? c0 + COLBLK : D;
        real aw[COLBLK], ab[COLBLK];
        for (int64_t c = c0; c < c1; c++) aw[c - c0] = ab[c - c0] = 0;
        for (int64_t r = 0; r < N; r++)
            for (int64_t c = c0; c < c1; c++) {
                real g = dy[r * D + c];
                aw[c - c0] += g * (x[r * D + c] - mean[r]) * rstd[r];
                ab[c - c0] += g;
            }
        for (int64_t c = c0; c < c1; c++) {
            if (dw) dw[c] += aw[c - c0];
            if (db) db[c] += ab[c - c0];
        }
    }
}

void RF(vec_add)(real *y, const real *x, int64_t n) {
    TTT_PROF_SCOPE(TTT_PROF_ELEMWISE, 0);
#pragma omp parallel for schedule(static) if (TTT_PAR(n))
    for (int64_t i = 0; i < n; i++) y[i] += x[i];
}
