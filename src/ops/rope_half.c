/* rope_half.c: rotary position embedding, Hugging Face rotate_half convention, fused with the
 * token-major <-> head-major layout change, and the frequencies of the scaled variants
 * (linear, dynamic NTK, llama3; see rope_half.h). */
#include "core/prof.h"
#include "ops/rope_half.h"

#include <math.h>
#include <string.h>

#include "ops/ops.h"

#if TTT_ONCE
/* dynamic NTK: base' = theta · (factor·S/M − (factor − 1))^(F/(F−2)) for S > M */
double rope_base(const rope_params *p, int64_t F, int64_t seq_len) {
    if (p->type != TTT_ROPE_DYNAMIC || seq_len <= p->max_pos) return p->theta;
    double S = (double)seq_len, M = (double)p->max_pos, d = (double)F;
    return p->theta * pow(p->factor * S / M - (p->factor - 1.0), d / (d - 2.0));
}

/* inv = base^(−2i/F), then linear: inv / factor; llama3: by wavelength w = 2π / inv */
double rope_inv_freq(const rope_params *p, int64_t F, int64_t i, double base) {
    double inv = 1.0 / pow(base, (double)(2 * i) / (double)F);
    if (p->type == TTT_ROPE_LINEAR) return inv / p->factor;
    if (p->type != TTT_ROPE_LLAMA3) return inv;
    double O = (double)p->original_max, w = 2.0 * 3.14159265358979323846 / inv;
    double lo_w = O / p->low_freq_factor, hi_w = O / p->high_freq_factor;
    if (w > lo_w) return inv / p->factor;
    if (w < hi_w) return inv;
    double s = (O / w - p->low_freq_factor) / (p->high_freq_factor - p->low_freq_factor);
    return (1.0 - s) * inv / p->factor + s * inv;
}
#endif

/* a = p · inv_freq[i]  (double, as the float64 oracle) */
void RF(rope_half_table_scaled)(real *cs, int64_t pos0, int64_t L, int64_t F, const rope_params *rp,
                                int64_t seq_len) {
    int64_t P = F / 2;
    double base = rope_base(rp, F, seq_len);
#pragma omp parallel for schedule(static) if (TTT_PAR(64 * L * P))
    for (int64_t t = 0; t < L; t++)
        for (int64_t i = 0; i < P; i++) {
            double a = (double)(pos0 + t) * rope_inv_freq(rp, F, i, base);
            cs[t * P + i] = (real)cos(a);
            cs[L * P + t * P + i] = (real)sin(a);
        }
}

void RF(rope_half_table)(real *cs, int64_t pos0, int64_t L, int64_t F, double theta) {
    rope_params p = {theta, TTT_ROPE_NONE, 1.0, 0, 0, 0, 0};
    RF(rope_half_table_scaled)(cs, pos0, L, F, &p, pos0 + L);
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
