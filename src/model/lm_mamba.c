/* lm_mamba.c: the Mamba-1 language model (mamba_ssm's MambaLMHeadModel, Hugging Face
 * MambaForCausalLM), generic over `real`:
 *   h0 = Embed(ids);  per block:  h += Mixer(RMSNorm(h; norm))      (layers/mamba_mixer.h)
 *   logits = RMSNorm(h; norm_f) · Headᵀ;  loss = cross-entropy against the targets.
 * Full-sequence forward (optionally keeping activations for the backward), the backward pass,
 * and the cached prefill / decode path: per layer the last K−1 conv inputs and the state h
 * [B, E, N], so memory and time per decoded token do not depend on the context length.
 * Rows M = B·L. The scan's recomputation chunk is 16·remat_group steps (the TTT models'
 * mini-batch groups; default 64), 0 = the whole sequence; it never changes the numbers. */
#include <omp.h>
#include <string.h>

#include "core/error.h"
#include "layers/mamba_mixer.h"
#include "model/lm_common.h"
#include "ops/ops.h"

/* what one block keeps (training: one per layer; inference: one set shared by all layers) */
typedef struct {
    real *h_in;         /* [M, D] residual stream before the block (training) */
    real *xn, *rs;      /* RMSNorm output [M, D] and 1/rms [M] */
    RF(mamba_act) mx;
} RF(mblock_act);

typedef struct {
    RF(lm_io) io;        /* residual stream, head, loss */
    RF(mblock_act) *blk; /* [layers] (training) or [1] */
    int nblk;
    real *h;             /* = io.h */
    real *out;           /* [M, D] mixer output */
    real *dx;            /* [M, D] gradient of the norm output (training) */
    RF(mamba_tmp) mt;
} RF(mamba_ws);

/* the scan's recomputation chunk: 16·remat_group steps, at most the sequence (0: all of it) */
static int64_t scan_chunk(const ttt_model *m, int64_t L) {
    int64_t g = m->opt.remat_group, all = L > 0 ? L : 1;
    return g > 0 && 16 * g < all ? 16 * g : all;
}

static void layout(bump *bp, RF(mamba_ws) *w, const ttt_dims *d, int64_t B, int64_t L, int train,
                   int64_t chunk, int nthreads) {
    int64_t M = B * L, D = d->D;
    for (int l = 0; l < w->nblk; l++) {
        RF(mblock_act) *a = &w->blk[l];
        a->h_in = train ? take(bp, M * D) : NULL;
        a->xn = take(bp, M * D);
        a->rs = take(bp, M);
        int64_t n = RF(mamba_act_bind)(&a->mx, NULL, d, B, L, train, chunk);
        RF(mamba_act_bind)(&a->mx, take(bp, n), d, B, L, train, chunk);
    }
    RF(lm_io_layout)(bp, &w->io, d, M, train);
    w->h = w->io.h;
    w->out = take(bp, M * D);
    w->dx = train ? take(bp, M * D) : NULL;
    int64_t n = RF(mamba_tmp_bind)(&w->mt, NULL, d, B, L, train, chunk, nthreads);
    RF(mamba_tmp_bind)(&w->mt, take(bp, n), d, B, L, train, chunk, nthreads);
}

