/* params.c: the tensors of a TTT language model (ttt.py TTTForCausalLM.state_dict() names
 * and shapes, spec 3.5) laid out in one contiguous buffer. */
#include "model/params.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define ALIGN_ELEMS 16 /* each tensor starts on a 64-byte boundary for float */

void ttt_dims_from_config(ttt_dims *d, const ttt_config *c) {
    memset(d, 0, sizeof *d);
    d->V = c->vocab_size;
    d->D = c->hidden_size;
    d->I = c->intermediate_size;
    d->nh = c->num_attention_heads;
    d->f = c->hidden_size / c->num_attention_heads;
    d->mlp = c->ttt_layer_type == TTT_INNER_MLP;
    d->F = d->mlp ? 4 * d->f : d->f;
    d->b = c->mini_batch_size;
    d->K = c->conv_kernel;
    d->layers = c->num_hidden_layers;
    d->pre_conv = c->pre_conv;
    d->share_qk = c->share_qk;
    d->use_gate = c->use_gate;
    d->tied = c->tie_word_embeddings;
    d->rms_eps = c->rms_norm_eps;
    d->base_lr = c->ttt_base_lr;
    d->rope_theta = c->rope_theta;
}

static int64_t add(param_table *t, param_init init, int ndim, const int64_t *shape, const char *fmt,
                   ...) __attribute__((format(printf, 5, 6)));
static int64_t add(param_table *t, param_init init, int ndim, const int64_t *shape, const char *fmt,
                   ...) {
    TTT_ASSERT(t->n < t->cap); /* capacity reserved by ttt_params_build */
    param_info *p = &t->p[t->n++];
    memset(p, 0, sizeof *p);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->name, sizeof p->name, fmt, ap);
    va_end(ap);
    p->ndim = ndim;
    p->numel = 1;
    for (int i = 0; i < ndim; i++) {
        p->shape[i] = shape[i];
        p->numel *= shape[i];
    }
    p->offset = t->total;
    p->init = init;
    t->total += (p->numel + ALIGN_ELEMS - 1) / ALIGN_ELEMS * ALIGN_ELEMS;
    return p->offset;
}

#define SH(...) (const int64_t[]){__VA_ARGS__}

