/* lm_llama.c: the Llama-architecture Transformer baseline ("Transformer++", Hugging Face
 * LlamaForCausalLM semantics), generic over `real`:
 *   h0 = Embed(ids);  per block:  h += Attn(RMSNorm_in(h))      (causal GQA with RoPE, o_proj)
 *                                 h += MLP(RMSNorm_post(h))     MLP(x) = down(silu(gate x) ⊙ up x)
 *   logits = RMSNorm_final(h) · Headᵀ;  loss = cross-entropy against the targets.
 * Attention: q = x Wqᵀ (+ bq), k = x Wkᵀ (+ bk), v = x Wvᵀ (+ bv) split into heads of f =
 * head_dim (D / nh unless the config says otherwise); RoPE (rotate_half, position p, the
 * frequencies of rope_scaling: ops/rope_half.h) on q and k; query head j uses kv head
 * j / (nh / nkv); scores q·k / sqrt(f), causal softmax, heads concatenated, then o_proj
 * (+ bo). With mlp_bias the three MLP projections have biases too. The attention itself is
 * tiled (layers/attention.c): memory linear in the context length. Positions past
 * max_position_embeddings are refused, except with dynamic RoPE scaling (made for them).
 * Full-sequence forward (keeping what the backward needs), backward, and the cached path: a
 * key/value cache per layer that grows (doubling) with the context; prefill of any number of
 * tokens at any position goes through the same tiled attention against cache + new keys. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "layers/attention.h"
#include "model/lm_common.h"
#include "ops/ops.h"
#include "ops/rope_half.h"

/* attention tiles: query rows × key rows */
#define ATTN_TQ 64
#define ATTN_TK 128
#define CACHE_MIN_CAP 64 /* positions of a fresh cache */

/* offsets (elements) of one block's tensors (model.layers.N.*) */
typedef struct {
    int64_t in_norm, q, k, v, o, post_norm, mg, mu, md;
    int64_t bq, bk, bv, bo, bg, bu, bd; /* biases (attention_bias, mlp_bias); −1: none */
} llama_block_offs;

#define BLK(m, l) (&((const llama_block_offs *)(m)->offs.blocks)[l])

/* a block's tensors (parameters or their gradients) */
typedef struct {
    real *in_norm, *q, *k, *v, *o, *post_norm, *mg, *mu, *md;
    real *bq, *bk, *bv, *bo, *bg, *bu, *bd; /* NULL: no bias */
} RF(llama_w);

static real *at(real *base, int64_t off) { return off >= 0 ? base + off : NULL; }

static void bind(RF(llama_w) *w, real *base, const llama_block_offs *o) {
    w->in_norm = base + o->in_norm, w->q = base + o->q, w->k = base + o->k, w->v = base + o->v;
    w->o = base + o->o, w->post_norm = base + o->post_norm;
    w->mg = base + o->mg, w->mu = base + o->mu, w->md = base + o->md;
    w->bq = at(base, o->bq), w->bk = at(base, o->bk), w->bv = at(base, o->bv), w->bo = at(base, o->bo);
    w->bg = at(base, o->bg), w->bu = at(base, o->bu), w->bd = at(base, o->bd);
}

/* what one block keeps (training: one per layer; inference: one set shared by all layers) */
typedef struct {
    real *h1, *xa, *rs_a;   /* attention: residual in (training), input_layernorm output, 1/rms */
    real *Qh;               /* [B, nh, L, f] queries after RoPE */
    real *Kh, *Vh;          /* [B, nkv, L, f] keys after RoPE, values (NULL: they live in the cache) */
    real *O, *lse;          /* [N, nh·f] attention output (o_proj input), [B, nh, L] */
    real *h2, *xf, *rs_f;   /* MLP: residual in (training), post_attention_layernorm output */
    real *ga, *up, *mm;     /* [N, I] gate, up, silu(gate) ⊙ up */
} RF(llama_act);

typedef struct {
    RF(lm_io) io;
    RF(llama_act) *blk;
    int nblk;
    real *h, *tmp;          /* h = io.h; tmp [N, D] */
    real *q, *k, *v;        /* [N, nh·f], [N, nkv·f] projections before the split into heads;
                             * in the backward their gradients */
    real *cs;               /* RoPE table of the L positions */
    real *scr;              /* attention scratch, per thread */
    int nthreads;
    /* backward */
    real *dh, *dx, *dga, *dup, *dmm; /* dh = io.dh */
    real *dO, *dQh, *dKh, *dVh, *delta;
} RF(llama_ws);

/* the attention of L queries against Lk keys. Fewer queries than a tile (decode steps, short
 * prefills) get longer key tiles of the same area: fewer, larger products over the cache. */
static attn_dims attn_of(const ttt_dims *d, int64_t B, int64_t L, int64_t Lk, int64_t ldk, int nthreads) {
    int64_t tq = L < ATTN_TQ ? L : ATTN_TQ, tk = ATTN_TQ * ATTN_TK / tq / 16 * 16;
    attn_dims a = {B, d->nh, d->nkv, d->f, L, Lk, ldk, tq, tk, nthreads};
    return a;
}

/* cached: K and V go to the cache instead of per-block buffers */
static void layout(bump *bp, RF(llama_ws) *w, const ttt_dims *d, int64_t B, int64_t L, int train,
                   int cached, int nthreads) {
    int64_t N = B * L, D = d->D, I = d->I, QD = d->nh * d->f, KD = d->nkv * d->f;
    for (int l = 0; l < w->nblk; l++) {
        RF(llama_act) *a = &w->blk[l];
        memset(a, 0, sizeof *a);
        if (train) a->h1 = take(bp, N * D);
        a->xa = take(bp, N * D);
        a->rs_a = take(bp, N);
        a->Qh = take(bp, N * QD);
        if (!cached) {
            a->Kh = take(bp, N * KD);
            a->Vh = take(bp, N * KD);
        }
        a->O = take(bp, N * QD);
        a->lse = take(bp, N * d->nh);
        if (train) a->h2 = take(bp, N * D);
        a->xf = take(bp, N * D);
        a->rs_f = take(bp, N);
        a->ga = take(bp, N * I);
        a->up = take(bp, N * I);
        a->mm = take(bp, N * I);
    }
    RF(lm_io_layout)(bp, &w->io, d, N, train);
    w->h = w->io.h;
    w->dh = w->io.dh;
    w->tmp = take(bp, N * D);
    w->q = take(bp, N * QD);
    w->k = take(bp, N * KD);
    w->v = take(bp, N * KD);
    w->cs = take(bp, L * d->f);
    w->nthreads = nthreads;
    attn_dims ad = attn_of(d, B, L, L, L * d->f, nthreads);
    w->scr = take(bp, attn_scratch_elems(&ad) * nthreads);
    if (train) {
        w->dx = take(bp, N * D);
        w->dga = take(bp, N * I);
        w->dup = take(bp, N * I);
        w->dmm = take(bp, N * I);
        w->dO = take(bp, N * QD);
        w->dQh = take(bp, N * QD);
        w->dKh = take(bp, N * KD);
        w->dVh = take(bp, N * KD);
        w->delta = take(bp, N * d->nh);
    }
}

