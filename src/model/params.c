/* params.c: the tensors of a TTT language model (ttt.py TTTForCausalLM.state_dict() names
 * and shapes, design.md 3.5) laid out in one contiguous buffer. */
#include "model/params.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"

#define ALIGN_ELEMS 16 /* each tensor starts on a 64-byte boundary for float */

void ttt_dims_from_config(ttt_dims *d, const ttt_config *c) {
    memset(d, 0, sizeof *d);
    d->arch = c->arch;
    d->V = ttt_config_vocab_rows(c);
    d->D = c->hidden_size;
    d->I = c->intermediate_size;
    d->nh = c->num_attention_heads;
    d->f = c->num_attention_heads > 0 ? c->hidden_size / c->num_attention_heads : 0; /* Mamba: no heads */
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
    d->fixed_lr_gate = c->ttt_fixed_lr_gate;
    d->unit_token_scale = c->ttt_unit_token_scale;
    if (c->arch == TTT_ARCH_LLAMA) {
        d->nkv = c->num_key_value_heads;
        d->F = d->f;
        d->mlp = d->b = d->K = 0;
    } else if (c->arch == TTT_ARCH_MAMBA) {
        d->nh = d->f = d->F = d->b = 0;
        d->mlp = 0;
        d->N = c->state_size;
        d->R = c->time_step_rank;
        d->use_bias = c->use_bias;
        d->use_conv_bias = c->use_conv_bias;
    }
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
    /* numel = prod(shape), total += numel rounded up to ALIGN_ELEMS, all checked: the dims come
     * from config.json, and a wrapped count would size an allocation */
    p->numel = 1;
    for (int i = 0; i < ndim; i++) {
        p->shape[i] = shape[i];
        if (shape[i] < 0 || !ttt_i64_mul_ok(p->numel, shape[i], &p->numel)) t->overflow = 1;
    }
    p->offset = t->total;
    p->init = init;
    p->scale = 0;
    int64_t padded;
    if (t->overflow || !ttt_i64_add_ok(p->numel, ALIGN_ELEMS - 1, &padded) ||
        !ttt_i64_add_ok(t->total, padded / ALIGN_ELEMS * ALIGN_ELEMS, &t->total)) {
        t->overflow = 1;
        p->numel = 0;
    }
    return p->offset;
}

#define SH(...) (const int64_t[]){__VA_ARGS__}

