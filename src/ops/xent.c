/* xent.c: token embedding lookup and the cross-entropy loss over logits, forward and
 * backward. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

#define COLBLK 64

void RF(embed_fwd)(real *h, const int32_t *ids, const real *E, int64_t N, int64_t D) {
#pragma omp parallel for schedule(static) if (TTT_PAR(N * D))
    for (int64_t r = 0; r < N; r++) memcpy(h + r * D, E + (int64_t)ids[r] * D, sizeof(real) * (size_t)D);
}

/* rows in order within each column block: deterministic for any thread count */
void RF(embed_bwd)(real *dE, const int32_t *ids, const real *dh, int64_t N, int64_t D) {
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

/* nll = logsumexp(row) − row[target]; d row = wt·scale·(softmax − onehot) */
double RF(xent_fwd_bwd)(real *dlogits, const real *logits, const int32_t *targets,
                        const double *wt, double scale, int64_t N, int64_t V) {
    double *nll = malloc(sizeof(double) * (size_t)(N ? N : 1));
#pragma omp parallel for schedule(static) if (TTT_PAR(N * V))
    for (int64_t r = 0; r < N; r++) {
        const real *x = logits + r * V;
        int32_t y = targets[r];
        if (y < 0) {
            nll[r] = 0;
            if (dlogits) memset(dlogits + r * V, 0, sizeof(real) * (size_t)V);
            continue;
        }
        double mx = -INFINITY;
        for (int64_t v = 0; v < V; v++) mx = x[v] > mx ? x[v] : mx;
        double s = 0;
        for (int64_t v = 0; v < V; v++) s += exp((double)x[v] - mx);
        double lse = mx + log(s);
        nll[r] = lse - (double)x[y];
        if (dlogits) {
            double g = wt[r] * scale;
            real *d = dlogits + r * V;
            for (int64_t v = 0; v < V; v++) d[v] = (real)(g * exp((double)x[v] - lse));
            d[y] -= (real)g;
        }
    }
    double loss = 0;
    for (int64_t r = 0; r < N; r++)
        if (targets[r] >= 0) loss += wt[r] * nll[r];
    free(nll);
    return loss;
}

void RF(xent_rows)(double *nll, const real *logits, const int32_t *targets, int64_t N, int64_t V) {
#pragma omp parallel for schedule(static) if (TTT_PAR(N * V))
    for (int64_t r = 0; r < N; r++) {
        const real *x = logits + r * V;
        int32_t y = targets[r];
        if (y < 0) {
            nll[r] = 0;
            continue;
        }
        double mx = -INFINITY;
        for (int64_t v = 0; v < V; v++) mx = x[v] > mx ? x[v] : mx;
        double s = 0;
        for (int64_t v = 0; v < V; v++) s += exp((double)x[v] - mx);
        nll[r] = mx + log(s) - (double)x[y];
    }
}
