/* ttt_inner_wide.h: the dual-form mini-batch of TTT-Linear for mini-batches wider than the
 * fused kernels take (b > 16; up to batch gradient descent over a whole sequence), with its
 * n×n token-pair sums as GEMM library calls instead of the reference's per-pair loops
 * (O(n²f) either way, but at GEMM speed). Same contracts and the same mini-batch cache
 * layout as the reference (ttt_inner.h), which the tests compare it against. TTT-MLP and
 * the primal step stay on the reference. Generic over `real`. */
#ifndef TTT_LAYERS_TTT_INNER_WIDE_H
#define TTT_LAYERS_TTT_INNER_WIDE_H

#include "layers/ttt_inner.h"

/* 1 when these kernels take the dimensions (TTT-Linear) */
static inline int ttt_wide_usable(const ttt_inner_dims *d) { return !d->mlp; }

/* work space (elements) of one call: two n×n token-pair matrices, four rows-by-f blocks,
 * a state-sized gradient and a row */
static inline int64_t ttt_wide_scratch_elems(const ttt_inner_dims *d) {
    return 2 * d->b * d->b + 4 * d->b * d->f + ttt_state_size(d) + d->f;
}

/* as ttt_mb_forward (mbc not NULL: the reference layout) */
void RF(ttt_wide_mb_forward)(const ttt_inner_dims *d, int64_t n, const RF(ttt_mb_in) *in, real *state,
                             real *sums, real *out, int64_t ldo, real *mbc, real *scratch);

/* as ttt_mb_backward, from a cache written by either forward */
void RF(ttt_wide_mb_backward)(const ttt_inner_dims *d, int64_t n, const RF(ttt_mb_in) *in,
                              const real *mbc, const real *dout, int64_t ldo, real *dstate, real *dQ,
                              real *dK, real *dV, real *dlr, real *dtau, real *dgamma, real *dbeta,
                              real *scratch);

#endif