static ttt_status ws_prepare(ttt_model *m, RF(mamba_ws) *w, RF(mblock_act) *blks, int64_t B, int64_t L,
                             int train) {
    const ttt_dims *d = &m->dims;
    int nthreads = omp_get_max_threads();
    int64_t chunk = scan_chunk(m, L);
    w->blk = blks;
    w->nblk = train ? (int)d->layers : 1;
    bump b = {NULL, 0};
    layout(&b, w, d, B, L, train, chunk, nthreads);
    TRY(RF(lm_reserve)(m, b.off));
    b.base = (real *)m->ws.data;
    b.off = 0;
    layout(&b, w, d, B, L, train, chunk, nthreads);
    return TTT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* cache: per layer [conv_hist B(K−1)E | state B·E·N]                                          */

static int64_t layer_cache_elems(const ttt_dims *d, int64_t B) { return B * (d->K - 1) * d->I + B * d->I * d->N; }

static RF(mamba_cache) cache_layer(const ttt_model *m, ttt_cache *c, int64_t l) {
    const ttt_dims *d = &m->dims;
    real *p = (real *)c->buf.data + l * layer_cache_elems(d, c->B);
    RF(mamba_cache) mc = {p, p + c->B * (d->K - 1) * d->I};
    return mc;
}

/* the empty state: all zeros (no conv history, h = 0) */
static void cache_reset(ttt_cache *c) {
    const ttt_dims *d = &c->m->dims;
    memset(c->buf.data, 0, sizeof(real) * (size_t)(d->layers * layer_cache_elems(d, c->B)));
    c->pos = 0;
}

static ttt_status cache_init(ttt_cache *c) {
    const ttt_dims *d = &c->m->dims;
    size_t bytes;
    TRY(ttt_size_mul(&bytes, d->layers, layer_cache_elems(d, c->B), sizeof(real), "cache"));
    TRY(ttt_buf_reserve(&c->buf, bytes, "decode cache"));
    c->bytes = bytes;
    cache_reset(c);
    return TTT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* blocks                                                                                      */

/* h += Mixer(RMSNorm(h; norm)) */
static void block_forward(const ttt_model *m, int64_t l, RF(mblock_act) *a, RF(mamba_ws) *ws, int64_t B,
                          int64_t L, int train, RF(mamba_cache) *mc) {
    const ttt_dims *d = &m->dims;
    int64_t M = B * L, D = d->D;
    real *P = (real *)m->w;
    const mamba_block_offs *o = &m->offs.mamba[l];
    RF(mamba_w) w;
    RF(mamba_w_bind)(&w, P, o);
    if (train) memcpy(a->h_in, ws->h, sizeof(real) * (size_t)(M * D));
    RF(rmsnorm_fwd)(a->xn, a->rs, ws->h, P + o->norm, M, D, (real)d->rms_eps);
    RF(mamba_mixer_forward)(d, &w, &a->mx, &ws->mt, a->xn, ws->out, B, L, mc);
    RF(vec_add)(ws->h, ws->out, M * D);
}

/* dh: gradient w.r.t. the block's output residual in, w.r.t. its input residual out */
static void block_backward(ttt_model *m, int64_t l, RF(mblock_act) *a, RF(mamba_ws) *ws, int64_t B,
                           int64_t L) {
    const ttt_dims *d = &m->dims;
    int64_t M = B * L, D = d->D;
    real *P = (real *)m->w, *G = (real *)m->g;
    const mamba_block_offs *o = &m->offs.mamba[l];
    RF(mamba_w) w, gw;
    RF(mamba_w_bind)(&w, P, o);
    RF(mamba_w_bind)(&gw, G, o);
    RF(mamba_mixer_backward)(d, &w, &gw, &a->mx, &ws->mt, a->xn, ws->io.dh, ws->dx, B, L);
    RF(rmsnorm_bwd)(ws->io.dh, G + o->norm, ws->dx, a->h_in, P + o->norm, a->rs, M, D);
}

/* ------------------------------------------------------------------------------------------ */

static ttt_status forward(ttt_model *m, const int32_t *ids, const int32_t *targets, int64_t B, int64_t L,
                          int per_seq, int backward, double scale, float *logits, double *loss) {
    const ttt_dims *d = &m->dims;
    int64_t M = B * L;
    RF(mblock_act) blks_small[1];
    RF(mblock_act) *blks = blks_small;
    if (backward) {
        blks = ttt_malloc(sizeof(RF(mblock_act)) * (size_t)d->layers, "activation table");
        if (!blks) return TTT_ERR_NOMEM;
    }
    RF(mamba_ws) ws;
    ttt_status s = ws_prepare(m, &ws, blks, B, L, backward);
    if (s != TTT_OK) {
        if (blks != blks_small) ttt_free(blks);
        return s;
    }
    RF(lm_embed)(m, &ws.io, ids, M);
    RF(lm_save_hidden)(m, ws.h, 0, M);
    for (int64_t l = 0; l < d->layers; l++) {
        block_forward(m, l, &ws.blk[backward ? l : 0], &ws, B, L, backward, NULL);
        RF(lm_save_hidden)(m, ws.h, l + 1, M);
    }
    RF(lm_head)(m, &ws.io, M, logits);
    double lv = RF(lm_loss)(m, &ws.io, ids, targets, B, L, per_seq, backward, scale);
    if (loss) *loss = lv;
    if (backward) {
        RF(lm_head_backward)(m, &ws.io, ws.dx, M);
        for (int64_t l = d->layers - 1; l >= 0; l--) block_backward(m, l, &ws.blk[l], &ws, B, L);
        RF(lm_embed_backward)(m, &ws.io, ids, M);
        ttt_free(blks);
    }
    return TTT_OK;
}

/* Tokens continue the sequences of the cache: ids [B, L]; logits [B, L, V] (nullable). */
static ttt_status prefill(ttt_model *m, ttt_cache *c, const int32_t *ids, int64_t L, float *logits) {
    const ttt_dims *d = &m->dims;
    int64_t B = c->B, M = B * L;
    RF(mblock_act) blk;
    RF(mamba_ws) ws;
    TRY(ws_prepare(m, &ws, &blk, B, L, 0));
    RF(lm_embed)(m, &ws.io, ids, M);
    for (int64_t l = 0; l < d->layers; l++) {
        RF(mamba_cache) mc = cache_layer(m, c, l);
        block_forward(m, l, &ws.blk[0], &ws, B, L, 0, &mc);
    }
    if (logits) RF(lm_head)(m, &ws.io, M, logits);
    c->pos += L;
    return TTT_OK;
}

const lm_arch_ops RF(lm_mamba_ops) = {forward, cache_init, cache_reset, prefill};
