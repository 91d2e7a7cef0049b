/* ttt_layer.c: forward and backward of the TTT layer (see ttt_layer.h). */
#include <string.h>

#include "layers/ttt_layer.h"
#include "layers/ttt_stats.h"
#include "ops/ops.h"

#define POST_NORM_EPS RC(1e-6)

void RF(block_w_bind)(RF(block_w) *w, real *base, const ttt_block_offs *o) {
#define B_(f) w->f = o->f >= 0 ? base + o->f : NULL
    B_(pc_norm); B_(pc_w); B_(pc_b); B_(seq_norm); B_(ffn_norm);
    B_(q); B_(k); B_(v); B_(o); B_(g); B_(cq_w); B_(cq_b); B_(ck_w); B_(ck_b);
    B_(lr_w); B_(lr_b); B_(tok); B_(ln_w); B_(ln_b); B_(W1); B_(b1); B_(W2); B_(b2);
    B_(post_w); B_(post_b); B_(mg); B_(mu); B_(md);
#undef B_
}

static RF(ttt_scan_args) scan_args(const ttt_dims *d, const RF(block_w) *w, RF(ttt_layer_act) *a,
                                   RF(ttt_layer_tmp) *tmp, int64_t B, int64_t L, int64_t pos0,
                                   RF(ttt_layer_cache) *cache) {
    RF(ttt_scan_args) s;
    memset(&s, 0, sizeof s);
    s.id = (ttt_inner_dims){d->f, d->F, d->b, d->mlp};
    s.B = B, s.L = L, s.nh = d->nh, s.D = d->D, s.pos0 = pos0;
    s.Q = a->Q, s.K = a->K, s.V = a->V, s.lr = tmp->lr, s.tau = tmp->tau;
    s.ln_w = w->ln_w, s.ln_b = w->ln_b, s.W1 = w->W1, s.b1 = w->b1, s.W2 = w->W2, s.b2 = w->b2;
    s.Z = a->Z;
    s.group = tmp->group;
    s.ckpt = a->ckpt, s.mbc = a->mbc;
    if (cache) s.state = cache->state, s.sums = cache->sums;
    s.scratch = tmp->scan_scratch, s.scratch_elems = tmp->scan_scratch_elems;
    s.nthreads = tmp->nthreads;
    return s;
}

/* The scan's step sizes from the saved gate (shared scratch, so recomputed per layer):
 * lr = η_base · s / f with s = sigmoid(x·θ_h + β_h), and τ_i = max(0, 1/(i+1) + λ_i). */
static void step_sizes(const ttt_dims *d, const RF(block_w) *w, const RF(ttt_layer_act) *a,
                       RF(ttt_layer_tmp) *tmp, int64_t N) {
    real scale = (real)d->base_lr / (real)d->f;
    for (int64_t r = 0; r < N * d->nh; r++) tmp->lr[r] = scale * a->lrs[r];
    for (int64_t i = 0; i < d->b; i++) {
        real t = RC(1) / (real)(i + 1) + w->tok[i];
        tmp->tau[i] = d->unit_token_scale ? RC(1) : t > 0 ? t : 0; /* ablation: τ ≡ 1 */
    }
}

/* The products of the layer's input, row by row (no position, no state):
 *   Mamba backbone: u = x Wqᵀ (Q, K follow from it by the convolutions); else Q = x Wqᵀ,
 *   K = x Wkᵀ;  V = x Wvᵀ;  lr_{t,h} = η_base · sigmoid(x_t·θ_h + β_h) / f */
static void in_products(const ttt_dims *d, const RF(block_w) *w, RF(ttt_layer_act) *a, RF(ttt_layer_tmp) *tmp,
                        const real *x, int64_t N) {
    int64_t D = d->D, nh = d->nh;
    if (d->share_qk) {
        RF(mm_nt)(a->u, x, w->q, N, D, D, 0);
    } else {
        RF(mm_nt)(a->Q, x, w->q, N, D, D, 0);
        RF(mm_nt)(a->K, x, w->k, N, D, D, 0);
    }
    RF(mm_nt)(a->V, x, w->v, N, D, D, 0);
    RF(mm_nt)(a->lrs, x, w->lr_w, N, nh, D, 0);
    for (int64_t r = 0; r < N; r++)
        for (int64_t h = 0; h < nh; h++)
            /* ablation "fixed inner lr": the gate is held at zero, every token steps with η_base·σ(0)/f */
            a->lrs[r * nh + h] = d->fixed_lr_gate ? RC(0.5) : RF(sigmoid)(a->lrs[r * nh + h] + w->lr_b[h]);
    step_sizes(d, w, a, tmp, N);
}

/* Q = conv_q(u), K = conv_k(u) (Mamba backbone, continuing hist) and RoPE at position p mod b
 * (interleaved pairs), for the B × L rows starting at row r0 */
