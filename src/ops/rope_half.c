/* rope_half.c: rotary position embedding, Hugging Face rotate_half convention, fused with the
 * token-major <-> head-major layout change (see rope_half.h). */
#include "core/prof.h"
#include "ops/rope_half.h"

#include <string.h>

#include "ops/ops.h"

/* inv_freq[i] = 1 / theta^(2i/F);  a = p · inv_freq[i]  (double, as the float64 oracle) */
void RF(rope_half_table)(real *cs, int64_t pos0, int64_t L, int64_t F, double theta) {
    int64_t P = F / 2;
#pragma omp parallel for schedule(static) if (TTT_PAR(64 * L * P))
    for (int64_t t = 0; t < L; t++)
        for (int64_t i = 0; i < P; i++) {
            double inv = 1.0 / pow(theta, (double)(2 * i) / (double)F);
            double a = (double)(pos0 + t) * inv;
            cs[t * P + i] = (real)cos(a);
            cs[L * P + t * P + i] = (real)sin(a);
        }
}

/* (y1, y2) = (x1 c − x2 s, x2 c + x1 s) */
void RF(rope_half_split)(real *out, int64_t ld, const real *x, const real *cs, int64_t B, int64_t L,
                         int64_t H, int64_t F) {
    TTT_PROF_SCOPE(TTT_PROF_ELEMWISE, 0);
    int64_t P = F / 2;
#pragma omp parallel for collapse(2) schedule(static) if (TTT_PAR(B * L * H * F))
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < L; t++) {
            const real *c = cs ? cs + t * P : NULL, *s = cs ? cs + L * P + t * P : NULL;
            for (int64_t h = 0; h < H; h++) {
                const real *xv = x + ((b * L + t) * H + h) * F;
                real *o = out + (b * H + h) * ld + t * F;
                if (!cs) {
                    memcpy(o, xv, sizeof(real) * (size_t)F);
                    continue;
                }
                for (int64_t i = 0; i < P; i++) {
                    real x1 = xv[i], x2 = xv[i + P];
                    o[i] = x1 * c[i] - x2 * s[i];
                    o[i + P] = x2 * c[i] + x1 * s[i];
                }
            }
        }
}

/* (dx1, dx2) = (g1 c + g2 s, g2 c − g1 s): the transpose of the rotation above */
void RF(rope_half_merge)(real *dx, const real *dout, int64_t ld, const real *cs, int64_t B, int64_t L,
                         int64_t H, int64_t F) {
    TTT_PROF_SCOPE(TTT_PROF_ELEMWISE, 0);
    int64_t P = F / 2;
#pragma omp parallel for collapse(2) schedule(static) if (TTT_PAR(B * L * H * F))
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < L; t++) {
            const real *c = cs ? cs + t * P : NULL, *s = cs ? cs + L * P + t * P : NULL;
            for (int64_t h = 0; h < H; h++) {
                const real *g = dout + (b * H + h) * ld + t * F;
                real *o = dx + ((b * L + t) * H + h) * F;
                if (!cs) {
                    memcpy(o, g, sizeof(real) * (size_t)F);
                    continue;
                }
                for (int64_t i = 0; i < P; i++) {
                    real g1 = g[i], g2 = g[i + P];
                    o[i] = g1 * c[i] + g2 * s[i];
                    o[i + P] = g2 * c[i] - g1 * s[i];
                }
            }
        }
}