/* the RoPE frequencies of the model (theta and rope_scaling) */
static rope_params rope_of(const ttt_model *m) {
    const ttt_rope_scaling *r = &m->cfg.rope_scaling;
    rope_params p = {m->dims.rope_theta, r->type, r->factor, r->low_freq_factor, r->high_freq_factor,
                     r->original_max_position_embeddings, m->cfg.max_position_embeddings};
    return p;
}

/* positions pos0 .. pos0 + L − 1 must lie below max_position_embeddings (the table of the
 * trained frequencies ends there), unless dynamic scaling extends them */
static ttt_status check_positions(const ttt_model *m, int64_t pos0, int64_t L, const char *what) {
    int64_t M = m->cfg.max_position_embeddings;
    if (m->cfg.rope_scaling.type == TTT_ROPE_DYNAMIC || pos0 + L <= M) return TTT_OK;
    return ttt_err(TTT_ERR_ARG,
                   "%s: positions %lld .. %lld go past the model's max_position_embeddings %lld (the "
                   "longest context it supports; only \"rope_scaling\" of type \"dynamic\" extends it)",
                   what, (long long)pos0, (long long)(pos0 + L - 1), (long long)M);
}

/* lay the workspace out for B × L tokens at positions pos0.. (RoPE table filled; dynamic
 * scaling: its base for a sequence of pos0 + L tokens) */
