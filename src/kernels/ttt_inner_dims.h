/* ttt_inner_dims.h: sizes of one head's inner model and the layouts of the buffers the
 * inner-loop kernels share, the fused ones here (ttt_fast.h) and the reference in
 * src/layers/ttt_inner.h: the state (inner weights), and the per-mini-batch cache of
 * intermediates that the backward pass reads. Not generic (counts in elements). */
#ifndef TTT_KERNELS_TTT_INNER_DIMS_H
#define TTT_KERNELS_TTT_INNER_DIMS_H

#include <stdint.h>

typedef struct {
    int64_t f;  /* head dim */
    int64_t F;  /* width of the inner model's hidden layer: f (Linear) or 4f (MLP) */
    int64_t b;  /* mini-batch size (most rows a mini-batch has) */
    int mlp;    /* 0 TTT-Linear, 1 TTT-MLP */
} ttt_inner_dims;

/* state = [W1 (f×F) | b1 (F) | W2 (F×f) | b2 (f)]; Linear: [W1 (f×f) | b1 (f)] */
static inline int64_t ttt_state_size(const ttt_inner_dims *d) {
    return d->mlp ? d->f * d->F + d->F + d->F * d->f + d->f : d->f * d->f + d->f;
}

/* per-mini-batch cache (offsets in elements): start state, then per-row intermediates.
 * xh/rs/G: the reconstruction LayerNorm (of Z for Linear, of Z2 for MLP);
 * xhb/rsb: the output LayerNorm; MLP adds Z1, X2 = gelu(Z1), G1, Zb1, Xb2 = gelu(Zb1). */
typedef struct {
    int64_t st, xh, rs, G, xhb, rsb, Z1, X2, G1, Zb1, Xb2, total;
} ttt_mbc_layout;

static inline ttt_mbc_layout ttt_mbc_layout_of(const ttt_inner_dims *d) {
    ttt_mbc_layout l;
    int64_t b = d->b, f = d->f, F = d->F, o = 0;
    l.st = o, o += ttt_state_size(d);
    l.xh = o, o += b * f;
    l.rs = o, o += b;
    l.G = o, o += b * f;
    l.xhb = o, o += b * f;
    l.rsb = o, o += b;
    if (d->mlp) {
        l.Z1 = o, o += b * F;
        l.X2 = o, o += b * F;
        l.G1 = o, o += b * F;
        l.Zb1 = o, o += b * F;
        l.Xb2 = o, o += b * F;
    } else {
        l.Z1 = l.X2 = l.G1 = l.Zb1 = l.Xb2 = -1;
    }
    l.total = o;
    return l;
}

/* scratch (elements) the kernels need per call */
static inline int64_t ttt_inner_scratch_size(const ttt_inner_dims *d) {
    return ttt_state_size(d) + 3 * d->b * d->F + d->b * d->f + 8 * d->F + 8 * d->f;
}

#endif
