/* toy_mix.c: the causal prefix mean of the toy family and its backward (see toy_mix.h). */
#include "toy_mix.h"

void RF(toy_prefix_mean)(real *u, const real *h, real *S, int64_t B, int64_t L, int64_t D, int64_t pos0) {
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < D; i++) {
            /* u_t = (S₀ + Σ_{s ≤ t} h_s) / (p₀ + t + 1), summed in double */
            double sum = S ? (double)S[b * D + i] : 0.0;
            for (int64_t t = 0; t < L; t++) {
                sum += (double)h[(b * L + t) * D + i];
                u[(b * L + t) * D + i] = (real)(sum / (double)(pos0 + t + 1));
            }
            if (S) S[b * D + i] = (real)sum;
        }
}

void RF(toy_prefix_mean_bwd)(real *dh, const real *du, int64_t B, int64_t L, int64_t D) {
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < D; i++) {
            /* dh_s += Σ_{t ≥ s} du_t / (t + 1): a suffix sum */
            double acc = 0.0;
            for (int64_t t = L - 1; t >= 0; t--) {
                acc += (double)du[(b * L + t) * D + i] / (double)(t + 1);
                dh[(b * L + t) * D + i] += (real)acc;
            }
        }
}
