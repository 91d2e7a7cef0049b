/* lm_ttt.c: the TTT language model (design.md 3.1), generic over `real`:
 *   h0 = Embed(ids);  per block:  h += DWConv(RMSNorm_conv(h))   (pre_conv)
 *                                 h += TTTLayer(RMSNorm_seq(h))
 *                                 h += SwiGLU(RMSNorm_ffn(h))
 *   logits = RMSNorm_final(h) · Headᵀ;  loss = cross-entropy against the targets.
 * Full-sequence forward (optionally keeping activations for the backward), the backward pass,
 * and the cached prefill / decode path. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "layers/ttt_layer.h"
#include "model/lm_common.h"
#include "ops/ops.h"

/* the family's own tables (m->priv, made by ttt_prepare below) */
typedef struct {
    float *rope_cs;     /* [b, f/2] cos then [b, f/2] sin, float32 as ttt.py computes them */
    double *stats_out;  /* when set, forward adds each layer's inner-loop diagnostics here */
} ttt_priv;

#define PRIV(m) ((ttt_priv *)(m)->priv)
#define BLK(m, l) (&((const ttt_block_offs *)(m)->offs.blocks)[l])

/* what one block keeps (training: one per layer; inference: one set shared by all layers) */
typedef struct {
    real *h_in, *xc, *rs_c;  /* pre-conv: residual in, RMSNorm output, 1/rms */
    real *h1, *xs, *rs_s;    /* TTT layer input residual, seq_norm output */
    RF(ttt_layer_act) t;
    real *h2, *xf, *rs_f;    /* ffn residual in, ffn_norm output */
    real *ga, *up, *mm;      /* [N, I] SwiGLU gate, up, silu(gate)·up */
} RF(block_act);

typedef struct {
    RF(lm_io) io;       /* residual stream, head, loss */
    RF(block_act) *blk; /* [layers] (training) or [1] */
    int nblk;
    real *h;            /* = io.h */
    real *tmp;          /* [N, D] */
    RF(ttt_layer_tmp) lt;
    /* backward */
    real *dh, *dx, *dga, *dup, *dmm; /* dh = io.dh */
} RF(lm_ws);

