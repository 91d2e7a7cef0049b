/* rope.c: rotary position embedding with interleaved pairs (the EasyLM/JAX convention that
 * ttt.py reproduces by permuting): for pair m, angle φ = pos · θ^(−2m/F),
 * out[2m] = x[2m] cos φ − x[2m+1] sin φ,  out[2m+1] = x[2m+1] cos φ + x[2m] sin φ. */
#include "core/prof.h"
#include "ops/ops.h"

void RF(rope_interleaved)(real *x, const float *cs, int64_t B, int64_t L, int64_t H, int64_t F,
                          int64_t pos0, int64_t period, int inverse) {
    TTT_PROF_SCOPE(TTT_PROF_ELEMWISE, 0);
    int64_t P = F / 2;
#pragma omp parallel for collapse(2) schedule(static) if (TTT_PAR(B * L * H * F))
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < L; t++) {
            int64_t p = (pos0 + t) % period;
            const float *cp = cs + p * P, *sp = cs + period * P + p * P;
            real *row = x + (b * L + t) * H * F;
            for (int64_t h = 0; h < H; h++) {
                real *v = row + h * F;
                for (int64_t m = 0; m < P; m++) {
                    real c = (real)cp[m], s = inverse ? -(real)sp[m] : (real)sp[m];
                    real a = v[2 * m], bb = v[2 * m + 1];
                    v[2 * m] = a * c - bb * s;
                    v[2 * m + 1] = bb * c + a * s;
                }
            }
        }
}
