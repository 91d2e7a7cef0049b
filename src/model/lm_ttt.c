/* lm_ttt.c: the TTT language model (design.md 3.1), generic over `real`:
 *   h0 = Embed(ids);  per block:  h += DWConv(RMSNorm_conv(h))   (pre_conv)
 *                                 h += TTTLayer(RMSNorm_seq(h))
 *                                 h += SwiGLU(RMSNorm_ffn(h))
 *   logits = RMSNorm_final(h) · Headᵀ;  loss = cross-entropy against the targets.
 * Full-sequence forward (optionally keeping activations for the backward), the backward pass,
 * and the cached prefill / decode path. */
#include <omp.h>
#include <string.h>

#include "core/error.h"
#include "layers/ttt_layer.h"
#include "model/lm_common.h"
#include "ops/ops.h"

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
    w->lt.rope_cs = m->rope_cs;
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
        const ttt_block_offs *o = &m->offs.blk[l];
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

static void block_forward(const ttt_model *m, const RF(block_w) *w, RF(block_act) *a,
                          RF(lm_ws) *ws, int64_t B, int64_t L, int train, int64_t pos0,
                          RF(block_cache) *bc) {
    const ttt_dims *d = &m->dims;
    int64_t N = B * L, D = d->D, I = d->I;
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
    /* h += down(silu(x Wgᵀ) ⊙ (x Wuᵀ)),  x = RMSNorm_ffn(h) */
    RF(rmsnorm_fwd)(a->xf, a->rs_f, h, w->ffn_norm, N, D, eps);
    RF(mm_nt)(a->ga, a->xf, w->mg, N, I, D, 0);
    RF(mm_nt)(a->up, a->xf, w->mu, N, I, D, 0);
    RF(swiglu_fwd)(a->mm, a->ga, a->up, N * I);
    RF(mm_nt)(tmp, a->mm, w->md, N, D, I, 0);
    RF(vec_add)(h, tmp, N * D);
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
        RF(block_w_bind)(&w, P, &m->offs.blk[l]);
        ws.lt.stats = m->ttt_stats_out ? m->ttt_stats_out + l * nmb * 3 : NULL;
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
            RF(block_w_bind)(&w, P, &m->offs.blk[l]);
            RF(block_w_bind)(&gw, G, &m->offs.blk[l]);
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
        RF(block_w_bind)(&w, P, &m->offs.blk[l]);
        RF(block_cache) bc = cache_block(m, c, l);
        block_forward(m, &w, &ws.blk[0], &ws, B, L, 0, c->pos, &bc);
    }
    if (logits) RF(lm_head)(m, &ws.io, N, logits);
    c->pos += L;
    return TTT_OK;
}

const lm_arch_ops RF(lm_ttt_ops) = {forward, cache_init, cache_reset, prefill};
