/* ttt_stats.c: inner-loop diagnostics of a TTT layer (design.md 6.3, the paper's Figure 4;
 * the authors' JAX code logs them as "ttt_loss_mse_init/step_0/step_1"): for the last token
 * t of every mini-batch, the self-supervised reconstruction loss as a mean squared error per
 * element, ℓ(W; x_t) = mean_c (LN(f_res(k_t; W)) − (v_t − k_t))²_c, at the learned initial
 * weights W0, at the weights the mini-batch started from, and at the weights after its update.
 * A separate pass over the layer's saved Q/K/V (evaluation only; the scan's hot path is
 * untouched). */
#include <stdlib.h>
#include <string.h>

#include "layers/ttt_inner_ln.h"
#include "layers/ttt_stats.h"
#include "ops/ops.h"

/* ℓ(W; k, v) for one row */
static double recon_mse(const ttt_inner_dims *d, const real *W, const real *k, const real *v, const real *g,
                        const real *bt, real *tmp) {
    int64_t f = d->f, F = d->F;
    const real *W1 = W, *b1 = W1 + f * F;
    real *h = tmp, *z = tmp + F;
    for (int64_t c = 0; c < F; c++) {
        real s = b1[c];
        for (int64_t a = 0; a < f; a++) s += k[a] * W1[a * F + c];
        h[c] = d->mlp ? RF(gelu)(s) : s;
    }
    if (d->mlp) {
        const real *W2 = b1 + F, *b2 = W2 + F * f;
        for (int64_t c = 0; c < f; c++) {
            real s = b2[c];
            for (int64_t a = 0; a < F; a++) s += h[a] * W2[a * f + c];
            z[c] = s;
        }
    } else {
        memcpy(z, h, sizeof(real) * (size_t)f);
    }
    ln_stats(z, f, z); /* z ← x̂ = LN(z) before its affine */
    double s = 0;
    for (int64_t c = 0; c < f; c++) {
        double e = (double)(g[c] * z[c] + bt[c]) - (double)(v[c] - k[c]);
        s += e * e;
    }
    return s / (double)f;
}

void RF(ttt_scan_stats)(const RF(ttt_scan_args) *a, double *stats) {
    const ttt_inner_dims *d = &a->id;
    int64_t S = ttt_state_size(d), M = ttt_mbc_layout_of(d).total, mb = d->b, f = d->f, F = d->F;
    int64_t nmb = (a->L + mb - 1) / mb, ntask = a->B * a->nh;
    double *part = calloc((size_t)(ntask * nmb * 3), sizeof(double));
    if (!part) return;
#pragma omp parallel for schedule(static) if (TTT_PAR(a->B * a->nh * a->L * f * F))
    for (int64_t task = 0; task < ntask; task++) {
        int64_t bi = task / a->nh, h = task % a->nh;
        real *w0 = malloc(sizeof(real) * (size_t)(3 * S + M + ttt_inner_scratch_size(d) + mb * f + 2 * F + f));
        if (!w0) continue;
        real *st = w0 + S, *prev = st + S, *mbc = prev + S, *out = mbc + M + ttt_inner_scratch_size(d), *tmp = out + mb * f;
        /* W0: the layer's learned initial weights of head h */
        memcpy(w0, a->W1 + h * f * F, sizeof(real) * (size_t)(f * F));
        memcpy(w0 + f * F, a->b1 + h * F, sizeof(real) * (size_t)F);
        if (d->mlp) {
            memcpy(w0 + f * F + F, a->W2 + h * F * f, sizeof(real) * (size_t)(F * f));
            memcpy(w0 + f * F + F + F * f, a->b2 + h * f, sizeof(real) * (size_t)f);
        }
        memcpy(st, w0, sizeof(real) * (size_t)S);
        const real *g = a->ln_w + h * f, *bt = a->ln_b + h * f;
        for (int64_t m = 0, t = 0; t < a->L; m++) {
            int64_t n = a->L - t < mb ? a->L - t : mb;
            int64_t row = (bi * a->L + t + n - 1) * a->D + h * f; /* the mini-batch's last token */
            RF(ttt_mb_in) in = {a->Q + (bi * a->L + t) * a->D + h * f, a->K + (bi * a->L + t) * a->D + h * f,
                                a->V + (bi * a->L + t) * a->D + h * f, a->D, a->lr + (bi * a->L + t) * a->nh + h,
                                a->nh, a->tau, g, bt};
            memcpy(prev, st, sizeof(real) * (size_t)S);
            RF(ttt_mb_forward)(d, n, &in, st, NULL, out, f, mbc);
            double *p = part + (task * nmb + m) * 3;
            p[0] = recon_mse(d, w0, a->K + row, a->V + row, g, bt, tmp);
            p[1] = recon_mse(d, prev, a->K + row, a->V + row, g, bt, tmp);
            p[2] = recon_mse(d, st, a->K + row, a->V + row, g, bt, tmp);
            t += n;
        }
        free(w0);
    }
    for (int64_t task = 0; task < ntask; task++)
        for (int64_t i = 0; i < nmb * 3; i++) stats[i] += part[task * nmb * 3 + i];
    free(part);
}
