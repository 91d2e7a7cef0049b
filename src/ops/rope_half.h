/* rope_half.h: rotary position embedding in the Hugging Face "rotate_half" convention (Llama):
 * the pairs of a head vector are (x[i], x[i + F/2]), i < F/2, not interleaved (2i, 2i+1).
 * The rotation is fused with the change of layout from token-major [B, L, H·F] (the output
 * of a projection) to head-major [B, H, L, F] (what the attention tiles read), and its
 * backward with the way back. Generic over `real`: include after real.h. */
#ifndef TTT_OPS_ROPE_HALF_H
#define TTT_OPS_ROPE_HALF_H

#include <stdint.h>

#include "core/real.h"
#include "ttt.h"

/* The frequencies of a head of F (even) dimensions, i < F/2, as Hugging Face's
 * modeling_rope_utils computes them (in double here):
 *   default:  inv[i] = base^(−2i/F), base = theta
 *   linear:   inv[i] / factor
 *   dynamic:  base = theta · (factor·S/M − (factor − 1))^(F/(F−2)) when S > M, else theta
 *             (S: the sequence length of the call, the last position + 1; M: max_position)
 *   llama3:   w = 2π / inv[i], lo = O / low_freq_factor, hi = O / high_freq_factor (O: the
 *             original context): w > lo → inv/factor; w < hi → inv; otherwise with
 *             s = (O/w − low_freq_factor) / (high_freq_factor − low_freq_factor):
 *             (1 − s)·inv/factor + s·inv */
typedef struct {
    double theta;      /* rope_theta */
    ttt_rope_type type;
    double factor, low_freq_factor, high_freq_factor;
    int64_t original_max; /* llama3: original_max_position_embeddings */
    int64_t max_pos;      /* dynamic: max_position_embeddings */
} rope_params;

/* the base of the frequencies for a call whose last position is seq_len − 1 */
double rope_base(const rope_params *p, int64_t F, int64_t seq_len);
/* inv_freq[i] of that base (the scaling of p applied) */
double rope_inv_freq(const rope_params *p, int64_t F, int64_t i, double base);

/* cs = [L, F/2] cos then [L, F/2] sin for the positions p = pos0 .. pos0+L−1:
 * angle a = p · inv_freq[i] (rope_inv_freq with rope_base(rp, F, seq_len)), all in double,
 * then rounded to real. */
void RF(rope_half_table_scaled)(real *cs, int64_t pos0, int64_t L, int64_t F, const rope_params *rp,
                                int64_t seq_len);
/* the unscaled table: inv_freq[i] = theta^(−2i/F) */
void RF(rope_half_table)(real *cs, int64_t pos0, int64_t L, int64_t F, double theta);

/* out[b, h, t, :] = rot_t(x[b, t, h, :]) with
 *   rot_t(x)[i] = x[i] cos a − x[i+F/2] sin a,  rot_t(x)[i+F/2] = x[i+F/2] cos a + x[i] sin a.
 * x: [B, L, H·F]; out: the block of (b, h) starts at (b·H + h)·ld, rows of F. cs NULL: no
 * rotation (a plain split into heads, for V). */
void RF(rope_half_split)(real *out, int64_t ld, const real *x, const real *cs, int64_t B, int64_t L,
                         int64_t H, int64_t F);

/* Backward of rope_half_split: dx[b, t, h, :] = rot_t⁻¹(dout[b, h, t, :]) (overwrites dx [B, L, H·F];
 * the inverse of a rotation is its transpose). cs NULL: plain merge. */
void RF(rope_half_merge)(real *dx, const real *dout, int64_t ld, const real *cs, int64_t B, int64_t L,
                         int64_t H, int64_t F);

#endif