static ttt_status ws_prepare(ttt_model *m, RF(llama_ws) *w, RF(llama_act) *blks, int64_t B, int64_t L,
                             int train, int cached, int64_t pos0) {
    const ttt_dims *d = &m->dims;
    int nthreads = omp_get_max_threads();
    w->blk = blks;
    w->nblk = train ? (int)d->layers : 1;
    bump b = {NULL, 0};
    layout(&b, w, d, B, L, train, cached, nthreads);
    TRY(RF(lm_reserve)(m, b.off));
    b.base = (real *)m->ws.data;
    b.off = 0;
    layout(&b, w, d, B, L, train, cached, nthreads);
    rope_params rp = rope_of(m);
    RF(rope_half_table_scaled)(w->cs, pos0, L, d->f, &rp, pos0 + L);
    return TTT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* KV cache: per layer K then V, each [B, nkv, cap, f]; positions 0 .. c->pos − 1 are filled  */

static int64_t cache_block_elems(const ttt_model *m, int64_t B, int64_t cap) {
    return B * m->dims.nkv * cap * m->dims.f;
}

static real *cache_k(ttt_cache *c, int64_t l) {
    return (real *)c->buf.data + 2 * l * cache_block_elems(c->m, c->B, c->cap);
}

static real *cache_v(ttt_cache *c, int64_t l) {
    return cache_k(c, l) + cache_block_elems(c->m, c->B, c->cap);
}

/* make room for `need` positions: capacity doubles, the filled positions are copied over */
static ttt_status cache_grow(ttt_cache *c, int64_t need) {
    if (need <= c->cap && c->buf.data) return TTT_OK;
    const ttt_dims *d = &c->m->dims;
    int64_t cap = c->cap > 0 ? c->cap : CACHE_MIN_CAP;
    while (cap < need) cap *= 2;
    size_t bytes;
    TRY(ttt_size_mul(&bytes, 2 * d->layers * cache_block_elems(c->m, c->B, 1), cap, sizeof(real),
                     "key/value cache"));
    ttt_buf nb = {NULL, 0};
    TRY(ttt_buf_reserve(&nb, bytes, "key/value cache"));
    /* each (layer, K|V, b, kv head) run of rows moves from stride c->cap to stride cap */
    int64_t runs = 2 * d->layers * c->B * d->nkv, f = d->f;
    if (c->buf.data && c->pos > 0)
#pragma omp parallel for schedule(static) if (TTT_PAR(runs * c->pos * f))
        for (int64_t i = 0; i < runs; i++)
            memcpy((real *)nb.data + i * cap * f, (const real *)c->buf.data + i * c->cap * f,
                   sizeof(real) * (size_t)(c->pos * f));
    ttt_buf_release(&c->buf);
    c->buf = nb;
    c->cap = cap;
    c->bytes = bytes;
    return TTT_OK;
}

static void cache_reset(ttt_cache *c) { c->pos = 0; }

static ttt_status cache_init(ttt_cache *c) {
    c->cap = 0;
    c->pos = 0;
    return cache_grow(c, CACHE_MIN_CAP);
}

/* ------------------------------------------------------------------------------------------ */
/* blocks                                                                                      */

/* x = RMSNorm(h; input_layernorm);  q = x Wqᵀ + bq, k = x Wkᵀ + bk, v = x Wvᵀ + bv (N rows) */
static void qkv_products(const ttt_model *m, const RF(llama_w) *w, RF(llama_act) *a, RF(llama_ws) *ws, int64_t N) {
    const ttt_dims *d = &m->dims;
    int64_t D = d->D, QD = d->nh * d->f, KD = d->nkv * d->f;
    RF(rmsnorm_fwd)(a->xa, a->rs_a, ws->h, w->in_norm, N, D, (real)d->rms_eps);
    RF(mm_nt)(ws->q, a->xa, w->q, N, QD, D, 0);
    RF(mm_nt)(ws->k, a->xa, w->k, N, KD, D, 0);
    RF(mm_nt)(ws->v, a->xa, w->v, N, KD, D, 0);
    RF(bias_add)(ws->q, w->bq, N, QD);
    RF(bias_add)(ws->k, w->bk, N, KD);
    RF(bias_add)(ws->v, w->bv, N, KD);
}

/* h += O Woᵀ + bo;  h += down(silu(x Wgᵀ + bg) ⊙ (x Wuᵀ + bu)) + bd,
 * x = RMSNorm(h; post_attention_layernorm) (N rows; train: keep the residual h2) */
static void out_and_mlp(const ttt_model *m, const RF(llama_w) *w, RF(llama_act) *a, RF(llama_ws) *ws, int64_t N,
                        int train) {
    const ttt_dims *d = &m->dims;
    int64_t D = d->D, I = d->I, QD = d->nh * d->f;
    real *h = ws->h, *tmp = ws->tmp;
    RF(mm_nt)(tmp, a->O, w->o, N, D, QD, 0);
    RF(bias_add)(tmp, w->bo, N, D);
    RF(vec_add)(h, tmp, N * D);
    if (train) memcpy(a->h2, h, sizeof(real) * (size_t)(N * D));
    RF(rmsnorm_fwd)(a->xf, a->rs_f, h, w->post_norm, N, D, (real)d->rms_eps);
    RF(mm_nt)(a->ga, a->xf, w->mg, N, I, D, 0);
    RF(mm_nt)(a->up, a->xf, w->mu, N, I, D, 0);
    RF(bias_add)(a->ga, w->bg, N, I);
    RF(bias_add)(a->up, w->bu, N, I);
    RF(swiglu_fwd)(a->mm, a->ga, a->up, N * I);
    RF(mm_nt)(tmp, a->mm, w->md, N, D, I, 0);
    RF(bias_add)(tmp, w->bd, N, D);
    RF(vec_add)(h, tmp, N * D);
}

/* h += Attn(RMSNorm_in(h)); h += MLP(RMSNorm_post(h)). With a cache (Kc, Vc: this layer's
 * K and V blocks, ldk = cap·f) the new keys and values are written at positions pos0.. and
 * the queries attend to all pos0 + L of them. */
static void block_forward(const ttt_model *m, const RF(llama_w) *w, RF(llama_act) *a, RF(llama_ws) *ws,
                          int64_t B, int64_t L, int train, int64_t pos0, real *Kc, real *Vc, int64_t ldk) {
    const ttt_dims *d = &m->dims;
    int64_t N = B * L, D = d->D, f = d->f;
    if (train) memcpy(a->h1, ws->h, sizeof(real) * (size_t)(N * D));
    qkv_products(m, w, a, ws, N);
    /* per head: Q = RoPE(q), K = RoPE(k), V = v (into the cache after its pos0 filled rows) */
    real *Kb = Kc ? Kc : a->Kh, *Vb = Vc ? Vc : a->Vh;
    int64_t ld = Kc ? ldk : L * f, p0 = Kc ? pos0 : 0;
    RF(rope_half_split)(a->Qh, L * f, ws->q, ws->cs, B, L, d->nh, f);
    RF(rope_half_split)(Kb + p0 * f, ld, ws->k, ws->cs, B, L, d->nkv, f);
    RF(rope_half_split)(Vb + p0 * f, ld, ws->v, NULL, B, L, d->nkv, f);
    /* O = softmax(Q Kᵀ / sqrt(f), causal) V */
    attn_dims ad = attn_of(d, B, L, p0 + L, ld, ws->nthreads);
    RF(attn_forward)(a->O, a->lse, a->Qh, Kb, Vb, &ad, ws->scr);
    out_and_mlp(m, w, a, ws, N, train);
}

/* dh: gradient w.r.t. the block's output residual in, w.r.t. its input residual out */
static void block_backward(const ttt_model *m, const RF(llama_w) *w, const RF(llama_w) *gw,
                           const RF(llama_act) *a, RF(llama_ws) *ws, int64_t B, int64_t L) {
    const ttt_dims *d = &m->dims;
    int64_t N = B * L, D = d->D, I = d->I, f = d->f, QD = d->nh * f, KD = d->nkv * f;
    real *dh = ws->dh, *dx = ws->dx;
    /* MLP: h += mm Wdᵀ + bd, mm = silu(ga) ⊙ up, ga = xf Wgᵀ + bg, up = xf Wuᵀ + bu;
     * d bias = Σ over the rows of the gradient of its output */
    RF(mm_nn)(ws->dmm, dh, w->md, N, I, D, 0);
    RF(mm_tn)(gw->md, dh, a->mm, D, I, N, 1);
    RF(bias_grad)(gw->bd, dh, N, D);
    RF(swiglu_bwd)(ws->dga, ws->dup, ws->dmm, a->ga, a->up, N * I);
    RF(bias_grad)(gw->bg, ws->dga, N, I);
    RF(bias_grad)(gw->bu, ws->dup, N, I);
    RF(mm_nn)(dx, ws->dga, w->mg, N, D, I, 0);
    RF(mm_nn)(dx, ws->dup, w->mu, N, D, I, 1);
    RF(mm_tn)(gw->mg, ws->dga, a->xf, I, D, N, 1);
    RF(mm_tn)(gw->mu, ws->dup, a->xf, I, D, N, 1);
    RF(rmsnorm_bwd)(dh, gw->post_norm, dx, a->h2, w->post_norm, a->rs_f, N, D);
    /* attention: h += O Woᵀ + bo */
    RF(mm_nn)(ws->dO, dh, w->o, N, QD, D, 0);
    RF(mm_tn)(gw->o, dh, a->O, D, QD, N, 1);
    RF(bias_grad)(gw->bo, dh, N, D);
    attn_dims ad = attn_of(d, B, L, L, L * f, ws->nthreads);
    RF(attn_backward)(ws->dQh, ws->dKh, ws->dVh, ws->delta, ws->dO, a->O, a->lse, a->Qh, a->Kh, a->Vh,
                      &ad, ws->scr);
    /* back through RoPE and the split into heads: dq, dk, dv [N, ·] (in ws->q, k, v) */
    RF(rope_half_merge)(ws->q, ws->dQh, L * f, ws->cs, B, L, d->nh, f);
    RF(rope_half_merge)(ws->k, ws->dKh, L * f, ws->cs, B, L, d->nkv, f);
    RF(rope_half_merge)(ws->v, ws->dVh, L * f, NULL, B, L, d->nkv, f);
    /* q = x Wqᵀ + bq, k = x Wkᵀ + bk, v = x Wvᵀ + bv */
    RF(bias_grad)(gw->bq, ws->q, N, QD);
    RF(bias_grad)(gw->bk, ws->k, N, KD);
    RF(bias_grad)(gw->bv, ws->v, N, KD);
    RF(mm_nn)(dx, ws->q, w->q, N, D, QD, 0);
    RF(mm_nn)(dx, ws->k, w->k, N, D, KD, 1);
    RF(mm_nn)(dx, ws->v, w->v, N, D, KD, 1);
    RF(mm_tn)(gw->q, ws->q, a->xa, QD, D, N, 1);
    RF(mm_tn)(gw->k, ws->k, a->xa, KD, D, N, 1);
    RF(mm_tn)(gw->v, ws->v, a->xa, KD, D, N, 1);
    RF(rmsnorm_bwd)(dh, gw->in_norm, dx, a->h1, w->in_norm, a->rs_a, N, D);
}

/* ------------------------------------------------------------------------------------------ */

static ttt_status forward(ttt_model *m, const int32_t *ids, const int32_t *targets, int64_t B,
                          int64_t L, int per_seq, int backward, double scale, float *logits,
                          double *loss) {
    const ttt_dims *d = &m->dims;
    int64_t N = B * L;
    TRY(check_positions(m, 0, L, backward ? "forward_backward" : "forward"));
    RF(llama_act) blks_small[1];
    RF(llama_act) *blks = blks_small;
    if (backward) {
        blks = ttt_malloc(sizeof(RF(llama_act)) * (size_t)d->layers, "activation table");
        if (!blks) return TTT_ERR_NOMEM;
    }
    RF(llama_ws) ws;
    ttt_status s = ws_prepare(m, &ws, blks, B, L, backward, 0, 0);
    if (s != TTT_OK) {
        if (blks != blks_small) ttt_free(blks);
        return s;
    }
    real *P = (real *)m->w;
    RF(lm_embed)(m, &ws.io, ids, N);
    RF(lm_save_hidden)(m, ws.h, 0, N);
    for (int64_t l = 0; l < d->layers; l++) {
        RF(llama_w) w;
        bind(&w, P, BLK(m, l));
        block_forward(m, &w, &ws.blk[backward ? l : 0], &ws, B, L, backward, 0, NULL, NULL, 0);
        RF(lm_save_hidden)(m, ws.h, l + 1, N);
    }
    RF(lm_head)(m, &ws.io, N, logits);
    double lv = RF(lm_loss)(m, &ws.io, ids, targets, B, L, per_seq, backward, scale);
    if (loss) *loss = lv;
    if (backward) {
        real *G = (real *)m->g;
        RF(lm_head_backward)(m, &ws.io, ws.dx, N);
        for (int64_t l = d->layers - 1; l >= 0; l--) {
            RF(llama_w) w, gw;
            bind(&w, P, BLK(m, l));
            bind(&gw, G, BLK(m, l));
            block_backward(m, &w, &gw, &ws.blk[l], &ws, B, L);
        }
        RF(lm_embed_backward)(m, &ws.io, ids, N);
        ttt_free(blks);
    }
    return TTT_OK;
}

/* Tokens continue the sequences of the cache: ids [B, L] at positions c->pos ..; logits
 * [B, L, V] (nullable). */
static ttt_status prefill(ttt_model *m, ttt_cache *c, const int32_t *ids, int64_t L, float *logits) {
    const ttt_dims *d = &m->dims;
    int64_t B = c->B, N = B * L;
    TRY(check_positions(m, c->pos, L, L == 1 ? "decode" : "prefill"));
    /* room for one more position than the prompt: a decode step right after a prefill of 2^k
     * tokens would otherwise double the cache (allocate, first-touch and copy it) on the
     * first generated token */
    TRY(cache_grow(c, c->pos + L + 1));
    RF(llama_act) blk;
    RF(llama_ws) ws;
    TRY(ws_prepare(m, &ws, &blk, B, L, 0, 1, c->pos));
    real *P = (real *)m->w;
    RF(lm_embed)(m, &ws.io, ids, N);
    for (int64_t l = 0; l < d->layers; l++) {
        RF(llama_w) w;
        bind(&w, P, BLK(m, l));
        block_forward(m, &w, &blk, &ws, B, L, 0, c->pos, cache_k(c, l), cache_v(c, l), c->cap * d->f);
    }
    if (logits) RF(lm_head)(m, &ws.io, N, logits);
    c->pos += L;
    return TTT_OK;
}

/* One decode step of n single-sequence caches, each at its own position p_i (the server's
 * running batch): the projections, the MLP and the head are products of n rows (one pass over
 * each weight matrix for the whole batch); RoPE at p_i, the cache write and the attention of
 * the one query against its own p_i + 1 keys run per sequence, as a decode step alone runs them:
 *   q_i, k_i, v_i = x_i Wqᵀ, x_i Wkᵀ, x_i Wvᵀ;  K_i[p_i] = RoPE(k_i, p_i), V_i[p_i] = v_i;
 *   o_i = softmax(RoPE(q_i, p_i) K_i[0..p_i]ᵀ / sqrt(f)) V_i[0..p_i]. */
static void block_decode_multi(const ttt_model *m, const RF(llama_w) *w, RF(llama_act) *a, RF(llama_ws) *ws,
                               ttt_cache **cs, int64_t n, int64_t l, const real *rope) {
    const ttt_dims *d = &m->dims;
    int64_t f = d->f, QD = d->nh * f, KD = d->nkv * f;
    qkv_products(m, w, a, ws, n);
    for (int64_t i = 0; i < n; i++) {
        ttt_cache *c = cs[i];
        int64_t p = c->pos, ld = c->cap * f;
        real *Kc = cache_k(c, l), *Vc = cache_v(c, l);
        RF(rope_half_split)(a->Qh + i * QD, f, ws->q + i * QD, rope + i * f, 1, 1, d->nh, f);
        RF(rope_half_split)(Kc + p * f, ld, ws->k + i * KD, rope + i * f, 1, 1, d->nkv, f);
        RF(rope_half_split)(Vc + p * f, ld, ws->v + i * KD, NULL, 1, 1, d->nkv, f);
        attn_dims ad = attn_of(d, 1, 1, p + 1, ld, ws->nthreads);
        RF(attn_forward)(a->O + i * QD, a->lse + i * d->nh, a->Qh + i * QD, Kc, Vc, &ad, ws->scr);
    }
    out_and_mlp(m, w, a, ws, n, 0);
}

/* ids[i] continues caches[i] (each holding one sequence); logits [n, V] nullable */
static ttt_status decode_multi(ttt_model *m, ttt_cache **caches, int64_t n, const int32_t *ids, float *logits) {
    const ttt_dims *d = &m->dims;
    for (int64_t i = 0; i < n; i++) {
        TRY(check_positions(m, caches[i]->pos, 1, "decode"));
        TRY(cache_grow(caches[i], caches[i]->pos + 2));
    }
    size_t bytes;
    TRY(ttt_size_mul(&bytes, n, d->f, sizeof(real), "decode batch"));
    real *rope = malloc(bytes);
    if (!rope) return ttt_err(TTT_ERR_NOMEM, "out of memory (RoPE table of %lld sequences)", (long long)n);
    RF(llama_act) blk;
    RF(llama_ws) ws;
    ttt_status s = ws_prepare(m, &ws, &blk, n, 1, 0, 1, 0);
    if (s != TTT_OK) {
        free(rope);
        return s;
    }
    /* row i: position p_i of a sequence of p_i + 1 tokens (what dynamic scaling sees alone) */
    rope_params rp = rope_of(m);
    for (int64_t i = 0; i < n; i++)
        RF(rope_half_table_scaled)(rope + i * d->f, caches[i]->pos, 1, d->f, &rp, caches[i]->pos + 1);
    real *P = (real *)m->w;
    RF(lm_embed)(m, &ws.io, ids, n);
    for (int64_t l = 0; l < d->layers; l++) {
        RF(llama_w) w;
        bind(&w, P, BLK(m, l));
        block_decode_multi(m, &w, &blk, &ws, caches, n, l, rope);
    }
    if (logits) RF(lm_head)(m, &ws.io, n, logits);
    for (int64_t i = 0; i < n; i++) caches[i]->pos++;
    free(rope);
    return TTT_OK;
}

/* the state as named tensors (model.h): per layer the keys (after RoPE) and values of the
 * filled positions, [B, nkv, pos, f] each (the cache holds cap ≥ pos rows per head) */
static int64_t state_tensors(const ttt_model *m, ttt_cache *c, int64_t B, int64_t pos, lm_state_tensor *t,
                             int64_t max) {
    const ttt_dims *d = &m->dims;
    int64_t n = 0, f = d->f;
    char nm[64];
    for (int64_t l = 0; l < d->layers; l++)
        for (int kv = 0; kv < 2; kv++) {
            snprintf(nm, sizeof nm, "layers.%lld.attn.%s", (long long)l, kv ? "v" : "k");
            lm_state_add(t, &n, max, nm, c ? (kv ? cache_v(c, l) : cache_k(c, l)) : NULL, pos * f,
                         c ? c->cap * f : pos * f, 4, B, d->nkv, pos, f);
        }
    return n;
}

/* room for pos positions and the next token (as prefill makes it) */
static ttt_status state_reserve(ttt_cache *c, int64_t pos) {
    TRY(check_positions(c->m, 0, pos, "load state"));
    return cache_grow(c, pos + 1);
}

const lm_arch_ops RF(lm_llama_ops) = {forward,       cache_init,    cache_reset, prefill,
                                      state_tensors, state_reserve, decode_multi};

/* ------------------------------------------------------------------------------------------ */
/* the family (model/family.h): config.json of Hugging Face's LlamaConfig, presets, flags,      */
/* parameter table, bench cost, info                                                           */

#if TTT_ONCE
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/checked.h"
#include "model/family.h"

extern const lm_arch_ops lm_llama_ops_f64;

/* the per-head width */
static int64_t head_dim_of(const ttt_config *c) {
    return c->head_dim > 0 ? c->head_dim : c->num_attention_heads > 0 ? c->hidden_size / c->num_attention_heads : 0;
}

static const char *const rope_names[] = {"default", "linear", "dynamic", "llama3"};

/* "rope_scaling": null, or {"rope_type" (or the older "type"): "linear" | "dynamic" | "llama3",
 * "factor": x, llama3 also "low_freq_factor", "high_freq_factor",
 * "original_max_position_embeddings"} (Hugging Face's keys; "default" is no scaling). Numbers
 * are checked for their ranges by llama_validate. */
static ttt_status parse_rope_scaling(const cfg_json *c, ttt_config *cfg) {
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(c->root, "rope_scaling");
    cfg->rope_scaling.type = TTT_ROPE_NONE;
    if (!rs || cJSON_IsNull(rs)) return TTT_OK;
    if (!cJSON_IsObject(rs))
        return ttt_err(TTT_ERR_CONFIG, "%s: \"rope_scaling\" must be null or an object with \"rope_type\" "
                       "(\"linear\", \"dynamic\" or \"llama3\") and \"factor\"", c->path);
    const cJSON *t1 = cJSON_GetObjectItemCaseSensitive(rs, "rope_type"), *t2 = cJSON_GetObjectItemCaseSensitive(rs, "type");
    const cJSON *t = t1 ? t1 : t2;
    if (!t)
        return ttt_err(TTT_ERR_CONFIG, "%s: \"rope_scaling\" has no \"rope_type\" (or \"type\"); expected "
                       "\"linear\", \"dynamic\" or \"llama3\"", c->path);
    if (!cJSON_IsString(t) || (t1 && t2 && (!cJSON_IsString(t2) || strcmp(t1->valuestring, t2->valuestring) != 0)))
        return ttt_err(TTT_ERR_CONFIG, "%s: \"rope_scaling\": \"%s\" must be a string%s", c->path, t1 ? "rope_type" : "type",
                       t1 && t2 ? " (and \"type\", when both are given, the same one)" : "");
    int type = -1;
    for (int i = 0; i < 4; i++)
        if (strcmp(t->valuestring, rope_names[i]) == 0) type = i;
    if (type < 0)
        return ttt_err(TTT_ERR_CONFIG, "%s: \"rope_scaling\": rope type \"%.64s\" is not supported (expected "
                       "\"linear\", \"dynamic\", \"llama3\" or \"default\")", c->path, t->valuestring);
    cfg->rope_scaling.type = (ttt_rope_type)type;
    /* the keys each type reads; any other key is refused (it would be ignored: a different model) */
    static const char *const keys[4][6] = {
        {"rope_type", "type", NULL},
        {"rope_type", "type", "factor", NULL},
        {"rope_type", "type", "factor", NULL},
        {"rope_type", "type", "factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"},
    };
    for (const cJSON *it = rs->child; it; it = it->next) {
        int known = 0;
        for (int k = 0; k < 6 && keys[type][k]; k++) known |= strcmp(it->string, keys[type][k]) == 0;
        if (!known)
            return ttt_err(TTT_ERR_CONFIG, "%s: \"rope_scaling\" of type \"%s\" has the key \"%.64s\", which it does "
                           "not use (expected only %s)", c->path, rope_names[type], it->string,
                           type == 0 ? "\"rope_type\"" : type < 3 ? "\"rope_type\" and \"factor\"" :
                           "\"rope_type\", \"factor\", \"low_freq_factor\", \"high_freq_factor\" and "
                           "\"original_max_position_embeddings\"");
    }
    if (type == TTT_ROPE_NONE) return TTT_OK;
    cfg_json sub = {c->path, rs};
    char name[64];
    const char *need[4] = {"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"};
    for (int k = 0; k < (type == TTT_ROPE_LLAMA3 ? 4 : 1); k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(rs, need[k]);
        snprintf(name, sizeof name, "rope_scaling.%s", need[k]);
        if (!v)
            return ttt_err(TTT_ERR_CONFIG, "%s: \"rope_scaling\" of type \"%s\" needs \"%s\"", c->path,
                           rope_names[type], need[k]);
        if (k < 3 && (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)))
            return ttt_err(TTT_ERR_CONFIG, "%s: \"%s\" must be a finite number", c->path, name);
    }
    TRY(cfg_num(&sub, "factor", 1, &cfg->rope_scaling.factor));
    if (type == TTT_ROPE_LLAMA3) {
        TRY(cfg_num(&sub, "low_freq_factor", 1, &cfg->rope_scaling.low_freq_factor));
        TRY(cfg_num(&sub, "high_freq_factor", 1, &cfg->rope_scaling.high_freq_factor));
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(rs, "original_max_position_embeddings");
        if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || fabs(v->valuedouble) > 9007199254740992.0)
            return ttt_err(TTT_ERR_CONFIG, "%s: \"rope_scaling.original_max_position_embeddings\" must be an integer",
                           c->path);
        cfg->rope_scaling.original_max_position_embeddings = (int64_t)v->valuedouble;
    }
    return TTT_OK;
}

