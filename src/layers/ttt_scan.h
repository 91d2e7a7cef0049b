/* ttt_scan.h: the TTT scan of one layer: for every (sequence, head), mini-batches in order,
 * carrying the inner state (design.md 2.6-2.11). Forward for training (state checkpoints at group
 * boundaries, or every mini-batch's intermediates), its backward (recomputing each group),
 * and the cached prefill used by decoding. Generic over `real`. */
#ifndef TTT_LAYERS_TTT_SCAN_H
#define TTT_LAYERS_TTT_SCAN_H

#include "core/real.h"
#include "layers/ttt_inner.h"

typedef struct {
    ttt_inner_dims id;
    int64_t B, L, nh, D;  /* Q/K/V/Z rows are [B, L, D]; head h at columns h*f .. h*f+f−1 */
    int64_t pos0;         /* absolute position of t = 0 (cached prefill) */
    const real *Q, *K, *V;
    const real *lr;       /* [B, L, nh]: η_base·sigmoid(·)/f */
    const real *tau;      /* [b]: τ_i by position in the mini-batch */
    const real *ln_w, *ln_b;                /* [nh, f] */
    const real *W1, *b1, *W2, *b2;          /* learned initial state W0 (per head) */
    real *Z;              /* output [B, L, D] */
    /* training: group > 0 saves the state every `group` mini-batches into ckpt
     * [B*nh, ngroups, S]; group == 0 saves every mini-batch's cache into mbc [B*nh, nmb, M] */
    int64_t group;
    real *ckpt, *mbc;
    /* cached inference: state and sums [B*nh, S] carried across calls (NULL: from W0) */
    real *state, *sums;
    /* per-thread scratch, nthreads blocks of scratch_elems */
    real *scratch;
    int64_t scratch_elems;
    int nthreads;
} RF(ttt_scan_args);

/* scratch elements per thread for a given group size */
int64_t RF(ttt_scan_scratch_elems)(const ttt_inner_dims *id, int64_t group);

void RF(ttt_scan_forward)(const RF(ttt_scan_args) *a);

/* Backward of a training forward (pos0 = 0, no cache). dZ [B, L, D] in; dQ/dK/dV [B, L, D]
 * and dlr [B, L, nh] accumulated; per-(sequence, head) partial sums written (not
 * accumulated) to dtau_part [B*nh, b], dln_part [B*nh, 2f] (γ then β) and dW0_part [B*nh, S],
 * for the caller to reduce in a fixed order. */
void RF(ttt_scan_backward)(const RF(ttt_scan_args) *a, const real *dZ, real *dQ, real *dK, real *dV,
                           real *dlr, real *dtau_part, real *dln_part, real *dW0_part);

#endif
