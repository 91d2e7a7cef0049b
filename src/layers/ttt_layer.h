/* ttt_layer.h: the TTT layer of a block (ttt.py's seq_modeling_block, design.md 2.5-2.8):
 *   Q, K, V projections (Mamba backbone: shared q/k projection then two depthwise causal
 *   convs), RoPE on Q and K at position p mod b, the per-head lr gate, the scan,
 *   post_norm over D, the gelu gate (Mamba backbone) and o_proj. Generic over `real`. */
#ifndef TTT_LAYERS_TTT_LAYER_H
#define TTT_LAYERS_TTT_LAYER_H

#include "core/real.h"
#include "layers/ttt_scan.h"
#include "model/params.h"

/* Offsets (elements) of one TTT block's tensors; -1 when the config has no such tensor. Not
 * generic, so guarded apart from the rest (a file may include this header once per precision). */
#ifndef TTT_TTT_BLOCK_OFFS
#define TTT_TTT_BLOCK_OFFS
typedef struct {
    int64_t pc_norm, pc_w, pc_b;     /* conv.norm.weight, conv.conv.weight/bias (pre_conv) */
    int64_t seq_norm, ffn_norm;
    int64_t q, k, v, o, g;           /* seq_modeling_block.{q,k,v,o,g}_proj.weight */
    int64_t cq_w, cq_b, ck_w, ck_b;  /* conv_q / conv_k (share_qk) */
    int64_t lr_w, lr_b, tok;         /* learnable_ttt_lr_weight/bias, learnable_token_idx */
    int64_t ln_w, ln_b;              /* ttt_norm_weight/bias */
    int64_t W1, b1, W2, b2;
    int64_t post_w, post_b;
    int64_t mg, mu, md;              /* mlp.gate_proj, up_proj, down_proj */
} ttt_block_offs;
#endif

/* a block's tensors (parameters or their gradients); NULL when absent */
typedef struct {
    real *pc_norm, *pc_w, *pc_b, *seq_norm, *ffn_norm;
    real *q, *k, *v, *o, *g, *cq_w, *cq_b, *ck_w, *ck_b;
    real *lr_w, *lr_b, *tok, *ln_w, *ln_b, *W1, *b1, *W2, *b2, *post_w, *post_b;
    real *mg, *mu, *md;
} RF(block_w);

void RF(block_w_bind)(RF(block_w) *w, real *base, const ttt_block_offs *o);

/* what the layer keeps for its backward pass (pointers into the workspace), rows N = B·L */
typedef struct {
    real *u;            /* [N, D] shared q/k projection (conv input), share_qk only */
    real *Q, *K, *V;    /* [N, D] after conv and RoPE */
    real *lrs;          /* [N, nh] sigmoid of the lr gate */
    real *Z;            /* [N, D] scan output (post_norm input) */
    real *pmean, *prstd;/* [N] post_norm statistics */
    real *ln;           /* [N, D] post_norm output */
    real *gpre;         /* [N, D] x·Wgᵀ (use_gate) */
    real *Y;            /* [N, D] o_proj input (= ln without gate) */
    real *ckpt, *mbc;   /* scan checkpoints (training) */
} RF(ttt_layer_act);

/* shared scratch of the layer */
typedef struct {
    real *lr;           /* [N, nh] scaled inner learning rates */
    real *tau;          /* [b] */
    double *stats;      /* when set: the inner-loop diagnostics of this layer are added here
                           ([nmb, 3], see ttt_stats.h) */
    real *scan_scratch; /* per-thread scan scratch */
    int64_t scan_scratch_elems;
    int nthreads;
    int64_t group;      /* recomputation group (training) */
    const float *rope_cs;
    /* backward temporaries */
    real *dY, *dg, *dZ, *dQ, *dK, *dV, *du;   /* [N, D] */
    real *dlr;                                 /* [N, nh] */
    real *dtau_part, *dln_part, *dW0_part;     /* [B*nh, ...] */
} RF(ttt_layer_tmp);

/* Cached-decoding state of one layer for B sequences. */
typedef struct {
    real *qk_hist;      /* [B, K−1, D] */
    real *state, *sums; /* [B*nh, S] */
} RF(ttt_layer_cache);

/* out [N, D] = layer(x [N, D]). cache NULL: a fresh sequence (from W0, zero conv history);
 * else tokens continue at position pos0 and the cache is updated. train: keep what the
 * backward needs (a->ckpt / a->mbc set). */
void RF(ttt_layer_forward)(const ttt_dims *d, const RF(block_w) *w, RF(ttt_layer_act) *a,
                           RF(ttt_layer_tmp) *tmp, const real *x, real *out, int64_t B, int64_t L,
                           int64_t pos0, RF(ttt_layer_cache) *cache);

/* One token for each of n sequences (decode of a running batch): row i of x continues
 * caches[i] (a cache of one sequence) at position pos[i]. The products run over all n rows;
 * the convolutions, RoPE and the scan per row, as ttt_layer_forward with B = L = 1 runs them. */
void RF(ttt_layer_forward_rows)(const ttt_dims *d, const RF(block_w) *w, RF(ttt_layer_act) *a,
                                RF(ttt_layer_tmp) *tmp, const real *x, real *out, int64_t n,
                                const int64_t *pos, RF(ttt_layer_cache) *caches);

/* dx += d out/d x · dout; parameter gradients accumulated into gw. */
void RF(ttt_layer_backward)(const ttt_dims *d, const RF(block_w) *w, const RF(block_w) *gw,
                            const RF(ttt_layer_act) *a, RF(ttt_layer_tmp) *tmp, const real *x,
                            const real *dout, real *dx, int64_t B, int64_t L);

#endif
