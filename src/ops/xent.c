/* xent.c: token embedding lookup and the cross-entropy loss over logits, forward and
 * backward. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/prof.h"
#include "ops/fast_math.h"
#include "ops/ops.h"

#define COLBLK 64

void RF(embed_fwd)(real *h, const int32_t *ids, const real *E, int64_t N, int64_t D) {
    TTT_PROF_SCOPE(TTT_PROF_EMBED, 0);
#pragma omp parallel for schedule(static) if (TTT_PAR(N * D))
    for (int64_t r = 0; r < N; r++) memcpy(h + r * D, E + (int64_t)ids[r] * D, sizeof(real) * (size_t)D);
}

/* rows in order within each column block: deterministic for any thread count */
void RF(embed_bwd)(real *dE, const int32_t *ids, const real *dh, int64_t N, int64_t D) {
    TTT_PROF_SCOPE(TTT_PROF_EMBED, 0);
    int64_t nb = (D + COLBLK - 1) / COLBLK;
#pragma omp parallel for schedule(static) if (TTT_PAR(N * D))
    for (int64_t bi = 0; bi < nb; bi++) {
        int64_t c0 = bi * COLBLK, c1 = c0 + COLBLK < D ? c0 + COLBLK : D;
        for (int64_t r = 0; r < N; r++) {
            real *d = dE + (int64_t)ids[r] * D;
            const real *g = dh + r * D;
            for (int64_t c = c0; c < c1; c++) d[c] += g[c];
        }
    }
}

#define LANES 16 /* fixed partial sums: vectorisable and the same for any thread count */

/* e^x for x <= 0: the vectorisable exp of fast_math.h in float (a NaN logit gives NaN, so a
 * non-finite logit shows in the loss instead of vanishing), libm in double */
#define EXP_NEG(x) exp_fast(x)

/* max and log Σ exp(x − max) of one row, in LANES partial sums combined in order */
static void row_lse(const real *x, int64_t V, real *mx_out, double *lse_out) {
    real m[LANES];
    for (int k = 0; k < LANES; k++) m[k] = -INFINITY;
    int64_t v = 0;
    for (; v + LANES <= V; v += LANES)
        for (int k = 0; k < LANES; k++) m[k] = x[v + k] > m[k] ? x[v + k] : m[k];
    real mx = -INFINITY;
    for (int k = 0; k < LANES; k++) mx = m[k] > mx ? m[k] : mx;
    for (; v < V; v++) mx = x[v] > mx ? x[v] : mx;
    real s[LANES];
    for (int k = 0; k < LANES; k++) s[k] = 0;
    for (v = 0; v + LANES <= V; v += LANES)
        for (int k = 0; k < LANES; k++) s[k] += EXP_NEG(x[v + k] - mx);
    double sum = 0;
    for (int k = 0; k < LANES; k++) sum += (double)s[k];
    for (; v < V; v++) sum += (double)EXP_NEG(x[v] - mx);
    *mx_out = mx;
    *lse_out = (double)mx + log(sum);
}

/* nll = logsumexp(row) − row[target]; d row = wt·scale·(softmax − onehot) */
/* the loss of row X with target Y (>= 0), and its gradient into D when D is not NULL (D may
 * be X itself: the loss is taken before the row is overwritten) */
static double row_fwd_bwd(real *d, const real *x, int32_t y, double g, int64_t V) {
    real mx;
    double lse;
    row_lse(x, V, &mx, &lse);
    double nll = lse - (double)x[y];
    if (d) {
        real sh = (real)(lse - (double)mx), gg = (real)g;
        /* softmax = exp(x − lse) = exp((x − mx) − (lse − mx)) */
        for (int64_t v = 0; v < V; v++) d[v] = gg * EXP_NEG(x[v] - mx - sh);
        d[y] -= gg;
    }
    return nll;
}

/* nll = logsumexp(row) − row[target]; d row = wt·scale·(softmax − onehot) */
double RF(xent_fwd_bwd)(real *dlogits, const real *logits, const int32_t *targets,
                        const double *wt, double scale, int64_t N, int64_t V) {
    TTT_PROF_SCOPE(TTT_PROF_LOSS, 0);
    double *nll = malloc(sizeof(double) * (size_t)(N ? N : 1));
    double loss = 0;
    if (!nll) { /* no room for the per-row losses: the same sum, one row at a time */
        for (int64_t r = 0; r < N; r++) {
            real *d = dlogits ? dlogits + r * V : NULL;
            if (targets[r] < 0) {
                if (d) memset(d, 0, sizeof(real) * (size_t)V);
                continue;
            }
            loss += wt[r] * row_fwd_bwd(d, logits + r * V, targets[r], dlogits ? wt[r] * scale : 0, V);
        }
        return loss;
    }
#pragma omp parallel for schedule(static) if (TTT_PAR(N * V))
    for (int64_t r = 0; r < N; r++) {
        real *d = dlogits ? dlogits + r * V : NULL;
        if (targets[r] < 0) {
            nll[r] = 0;
            if (d) memset(d, 0, sizeof(real) * (size_t)V);
            continue;
        }
        nll[r] = row_fwd_bwd(d, logits + r * V, targets[r], dlogits ? wt[r] * scale : 0, V);
    }
    for (int64_t r = 0; r < N; r++)
        if (targets[r] >= 0) loss += wt[r] * nll[r];
    free(nll);
    return loss;
}

void RF(xent_rows)(double *nll, const real *logits, const int32_t *targets, int64_t N, int64_t V) {
    TTT_PROF_SCOPE(TTT_PROF_LOSS, 0);
#pragma omp parallel for schedule(static) if (TTT_PAR(N * V))
    for (int64_t r = 0; r < N; r++) {
        int32_t y = targets[r];
        if (y < 0) {
            nll[r] = 0;
            continue;
        }
        real mx;
        double lse;
        row_lse(logits + r * V, V, &mx, &lse);
        nll[r] = lse - (double)logits[r * V + y];
    }
}