static ttt_status llama_parse(const cfg_json *c, ttt_config *cfg) {
    cfg_defaults(cfg);
    cfg->tie_word_embeddings = 0; /* LlamaConfig's default */
    TRY(cfg_llama_style(c, cfg, ""));
    cfg->num_key_value_heads = cfg->num_attention_heads;
    const cJSON *kv = cJSON_GetObjectItemCaseSensitive(c->root, "num_key_value_heads");
    if (kv && !cJSON_IsNull(kv)) TRY(cfg_int(c, "num_key_value_heads", 0, &cfg->num_key_value_heads));
    /* head_dim (null or absent: hidden_size / num_attention_heads, as LlamaConfig) */
    const cJSON *hd = cJSON_GetObjectItemCaseSensitive(c->root, "head_dim");
    if (hd && !cJSON_IsNull(hd)) {
        TRY(cfg_int(c, "head_dim", 0, &cfg->head_dim));
        if (cfg->head_dim <= 0)
            return ttt_err(TTT_ERR_CONFIG, "%s: \"head_dim\" is %lld, expected a positive even size", c->path,
                           (long long)cfg->head_dim);
    }
    TRY(parse_rope_scaling(c, cfg));
    TRY(cfg_bool(c, "attention_bias", &cfg->attention_bias));
    TRY(cfg_bool(c, "mlp_bias", &cfg->mlp_bias));
    return TTT_OK;
}