static void qk_positions(const ttt_dims *d, const RF(block_w) *w, RF(ttt_layer_act) *a, RF(ttt_layer_tmp) *tmp,
                         int64_t r0, int64_t B, int64_t L, int64_t pos0, real *hist) {
    int64_t D = d->D;
    real *Q = a->Q + r0 * D, *K = a->K + r0 * D;
    if (d->share_qk) {
        const real *u = a->u + r0 * D;
        RF(dwconv_fwd)(Q, u, hist, w->cq_w, w->cq_b, B, L, D, d->K);
        RF(dwconv_fwd)(K, u, hist, w->ck_w, w->ck_b, B, L, D, d->K);
        if (hist) RF(dwconv_hist_update)(hist, u, B, L, D, d->K);
    }
    RF(rope_interleaved)(Q, tmp->rope_cs, B, L, d->nh, d->f, pos0, d->b, 0);
    RF(rope_interleaved)(K, tmp->rope_cs, B, L, d->nh, d->f, pos0, d->b, 0);
}

/* Y = post_norm(Z) [⊙ gelu(x Wgᵀ)];  out = Y Woᵀ */
static void out_products(const ttt_dims *d, const RF(block_w) *w, RF(ttt_layer_act) *a, const real *x, real *out,
                         int64_t N) {
    int64_t D = d->D;
    RF(layernorm_fwd)(a->ln, a->pmean, a->prstd, a->Z, w->post_w, w->post_b, N, D, POST_NORM_EPS);
    if (d->use_gate) {
        RF(mm_nt)(a->gpre, x, w->g, N, D, D, 0);
        RF(gelu_gate_fwd)(a->Y, a->ln, a->gpre, N * D);
    }
    RF(mm_nt)(out, d->use_gate ? a->Y : a->ln, w->o, N, D, D, 0);
}

void RF(ttt_layer_forward)(const ttt_dims *d, const RF(block_w) *w, RF(ttt_layer_act) *a,
                           RF(ttt_layer_tmp) *tmp, const real *x, real *out, int64_t B, int64_t L,
                           int64_t pos0, RF(ttt_layer_cache) *cache) {
    int64_t N = B * L;
    in_products(d, w, a, tmp, x, N);
    qk_positions(d, w, a, tmp, 0, B, L, pos0, cache ? cache->qk_hist : NULL);
    RF(ttt_scan_args) s = scan_args(d, w, a, tmp, B, L, pos0, cache);
    RF(ttt_scan_forward)(&s);
    if (tmp->stats && !cache) RF(ttt_scan_stats)(&s, tmp->stats);
    out_products(d, w, a, x, out, N);
}

void RF(ttt_layer_forward_rows)(const ttt_dims *d, const RF(block_w) *w, RF(ttt_layer_act) *a,
                                RF(ttt_layer_tmp) *tmp, const real *x, real *out, int64_t n,
                                const int64_t *pos, RF(ttt_layer_cache) *caches) {
    int64_t D = d->D, nh = d->nh;
    in_products(d, w, a, tmp, x, n);
    for (int64_t i = 0; i < n; i++) {
        qk_positions(d, w, a, tmp, i, 1, 1, pos[i], caches[i].qk_hist);
        RF(ttt_scan_args) s = scan_args(d, w, a, tmp, 1, 1, pos[i], &caches[i]);
        s.Q += i * D, s.K += i * D, s.V += i * D, s.lr += i * nh, s.Z += i * D;
        RF(ttt_scan_forward)(&s);
    }
    out_products(d, w, a, x, out, n);
}