static void layout(bump *bp, RF(lm_ws) *w, const ttt_dims *d, int64_t B, int64_t L, int train,
                   int64_t group, int nthreads) {
    int64_t N = B * L, D = d->D, I = d->I, nh = d->nh;
    ttt_inner_dims id = {d->f, d->F, d->b, d->mlp};
    int64_t S = ttt_state_size(&id), M = ttt_mbc_layout_of(&id).total;
    int64_t nmb = (L + d->b - 1) / d->b, ngroups = group > 0 ? (nmb + group - 1) / group : 0;
    for (int l = 0; l < w->nblk; l++) {
        RF(block_act) *a = &w->blk[l];
        memset(a, 0, sizeof *a);
        if (d->pre_conv) {
            if (train) a->h_in = take(bp, N * D);
            a->xc = take(bp, N * D);
            a->rs_c = take(bp, N);
        }
        if (train) a->h1 = take(bp, N * D);
        a->xs = take(bp, N * D);
        a->rs_s = take(bp, N);
        if (d->share_qk) a->t.u = take(bp, N * D);
        a->t.Q = take(bp, N * D);
        a->t.K = take(bp, N * D);
        a->t.V = take(bp, N * D);
        a->t.lrs = take(bp, N * nh);
        a->t.Z = take(bp, N * D);
        a->t.pmean = take(bp, N);
        a->t.prstd = take(bp, N);
        a->t.ln = take(bp, N * D);
        if (d->use_gate) {
            a->t.gpre = take(bp, N * D);
            a->t.Y = take(bp, N * D);
        }
        if (train && group > 0) a->t.ckpt = take(bp, B * nh * ngroups * S);
        if (train && group == 0) a->t.mbc = take(bp, B * nh * nmb * M);
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
    RF(ttt_layer_tmp) *t = &w->lt;
    memset(t, 0, sizeof *t);
    t->lr = take(bp, N * nh);
    t->tau = take(bp, d->b);
    t->nthreads = nthreads;
    t->group = train ? group : 0;
    t->scan_scratch_elems = RF(ttt_scan_scratch_elems)(&id, train ? group : 0);
    t->scan_scratch = take(bp, t->scan_scratch_elems * nthreads);
    if (train) {
        t->dY = take(bp, N * D);
        t->dg = take(bp, N * D);
        t->dZ = take(bp, N * D);
        t->dQ = take(bp, N * D);
        t->dK = take(bp, N * D);
        t->dV = take(bp, N * D);
        t->du = take(bp, N * D);
        t->dlr = take(bp, N * nh);
        t->dtau_part = take(bp, B * nh * d->b);
        t->dln_part = take(bp, B * nh * 2 * d->f);
        t->dW0_part = take(bp, B * nh * S);
        w->dx = take(bp, N * D);
        w->dga = take(bp, N * I);
        w->dup = take(bp, N * I);
        w->dmm = take(bp, N * I);
    }
}

static ttt_status ws_prepare(ttt_model *m, RF(lm_ws) *w, RF(block_act) *blks, int64_t B, int64_t L,
                             int train) {
    const ttt_dims *d = &m->dims;
    int nthreads = omp_get_max_threads();
    int64_t group = m->opt.remat_group;
    w->blk = blks;
    w->nblk = train ? (int)d->layers : 1;
    bump b = {NULL, 0};
    layout(&b, w, d, B, L, train, group, nthreads);
    TRY(RF(lm_reserve)(m, b.off));
    b.base = (real *)m->ws.data;
    b.off = 0;
    layout(&b, w, d, B, L, train, group, nthreads);
    w->lt.rope_cs = PRIV(m)->rope_cs;
    return TTT_OK;
}

/* ------------------------------------------------------------------------------------------ */

/* per-layer cache blocks: [pc_hist B(K−1)D | qk_hist B(K−1)D | state B·nh·S | sums B·nh·S] */
static int64_t cache_elems(const ttt_model *m, int64_t B) {
    const ttt_dims *d = &m->dims;
    ttt_inner_dims id = {d->f, d->F, d->b, d->mlp};
    int64_t hist = B * (d->K - 1) * d->D;
    return d->layers * (2 * hist + 2 * B * d->nh * ttt_state_size(&id));
}

typedef struct {
    real *pc_hist;
    RF(ttt_layer_cache) t;
} RF(block_cache);

static RF(block_cache) cache_block(const ttt_model *m, ttt_cache *c, int64_t l) {
    const ttt_dims *d = &m->dims;
    ttt_inner_dims id = {d->f, d->F, d->b, d->mlp};
    int64_t hist = c->B * (d->K - 1) * d->D, st = c->B * d->nh * ttt_state_size(&id);
    real *p = (real *)c->buf.data + l * (2 * hist + 2 * st);
    RF(block_cache) bc = {p, {p + hist, p + 2 * hist, p + 2 * hist + st}};
    return bc;
}

static void cache_reset(ttt_cache *c) {
    const ttt_model *m = c->m;
    const ttt_dims *d = &m->dims;
    ttt_inner_dims id = {d->f, d->F, d->b, d->mlp};
    int64_t S = ttt_state_size(&id), hist = c->B * (d->K - 1) * d->D;
    const real *P = (const real *)m->w;
    for (int64_t l = 0; l < d->layers; l++) {
        RF(block_cache) bc = cache_block(m, c, l);
        memset(bc.pc_hist, 0, sizeof(real) * (size_t)(2 * hist));
        const ttt_block_offs *o = BLK(m, l);
        int64_t f = d->f, F = d->F;
        for (int64_t task = 0; task < c->B * d->nh; task++) {
            int64_t h = task % d->nh;
            real *st = bc.t.state + task * S;
            memcpy(st, P + o->W1 + h * f * F, sizeof(real) * (size_t)(f * F));
            memcpy(st + f * F, P + o->b1 + h * F, sizeof(real) * (size_t)F);
            if (d->mlp) {
                memcpy(st + f * F + F, P + o->W2 + h * F * f, sizeof(real) * (size_t)(F * f));
                memcpy(st + f * F + F + F * f, P + o->b2 + h * f, sizeof(real) * (size_t)f);
            }
        }
        memset(bc.t.sums, 0, sizeof(real) * (size_t)(c->B * d->nh * S));
    }
    c->pos = 0;
}

/* ------------------------------------------------------------------------------------------ */
/* blocks                                                                                      */

/* h += down(silu(x Wgᵀ) ⊙ (x Wuᵀ)),  x = RMSNorm_ffn(h), over N rows */
static void ffn_forward(const ttt_model *m, const RF(block_w) *w, RF(block_act) *a, RF(lm_ws) *ws, int64_t N) {
    const ttt_dims *d = &m->dims;
    int64_t D = d->D, I = d->I;
    real *h = ws->h, *tmp = ws->tmp;
    RF(rmsnorm_fwd)(a->xf, a->rs_f, h, w->ffn_norm, N, D, (real)d->rms_eps);
    RF(mm_nt)(a->ga, a->xf, w->mg, N, I, D, 0);
    RF(mm_nt)(a->up, a->xf, w->mu, N, I, D, 0);
    RF(swiglu_fwd)(a->mm, a->ga, a->up, N * I);
    RF(mm_nt)(tmp, a->mm, w->md, N, D, I, 0);
    RF(vec_add)(h, tmp, N * D);
}

static void block_forward(const ttt_model *m, const RF(block_w) *w, RF(block_act) *a,
                          RF(lm_ws) *ws, int64_t B, int64_t L, int train, int64_t pos0,
                          RF(block_cache) *bc) {
    const ttt_dims *d = &m->dims;
    int64_t N = B * L, D = d->D;
    real eps = (real)d->rms_eps, *h = ws->h, *tmp = ws->tmp;
    size_t ND = sizeof(real) * (size_t)(N * D);
    if (d->pre_conv) { /* h += conv(RMSNorm_conv(h)) */
        if (train) memcpy(a->h_in, h, ND);
        RF(rmsnorm_fwd)(a->xc, a->rs_c, h, w->pc_norm, N, D, eps);
        RF(dwconv_fwd)(tmp, a->xc, bc ? bc->pc_hist : NULL, w->pc_w, w->pc_b, B, L, D, d->K);
        if (bc) RF(dwconv_hist_update)(bc->pc_hist, a->xc, B, L, D, d->K);
        RF(vec_add)(h, tmp, N * D);
    }
    if (train) memcpy(a->h1, h, ND);
    /* h += TTTLayer(RMSNorm_seq(h)) */
    RF(rmsnorm_fwd)(a->xs, a->rs_s, h, w->seq_norm, N, D, eps);
    RF(ttt_layer_forward)(d, w, &a->t, &ws->lt, a->xs, tmp, B, L, pos0, bc ? &bc->t : NULL);
    RF(vec_add)(h, tmp, N * D);
    if (train) memcpy(a->h2, h, ND);
    ffn_forward(m, w, a, ws, N);
}

/* One token for each of n single-sequence caches (ttt_decode_multi): row i continues bc[i]
 * at position pos[i]. The norms and products run over the n rows; the convolutions and the
 * TTT layer's per-sequence part per row (ttt_layer_forward_rows); lc [n] is scratch. */
static void block_forward_rows(const ttt_model *m, const RF(block_w) *w, RF(block_act) *a, RF(lm_ws) *ws,
                               int64_t n, const int64_t *pos, RF(block_cache) *bc, RF(ttt_layer_cache) *lc) {
    const ttt_dims *d = &m->dims;
    int64_t D = d->D;
    real eps = (real)d->rms_eps, *h = ws->h, *tmp = ws->tmp;
    if (d->pre_conv) { /* h += conv(RMSNorm_conv(h)) */
        RF(rmsnorm_fwd)(a->xc, a->rs_c, h, w->pc_norm, n, D, eps);
        for (int64_t i = 0; i < n; i++) {
            RF(dwconv_fwd)(tmp + i * D, a->xc + i * D, bc[i].pc_hist, w->pc_w, w->pc_b, 1, 1, D, d->K);
            RF(dwconv_hist_update)(bc[i].pc_hist, a->xc + i * D, 1, 1, D, d->K);
        }
        RF(vec_add)(h, tmp, n * D);
    }
    RF(rmsnorm_fwd)(a->xs, a->rs_s, h, w->seq_norm, n, D, eps);
    for (int64_t i = 0; i < n; i++) lc[i] = bc[i].t;
    RF(ttt_layer_forward_rows)(d, w, &a->t, &ws->lt, a->xs, tmp, n, pos, lc);
    RF(vec_add)(h, tmp, n * D);
    ffn_forward(m, w, a, ws, n);
}

/* dh: gradient w.r.t. the block's output residual in, w.r.t. its input residual out */
static void block_backward(const ttt_model *m, const RF(block_w) *w, const RF(block_w) *gw,
                           RF(block_act) *a, RF(lm_ws) *ws, int64_t B, int64_t L) {
    const ttt_dims *d = &m->dims;
    int64_t N = B * L, D = d->D, I = d->I;
    real *dh = ws->dh, *dx = ws->dx;
    size_t ND = sizeof(real) * (size_t)(N * D);
    /* SwiGLU */
    RF(mm_nn)(ws->dmm, dh, w->md, N, I, D, 0);
    RF(mm_tn)(gw->md, dh, a->mm, D, I, N, 1);
    RF(swiglu_bwd)(ws->dga, ws->dup, ws->dmm, a->ga, a->up, N * I);
    RF(mm_nn)(dx, ws->dga, w->mg, N, D, I, 0);
    RF(mm_nn)(dx, ws->dup, w->mu, N, D, I, 1);
    RF(mm_tn)(gw->mg, ws->dga, a->xf, I, D, N, 1);
    RF(mm_tn)(gw->mu, ws->dup, a->xf, I, D, N, 1);
    RF(rmsnorm_bwd)(dh, gw->ffn_norm, dx, a->h2, w->ffn_norm, a->rs_f, N, D);
    /* TTT layer */
    memset(dx, 0, ND);
    RF(ttt_layer_backward)(d, w, gw, &a->t, &ws->lt, a->xs, dh, dx, B, L);
    RF(rmsnorm_bwd)(dh, gw->seq_norm, dx, a->h1, w->seq_norm, a->rs_s, N, D);
    /* pre-conv */
    if (d->pre_conv) {
        memset(dx, 0, ND);
        RF(dwconv_bwd)(dx, gw->pc_w, gw->pc_b, dh, a->xc, w->pc_w, B, L, D, d->K);
        RF(rmsnorm_bwd)(dh, gw->pc_norm, dx, a->h_in, w->pc_norm, a->rs_c, N, D);
    }
}

static ttt_status cache_init(ttt_cache *c) {
    size_t bytes;
    TRY(ttt_size_mul(&bytes, cache_elems(c->m, c->B), 1, sizeof(real), "cache"));
    TRY(ttt_buf_reserve(&c->buf, bytes, "decode cache"));
    c->bytes = bytes;
    cache_reset(c);
    return TTT_OK;
}

/* ------------------------------------------------------------------------------------------ */

static ttt_status forward(ttt_model *m, const int32_t *ids, const int32_t *targets, int64_t B,
                          int64_t L, int per_seq, int backward, double scale, float *logits,
                          double *loss) {
    const ttt_dims *d = &m->dims;
    int64_t N = B * L;
    RF(block_act) blks_small[1];
    RF(block_act) *blks = blks_small;
    if (backward) {
        blks = ttt_malloc(sizeof(RF(block_act)) * (size_t)d->layers, "activation table");
        if (!blks) return TTT_ERR_NOMEM;
    }
    RF(lm_ws) ws;
    ttt_status s = ws_prepare(m, &ws, blks, B, L, backward);
    if (s != TTT_OK) {
        if (blks != blks_small) ttt_free(blks);
        return s;
    }
    real *P = (real *)m->w;
    RF(lm_embed)(m, &ws.io, ids, N);
    RF(lm_save_hidden)(m, ws.h, 0, N);
    int64_t nmb = (L + d->b - 1) / d->b;
    for (int64_t l = 0; l < d->layers; l++) {
        RF(block_w) w;
        RF(block_w_bind)(&w, P, BLK(m, l));
        ws.lt.stats = PRIV(m)->stats_out ? PRIV(m)->stats_out + l * nmb * 3 : NULL;
        block_forward(m, &w, &ws.blk[backward ? l : 0], &ws, B, L, backward, 0, NULL);
        RF(lm_save_hidden)(m, ws.h, l + 1, N);
    }
    ws.lt.stats = NULL;
    RF(lm_head)(m, &ws.io, N, logits);
    double lv = RF(lm_loss)(m, &ws.io, ids, targets, B, L, per_seq, backward, scale);
    if (loss) *loss = lv;
    if (backward) {
        real *G = (real *)m->g;
        RF(lm_head_backward)(m, &ws.io, ws.dx, N);
        for (int64_t l = d->layers - 1; l >= 0; l--) {
            RF(block_w) w, gw;
            RF(block_w_bind)(&w, P, BLK(m, l));
            RF(block_w_bind)(&gw, G, BLK(m, l));
            block_backward(m, &w, &gw, &ws.blk[l], &ws, B, L);
        }
        RF(lm_embed_backward)(m, &ws.io, ids, N);
        ttt_free(blks);
    }
    return TTT_OK;
}

/* Tokens continue the sequences of the cache: ids [B, L]; logits [B, L, V] (nullable). */
static ttt_status prefill(ttt_model *m, ttt_cache *c, const int32_t *ids, int64_t L, float *logits) {
    const ttt_dims *d = &m->dims;
    int64_t B = c->B, N = B * L;
    RF(block_act) blk;
    RF(lm_ws) ws;
    TRY(ws_prepare(m, &ws, &blk, B, L, 0));
    real *P = (real *)m->w;
    RF(lm_embed)(m, &ws.io, ids, N);
    for (int64_t l = 0; l < d->layers; l++) {
        RF(block_w) w;
        RF(block_w_bind)(&w, P, BLK(m, l));
        RF(block_cache) bc = cache_block(m, c, l);
        block_forward(m, &w, &ws.blk[0], &ws, B, L, 0, c->pos, &bc);
    }
    if (logits) RF(lm_head)(m, &ws.io, N, logits);
    c->pos += L;
    return TTT_OK;
}

/* ids[i] continues caches[i] (each of one sequence) by one token; logits [n, V] nullable */
static ttt_status decode_multi(ttt_model *m, ttt_cache **caches, int64_t n, const int32_t *ids, float *logits) {
    const ttt_dims *d = &m->dims;
    RF(block_act) blk;
    RF(lm_ws) ws;
    TRY(ws_prepare(m, &ws, &blk, n, 1, 0));
    int64_t *pos = malloc(sizeof(int64_t) * (size_t)n);
    RF(block_cache) *bc = malloc(sizeof *bc * (size_t)n);
    RF(ttt_layer_cache) *lc = malloc(sizeof *lc * (size_t)n);
    if (!pos || !bc || !lc) {
        free(pos), free(bc), free(lc);
        return ttt_err(TTT_ERR_NOMEM, "out of memory (a decode batch of %lld sequences)", (long long)n);
    }
    for (int64_t i = 0; i < n; i++) pos[i] = caches[i]->pos;
    real *P = (real *)m->w;
    RF(lm_embed)(m, &ws.io, ids, n);
    for (int64_t l = 0; l < d->layers; l++) {
        RF(block_w) w;
        RF(block_w_bind)(&w, P, BLK(m, l));
        for (int64_t i = 0; i < n; i++) bc[i] = cache_block(m, caches[i], l);
        block_forward_rows(m, &w, &ws.blk[0], &ws, n, pos, bc, lc);
    }
    if (logits) RF(lm_head)(m, &ws.io, n, logits);
    for (int64_t i = 0; i < n; i++) caches[i]->pos++;
    free(pos), free(bc), free(lc);
    return TTT_OK;
}

/* the state as named tensors (model.h): per layer the convolution histories [B, K−1, D] (when
 * used), the inner weights at the start of the current mini-batch, W1 [B, nh, f, F], b1
 * [B, nh, F] (MLP: W2 [B, nh, F, f], b2 [B, nh, f]), and the step-weighted gradient sums of
 * the mini-batch so far, same shapes ("grad_sum."); the position within the mini-batch is
 * c->pos mod b */
static int64_t state_tensors(const ttt_model *m, ttt_cache *c, int64_t B, int64_t pos, lm_state_tensor *t,
                             int64_t max) {
    (void)pos;
    const ttt_dims *d = &m->dims;
    ttt_inner_dims id = {d->f, d->F, d->b, d->mlp};
    int64_t S = ttt_state_size(&id), f = d->f, F = d->F, nh = d->nh, K1 = d->K - 1, D = d->D, n = 0;
    /* offsets, runs and shapes of the parts of one (sequence, head)'s state */
    const char *part[4] = {"W1", "b1", "W2", "b2"};
    int64_t off[4] = {0, f * F, f * F + F, f * F + F + F * f}, run[4] = {f * F, F, F * f, f};
    int64_t r0[4] = {f, F, F, f}, r1[4] = {F, 0, f, 0};
    char nm[64];
    for (int64_t l = 0; l < d->layers; l++) {
        real *pc = NULL, *qk = NULL, *st[2] = {NULL, NULL};
        if (c) {
            RF(block_cache) bc = cache_block(m, c, l);
            pc = bc.pc_hist, qk = bc.t.qk_hist, st[0] = bc.t.state, st[1] = bc.t.sums;
        }
        if (d->pre_conv && K1 > 0) {
            snprintf(nm, sizeof nm, "layers.%lld.pre_conv.hist", (long long)l);
            lm_state_add(t, &n, max, nm, pc, K1 * D, K1 * D, 3, B, K1, D, 0);
        }
        if (d->share_qk && K1 > 0) {
            snprintf(nm, sizeof nm, "layers.%lld.qk_conv.hist", (long long)l);
            lm_state_add(t, &n, max, nm, qk, K1 * D, K1 * D, 3, B, K1, D, 0);
        }
        for (int g = 0; g < 2; g++)
            for (int k = 0; k < (d->mlp ? 4 : 2); k++) {
                snprintf(nm, sizeof nm, "layers.%lld.ttt.%s%s", (long long)l, g ? "grad_sum." : "", part[k]);
                lm_state_add(t, &n, max, nm, st[g] ? st[g] + off[k] : NULL, run[k], S, r1[k] ? 4 : 3, B, nh, r0[k],
                             r1[k]);
            }
    }
    return n;
}

/* a step depends on the position only through its place in the mini-batch (RoPE has period b,
 * the token's step size τ and whether the mini-batch ends are indexed by pos mod b) */
const lm_arch_ops RF(lm_ttt_ops) = {forward, cache_init, cache_reset, prefill, state_tensors, NULL, decode_multi};

/* ------------------------------------------------------------------------------------------ */
/* the family (model/family.h): config.json of ttt.py's TTTConfig, presets, flags, parameter   */
/* table, initialisation, the RoPE table, inner-loop diagnostics, bench cost, info             */

#if TTT_ONCE
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "model/family.h"

extern const lm_arch_ops lm_ttt_ops_f64;

/* TTTConfig defaults of ttt.py */
static void ttt_defaults(ttt_config *cfg) {
    cfg_defaults(cfg);
    cfg->ttt_layer_type = TTT_INNER_LINEAR;
    cfg->ttt_base_lr = 1.0;
    cfg->mini_batch_size = 16;
    cfg->conv_kernel = 4;
}

static ttt_status ttt_parse(const cfg_json *c, ttt_config *cfg) {
    ttt_defaults(cfg);
    TRY(cfg_llama_style(c, cfg, " (the SwiGLU MLP of ttt.py)"));
    TRY(cfg_num(c, "ttt_base_lr", 0, &cfg->ttt_base_lr));
    TRY(cfg_int(c, "mini_batch_size", 0, &cfg->mini_batch_size));
    TRY(cfg_bool(c, "pre_conv", &cfg->pre_conv));
    TRY(cfg_bool(c, "share_qk", &cfg->share_qk));
    TRY(cfg_bool(c, "use_gate", &cfg->use_gate));
    TRY(cfg_int(c, "conv_kernel", 0, &cfg->conv_kernel));
    TRY(cfg_int(c, "scan_checkpoint_group_size", 0, &cfg->scan_checkpoint_group_size));
    TRY(cfg_bool(c, "ttt_fixed_lr_gate", &cfg->ttt_fixed_lr_gate));
    TRY(cfg_bool(c, "ttt_unit_token_scale", &cfg->ttt_unit_token_scale));
    const cJSON *lt = cJSON_GetObjectItemCaseSensitive(c->root, "ttt_layer_type");
    if (lt) {
        if (!cJSON_IsString(lt))
            return ttt_err(TTT_ERR_CONFIG, "%s: field \"ttt_layer_type\" must be a string", c->path);
        if (strcmp(lt->valuestring, "linear") == 0)
            cfg->ttt_layer_type = TTT_INNER_LINEAR;
        else if (strcmp(lt->valuestring, "mlp") == 0)
            cfg->ttt_layer_type = TTT_INNER_MLP;
        else
            return ttt_err(TTT_ERR_CONFIG,
                           "%s: field \"ttt_layer_type\" is \"%s\", expected \"linear\" or \"mlp\"",
                           c->path, lt->valuestring);
    }
    return TTT_OK;
}

/* the inner loop keeps mini_batch_size^2 per head; the paper uses 16 */
#define MAX_MINI_BATCH 4096

static ttt_status ttt_validate(const ttt_config *cfg, const char *o) {
    TRY(cfg_check_heads(cfg, o));
    TRY(cfg_check_size(o, "mini_batch_size", cfg->mini_batch_size));
    if (cfg->pre_conv || cfg->share_qk) TRY(cfg_check_conv(o, cfg->conv_kernel));
    TRY(cfg_check_real(o, "ttt_base_lr", cfg->ttt_base_lr, 1, 0.0, 1e3));
    if (cfg->mini_batch_size > MAX_MINI_BATCH)
        return ttt_err(TTT_ERR_CONFIG, "%s: \"mini_batch_size\" is %lld, expected 1..%d", o,
                       (long long)cfg->mini_batch_size, MAX_MINI_BATCH);
    if (cfg->ttt_layer_type != TTT_INNER_LINEAR && cfg->ttt_layer_type != TTT_INNER_MLP)
        return ttt_err(TTT_ERR_CONFIG, "%s: unknown ttt_layer_type", o);
    return TTT_OK;
}

static void ttt_write(cJSON *r, const ttt_config *cfg) {
    cJSON *arch = cJSON_AddArrayToObject(r, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString("TTTForCausalLM"));
    cfg_write_id(r, "bos_token_id", cfg->bos_token_id);
    cJSON_AddNumberToObject(r, "conv_kernel", (double)cfg->conv_kernel);
    cfg_write_id(r, "eos_token_id", cfg->eos_token_id);
    cJSON_AddStringToObject(r, "hidden_act", "silu");
    cJSON_AddNumberToObject(r, "hidden_size", (double)cfg->hidden_size);
    cJSON_AddNumberToObject(r, "initializer_range", cfg->initializer_range);
    cJSON_AddNumberToObject(r, "intermediate_size", (double)cfg->intermediate_size);
    cJSON_AddNumberToObject(r, "max_position_embeddings", (double)cfg->max_position_embeddings);
    cJSON_AddNumberToObject(r, "mini_batch_size", (double)cfg->mini_batch_size);
    cJSON_AddStringToObject(r, "model_type", "ttt");
    cJSON_AddNumberToObject(r, "num_attention_heads", (double)cfg->num_attention_heads);
    cJSON_AddNumberToObject(r, "num_hidden_layers", (double)cfg->num_hidden_layers);
    cfg_write_id(r, "pad_token_id", cfg->pad_token_id);
    cJSON_AddBoolToObject(r, "pre_conv", cfg->pre_conv);
    cJSON_AddNumberToObject(r, "pretraining_tp", 1);
    cJSON_AddNumberToObject(r, "rms_norm_eps", cfg->rms_norm_eps);
    cJSON_AddNumberToObject(r, "rope_theta", cfg->rope_theta);
    cJSON_AddNumberToObject(r, "scan_checkpoint_group_size", (double)cfg->scan_checkpoint_group_size);
    cJSON_AddBoolToObject(r, "share_qk", cfg->share_qk);
    cJSON_AddBoolToObject(r, "tie_word_embeddings", cfg->tie_word_embeddings);
    cJSON_AddStringToObject(r, "torch_dtype", "float32");
    cJSON_AddNumberToObject(r, "ttt_base_lr", cfg->ttt_base_lr);
    if (cfg->ttt_fixed_lr_gate) cJSON_AddBoolToObject(r, "ttt_fixed_lr_gate", 1);
    if (cfg->ttt_unit_token_scale) cJSON_AddBoolToObject(r, "ttt_unit_token_scale", 1);
    cJSON_AddStringToObject(r, "ttt_layer_type", cfg->ttt_layer_type == TTT_INNER_MLP ? "mlp" : "linear");
    cJSON_AddBoolToObject(r, "use_cache", 0);
    cJSON_AddBoolToObject(r, "use_gate", cfg->use_gate);
    cJSON_AddNumberToObject(r, "vocab_size", (double)cfg->vocab_size);
}

/* presets (design.md 3.3): the paper's sizes for both inner models and both backbones, and
 * tiny / small ones for tests and demonstrations */
static const struct {
    const char *name, *desc;
    int64_t layers, width, heads, inter, vocab;
    int mlp, mamba_backbone;
} presets[] = {
    {"ttt-linear-125m", "TTT-Linear (M) 125M: 12 x 768, 12 heads, SwiGLU 2048, vocab 32000", 12, 768, 12, 2048, 32000, 0, 1},
    {"ttt-linear-350m", "TTT-Linear (M) 350M: 24 x 1024, 16 heads, SwiGLU 2736", 24, 1024, 16, 2736, 32000, 0, 1},
    {"ttt-linear-760m", "TTT-Linear (M) 760M: 24 x 1536, 16 heads (head dim 96), SwiGLU 4096", 24, 1536, 16, 4096, 32000, 0, 1},
    {"ttt-linear-1.3b", "TTT-Linear (M) 1.3B: 24 x 2048, 32 heads, SwiGLU 5504", 24, 2048, 32, 5504, 32000, 0, 1},
    {"ttt-mlp-125m", "TTT-MLP (M) 125M", 12, 768, 12, 2048, 32000, 1, 1},
    {"ttt-mlp-350m", "TTT-MLP (M) 350M", 24, 1024, 16, 2736, 32000, 1, 1},
    {"ttt-mlp-760m", "TTT-MLP (M) 760M", 24, 1536, 16, 4096, 32000, 1, 1},
    {"ttt-mlp-1.3b", "TTT-MLP (M) 1.3B", 24, 2048, 32, 5504, 32000, 1, 1},
    {"ttt-linear-125m-tf", "TTT-Linear (T) 125M, Transformer backbone", 12, 768, 12, 2048, 32000, 0, 0},
    {"ttt-linear-350m-tf", "TTT-Linear (T) 350M", 24, 1024, 16, 2736, 32000, 0, 0},
    {"ttt-linear-760m-tf", "TTT-Linear (T) 760M", 24, 1536, 16, 4096, 32000, 0, 0},
    {"ttt-linear-1.3b-tf", "TTT-Linear (T) 1.3B", 24, 2048, 32, 5504, 32000, 0, 0},
    {"ttt-mlp-125m-tf", "TTT-MLP (T) 125M, Transformer backbone", 12, 768, 12, 2048, 32000, 1, 0},
    {"ttt-mlp-350m-tf", "TTT-MLP (T) 350M", 24, 1024, 16, 2736, 32000, 1, 0},
    {"ttt-mlp-760m-tf", "TTT-MLP (T) 760M", 24, 1536, 16, 4096, 32000, 1, 0},
    {"ttt-mlp-1.3b-tf", "TTT-MLP (T) 1.3B", 24, 2048, 32, 5504, 32000, 1, 0},
    {"ttt-linear-tiny", "tiny TTT-Linear (M) for tests: 2 x 64, 4 heads, SwiGLU 176, vocab 97", 2, 64, 4, 176, 97, 0, 1},
    {"ttt-mlp-tiny", "tiny TTT-MLP (M) for tests", 2, 64, 4, 176, 97, 1, 1},
    {"ttt-linear-tiny-tf", "tiny TTT-Linear (T) for tests", 2, 64, 4, 176, 97, 0, 0},
    {"ttt-mlp-tiny-tf", "tiny TTT-MLP (T) for tests", 2, 64, 4, 176, 97, 1, 0},
    {"ttt-linear-small", "small TTT-Linear (M): 4 x 256, 4 heads, SwiGLU 688, vocab 32000", 4, 256, 4, 688, 32000, 0, 1},
    {"ttt-mlp-small", "small TTT-MLP (M): 4 x 256, 4 heads, SwiGLU 688, vocab 32000", 4, 256, 4, 688, 32000, 1, 1},
};

static const char *ttt_preset(int i, const char **desc, ttt_config *out) {
    if (i < 0 || i >= (int)(sizeof presets / sizeof presets[0])) return NULL;
    if (desc) *desc = presets[i].desc;
    if (out) {
        ttt_defaults(out);
        out->num_hidden_layers = presets[i].layers;
        out->hidden_size = presets[i].width;
        out->num_attention_heads = presets[i].heads;
        out->intermediate_size = presets[i].inter;
        out->vocab_size = presets[i].vocab;
        out->ttt_layer_type = presets[i].mlp ? TTT_INNER_MLP : TTT_INNER_LINEAR;
        out->ttt_base_lr = presets[i].mlp ? 0.1 : 1.0;
        out->pre_conv = out->share_qk = out->use_gate = presets[i].mamba_backbone;
    }
    return presets[i].name;
}

#define F_(flag, kind, field) {flag, kind, offsetof(ttt_config, field)}
static const ttt_family_flag ttt_flags[] = {
    F_("heads", TTT_FLAG_INT, num_attention_heads),
    F_("intermediate", TTT_FLAG_INT, intermediate_size),
    F_("mini-batch", TTT_FLAG_INT, mini_batch_size),
    F_("conv-kernel", TTT_FLAG_INT, conv_kernel),
    F_("max-position", TTT_FLAG_INT, max_position_embeddings),
    {"ttt-type", TTT_FLAG_CHOICE, 0},
    {"backbone", TTT_FLAG_CHOICE, 0},
    F_("base-lr", TTT_FLAG_REAL, ttt_base_lr),
    F_("rope-theta", TTT_FLAG_REAL, rope_theta),
    F_("fixed-lr-gate", TTT_FLAG_TRUE, ttt_fixed_lr_gate),
    F_("unit-token-scale", TTT_FLAG_TRUE, ttt_unit_token_scale),
    {NULL, TTT_FLAG_INT, 0},
};
#undef F_

static ttt_status ttt_set_choice(ttt_config *cfg, const char *flag, const char *v) {
    if (strcmp(flag, "ttt-type") == 0) {
        if (strcmp(v, "linear") != 0 && strcmp(v, "mlp") != 0)
            return ttt_err(TTT_ERR_ARG, "--ttt-type must be linear or mlp, got '%s'", v);
        cfg->ttt_layer_type = strcmp(v, "mlp") == 0 ? TTT_INNER_MLP : TTT_INNER_LINEAR;
        cfg->ttt_base_lr = strcmp(v, "mlp") == 0 ? 0.1 : 1.0;
        return TTT_OK;
    }
    if (strcmp(v, "mamba") != 0 && strcmp(v, "transformer") != 0)
        return ttt_err(TTT_ERR_ARG, "--backbone must be mamba or transformer, got '%s'", v);
    cfg->pre_conv = cfg->share_qk = cfg->use_gate = strcmp(v, "mamba") == 0;
    return TTT_OK;
}

static void ttt_dims_of(ttt_dims *d, const ttt_config *c) {
    d->nh = c->num_attention_heads;
    d->f = c->hidden_size / c->num_attention_heads;
    d->mlp = c->ttt_layer_type == TTT_INNER_MLP;
    d->F = d->mlp ? 4 * d->f : d->f;
    d->b = c->mini_batch_size;
    d->K = c->conv_kernel;
    d->pre_conv = c->pre_conv;
    d->share_qk = c->share_qk;
    d->use_gate = c->use_gate;
    d->base_lr = c->ttt_base_lr;
    d->fixed_lr_gate = c->ttt_fixed_lr_gate;
    d->unit_token_scale = c->ttt_unit_token_scale;
}

/* ttt.py TTTForCausalLM.state_dict() names and shapes (design.md 3.5), initialised as in the
 * JAX recipe (design.md 3.4): embedding and every dense kernel N(0, initializer_range²); inner
 * W1/W2 and the lr gate N(0, 0.02²) with zero biases (initializer_range is 0.02); λ = 0; norm
 * weights 1 and biases 0; depthwise conv kernels flax lecun-normal (truncated normal in ±2σ,
 * std 1/sqrt(fan_in) with flax's 0.8796 correction), conv biases 0 */
static ttt_status ttt_params(param_table *t, ttt_lm_offs *o, const ttt_dims *d, const ttt_config *cfg) {
    (void)cfg;
    int64_t D = d->D, nh = d->nh, f = d->f, F = d->F, K = d->K, I = d->I;
    double conv_std = 1.0 / sqrt((double)K) / 0.87962566103423978;
    ttt_block_offs *blk = malloc(sizeof(ttt_block_offs) * (size_t)d->layers);
    if (!blk) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    o->blocks = blk;
    o->embed = param_add(t, INIT_NORMAL, 2, SH(d->V, D), "model.embed_tokens.weight");
    for (int64_t l = 0; l < d->layers; l++) {
        ttt_block_offs *b = &blk[l];
        memset(b, 0xff, sizeof *b); /* all -1 */
        const char *s = "seq_modeling_block";
        long long L = (long long)l;
        b->tok = param_add(t, INIT_ZERO, 1, SH(d->b), "model.layers.%lld.%s.learnable_token_idx", L, s);
        b->lr_w = param_add(t, INIT_NORMAL, 3, SH(nh, 1, D), "model.layers.%lld.%s.learnable_ttt_lr_weight", L, s);
        b->lr_b = param_add(t, INIT_ZERO, 2, SH(nh, 1), "model.layers.%lld.%s.learnable_ttt_lr_bias", L, s);
        b->ln_w = param_add(t, INIT_ONE, 2, SH(nh, f), "model.layers.%lld.%s.ttt_norm_weight", L, s);
        b->ln_b = param_add(t, INIT_ZERO, 2, SH(nh, f), "model.layers.%lld.%s.ttt_norm_bias", L, s);
        b->q = param_add(t, INIT_NORMAL, 2, SH(D, D), "model.layers.%lld.%s.q_proj.weight", L, s);
        if (!d->share_qk) b->k = param_add(t, INIT_NORMAL, 2, SH(D, D), "model.layers.%lld.%s.k_proj.weight", L, s);
        b->v = param_add(t, INIT_NORMAL, 2, SH(D, D), "model.layers.%lld.%s.v_proj.weight", L, s);
        b->o = param_add(t, INIT_NORMAL, 2, SH(D, D), "model.layers.%lld.%s.o_proj.weight", L, s);
        if (d->share_qk) {
            b->cq_w = param_add_scaled(t, INIT_TRUNC_NORMAL, conv_std, 3, SH(D, 1, K), "model.layers.%lld.%s.conv_q.weight", L, s);
            b->cq_b = param_add(t, INIT_ZERO, 1, SH(D), "model.layers.%lld.%s.conv_q.bias", L, s);
            b->ck_w = param_add_scaled(t, INIT_TRUNC_NORMAL, conv_std, 3, SH(D, 1, K), "model.layers.%lld.%s.conv_k.weight", L, s);
            b->ck_b = param_add(t, INIT_ZERO, 1, SH(D), "model.layers.%lld.%s.conv_k.bias", L, s);
        }
        if (d->use_gate) b->g = param_add(t, INIT_NORMAL, 2, SH(D, D), "model.layers.%lld.%s.g_proj.weight", L, s);
        b->post_w = param_add(t, INIT_ONE, 1, SH(D), "model.layers.%lld.%s.post_norm.weight", L, s);
        b->post_b = param_add(t, INIT_ZERO, 1, SH(D), "model.layers.%lld.%s.post_norm.bias", L, s);
        b->W1 = param_add(t, INIT_NORMAL, 3, SH(nh, f, F), "model.layers.%lld.%s.W1", L, s);
        b->b1 = param_add(t, INIT_ZERO, 3, SH(nh, 1, F), "model.layers.%lld.%s.b1", L, s);
        if (d->mlp) {
            b->W2 = param_add(t, INIT_NORMAL, 3, SH(nh, F, f), "model.layers.%lld.%s.W2", L, s);
            b->b2 = param_add(t, INIT_ZERO, 3, SH(nh, 1, f), "model.layers.%lld.%s.b2", L, s);
        }
        b->mg = param_add(t, INIT_NORMAL, 2, SH(I, D), "model.layers.%lld.mlp.gate_proj.weight", L);
        b->mu = param_add(t, INIT_NORMAL, 2, SH(I, D), "model.layers.%lld.mlp.up_proj.weight", L);
        b->md = param_add(t, INIT_NORMAL, 2, SH(D, I), "model.layers.%lld.mlp.down_proj.weight", L);
        if (d->pre_conv) {
            b->pc_norm = param_add(t, INIT_ONE, 1, SH(D), "model.layers.%lld.conv.norm.weight", L);
            b->pc_w = param_add_scaled(t, INIT_TRUNC_NORMAL, conv_std, 3, SH(D, 1, K), "model.layers.%lld.conv.conv.weight", L);
            b->pc_b = param_add(t, INIT_ZERO, 1, SH(D), "model.layers.%lld.conv.conv.bias", L);
        }
        b->seq_norm = param_add(t, INIT_ONE, 1, SH(D), "model.layers.%lld.seq_norm.weight", L);
        b->ffn_norm = param_add(t, INIT_ONE, 1, SH(D), "model.layers.%lld.ffn_norm.weight", L);
    }
    o->norm = param_add(t, INIT_ONE, 1, SH(D), "model.norm.weight");
    o->head = d->tied ? o->embed : param_add(t, INIT_NORMAL, 2, SH(d->V, D), "lm_head.weight");
    return TTT_OK;
}

/* the RoPE table at positions 0..b−1 (positions restart every mini-batch) */
static ttt_status ttt_prepare(ttt_model *m) {
    int64_t P = m->dims.f / 2, b = m->dims.b;
    size_t head = (sizeof(ttt_priv) + 63) / 64 * 64;
    ttt_priv *pv = ttt_malloc(head + sizeof(float) * (size_t)(2 * P * b), "RoPE table");
    if (!pv) return TTT_ERR_NOMEM;
    pv->rope_cs = (float *)((char *)pv + head);
    pv->stats_out = NULL;
    m->priv = pv;
    for (int64_t m_ = 0; m_ < P; m_++) {
        /* ttt.py: inv_freq = 1 / base^(arange(0, f, 2) / f), angles = pos · inv_freq, all float32 */
        float e = (float)(2 * m_) / (float)m->dims.f;
        float inv = 1.0f / powf((float)m->dims.rope_theta, e);
        for (int64_t p = 0; p < b; p++) {
            float ang = (float)p * inv;
            pv->rope_cs[p * P + m_] = cosf(ang);
            pv->rope_cs[b * P + p * P + m_] = sinf(ang);
        }
    }
    return TTT_OK;
}

static ttt_status ttt_inner_stats(ttt_model *m, const int32_t *ids, int64_t B, int64_t L, double *stats) {
    int64_t nmb = (L + m->dims.b - 1) / m->dims.b, n = m->dims.layers * nmb * 3;
    memset(stats, 0, sizeof(double) * (size_t)n);
    PRIV(m)->stats_out = stats;
    double loss;
    ttt_status s = m->ops->forward(m, ids, NULL, B, L, 0, 0, 1.0, NULL, &loss);
    PRIV(m)->stats_out = NULL;
    for (int64_t i = 0; i < n; i++) stats[i] /= (double)(B * m->dims.nh);
    return s;
}

static int ttt_inner_lr_warmup(const ttt_config *cfg) { return cfg->ttt_layer_type == TTT_INNER_MLP; }

static double ttt_block_flops(const ttt_config *c, double keys) {
    (void)keys;
    double D = (double)c->hidden_size, I = (double)c->intermediate_size;
    double nh = (double)c->num_attention_heads, f = D / nh, F = c->ttt_layer_type == TTT_INNER_MLP ? 4 * f : f;
    double nproj = c->share_qk ? 3 : 4; /* q(,k),v,o */
    if (c->use_gate) nproj += 1;
    double per = 2 * nproj * D * D + 2 * 3 * D * I + 2 * D * nh; /* projections, SwiGLU, lr gate */
    /* inner loop per token and head: Z = kW (2fF), Z̄ = qW (2fF), update (2fF), the
     * mini-batch attention (≈ 2·b/2·f twice), ×2 layers for MLP */
    double b = (double)c->mini_batch_size, layers_inner = c->ttt_layer_type == TTT_INNER_MLP ? 2 : 1;
    per += nh * layers_inner * (6 * f * F + 2 * b * (f + F) / 2);
    if (c->pre_conv) per += 2 * D * (double)c->conv_kernel;
    return (double)c->num_hidden_layers * per;
}

static void ttt_describe(const ttt_config *c, FILE *fp) {
    int mamba = c->pre_conv && c->share_qk && c->use_gate, tf = !c->pre_conv && !c->share_qk && !c->use_gate;
    fprintf(fp, "type:         TTT-%s, %s backbone\n", c->ttt_layer_type == TTT_INNER_MLP ? "MLP" : "Linear",
            mamba ? "Mamba" : tf ? "Transformer" : "custom");
    fprintf(fp, "layers:       %lld\nwidth:        %lld\nheads:        %lld (head dim %lld)\n",
            (long long)c->num_hidden_layers, (long long)c->hidden_size, (long long)c->num_attention_heads,
            (long long)(c->hidden_size / c->num_attention_heads));
    fprintf(fp, "swiglu:       %lld\nvocab:        %lld\nmini-batch:   %lld\nttt_base_lr:  %g\n",
            (long long)c->intermediate_size, (long long)c->vocab_size, (long long)c->mini_batch_size, c->ttt_base_lr);
    fprintf(fp, "pre_conv %d, share_qk %d, use_gate %d, conv_kernel %lld, tied head %d, rope_theta %g\n", c->pre_conv,
            c->share_qk, c->use_gate, (long long)c->conv_kernel, c->tie_word_embeddings, c->rope_theta);
}

static const ttt_family_bench ttt_bench[] = {
    {"ttt-linear", {"ttt-linear-125m", "ttt-linear-1.3b", "ttt-linear-tiny"}},
    {"ttt-mlp", {"ttt-mlp-125m", "ttt-mlp-1.3b", "ttt-mlp-tiny"}},
    {NULL, {NULL, NULL, NULL}},
};

const ttt_family ttt_family_ttt = {
    .model_type = "ttt",
    .title = "TTT",
    .parse = ttt_parse,
    .validate = ttt_validate,
    .write = ttt_write,
    .preset = ttt_preset,
    .flags = ttt_flags,
    .flags_help =
        "  --heads N --intermediate N --mini-batch N --conv-kernel N --max-position N --rope-theta X\n"
        "  --ttt-type linear|mlp       inner model (sets ttt_base_lr to 1.0 / 0.1 unless --base-lr)\n"
        "  --backbone mamba|transformer pre_conv, share_qk and use_gate all true / all false\n"
        "  --base-lr X                 ttt_base_lr, the inner learning rate eta_base\n"
        "  --fixed-lr-gate --unit-token-scale  ablations: the inner lr gate held at zero (every\n"
        "                              token steps with eta_base*sigmoid(0)/f); tau = 1 for every token\n",
    .set_choice = ttt_set_choice,
    .dims = ttt_dims_of,
    .params = ttt_params,
    .prepare = ttt_prepare,
    .ops = {&lm_ttt_ops_f32, &lm_ttt_ops_f64},
    .inner_stats = ttt_inner_stats,
    .inner_lr_warmup = ttt_inner_lr_warmup,
    .bench = ttt_bench,
    .block_flops = ttt_block_flops,
    .describe = ttt_describe,
};
#endif