static ttt_status llama_validate(const ttt_config *cfg, const char *o) {
    if (cfg->head_dim == 0) {
        TRY(cfg_check_heads(cfg, o));
    } else { /* an explicit head_dim: hidden_size need not be heads × head_dim */
        TRY(cfg_check_size(o, "intermediate_size", cfg->intermediate_size));
        TRY(cfg_check_size(o, "num_attention_heads", cfg->num_attention_heads));
        TRY(cfg_check_size(o, "head_dim", cfg->head_dim));
        if (cfg->head_dim % 2 != 0)
            return ttt_err(TTT_ERR_CONFIG, "%s: \"head_dim\" is %lld, expected an even size (RoPE rotates pairs)", o,
                           (long long)cfg->head_dim);
        int64_t qd;
        if (!ttt_i64_mul_ok(cfg->num_attention_heads, cfg->head_dim, &qd) || qd > ((int64_t)1 << 31))
            return ttt_err(TTT_ERR_CONFIG, "%s: num_attention_heads × head_dim = %lld × %lld is too large "
                           "(at most 2^31)", o, (long long)cfg->num_attention_heads, (long long)cfg->head_dim);
        TRY(cfg_check_real(o, "rope_theta", cfg->rope_theta, 0, 0.0, 1e12));
    }
    TRY(cfg_check_size(o, "num_key_value_heads", cfg->num_key_value_heads));
    if (cfg->num_attention_heads % cfg->num_key_value_heads != 0)
        return ttt_err(TTT_ERR_CONFIG,
                       "%s: \"num_attention_heads\" %lld is not a multiple of \"num_key_value_heads\" %lld",
                       o, (long long)cfg->num_attention_heads, (long long)cfg->num_key_value_heads);
    TRY(cfg_check_size(o, "max_position_embeddings", cfg->max_position_embeddings));
    const ttt_rope_scaling *r = &cfg->rope_scaling;
    if (r->type == TTT_ROPE_NONE) return TTT_OK;
    if ((unsigned)r->type > TTT_ROPE_LLAMA3)
        return ttt_err(TTT_ERR_CONFIG, "%s: unknown rope_scaling type %d", o, (int)r->type);
    /* factor >= 1 (Hugging Face's rule: scaling stretches the context, never shrinks it) */
    TRY(cfg_check_real(o, "rope_scaling.factor", r->factor, 1, 1.0, 1e6));
    if (r->type == TTT_ROPE_DYNAMIC && head_dim_of(cfg) <= 2)
        return ttt_err(TTT_ERR_CONFIG, "%s: \"rope_scaling\" of type \"dynamic\" needs a head dim > 2 (the base "
                       "grows with the power head_dim / (head_dim − 2)), not %lld", o, (long long)head_dim_of(cfg));
    if (r->type == TTT_ROPE_LLAMA3) {
        TRY(cfg_check_real(o, "rope_scaling.low_freq_factor", r->low_freq_factor, 0, 0.0, 1e6));
        TRY(cfg_check_real(o, "rope_scaling.high_freq_factor", r->high_freq_factor, 0, 0.0, 1e6));
        if (!(r->high_freq_factor > r->low_freq_factor))
            return ttt_err(TTT_ERR_CONFIG, "%s: \"rope_scaling.high_freq_factor\" %g must be larger than "
                           "\"rope_scaling.low_freq_factor\" %g", o, r->high_freq_factor, r->low_freq_factor);
        TRY(cfg_check_size(o, "rope_scaling.original_max_position_embeddings", r->original_max_position_embeddings));
    }
    return TTT_OK;
}

