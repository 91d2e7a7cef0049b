/* lm.c: the TTT language model (spec 3.1), generic over `real`:
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
#include "model/model.h"
#include "ops/kernels.h"
#include "ops/ops.h"

/* ------------------------------------------------------------------------------------------ */
/* workspace layout: a bump allocator run twice (sizes, then pointers)                         */

typedef struct {
    real *base;
    int64_t off;
} bump;

static real *take(bump *b, int64_t n) {
    real *p = b->base ? b->base + b->off : NULL;
    b->off += (n + 15) / 16 * 16;
    return p;
}

/* what one block keeps (training: one per layer; inference: one set shared by all layers) */
typedef struct {
    real *h_in, *xc, *rs_c;  /* pre-conv: residual in, RMSNorm output, 1/rms */
    real *h1, *xs, *rs_s;    /* TTT layer input residual, seq_norm output */
    RF(ttt_layer_act) t;
    real *h2, *xf, *rs_f;    /* ffn residual in, ffn_norm output */
    real *ga, *up, *mm;      /* [N, I] SwiGLU gate, up, silu(gate)·up */
} RF(block_act);

typedef struct {
    RF(block_act) *blk; /* [layers] (training) or [1] */
    int nblk;
    real *h;            /* [N, D] the residual stream */
    real *tmp;          /* [N, D] */
    real *hf, *rs_f;    /* final RMSNorm output and 1/rms */
    real *logits;       /* [N, V] */
    RF(ttt_layer_tmp) lt;
    /* backward */
    real *dh, *dx, *dga, *dup, *dmm;
    double *wt;         /* [N] loss weight of each row */
    int32_t *tg;        /* [N] targets */
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
    w->h = take(bp, N * D);
    w->tmp = take(bp, N * D);
    w->hf = take(bp, N * D);
    w->rs_f = take(bp, N);
    w->logits = take(bp, N * d->V);
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
        w->dh = take(bp, N * D);
        w->dx = take(bp, N * D);
        w->dga = take(bp, N * I);
        w->dup = take(bp, N * I);
        w->dmm = take(bp, N * I);
    }
    /* doubles and ints, carved from real-sized slots */
    w->wt = (double *)take(bp, N * (int64_t)(sizeof(double) / sizeof(real)) + 1);
    w->tg = (int32_t *)take(bp, N);
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
    size_t bytes;
    TRY(ttt_size_mul(&bytes, b.off, 1, sizeof(real), "workspace"));
    TRY(ttt_buf_reserve(&m->ws, bytes, "activations"));
    b.base = (real *)m->ws.data;
    b.off = 0;
    layout(&b, w, d, B, L, train, group, nthreads);
    w->lt.rope_cs = m->rope_cs;
    return TTT_OK;
}

/* ------------------------------------------------------------------------------------------ */

/* per-layer cache blocks: [pc_hist B(K−1)D | qk_hist B(K−1)D | state B·nh·S | sums B·nh·S] */
int64_t RF(lm_cache_elems)(const ttt_model *m, int64_t B) {
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
    real *p = (real *)c->data + l * (2 * hist + 2 * st);
    RF(block_cache) bc = {p, {p + hist, p + 2 * hist, p + 2 * hist + st}};
    return bc;
}

void RF(lm_cache_reset)(ttt_cache *c) {
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

static void copy_out(float *dst, const real *src, int64_t n) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) dst[i] = (float)src[i];
}

static void save_hidden(ttt_model *m, const real *h, int64_t i, int64_t N) {
    if (!m->keep_hidden) return;
    copy_out((float *)m->hidden.data + i * N * m->dims.D, h, N * m->dims.D);
}

/* ------------------------------------------------------------------------------------------ */

