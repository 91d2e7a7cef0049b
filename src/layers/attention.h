/* attention.h: causal multi-head attention with grouped key/value heads (GQA), computed in
 * tiles of queries × keys with an online softmax, so that no [L, L] score matrix ever exists:
 * memory is linear in the context length. The forward keeps only the output O and each row's
 * logsumexp; the backward (FlashAttention-2 style) recomputes the scores tile by tile.
 *
 * Query head j uses key/value head g = j / (nh / nkv). Queries are at positions
 * Lk − Lq .. Lk − 1 (a full sequence: Lq = Lk; a prefill or decode step continuing a KV cache:
 * Lq new tokens after Lk − Lq cached ones), keys at 0 .. Lk − 1; query p sees keys p' <= p:
 *   S[p, p'] = q_p · k_p' / sqrt(F),  P = softmax_p'(S),  o_p = Σ_p' P[p, p'] v_p'.
 *
 * Layouts: Q, dQ [B, nh, Lq, F] (head-major); K, V, dK, dV: the rows of (b, kv head g) start
 * at (b·nkv + g)·ldk, one row of F per position (a KV cache with room for more positions
 * has ldk > Lk·F); O, dO [B, Lq, nh·F] (token-major: the input of o_proj); lse, delta
 * [B, nh, Lq].
 *
 * Threads: tasks own disjoint outputs (a query tile of one head; in the backward also a key
 * tile of one kv head, which sums over all its query heads and query tiles in a fixed
 * order), so results are bit-identical for any thread count. Generic over `real`. */
#ifndef TTT_LAYERS_ATTENTION_H
#define TTT_LAYERS_ATTENTION_H

#include <stdint.h>

#include "core/real.h"

typedef struct {
    int64_t B, nh, nkv, F; /* batch, query heads, key/value heads (divides nh), head dim */
    int64_t Lq, Lk;        /* queries (the last Lq positions), keys (positions 0 .. Lk−1) */
    int64_t ldk;           /* elements between the blocks of consecutive (b, kv head) in K, V */
    int64_t tq, tk;        /* tile sizes: query rows × key rows */
    int nthreads;          /* threads the scratch was sized for (at most this many are used) */
} attn_dims;

/* scratch elements each thread needs (the caller provides nthreads × this) */
static inline int64_t attn_scratch_elems(const attn_dims *d) {
    return 2 * d->tq * d->tk + 2 * d->tq * d->F + 2 * d->tq;
}

/* O [B, Lq, nh·F] and lse [B, nh, Lq] (logsumexp of each row's scaled scores) */
void RF(attn_forward)(real *O, real *lse, const real *Q, const real *K, const real *V,
                      const attn_dims *d, real *scratch);

/* Gradients from dO, given the forward's O and lse: dQ, dK, dV overwritten (dK, dV: the Lk
 * rows of every (b, kv head) block); delta [B, nh, Lq] is scratch (rowsum(dO ⊙ O)). */
void RF(attn_backward)(real *dQ, real *dK, real *dV, real *delta, const real *dO, const real *O,
                       const real *lse, const real *Q, const real *K, const real *V,
                       const attn_dims *d, real *scratch);

#endif