static void llama_write(cJSON *r, const ttt_config *cfg) {
    cJSON *arch = cJSON_AddArrayToObject(r, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString("LlamaForCausalLM"));
    cJSON_AddBoolToObject(r, "attention_bias", cfg->attention_bias);
    cJSON_AddNumberToObject(r, "attention_dropout", 0.0);
    cfg_write_id(r, "bos_token_id", cfg->bos_token_id);
    cfg_write_id(r, "eos_token_id", cfg->eos_token_id);
    cJSON_AddNumberToObject(r, "head_dim", (double)head_dim_of(cfg));
    cJSON_AddStringToObject(r, "hidden_act", "silu");
    cJSON_AddNumberToObject(r, "hidden_size", (double)cfg->hidden_size);
    cJSON_AddNumberToObject(r, "initializer_range", cfg->initializer_range);
    cJSON_AddNumberToObject(r, "intermediate_size", (double)cfg->intermediate_size);
    cJSON_AddNumberToObject(r, "max_position_embeddings", (double)cfg->max_position_embeddings);
    cJSON_AddBoolToObject(r, "mlp_bias", cfg->mlp_bias);
    cJSON_AddStringToObject(r, "model_type", "llama");
    cJSON_AddNumberToObject(r, "num_attention_heads", (double)cfg->num_attention_heads);
    cJSON_AddNumberToObject(r, "num_hidden_layers", (double)cfg->num_hidden_layers);
    cJSON_AddNumberToObject(r, "num_key_value_heads", (double)cfg->num_key_value_heads);
    cfg_write_id(r, "pad_token_id", cfg->pad_token_id);
    cJSON_AddNumberToObject(r, "pretraining_tp", 1);
    cJSON_AddNumberToObject(r, "rms_norm_eps", cfg->rms_norm_eps);
    const ttt_rope_scaling *rs = &cfg->rope_scaling;
    if (rs->type == TTT_ROPE_NONE) {
        cJSON_AddNullToObject(r, "rope_scaling");
    } else {
        cJSON *o = cJSON_AddObjectToObject(r, "rope_scaling");
        cJSON_AddNumberToObject(o, "factor", rs->factor);
        if (rs->type == TTT_ROPE_LLAMA3) {
            cJSON_AddNumberToObject(o, "high_freq_factor", rs->high_freq_factor);
            cJSON_AddNumberToObject(o, "low_freq_factor", rs->low_freq_factor);
            cJSON_AddNumberToObject(o, "original_max_position_embeddings", (double)rs->original_max_position_embeddings);
        }
        cJSON_AddStringToObject(o, "rope_type", rope_names[rs->type]);
    }
    cJSON_AddNumberToObject(r, "rope_theta", cfg->rope_theta);
    cJSON_AddBoolToObject(r, "tie_word_embeddings", cfg->tie_word_embeddings);
    cJSON_AddStringToObject(r, "torch_dtype", "float32");
    cJSON_AddBoolToObject(r, "use_cache", 1);
    cJSON_AddNumberToObject(r, "vocab_size", (double)cfg->vocab_size);
}

