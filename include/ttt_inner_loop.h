/* ttt_inner_loop.h: the inner loop of one TTT layer (TTT-Linear or TTT-MLP) as a stand-alone,
 * differentiable operation: the fused dual-form forward over a sequence of mini-batches and
 * its exact backward, in float32 and float64 (docs/design.md 2.3-2.11). This is the cut the
 * authors' ttt.py `TTTBase.ttt()` computes: everything between the Q/K/V projections (with
 * their convolutions and RoPE) and the post-norm is here; the projections, the lr gate and
 * the post-norm stay with the caller (the Python package's ttt.torch wraps this API).
 *
 * Per (sequence, head), with mini-batches of b tokens (the last one may be shorter), rows
 * i = 0..n-1 of a mini-batch, inner state W (W1, b1 [, W2, b2]) at its start:
 *   ℓ_j(W) = ½‖LN(f(k_j; W)) − (v_j − k_j)‖²,  LN with weight γ, bias β, eps 1e-6,
 *   f(x; W) = x W1 + b1 (Linear),  gelu_tanh(x W1 + b1) W2 + b2 (MLP),
 *   W̄_i = W − τ_i Σ_{j<=i} η_j ∇ℓ_j(W),   z_i = q_i + LN(f(q_i; W̄_i)),
 *   and the next mini-batch starts from W̄_{n−1}.
 * The inputs:
 *   xq, xk, xv   [B, L, H, f]   (row-major; the [B, L, D] rows of the projections, D = H·f)
 *   eta          [B, L, H]      the per-token inner learning rate η (ttt.py's ttt_lr_eta:
 *                               base_lr · sigmoid(x θ_h + β_h) / f)
 *   token_scale  [b]            τ_i (ttt.py's token_idx after clamp: max(0, 1/(i+1) + λ_i))
 *   ln_weight, ln_bias [H, f]   the inner LayerNorm γ, β
 *   W1 [H, f, F], b1 [H, F]     initial inner weights W0 (shared by the B sequences);
 *   W2 [H, F, f], b2 [H, f]     MLP only (F = 4f); NULL for Linear (F = f)
 * Outputs: z [B, L, H, f]; optionally the final inner state for decoding. */
#ifndef TTT_INNER_LOOP_H
#define TTT_INNER_LOOP_H

#include <stdint.h>

#include "ttt.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int64_t batch;      /* B >= 1 sequences */
    int64_t seq_len;    /* L >= 1 tokens */
    int64_t heads;      /* H >= 1 */
    int64_t head_dim;   /* f >= 1 */
    int64_t mini_batch; /* b >= 1 (ttt.py's mini_batch_size; 16 in the papers' models) */
    int mlp;            /* 0: TTT-Linear, 1: TTT-MLP (hidden width 4f) */
    int threads;        /* OpenMP threads; 0: the OpenMP default */
} ttt_inner_shape;

typedef struct {
    const float *xq, *xk, *xv, *eta, *token_scale, *ln_weight, *ln_bias;
    const float *W1, *b1, *W2, *b2;
} ttt_inner_inputs_f32;

typedef struct {
    const double *xq, *xk, *xv, *eta, *token_scale, *ln_weight, *ln_bias;
    const double *W1, *b1, *W2, *b2;
} ttt_inner_inputs_f64;

/* Gradients of a scalar loss w.r.t. every input, same shapes as the inputs (overwritten, not
 * accumulated). A NULL pointer: that gradient is not wanted (computed into a temporary). */
typedef struct {
    float *dxq, *dxk, *dxv, *deta, *dtoken_scale, *dln_weight, *dln_bias;
    float *dW1, *db1, *dW2, *db2;
} ttt_inner_grads_f32;

typedef struct {
    double *dxq, *dxk, *dxv, *deta, *dtoken_scale, *dln_weight, *dln_bias;
    double *dW1, *db1, *dW2, *db2;
} ttt_inner_grads_f64;

/* Elements of one (sequence, head)'s inner state, packed [W1 (f×F) | b1 (F)] for Linear and
 * [W1 (f×F) | b1 (F) | W2 (F×f) | b2 (f)] for MLP. -1 (and the error set) on a bad shape. */
int64_t ttt_inner_state_elems(const ttt_inner_shape *s);
/* Elements of the buffer `saved` a forward fills for its backward: every mini-batch's start
 * state and intermediates, B·H·ceil(L/b) blocks. -1 (and the error set) on a bad shape. */
int64_t ttt_inner_saved_elems(const ttt_inner_shape *s);

/* Forward. z [B, L, H, f] (required). state_out [B, H, S] (S = ttt_inner_state_elems), may be
 * NULL: the inner weights after the last complete mini-batch (ttt.py's W1_states ...), and
 * sums_out [B, H, S], may be NULL: for a trailing partial mini-batch of n < b tokens, the
 * step-weighted gradient sums Σ_j η_j ∇ℓ_j of its tokens at those weights (ttt.py's W1_grad
 * ...; zero when b divides L) — together the state decoding continues from. saved (may be
 * NULL, else saved_elems = ttt_inner_saved_elems) keeps what the backward needs. */
ttt_status ttt_inner_forward_f32(const ttt_inner_shape *s, const ttt_inner_inputs_f32 *in, float *z,
                                 float *state_out, float *sums_out, float *saved, int64_t saved_elems);
ttt_status ttt_inner_forward_f64(const ttt_inner_shape *s, const ttt_inner_inputs_f64 *in, double *z,
                                 double *state_out, double *sums_out, double *saved, int64_t saved_elems);

/* Backward: given dz [B, L, H, f] = ∂loss/∂z, the gradients w.r.t. all inputs. saved: the
 * buffer a forward on the same inputs filled (saved_elems as there), or NULL to recompute it.
 * The final state is not differentiated (its gradient is taken as zero). τ_i enters as given:
 * the caller applies the chain rule of its clamp. */
ttt_status ttt_inner_backward_f32(const ttt_inner_shape *s, const ttt_inner_inputs_f32 *in, const float *dz,
                                  const float *saved, int64_t saved_elems, const ttt_inner_grads_f32 *g);
ttt_status ttt_inner_backward_f64(const ttt_inner_shape *s, const ttt_inner_inputs_f64 *in, const double *dz,
                                  const double *saved, int64_t saved_elems, const ttt_inner_grads_f64 *g);

#ifdef __cplusplus
}
#endif

#endif