void RF(ttt_layer_backward)(const ttt_dims *d, const RF(block_w) *w, const RF(block_w) *gw,
                            const RF(ttt_layer_act) *a, RF(ttt_layer_tmp) *tmp, const real *x,
                            const real *dout, real *dx, int64_t B, int64_t L) {
    int64_t N = B * L, D = d->D, nh = d->nh, f = d->f, F = d->F;
    size_t ND = sizeof(real) * (size_t)(N * D);
    const real *Y = d->use_gate ? a->Y : a->ln;
    /* out = Y Woᵀ */
    RF(mm_nn)(tmp->dY, dout, w->o, N, D, D, 0);
    RF(mm_tn)(gw->o, dout, Y, D, D, N, 1);
    real *dln = tmp->dY;
    if (d->use_gate) { /* Y = ln ⊙ gelu(gpre), gpre = x Wgᵀ */
        RF(gelu_gate_bwd)(tmp->dY, tmp->dg, tmp->dY, a->ln, a->gpre, N * D);
        RF(mm_nn)(dx, tmp->dg, w->g, N, D, D, 1);
        RF(mm_tn)(gw->g, tmp->dg, x, D, D, N, 1);
    }
    /* ln = post_norm(Z) */
    memset(tmp->dZ, 0, ND);
    RF(layernorm_bwd)(tmp->dZ, gw->post_w, gw->post_b, dln, a->Z, w->post_w, a->pmean, a->prstd, N, D);
    /* the scan */
    memset(tmp->dQ, 0, ND);
    memset(tmp->dK, 0, ND);
    memset(tmp->dV, 0, ND);
    memset(tmp->dlr, 0, sizeof(real) * (size_t)(N * nh));
    step_sizes(d, w, a, tmp, N);
    RF(ttt_scan_args) s = scan_args(d, w, (RF(ttt_layer_act) *)a, tmp, B, L, 0, NULL);
    RF(ttt_scan_backward)(&s, tmp->dZ, tmp->dQ, tmp->dK, tmp->dV, tmp->dlr, tmp->dtau_part,
                          tmp->dln_part, tmp->dW0_part);
    /* reduce the per-(sequence, head) partials in a fixed order */
    int64_t S = ttt_state_size(&s.id);
    for (int64_t h = 0; h < nh; h++)
        for (int64_t bi = 0; bi < B; bi++) {
            int64_t task = bi * nh + h;
            const real *p = tmp->dW0_part + task * S;
            for (int64_t i = 0; i < f * F; i++) gw->W1[h * f * F + i] += p[i];
            for (int64_t i = 0; i < F; i++) gw->b1[h * F + i] += p[f * F + i];
            if (d->mlp) {
                for (int64_t i = 0; i < F * f; i++) gw->W2[h * F * f + i] += p[f * F + F + i];
                for (int64_t i = 0; i < f; i++) gw->b2[h * f + i] += p[f * F + F + F * f + i];
            }
            const real *pl = tmp->dln_part + task * 2 * f;
            for (int64_t i = 0; i < f; i++) {
                gw->ln_w[h * f + i] += pl[i];
                gw->ln_b[h * f + i] += pl[f + i];
            }
        }
    /* τ_i = max(0, 1/(i+1) + λ_i): dλ_i = dτ_i where the clamp is inactive */
    for (int64_t i = 0; i < d->b && !d->unit_token_scale; i++) {
        real acc = 0;
        for (int64_t task = 0; task < B * nh; task++) acc += tmp->dtau_part[task * d->b + i];
        if (RC(1) / (real)(i + 1) + w->tok[i] >= 0) gw->tok[i] += acc;
    }
    /* lr = η/f · sigmoid(a), a = x θᵀ + β:  da = dlr · η/f · s (1 − s) (in place); with the
     * gate held fixed nothing flows into it */
    real scale = d->fixed_lr_gate ? RC(0) : (real)d->base_lr / (real)f;
    for (int64_t r = 0; r < N * nh; r++) {
        real sg = a->lrs[r];
        tmp->dlr[r] *= scale * sg * (RC(1) - sg);
    }
    RF(mm_nn)(dx, tmp->dlr, w->lr_w, N, D, nh, 1);
    RF(mm_tn)(gw->lr_w, tmp->dlr, x, nh, D, N, 1);
    for (int64_t h = 0; h < nh; h++) {
        real acc = 0;
        for (int64_t r = 0; r < N; r++) acc += tmp->dlr[r * nh + h];
        gw->lr_b[h] += acc;
    }
    /* RoPE backward: rotate by −φ */
    RF(rope_interleaved)(tmp->dQ, tmp->rope_cs, B, L, nh, f, 0, d->b, 1);
    RF(rope_interleaved)(tmp->dK, tmp->rope_cs, B, L, nh, f, 0, d->b, 1);
    /* V = x Wvᵀ */
    RF(mm_nn)(dx, tmp->dV, w->v, N, D, D, 1);
    RF(mm_tn)(gw->v, tmp->dV, x, D, D, N, 1);
    if (d->share_qk) {
        memset(tmp->du, 0, ND);
        RF(dwconv_bwd)(tmp->du, gw->cq_w, gw->cq_b, tmp->dQ, a->u, w->cq_w, B, L, D, d->K);
        RF(dwconv_bwd)(tmp->du, gw->ck_w, gw->ck_b, tmp->dK, a->u, w->ck_w, B, L, D, d->K);
        RF(mm_nn)(dx, tmp->du, w->q, N, D, D, 1);
        RF(mm_tn)(gw->q, tmp->du, x, D, D, N, 1);
    } else {
        RF(mm_nn)(dx, tmp->dQ, w->q, N, D, D, 1);
        RF(mm_tn)(gw->q, tmp->dQ, x, D, D, N, 1);
        RF(mm_nn)(dx, tmp->dK, w->k, N, D, D, 1);
        RF(mm_tn)(gw->k, tmp->dK, x, D, D, N, 1);
    }
}