/* dynamic RoPE scaling is made for contexts past max_position_embeddings: no limit then */
static int64_t llama_max_context(const ttt_config *cfg) {
    return cfg->rope_scaling.type == TTT_ROPE_DYNAMIC ? 0 : cfg->max_position_embeddings;
}

/* the paper's Transformer baseline sizes, and tiny / small ones for tests */
static const struct {
    const char *name, *desc;
    int64_t layers, width, heads, inter, vocab, kv; /* kv 0: = heads */
} presets[] = {
    {"llama-125m", "Transformer++ (Llama) 125M: 12 x 768, 12 heads, SwiGLU 2048, vocab 32000", 12, 768, 12, 2048, 32000, 0},
    {"llama-350m", "Transformer++ (Llama) 350M: 24 x 1024, 16 heads, SwiGLU 2736", 24, 1024, 16, 2736, 32000, 0},
    {"llama-760m", "Transformer++ (Llama) 760M: 24 x 1536, 16 heads, SwiGLU 4096", 24, 1536, 16, 4096, 32000, 0},
    {"llama-1.3b", "Transformer++ (Llama) 1.3B: 24 x 2048, 32 heads, SwiGLU 5504", 24, 2048, 32, 5504, 32000, 0},
    {"llama-tiny", "tiny Llama for tests: 2 x 64, 4 heads, 2 KV heads, SwiGLU 176, vocab 97", 2, 64, 4, 176, 97, 2},
    {"llama-small", "small Transformer (Llama): 4 x 256, 4 heads, SwiGLU 688, vocab 32000", 4, 256, 4, 688, 32000, 0},
};

static const char *llama_preset(int i, const char **desc, ttt_config *out) {
    if (i < 0 || i >= (int)(sizeof presets / sizeof presets[0])) return NULL;
    if (desc) *desc = presets[i].desc;
    if (out) {
        cfg_defaults(out);
        out->num_hidden_layers = presets[i].layers;
        out->hidden_size = presets[i].width;
        out->num_attention_heads = presets[i].heads;
        out->intermediate_size = presets[i].inter;
        out->vocab_size = presets[i].vocab;
        out->num_key_value_heads = presets[i].kv ? presets[i].kv : presets[i].heads;
        out->tie_word_embeddings = 1; /* the paper's baseline ties the embeddings */
    }
    return presets[i].name;
}

#define F_(flag, kind, field) {flag, kind, offsetof(ttt_config, field)}
static const ttt_family_flag llama_flags[] = {
    F_("heads", TTT_FLAG_INT, num_attention_heads),
    F_("intermediate", TTT_FLAG_INT, intermediate_size),
    F_("max-position", TTT_FLAG_INT, max_position_embeddings),
    F_("kv-heads", TTT_FLAG_INT, num_key_value_heads),
    F_("rope-theta", TTT_FLAG_REAL, rope_theta),
    F_("head-dim", TTT_FLAG_INT, head_dim),
    F_("attention-bias", TTT_FLAG_TRUE, attention_bias),
    F_("mlp-bias", TTT_FLAG_TRUE, mlp_bias),
    {NULL, TTT_FLAG_INT, 0},
};
#undef F_

/* a Transformer given another head count keeps full multi-head attention unless --kv-heads
 * says otherwise */
static void llama_flags_done(ttt_config *cfg, int (*given)(const void *, const char *), const void *ctx) {
    if (!given(ctx, "kv-heads") && cfg->num_attention_heads % cfg->num_key_value_heads != 0)
        cfg->num_key_value_heads = cfg->num_attention_heads;
}

static void llama_dims(ttt_dims *d, const ttt_config *c) {
    d->nh = c->num_attention_heads;
    d->f = d->F = head_dim_of(c);
    d->nkv = c->num_key_value_heads;
}

/* Hugging Face LlamaForCausalLM's tensors; every weight N(0, initializer_range²), norms 1,
 * biases 0 (nn.Linear's bias after LlamaPreTrainedModel._init_weights) */