ttt_status ttt_params_build(param_table *t, ttt_lm_offs *o, const ttt_config *cfg) {
    memset(t, 0, sizeof *t);
    memset(o, 0, sizeof *o);
    ttt_dims d;
    ttt_dims_from_config(&d, cfg);
    int64_t D = d.D, nh = d.nh, f = d.f, F = d.F, K = d.K, I = d.I;
    o->blk = malloc(sizeof(ttt_block_offs) * (size_t)d.layers);
    t->cap = 4 + 32 * d.layers; /* at most 30 tensors per block */
    t->p = malloc(sizeof(param_info) * (size_t)t->cap);
    if (!o->blk || !t->p) {
        ttt_params_free(t, o);
        return ttt_err(TTT_ERR_NOMEM, "out of memory");
    }
    o->embed = add(t, INIT_NORMAL, 2, SH(d.V, D), "model.embed_tokens.weight");
    for (int64_t l = 0; l < d.layers; l++) {
        ttt_block_offs *b = &o->blk[l];
        memset(b, 0xff, sizeof *b); /* all -1 */
        const char *s = "seq_modeling_block";
        long long L = (long long)l;
        b->tok = add(t, INIT_ZERO, 1, SH(d.b), "model.layers.%lld.%s.learnable_token_idx", L, s);
        b->lr_w = add(t, INIT_NORMAL, 3, SH(nh, 1, D), "model.layers.%lld.%s.learnable_ttt_lr_weight", L, s);
        b->lr_b = add(t, INIT_ZERO, 2, SH(nh, 1), "model.layers.%lld.%s.learnable_ttt_lr_bias", L, s);
        b->ln_w = add(t, INIT_ONE, 2, SH(nh, f), "model.layers.%lld.%s.ttt_norm_weight", L, s);
        b->ln_b = add(t, INIT_ZERO, 2, SH(nh, f), "model.layers.%lld.%s.ttt_norm_bias", L, s);
        b->q = add(t, INIT_NORMAL, 2, SH(D, D), "model.layers.%lld.%s.q_proj.weight", L, s);
        if (!d.share_qk) b->k = add(t, INIT_NORMAL, 2, SH(D, D), "model.layers.%lld.%s.k_proj.weight", L, s);
        b->v = add(t, INIT_NORMAL, 2, SH(D, D), "model.layers.%lld.%s.v_proj.weight", L, s);
        b->o = add(t, INIT_NORMAL, 2, SH(D, D), "model.layers.%lld.%s.o_proj.weight", L, s);
        if (d.share_qk) {
            b->cq_w = add(t, INIT_CONV, 3, SH(D, 1, K), "model.layers.%lld.%s.conv_q.weight", L, s);
            b->cq_b = add(t, INIT_ZERO, 1, SH(D), "model.layers.%lld.%s.conv_q.bias", L, s);
            b->ck_w = add(t, INIT_CONV, 3, SH(D, 1, K), "model.layers.%lld.%s.conv_k.weight", L, s);
            b->ck_b = add(t, INIT_ZERO, 1, SH(D), "model.layers.%lld.%s.conv_k.bias", L, s);
        }
        if (d.use_gate) b->g = add(t, INIT_NORMAL, 2, SH(D, D), "model.layers.%lld.%s.g_proj.weight", L, s);
        b->post_w = add(t, INIT_ONE, 1, SH(D), "model.layers.%lld.%s.post_norm.weight", L, s);
        b->post_b = add(t, INIT_ZERO, 1, SH(D), "model.layers.%lld.%s.post_norm.bias", L, s);
        b->W1 = add(t, INIT_NORMAL, 3, SH(nh, f, F), "model.layers.%lld.%s.W1", L, s);
        b->b1 = add(t, INIT_ZERO, 3, SH(nh, 1, F), "model.layers.%lld.%s.b1", L, s);
        if (d.mlp) {
            b->W2 = add(t, INIT_NORMAL, 3, SH(nh, F, f), "model.layers.%lld.%s.W2", L, s);
            b->b2 = add(t, INIT_ZERO, 3, SH(nh, 1, f), "model.layers.%lld.%s.b2", L, s);
        }
        b->mg = add(t, INIT_NORMAL, 2, SH(I, D), "model.layers.%lld.mlp.gate_proj.weight", L);
        b->mu = add(t, INIT_NORMAL, 2, SH(I, D), "model.layers.%lld.mlp.up_proj.weight", L);
        b->md = add(t, INIT_NORMAL, 2, SH(D, I), "model.layers.%lld.mlp.down_proj.weight", L);
        if (d.pre_conv) {
            b->pc_norm = add(t, INIT_ONE, 1, SH(D), "model.layers.%lld.conv.norm.weight", L);
            b->pc_w = add(t, INIT_CONV, 3, SH(D, 1, K), "model.layers.%lld.conv.conv.weight", L);
            b->pc_b = add(t, INIT_ZERO, 1, SH(D), "model.layers.%lld.conv.conv.bias", L);
        }
        b->seq_norm = add(t, INIT_ONE, 1, SH(D), "model.layers.%lld.seq_norm.weight", L);
        b->ffn_norm = add(t, INIT_ONE, 1, SH(D), "model.layers.%lld.ffn_norm.weight", L);
    }
    o->norm = add(t, INIT_ONE, 1, SH(D), "model.norm.weight");
    o->head = d.tied ? o->embed : add(t, INIT_NORMAL, 2, SH(d.V, D), "lm_head.weight");
    return TTT_OK;
}

void ttt_params_free(param_table *t, ttt_lm_offs *o) {
    free(t->p);
    free(o->blk);
    memset(t, 0, sizeof *t);
    memset(o, 0, sizeof *o);
}

int64_t param_table_find(const param_table *t, const char *name) {
    for (int64_t i = 0; i < t->n; i++)
        if (strcmp(t->p[i].name, name) == 0) return i;
    return -1;
}