static ttt_status build_ttt(param_table *t, ttt_lm_offs *o, const ttt_dims *dp) {
    ttt_dims d = *dp;
    int64_t D = d.D, nh = d.nh, f = d.f, F = d.F, K = d.K, I = d.I;
    o->blk = malloc(sizeof(ttt_block_offs) * (size_t)d.layers);
    if (!o->blk) return ttt_err(TTT_ERR_NOMEM, "out of memory");
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

/* Hugging Face LlamaForCausalLM */
static ttt_status build_llama(param_table *t, ttt_lm_offs *o, const ttt_dims *d) {
    int64_t D = d->D, hd = d->f, I = d->I;
    o->llama = malloc(sizeof(llama_block_offs) * (size_t)d->layers);
    if (!o->llama) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    o->embed = add(t, INIT_NORMAL, 2, SH(d->V, D), "model.embed_tokens.weight");
    for (int64_t l = 0; l < d->layers; l++) {
        llama_block_offs *b = &o->llama[l];
        long long L = (long long)l;
        b->q = add(t, INIT_NORMAL, 2, SH(d->nh * hd, D), "model.layers.%lld.self_attn.q_proj.weight", L);
        b->k = add(t, INIT_NORMAL, 2, SH(d->nkv * hd, D), "model.layers.%lld.self_attn.k_proj.weight", L);
        b->v = add(t, INIT_NORMAL, 2, SH(d->nkv * hd, D), "model.layers.%lld.self_attn.v_proj.weight", L);
        b->o = add(t, INIT_NORMAL, 2, SH(D, d->nh * hd), "model.layers.%lld.self_attn.o_proj.weight", L);
        b->mg = add(t, INIT_NORMAL, 2, SH(I, D), "model.layers.%lld.mlp.gate_proj.weight", L);
        b->mu = add(t, INIT_NORMAL, 2, SH(I, D), "model.layers.%lld.mlp.up_proj.weight", L);
        b->md = add(t, INIT_NORMAL, 2, SH(D, I), "model.layers.%lld.mlp.down_proj.weight", L);
        b->in_norm = add(t, INIT_ONE, 1, SH(D), "model.layers.%lld.input_layernorm.weight", L);
        b->post_norm = add(t, INIT_ONE, 1, SH(D), "model.layers.%lld.post_attention_layernorm.weight", L);
    }
    o->norm = add(t, INIT_ONE, 1, SH(D), "model.norm.weight");
    o->head = d->tied ? o->embed : add(t, INIT_NORMAL, 2, SH(d->V, D), "lm_head.weight");
    return TTT_OK;
}

/* Hugging Face MambaForCausalLM (mamba_ssm format: backbone.embedding.weight) with the
 * initialisation of mamba_ssm: nn.Linear's U(±1/sqrt(fan_in)), out_proj rescaled by
 * 1/sqrt(layers), dt_proj weight U(±R^-½), A_log = log(1..N), D = 1 */
static ttt_status build_mamba(param_table *t, ttt_lm_offs *o, const ttt_dims *d, int ssm_format) {
    int64_t D = d->D, E = d->I, N = d->N, R = d->R, K = d->K;
    o->mamba = malloc(sizeof(mamba_block_offs) * (size_t)d->layers);
    if (!o->mamba) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    o->embed = add(t, INIT_NORMAL, 2, SH(d->V, D), ssm_format ? "backbone.embedding.weight" : "backbone.embeddings.weight");
    t->p[t->n - 1].scale = 0.02;
    for (int64_t l = 0; l < d->layers; l++) {
        mamba_block_offs *b = &o->mamba[l];
        memset(b, 0xff, sizeof *b);
        long long L = (long long)l;
#define MNAME(x) "backbone.layers.%lld.mixer." x
        b->in_proj = add(t, INIT_UNIFORM, 2, SH(2 * E, D), MNAME("in_proj.weight"), L);
        t->p[t->n - 1].scale = 1.0 / sqrt((double)D);
        if (d->use_bias) b->in_proj_b = add(t, INIT_ZERO, 1, SH(2 * E), MNAME("in_proj.bias"), L);
        b->conv_w = add(t, INIT_UNIFORM, 3, SH(E, 1, K), MNAME("conv1d.weight"), L);
        t->p[t->n - 1].scale = 1.0 / sqrt((double)K);
        if (d->use_conv_bias) {
            b->conv_b = add(t, INIT_UNIFORM, 1, SH(E), MNAME("conv1d.bias"), L);
            t->p[t->n - 1].scale = 1.0 / sqrt((double)K);
        }
        b->x_proj = add(t, INIT_UNIFORM, 2, SH(R + 2 * N, E), MNAME("x_proj.weight"), L);
        t->p[t->n - 1].scale = 1.0 / sqrt((double)E);
        b->dt_w = add(t, INIT_UNIFORM, 2, SH(E, R), MNAME("dt_proj.weight"), L);
        t->p[t->n - 1].scale = 1.0 / sqrt((double)R);
        b->dt_b = add(t, INIT_DT_BIAS, 1, SH(E), MNAME("dt_proj.bias"), L);
        b->A_log = add(t, INIT_A_LOG, 2, SH(E, N), MNAME("A_log"), L);
        b->D = add(t, INIT_ONE, 1, SH(E), MNAME("D"), L);
        b->out_proj = add(t, INIT_UNIFORM, 2, SH(D, E), MNAME("out_proj.weight"), L);
        t->p[t->n - 1].scale = 1.0 / sqrt((double)E) / sqrt((double)d->layers);
        if (d->use_bias) b->out_proj_b = add(t, INIT_ZERO, 1, SH(D), MNAME("out_proj.bias"), L);
#undef MNAME
        b->norm = add(t, INIT_ONE, 1, SH(D), "backbone.layers.%lld.norm.weight", L);
    }
    o->norm = add(t, INIT_ONE, 1, SH(D), "backbone.norm_f.weight");
    o->head = d->tied ? o->embed : add(t, INIT_NORMAL, 2, SH(d->V, D), "lm_head.weight");
    if (!d->tied) t->p[t->n - 1].scale = 0.02;
    return TTT_OK;
}

ttt_status ttt_params_build(param_table *t, ttt_lm_offs *o, const ttt_config *cfg) {
    memset(t, 0, sizeof *t);
    memset(o, 0, sizeof *o);
    ttt_dims d;
    ttt_dims_from_config(&d, cfg);
    t->cap = 4 + 32 * d.layers; /* at most 30 tensors per block */
    t->p = malloc(sizeof(param_info) * (size_t)t->cap);
    if (!t->p) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    ttt_status s = cfg->arch == TTT_ARCH_LLAMA   ? build_llama(t, o, &d)
                   : cfg->arch == TTT_ARCH_MAMBA ? build_mamba(t, o, &d, cfg->mamba_ssm_format)
                                                 : build_ttt(t, o, &d);
    if (s == TTT_OK && t->overflow)
        s = ttt_err(TTT_ERR_CONFIG,
                    "the configuration's sizes (hidden_size %lld, intermediate_size %lld, %lld "
                    "layers, vocab_size %lld) make a parameter count beyond 2^63: not a model "
                    "that can exist", (long long)cfg->hidden_size, (long long)cfg->intermediate_size,
                    (long long)cfg->num_hidden_layers, (long long)cfg->vocab_size);
    if (s != TTT_OK) ttt_params_free(t, o);
    return s;
}

int64_t ttt_config_param_count(const ttt_config *cfg) {
    param_table t;
    ttt_lm_offs o;
    if (ttt_params_build(&t, &o, cfg) != TTT_OK) return -1;
    int64_t n = 0;
    for (int64_t i = 0; i < t.n; i++)
        if (!ttt_i64_add_ok(n, t.p[i].numel, &n)) n = INT64_MAX; /* the table's total fitted */
    ttt_params_free(&t, &o);
    return n;
}

void ttt_params_free(param_table *t, ttt_lm_offs *o) {
    free(t->p);
    free(o->blk);
    free(o->llama);
    free(o->mamba);
    memset(t, 0, sizeof *t);
    memset(o, 0, sizeof *o);
}

int64_t param_table_find(const param_table *t, const char *name) {
    for (int64_t i = 0; i < t->n; i++)
        if (strcmp(t->p[i].name, name) == 0) return i;
    return -1;
}