static ttt_status llama_params(param_table *t, ttt_lm_offs *o, const ttt_dims *d, const ttt_config *cfg) {
    int ab = cfg->attention_bias, mb = cfg->mlp_bias;
    int64_t D = d->D, hd = d->f, I = d->I;
    llama_block_offs *blk = malloc(sizeof(llama_block_offs) * (size_t)d->layers);
    if (!blk) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    o->blocks = blk;
    o->embed = param_add(t, INIT_NORMAL, 2, SH(d->V, D), "model.embed_tokens.weight");
    for (int64_t l = 0; l < d->layers; l++) {
        llama_block_offs *b = &blk[l];
        long long L = (long long)l;
        b->q = param_add(t, INIT_NORMAL, 2, SH(d->nh * hd, D), "model.layers.%lld.self_attn.q_proj.weight", L);
        b->k = param_add(t, INIT_NORMAL, 2, SH(d->nkv * hd, D), "model.layers.%lld.self_attn.k_proj.weight", L);
        b->v = param_add(t, INIT_NORMAL, 2, SH(d->nkv * hd, D), "model.layers.%lld.self_attn.v_proj.weight", L);
        b->o = param_add(t, INIT_NORMAL, 2, SH(D, d->nh * hd), "model.layers.%lld.self_attn.o_proj.weight", L);
        b->mg = param_add(t, INIT_NORMAL, 2, SH(I, D), "model.layers.%lld.mlp.gate_proj.weight", L);
        b->mu = param_add(t, INIT_NORMAL, 2, SH(I, D), "model.layers.%lld.mlp.up_proj.weight", L);
        b->md = param_add(t, INIT_NORMAL, 2, SH(D, I), "model.layers.%lld.mlp.down_proj.weight", L);
        b->bq = ab ? param_add(t, INIT_ZERO, 1, SH(d->nh * hd), "model.layers.%lld.self_attn.q_proj.bias", L) : -1;
        b->bk = ab ? param_add(t, INIT_ZERO, 1, SH(d->nkv * hd), "model.layers.%lld.self_attn.k_proj.bias", L) : -1;
        b->bv = ab ? param_add(t, INIT_ZERO, 1, SH(d->nkv * hd), "model.layers.%lld.self_attn.v_proj.bias", L) : -1;
        b->bo = ab ? param_add(t, INIT_ZERO, 1, SH(D), "model.layers.%lld.self_attn.o_proj.bias", L) : -1;
        b->bg = mb ? param_add(t, INIT_ZERO, 1, SH(I), "model.layers.%lld.mlp.gate_proj.bias", L) : -1;
        b->bu = mb ? param_add(t, INIT_ZERO, 1, SH(I), "model.layers.%lld.mlp.up_proj.bias", L) : -1;
        b->bd = mb ? param_add(t, INIT_ZERO, 1, SH(D), "model.layers.%lld.mlp.down_proj.bias", L) : -1;
        b->in_norm = param_add(t, INIT_ONE, 1, SH(D), "model.layers.%lld.input_layernorm.weight", L);
        b->post_norm = param_add(t, INIT_ONE, 1, SH(D), "model.layers.%lld.post_attention_layernorm.weight", L);
    }
    o->norm = param_add(t, INIT_ONE, 1, SH(D), "model.norm.weight");
    o->head = d->tied ? o->embed : param_add(t, INIT_NORMAL, 2, SH(d->V, D), "lm_head.weight");
    return TTT_OK;
}

static double llama_block_flops(const ttt_config *c, double keys) {
    double D = (double)c->hidden_size, I = (double)c->intermediate_size;
    double hd = (double)head_dim_of(c), q = (double)c->num_attention_heads * hd;
    double kv = (double)c->num_key_value_heads * hd;
    double per = 2 * (D * q * 2 + 2 * D * kv) + 2 * 3 * D * I; /* q,o + k,v; SwiGLU */
    per += 2 * 2 * keys * q;                                  /* Q·Kᵀ and P·V */
    return (double)c->num_hidden_layers * per;
}

static void llama_describe(const ttt_config *c, FILE *fp) {
    fprintf(fp, "type:         Transformer (Llama architecture)\n");
    fprintf(fp, "layers:       %lld\nwidth:        %lld\nheads:        %lld (key/value heads %lld, head dim %lld)\n",
            (long long)c->num_hidden_layers, (long long)c->hidden_size, (long long)c->num_attention_heads,
            (long long)c->num_key_value_heads, (long long)head_dim_of(c));
    if (c->attention_bias || c->mlp_bias)
        fprintf(fp, "biases:       %s%s%s\n", c->attention_bias ? "attention" : "",
                c->attention_bias && c->mlp_bias ? ", " : "", c->mlp_bias ? "mlp" : "");
    const ttt_rope_scaling *r = &c->rope_scaling;
    if (r->type == TTT_ROPE_LLAMA3)
        fprintf(fp, "rope_scaling: llama3, factor %g, low/high freq factor %g/%g, original context %lld\n",
                r->factor, r->low_freq_factor, r->high_freq_factor, (long long)r->original_max_position_embeddings);
    else if (r->type != TTT_ROPE_NONE)
        fprintf(fp, "rope_scaling: %s, factor %g\n", rope_names[r->type], r->factor);
    fprintf(fp, "swiglu:       %lld\nvocab:        %lld\nrope_theta:   %g\nmax context:  %lld%s\n",
            (long long)c->intermediate_size, (long long)c->vocab_size, c->rope_theta,
            (long long)c->max_position_embeddings,
            r->type == TTT_ROPE_DYNAMIC ? " (trained; dynamic scaling goes past it)" : "");
}

static const ttt_family_bench llama_bench[] = {
    {"llama", {"llama-125m", "llama-1.3b", "llama-tiny"}},
    {NULL, {NULL, NULL, NULL}},
};

const ttt_family ttt_family_llama = {
    .model_type = "llama",
    .title = "Transformer (llama)",
    .parse = llama_parse,
    .validate = llama_validate,
    .write = llama_write,
    .max_context = llama_max_context,
    .preset = llama_preset,
    .flags = llama_flags,
    .flags_help = "  --heads N --intermediate N --max-position N --kv-heads N --rope-theta X\n"
                  "  --head-dim N (default hidden / heads) --attention-bias --mlp-bias\n",
    .flags_done = llama_flags_done,
    .dims = llama_dims,
    .params = llama_params,
    .ops = {&lm_llama_ops_f32, &lm_llama_ops_f64},
    .bench = llama_bench,
    .block_flops = llama_block_flops,
    .describe = llama_describe,
};
#endif
