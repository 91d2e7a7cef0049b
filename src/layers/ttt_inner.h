/* ttt_inner.h: the TTT inner loop of one head (design.md 2.3-2.7 and 2.10): the dual-form
 * mini-batch forward and its exact backward, and the primal single-token step used by
 * decoding. Generic over `real`. */
#ifndef TTT_LAYERS_TTT_INNER_H
#define TTT_LAYERS_TTT_INNER_H

#include "core/real.h"
#include "kernels/ttt_inner_dims.h"

/* Inputs of one head's mini-batch of n rows: row i of Q/K/V at X + i*ld; the inner learning
 * rate of row i at lr[i*lr_ld] (already η_base·sigmoid(·)/f); tau[i] = max(0, 1/(i+1) + λ_i);
 * gamma/beta: the inner LayerNorm of this head. */
typedef struct {
    const real *Q, *K, *V;
    int64_t ld;
    const real *lr;
    int64_t lr_ld;
    const real *tau;
    const real *gamma, *beta;
} RF(ttt_mb_in);

/* Dual form over one mini-batch (n <= b rows) from `state`:
 *   out_i = q_i + LN(f_res(q_i; W_i)),  W_i = W − τ_i Σ_{j<=i} lr_j ∇ℓ_j(W).
 * sums == NULL: commit, state ← W_{n−1}. sums != NULL: state unchanged and sums ←
 * Σ_j lr_j ∇ℓ_j(W) (a partial mini-batch, continued by primal steps).
 * mbc (not NULL) receives the start state and the intermediates for the backward pass. */
void RF(ttt_mb_forward)(const ttt_inner_dims *d, int64_t n, const RF(ttt_mb_in) *in, real *state,
                        real *sums, real *out, int64_t ldo, real *mbc);

/* Backward of a committed mini-batch. dstate: in, the gradient w.r.t. the state after the
 * mini-batch; out, w.r.t. the state before it. Accumulates (+=) into dQ/dK/dV (rows at ld),
 * dlr (at lr_ld), dtau [n], dgamma/dbeta [f]. scratch: ttt_inner_scratch_size elements. */
void RF(ttt_mb_backward)(const ttt_inner_dims *d, int64_t n, const RF(ttt_mb_in) *in,
                         const real *mbc, const real *dout, int64_t ldo, real *dstate, real *dQ,
                         real *dK, real *dV, real *dlr, real *dtau, real *dgamma, real *dbeta,
                         real *scratch);

/* One token in primal form at local index s of its mini-batch (tau = τ_s): adds its
 * step-weighted gradient (taken at the start-of-mini-batch `state`) to `sums`, evaluates
 * out = q + LN(f_res(q; state − τ·sums)); commit: state ← state − τ·sums, sums ← 0. */
void RF(ttt_primal_step)(const ttt_inner_dims *d, const real *q, const real *k, const real *v,
                         real lr, real tau, const real *gamma, const real *beta, real *state,
                         real *sums, int commit, real *out, real *scratch);

#endif