ttt_status RF(lm_forward)(ttt_model *m, const int32_t *ids, const int32_t *targets, int64_t B,
                          int64_t L, int per_seq, int backward, double scale, float *logits,
                          double *loss) {
    const ttt_dims *d = &m->dims;
    int64_t N = B * L, D = d->D, V = d->V;
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
    if (m->keep_hidden) {
        s = ttt_buf_reserve(&m->hidden, sizeof(float) * (size_t)((d->layers + 1) * N * D), "hidden states");
        if (s != TTT_OK) {
            if (blks != blks_small) ttt_free(blks);
            return s;
        }
        m->hidden_B = B, m->hidden_L = L;
    }
    real *P = (real *)m->w;
    RF(embed_fwd)(ws.h, ids, P + m->offs.embed, N, D);
    save_hidden(m, ws.h, 0, N);
    for (int64_t l = 0; l < d->layers; l++) {
        RF(block_w) w;
        RF(block_w_bind)(&w, P, &m->offs.blk[l]);
        block_forward(m, &w, &ws.blk[backward ? l : 0], &ws, B, L, backward, 0, NULL);
        save_hidden(m, ws.h, l + 1, N);
    }
    RF(rmsnorm_fwd)(ws.hf, ws.rs_f, ws.h, P + m->offs.norm, N, D, (real)d->rms_eps);
    RF(mm_nt)(ws.logits, ws.hf, P + m->offs.head, N, V, D, 0);
    if (logits) copy_out(logits, ws.logits, N * V);
    /* targets (default: the next input token; the last position has none) and row weights */
    int64_t count = 0;
    for (int64_t r = 0; r < N; r++) {
        int64_t t = r % L;
        ws.tg[r] = targets ? targets[r] : (t + 1 < L ? ids[r + 1] : -1);
        count += ws.tg[r] >= 0;
    }
    for (int64_t bi = 0; bi < B; bi++) {
        int64_t cb = 0;
        for (int64_t t = 0; t < L; t++) cb += ws.tg[bi * L + t] >= 0;
        for (int64_t t = 0; t < L; t++)
            ws.wt[bi * L + t] = per_seq ? (cb ? 1.0 / ((double)cb * (double)B) : 0.0)
                                        : (count ? 1.0 / (double)count : 0.0);
    }
    double lv = RF(xent_fwd_bwd)(backward ? ws.logits : NULL, ws.logits, ws.tg, ws.wt, scale, N, V);
    if (loss) *loss = lv;
    if (backward) {
        real *G = (real *)m->g;
        real *dl = ws.logits; /* now d loss / d logits */
        /* logits = hf Headᵀ */
        RF(mm_nn)(ws.dx, dl, P + m->offs.head, N, D, V, 0);
        RF(mm_tn)(G + m->offs.head, dl, ws.hf, V, D, N, 1);
        memset(ws.dh, 0, sizeof(real) * (size_t)(N * D));
        RF(rmsnorm_bwd)(ws.dh, G + m->offs.norm, ws.dx, ws.h, P + m->offs.norm, ws.rs_f, N, D);
        for (int64_t l = d->layers - 1; l >= 0; l--) {
            RF(block_w) w, gw;
            RF(block_w_bind)(&w, P, &m->offs.blk[l]);
            RF(block_w_bind)(&gw, G, &m->offs.blk[l]);
            block_backward(m, &w, &gw, &ws.blk[l], &ws, B, L);
        }
        RF(embed_bwd)(G + m->offs.embed, ids, ws.dh, N, D);
        ttt_free(blks);
    }
    return TTT_OK;
}

/* Tokens continue the sequences of the cache: ids [B, L]; logits [B, L, V] (nullable). */
ttt_status RF(lm_prefill)(ttt_model *m, ttt_cache *c, const int32_t *ids, int64_t L, float *logits) {
    const ttt_dims *d = &m->dims;
    int64_t B = c->B, N = B * L, D = d->D;
    RF(block_act) blk;
    RF(lm_ws) ws;
    TRY(ws_prepare(m, &ws, &blk, B, L, 0));
    real *P = (real *)m->w;
    RF(embed_fwd)(ws.h, ids, P + m->offs.embed, N, D);
    for (int64_t l = 0; l < d->layers; l++) {
        RF(block_w) w;
        RF(block_w_bind)(&w, P, &m->offs.blk[l]);
        RF(block_cache) bc = cache_block(m, c, l);
        block_forward(m, &w, &ws.blk[0], &ws, B, L, 0, c->pos, &bc);
    }
    if (logits) {
        RF(rmsnorm_fwd)(ws.hf, ws.rs_f, ws.h, P + m->offs.norm, N, D, (real)d->rms_eps);
        RF(mm_nt)(ws.logits, ws.hf, P + m->offs.head, N, d->V, D, 0);
        copy_out(logits, ws.logits, N * d->V);
    }
    c->pos += L;
    return TTT_OK;
}
