/* adamw.c: the AdamW update (torch.optim.AdamW, decoupled weight decay) and the sum of
 * squares used for global-norm gradient clipping. */
#include "core/prof.h"
#include "ops/ops.h"

#define BLK 4096 /* fixed partial-sum blocks: the same sum for any thread count */

/* Σ g², accumulated in double: per block in order, then the blocks in order */
double RF(sumsq)(const real *g, int64_t n) {
    TTT_PROF_SCOPE(TTT_PROF_OPTIM, 0);
    int64_t nb = (n + BLK - 1) / BLK;
    double total = 0;
    double part[64];
    for (int64_t b0 = 0; b0 < nb; b0 += 64) {
        int64_t nbb = nb - b0 < 64 ? nb - b0 : 64;
#pragma omp parallel for schedule(static) if (TTT_PAR(nbb * BLK))
        for (int64_t k = 0; k < nbb; k++) {
            int64_t i0 = (b0 + k) * BLK, i1 = i0 + BLK < n ? i0 + BLK : n;
            double s = 0;
            for (int64_t i = i0; i < i1; i++) s += (double)g[i] * (double)g[i];
            part[k] = s;
        }
        for (int64_t k = 0; k < nbb; k++) total += part[k];
    }
    return total;
}

/* With g ← gscale·g and t the 1-based update count:
 *   p ← p − lr·wd·p
 *   m ← β1 m + (1−β1) g,  v ← β2 v + (1−β2) g²
 *   p ← p − (lr / (1−β1^t)) · m / (sqrt(v) / sqrt(1−β2^t) + ε)      (torch's evaluation order) */
void RF(adamw_step)(real *p, const real *g, real *m, real *v, int64_t n, double lr, double b1,
                    double b2, double eps, double wd, int64_t t, double gscale) {
    TTT_PROF_SCOPE(TTT_PROF_OPTIM, 0);
    real step = (real)(lr / (1.0 - pow(b1, (double)t)));
    real bc2 = (real)sqrt(1.0 - pow(b2, (double)t));
    real decay = (real)(1.0 - lr * wd), rb1 = (real)b1, rb2 = (real)b2, e = (real)eps, gs = (real)gscale;
#pragma omp parallel for schedule(static) if (TTT_PAR(n))
    for (int64_t i = 0; i < n; i++) {
        real gi = g[i] * gs;
        p[i] *= decay;
        m[i] = rb1 * m[i] + (RC(1) - rb1) * gi;
        v[i] = rb2 * v[i] + (RC(1) - rb2) * gi * gi;
        p[i] -= step * m[i] / (sqrt(v[i]) / bc2 + e);
    }
}
