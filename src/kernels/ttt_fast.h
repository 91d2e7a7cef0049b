/* ttt_fast.h: fused float kernels for one head's TTT inner loop (design.md 2.3-2.7 and 2.10): the
 * dual-form mini-batch forward and its exact backward, TTT-Linear and TTT-MLP, and the primal
 * decode step. Same contracts as the reference in src/layers/ttt_inner.h (which the tests
 * compare these against), computed as small matrix products with the tokens of a mini-batch
 * in the 16 lanes of a vector; an AVX-512 path chosen at run time and a portable C path.
 * Not generic: float only. */
#ifndef TTT_KERNELS_TTT_FAST_H
#define TTT_KERNELS_TTT_FAST_H

#include <stdint.h>

#include "kernels/ttt_inner_dims.h"

/* One head's mini-batch inputs, laid out like ttt_mb_in_f32 (ttt_inner.h): row i of Q/K/V at
 * X + i*ld, lr of row i at lr[i*lr_ld], tau[i] = τ_i, gamma/beta the inner LayerNorm. */
typedef struct {
    const float *Q, *K, *V;
    int64_t ld;
    const float *lr;
    int64_t lr_ld;
    const float *tau;
    const float *gamma, *beta;
} ttt_fast_in;

/* 1 when the fast kernels handle these dimensions: mini-batch size 1..16 (the tokens of a
 * mini-batch fill the lanes of one vector), any head dim f >= 1 and hidden width F. */
int ttt_fast_usable(const ttt_inner_dims *d);

/* Work space (floats) one call of any of the kernels below needs. */
int64_t ttt_fast_scratch_elems(const ttt_inner_dims *d);

/* Dual form over a mini-batch of n <= b rows, as ttt_mb_forward: sums == NULL commits
 * (state ← W_{n−1}); otherwise state is kept and sums ← Σ_j lr_j ∇ℓ_j(W). mbc may be NULL (no
 * backward follows); else it receives the start state and the intermediates, in the slots of
 * ttt_mbc_layout_of() but with each per-row block stored feature-major ([f or F][b], token
 * index fastest): a cache written here is read only by ttt_fast_mb_backward. */
void ttt_fast_mb_forward(const ttt_inner_dims *d, int64_t n, const ttt_fast_in *in, float *state,
                         float *sums, float *out, int64_t ldo, float *mbc, float *scratch);

/* Backward of a committed mini-batch, as ttt_mb_backward (dstate in: gradient w.r.t. the state
 * after the mini-batch; out: before it; dQ/dK/dV/dlr/dtau/dgamma/dbeta accumulated). */
void ttt_fast_mb_backward(const ttt_inner_dims *d, int64_t n, const ttt_fast_in *in,
                          const float *mbc, const float *dout, int64_t ldo, float *dstate,
                          float *dQ, float *dK, float *dV, float *dlr, float *dtau, float *dgamma,
                          float *dbeta, float *scratch);

/* One token in primal form, as ttt_primal_step: sums += lr·∇ℓ(state); out = q + LN(f_res(q;
 * state − tau·sums)); commit: state ← state − tau·sums, sums ← 0. */
void ttt_fast_primal_step(const ttt_inner_dims *d, const float *q, const float *k, const float *v,
                          float lr, float tau, const float *gamma, const float *beta, float *state,
                          float *sums, int commit, float *out, float *scratch);

/* The instruction set in use: "avx512" or "portable". */
const char *ttt_fast_isa(void);
/* Tests: 1 forces the portable path, 0 restores the run-time choice. */
void ttt_fast_force_portable(int on);

#endif
