/* toy_mix.h: the layer of the test suite's toy model family (tests/family/lm_toy.c), generic
 * over `real`: the causal prefix mean of the residual stream, a bag of the words so far,
 *   u_t = (S₀ + Σ_{s ≤ t} h_s) / (p₀ + t + 1)
 * for each sequence, with S₀ the sum and p₀ the count of the tokens before (a decode cache
 * of one vector per sequence and layer; zero and 0 for a fresh sequence), and its backward
 *   dh_s += Σ_{t ≥ s} du_t / (t + 1)      (p₀ = 0). */
#ifndef TTT_TESTS_TOY_MIX_H
#define TTT_TESTS_TOY_MIX_H

#include <stdint.h>

#include "core/real.h"

/* u, h: [B, L, D]; S: [B, D] running sums, updated (NULL: start from zero, keep nothing) */
void RF(toy_prefix_mean)(real *u, const real *h, real *S, int64_t B, int64_t L, int64_t D, int64_t pos0);
/* dh += the gradient through u of a sequence that starts at position 0 */
void RF(toy_prefix_mean_bwd)(real *dh, const real *du, int64_t B, int64_t L, int64_t D);

#endif
