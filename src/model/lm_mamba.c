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
#include <stdio.h>
#include <stdlib.h>
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

/* h += Mixer(RMSNorm(h; norm)). rows (L = 1): row i continues rows[i], a cache of one
 * sequence (ttt_decode_multi); else mc, a cache of B sequences (NULL: fresh ones). */
static void block_forward(const ttt_model *m, int64_t l, RF(mblock_act) *a, RF(mamba_ws) *ws, int64_t B,
                          int64_t L, int train, RF(mamba_cache) *mc, RF(mamba_cache) *rows) {
    const ttt_dims *d = &m->dims;
    int64_t M = B * L, D = d->D;
    real *P = (real *)m->w;
    const mamba_block_offs *o = &((const mamba_block_offs *)m->offs.blocks)[l];
    RF(mamba_w) w;
    RF(mamba_w_bind)(&w, P, o);
    if (train) memcpy(a->h_in, ws->h, sizeof(real) * (size_t)(M * D));
    RF(rmsnorm_fwd)(a->xn, a->rs, ws->h, P + o->norm, M, D, (real)d->rms_eps);
    if (rows)
        RF(mamba_mixer_forward_rows)(d, &w, &a->mx, &ws->mt, a->xn, ws->out, B, rows);
    else
        RF(mamba_mixer_forward)(d, &w, &a->mx, &ws->mt, a->xn, ws->out, B, L, mc);
    RF(vec_add)(ws->h, ws->out, M * D);
}

/* dh: gradient w.r.t. the block's output residual in, w.r.t. its input residual out */
static void block_backward(ttt_model *m, int64_t l, RF(mblock_act) *a, RF(mamba_ws) *ws, int64_t B,
                           int64_t L) {
    const ttt_dims *d = &m->dims;
    int64_t M = B * L, D = d->D;
    real *P = (real *)m->w, *G = (real *)m->g;
    const mamba_block_offs *o = &((const mamba_block_offs *)m->offs.blocks)[l];
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
        block_forward(m, l, &ws.blk[backward ? l : 0], &ws, B, L, backward, NULL, NULL);
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
        block_forward(m, l, &ws.blk[0], &ws, B, L, 0, &mc, NULL);
    }
    if (logits) RF(lm_head)(m, &ws.io, M, logits);
    c->pos += L;
    return TTT_OK;
}

/* ids[i] continues caches[i] (each of one sequence) by one token; logits [n, V] nullable */
static ttt_status decode_multi(ttt_model *m, ttt_cache **caches, int64_t n, const int32_t *ids, float *logits) {
    const ttt_dims *d = &m->dims;
    RF(mblock_act) blk;
    RF(mamba_ws) ws;
    TRY(ws_prepare(m, &ws, &blk, n, 1, 0));
    RF(mamba_cache) *rows = malloc(sizeof *rows * (size_t)n);
    if (!rows) return ttt_err(TTT_ERR_NOMEM, "out of memory (a decode batch of %lld sequences)", (long long)n);
    RF(lm_embed)(m, &ws.io, ids, n);
    for (int64_t l = 0; l < d->layers; l++) {
        for (int64_t i = 0; i < n; i++) rows[i] = cache_layer(m, caches[i], l);
        block_forward(m, l, &ws.blk[0], &ws, n, 1, 0, NULL, rows);
    }
    if (logits) RF(lm_head)(m, &ws.io, n, logits);
    for (int64_t i = 0; i < n; i++) caches[i]->pos++;
    free(rows);
    return TTT_OK;
}

/* the state as named tensors (model.h): per layer the last K−1 inputs of the convolution
 * [B, K−1, E] and the SSM state h [B, E, N] */
static int64_t state_tensors(const ttt_model *m, ttt_cache *c, int64_t B, int64_t pos, lm_state_tensor *t,
                             int64_t max) {
    (void)pos;
    const ttt_dims *d = &m->dims;
    int64_t n = 0, K1 = d->K - 1, E = d->I, N = d->N;
    char nm[64];
    for (int64_t l = 0; l < d->layers; l++) {
        RF(mamba_cache) mc = {NULL, NULL};
        if (c) mc = cache_layer(m, c, l);
        if (K1 > 0) {
            snprintf(nm, sizeof nm, "layers.%lld.conv_hist", (long long)l);
            lm_state_add(t, &n, max, nm, mc.conv_hist, K1 * E, K1 * E, 3, B, K1, E, 0);
        }
        snprintf(nm, sizeof nm, "layers.%lld.ssm_state", (long long)l);
        lm_state_add(t, &n, max, nm, mc.state, E * N, E * N, 3, B, E, N, 0);
    }
    return n;
}

const lm_arch_ops RF(lm_mamba_ops) = {forward, cache_init, cache_reset, prefill, state_tensors, NULL, decode_multi};

/* ------------------------------------------------------------------------------------------ */
/* the family (model/family.h): config.json of Hugging Face's MambaConfig or of mamba_ssm,      */
/* presets, flags, parameter table and initialisation, bench cost, info                        */

#if TTT_ONCE
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "model/family.h"

extern const lm_arch_ops lm_mamba_ops_f64;

static void mamba_defaults(ttt_config *cfg) {
    cfg_defaults(cfg);
    cfg->state_size = 16;
    cfg->expand = 2;
    cfg->conv_kernel = 4;
    cfg->use_bias = 0;
    cfg->use_conv_bias = 1;
    cfg->rms_norm_eps = 1e-5;
    cfg->bos_token_id = 0;
    cfg->eos_token_id = 0;
    cfg->pad_token_id = 0;
    cfg->initializer_range = 0.1;
    cfg->tie_word_embeddings = 1;
    cfg->time_step_min = 0.001;
    cfg->time_step_max = 0.1;
    cfg->time_step_floor = 1e-4;
    cfg->pad_vocab_size_multiple = 1;
}

/* "auto" or an integer */
static ttt_status get_rank(const cfg_json *c, const char *name, int64_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->root, name);
    if (!v) return TTT_OK;
    if (cJSON_IsString(v) && strcmp(v->valuestring, "auto") == 0) {
        *out = 0;
        return TTT_OK;
    }
    return cfg_int(c, name, 0, out);
}

/* mamba_ssm's original config: d_model, n_layer, vocab_size, ssm_cfg, rms_norm,
 * residual_in_fp32, fused_add_norm, pad_vocab_size_multiple, tie_embeddings */
static ttt_status parse_mamba_ssm(const cfg_json *c, ttt_config *cfg) {
    cfg->mamba_ssm_format = 1;
    TRY(cfg_int(c, "d_model", 1, &cfg->hidden_size));
    TRY(cfg_int(c, "n_layer", 1, &cfg->num_hidden_layers));
    TRY(cfg_int(c, "vocab_size", 1, &cfg->vocab_size));
    TRY(cfg_int(c, "pad_vocab_size_multiple", 0, &cfg->pad_vocab_size_multiple));
    TRY(cfg_bool(c, "tie_embeddings", &cfg->tie_word_embeddings));
    int rms = 1;
    TRY(cfg_bool(c, "rms_norm", &rms));
    if (!rms) return ttt_err(TTT_ERR_CONFIG, "%s: \"rms_norm\": false (LayerNorm) is not supported", c->path);
    const cJSON *ssm = cJSON_GetObjectItemCaseSensitive(c->root, "ssm_cfg");
    cfg->time_step_rank = 0;
    if (ssm) {
        if (!cJSON_IsObject(ssm)) return ttt_err(TTT_ERR_CONFIG, "%s: \"ssm_cfg\" must be an object", c->path);
        cfg_json s = {c->path, ssm};
        TRY(cfg_int(&s, "d_state", 0, &cfg->state_size));
        TRY(cfg_int(&s, "d_conv", 0, &cfg->conv_kernel));
        TRY(cfg_int(&s, "expand", 0, &cfg->expand));
        TRY(get_rank(&s, "dt_rank", &cfg->time_step_rank));
        TRY(cfg_bool(&s, "conv_bias", &cfg->use_conv_bias));
        TRY(cfg_bool(&s, "bias", &cfg->use_bias));
        TRY(cfg_num(&s, "dt_min", 0, &cfg->time_step_min));
        TRY(cfg_num(&s, "dt_max", 0, &cfg->time_step_max));
        TRY(cfg_num(&s, "dt_init_floor", 0, &cfg->time_step_floor));
    }
    if (cfg->time_step_rank == 0) cfg->time_step_rank = (cfg->hidden_size + 15) / 16;
    cfg->intermediate_size = cfg->expand * cfg->hidden_size;
    return TTT_OK;
}

/* Hugging Face MambaConfig, or mamba_ssm's format (no model_type) */
static ttt_status mamba_parse(const cfg_json *c, ttt_config *cfg) {
    mamba_defaults(cfg);
    if (!cfg_str(c, "model_type")) return parse_mamba_ssm(c, cfg);
    TRY(cfg_int(c, "vocab_size", 1, &cfg->vocab_size));
    TRY(cfg_int(c, "hidden_size", 1, &cfg->hidden_size));
    TRY(cfg_int(c, "num_hidden_layers", 1, &cfg->num_hidden_layers));
    TRY(cfg_int(c, "state_size", 0, &cfg->state_size));
    TRY(cfg_int(c, "expand", 0, &cfg->expand));
    TRY(cfg_int(c, "conv_kernel", 0, &cfg->conv_kernel));
    TRY(cfg_bool(c, "use_bias", &cfg->use_bias));
    TRY(cfg_bool(c, "use_conv_bias", &cfg->use_conv_bias));
    TRY(cfg_num(c, "layer_norm_epsilon", 0, &cfg->rms_norm_eps));
    TRY(cfg_bool(c, "tie_word_embeddings", &cfg->tie_word_embeddings));
    TRY(cfg_id(c, "bos_token_id", &cfg->bos_token_id));
    TRY(cfg_id(c, "eos_token_id", &cfg->eos_token_id));
    TRY(cfg_id(c, "pad_token_id", &cfg->pad_token_id));
    TRY(cfg_num(c, "initializer_range", 0, &cfg->initializer_range));
    TRY(cfg_num(c, "time_step_min", 0, &cfg->time_step_min));
    TRY(cfg_num(c, "time_step_max", 0, &cfg->time_step_max));
    TRY(cfg_num(c, "time_step_floor", 0, &cfg->time_step_floor));
    cfg->time_step_rank = 0;
    TRY(get_rank(c, "time_step_rank", &cfg->time_step_rank));
    if (cfg->time_step_rank == 0) cfg->time_step_rank = (cfg->hidden_size + 15) / 16;
    cfg->intermediate_size = cfg->expand * cfg->hidden_size;
    int64_t inter = cfg->intermediate_size;
    TRY(cfg_int(c, "intermediate_size", 0, &inter));
    if (inter != cfg->intermediate_size)
        return ttt_err(TTT_ERR_CONFIG, "%s: \"intermediate_size\" %lld is not expand * hidden_size = %lld",
                       c->path, (long long)inter, (long long)cfg->intermediate_size);
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(c->root, "hidden_act");
    if (act && (!cJSON_IsString(act) || strcmp(act->valuestring, "silu") != 0))
        return ttt_err(TTT_ERR_CONFIG, "%s: field \"hidden_act\" must be \"silu\"", c->path);
    return TTT_OK;
}

static int mamba_claims_untyped(const cJSON *root) { return cJSON_GetObjectItemCaseSensitive(root, "d_model") != NULL; }

static ttt_status mamba_validate(const ttt_config *cfg, const char *o) {
    TRY(cfg_check_size(o, "state_size", cfg->state_size));
    TRY(cfg_check_size(o, "expand", cfg->expand));
    TRY(cfg_check_size(o, "time_step_rank", cfg->time_step_rank));
    TRY(cfg_check_size(o, "pad_vocab_size_multiple", cfg->pad_vocab_size_multiple));
    TRY(cfg_check_conv(o, cfg->conv_kernel));
    if (cfg->intermediate_size != cfg->expand * cfg->hidden_size)
        return ttt_err(TTT_ERR_CONFIG, "%s: intermediate_size must be expand * hidden_size", o);
    TRY(cfg_check_real(o, "time_step_min", cfg->time_step_min, 0, 0.0, 1e3));
    TRY(cfg_check_real(o, "time_step_max", cfg->time_step_max, 0, 0.0, 1e3));
    TRY(cfg_check_real(o, "time_step_floor", cfg->time_step_floor, 1, 0.0, 1e3));
    if (cfg->time_step_min > cfg->time_step_max)
        return ttt_err(TTT_ERR_CONFIG, "%s: \"time_step_min\" %g is larger than \"time_step_max\" %g", o,
                       cfg->time_step_min, cfg->time_step_max);
    return TTT_OK;
}

static void write_mamba_ssm(cJSON *r, const ttt_config *cfg) {
    cJSON_AddNumberToObject(r, "d_model", (double)cfg->hidden_size);
    cJSON_AddBoolToObject(r, "fused_add_norm", 1);
    cJSON_AddNumberToObject(r, "n_layer", (double)cfg->num_hidden_layers);
    cJSON_AddNumberToObject(r, "pad_vocab_size_multiple", (double)cfg->pad_vocab_size_multiple);
    cJSON_AddBoolToObject(r, "residual_in_fp32", 1);
    cJSON_AddBoolToObject(r, "rms_norm", 1);
    cJSON *ssm = cJSON_AddObjectToObject(r, "ssm_cfg");
    if (cfg->state_size != 16) cJSON_AddNumberToObject(ssm, "d_state", (double)cfg->state_size);
    if (cfg->conv_kernel != 4) cJSON_AddNumberToObject(ssm, "d_conv", (double)cfg->conv_kernel);
    if (cfg->expand != 2) cJSON_AddNumberToObject(ssm, "expand", (double)cfg->expand);
    if (cfg->time_step_rank != (cfg->hidden_size + 15) / 16)
        cJSON_AddNumberToObject(ssm, "dt_rank", (double)cfg->time_step_rank);
    if (!cfg->use_conv_bias) cJSON_AddBoolToObject(ssm, "conv_bias", 0);
    if (cfg->use_bias) cJSON_AddBoolToObject(ssm, "bias", 1);
    cJSON_AddBoolToObject(r, "tie_embeddings", cfg->tie_word_embeddings);
    cJSON_AddNumberToObject(r, "vocab_size", (double)cfg->vocab_size);
}

static void mamba_write(cJSON *r, const ttt_config *cfg) {
    if (cfg->mamba_ssm_format) {
        write_mamba_ssm(r, cfg);
        return;
    }
    cJSON *arch = cJSON_AddArrayToObject(r, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString("MambaForCausalLM"));
    cfg_write_id(r, "bos_token_id", cfg->bos_token_id);
    cJSON_AddNumberToObject(r, "conv_kernel", (double)cfg->conv_kernel);
    cfg_write_id(r, "eos_token_id", cfg->eos_token_id);
    cJSON_AddNumberToObject(r, "expand", (double)cfg->expand);
    cJSON_AddStringToObject(r, "hidden_act", "silu");
    cJSON_AddNumberToObject(r, "hidden_size", (double)cfg->hidden_size);
    cJSON_AddNumberToObject(r, "initializer_range", cfg->initializer_range);
    cJSON_AddNumberToObject(r, "intermediate_size", (double)cfg->intermediate_size);
    cJSON_AddNumberToObject(r, "layer_norm_epsilon", cfg->rms_norm_eps);
    cJSON_AddStringToObject(r, "model_type", "mamba");
    cJSON_AddNumberToObject(r, "num_hidden_layers", (double)cfg->num_hidden_layers);
    cfg_write_id(r, "pad_token_id", cfg->pad_token_id);
    cJSON_AddBoolToObject(r, "rescale_prenorm_residual", 0);
    cJSON_AddBoolToObject(r, "residual_in_fp32", 1);
    cJSON_AddNumberToObject(r, "state_size", (double)cfg->state_size);
    cJSON_AddBoolToObject(r, "tie_word_embeddings", cfg->tie_word_embeddings);
    cJSON_AddNumberToObject(r, "time_step_floor", cfg->time_step_floor);
    cJSON_AddStringToObject(r, "time_step_init_scheme", "random");
    cJSON_AddNumberToObject(r, "time_step_max", cfg->time_step_max);
    cJSON_AddNumberToObject(r, "time_step_min", cfg->time_step_min);
    cJSON_AddNumberToObject(r, "time_step_rank", (double)cfg->time_step_rank);
    cJSON_AddNumberToObject(r, "time_step_scale", 1.0);
    cJSON_AddStringToObject(r, "torch_dtype", "float32");
    cJSON_AddBoolToObject(r, "use_bias", cfg->use_bias);
    cJSON_AddBoolToObject(r, "use_cache", 1);
    cJSON_AddBoolToObject(r, "use_conv_bias", cfg->use_conv_bias);
    cJSON_AddNumberToObject(r, "vocab_size", (double)cfg->vocab_size);
}

/* mamba_ssm checkpoints pad the embedding rows to a multiple */
static int64_t mamba_vocab_rows(const ttt_config *cfg) {
    int64_t m = cfg->mamba_ssm_format && cfg->pad_vocab_size_multiple > 1 ? cfg->pad_vocab_size_multiple : 1;
    return (cfg->vocab_size + m - 1) / m * m;
}

/* the paper's Mamba baseline sizes, and tiny / small ones */
static const struct {
    const char *name, *desc;
    int64_t layers, width, vocab;
} presets[] = {
    {"mamba-130m", "Mamba 130M: 24 x 768, d_state 16, expand 2, vocab 32000", 24, 768, 32000},
    {"mamba-370m", "Mamba 370M: 48 x 1024", 48, 1024, 32000},
    {"mamba-790m", "Mamba 790M: 48 x 1536", 48, 1536, 32000},
    {"mamba-1.4b", "Mamba 1.4B: 48 x 2048", 48, 2048, 32000},
    {"mamba-tiny", "tiny Mamba for tests: 2 x 64, d_state 16, expand 2, vocab 97", 2, 64, 97},
    {"mamba-small", "small Mamba: 8 x 256, d_state 16, expand 2, vocab 32000", 8, 256, 32000},
};

static const char *mamba_preset(int i, const char **desc, ttt_config *out) {
    if (i < 0 || i >= (int)(sizeof presets / sizeof presets[0])) return NULL;
    if (desc) *desc = presets[i].desc;
    if (out) {
        mamba_defaults(out);
        out->num_hidden_layers = presets[i].layers;
        out->hidden_size = presets[i].width;
        out->vocab_size = presets[i].vocab;
        out->intermediate_size = out->expand * presets[i].width;
        out->time_step_rank = (presets[i].width + 15) / 16;
        /* the paper's setup: Llama-2 tokenizer ids, initialisation std 0.02 of the embedding */
        out->bos_token_id = 1;
        out->eos_token_id = 2;
        out->pad_token_id = -1;
        out->initializer_range = 0.02;
    }
    return presets[i].name;
}

static const ttt_family_flag mamba_flags[] = {
    {"conv-kernel", TTT_FLAG_INT, offsetof(ttt_config, conv_kernel)},
    {NULL, TTT_FLAG_INT, 0},
};

/* d_inner and dt rank follow the width */
static void mamba_flags_done(ttt_config *cfg, int (*given)(const void *, const char *), const void *ctx) {
    (void)given, (void)ctx;
    cfg->intermediate_size = cfg->expand * cfg->hidden_size;
    cfg->time_step_rank = (cfg->hidden_size + 15) / 16;
}

static void mamba_dims(ttt_dims *d, const ttt_config *c) {
    d->K = c->conv_kernel;
    d->N = c->state_size;
    d->R = c->time_step_rank;
    d->use_bias = c->use_bias;
    d->use_conv_bias = c->use_conv_bias;
}

enum { INIT_A_LOG, INIT_DT_BIAS }; /* the custom rules of init_custom */

/* Hugging Face MambaForCausalLM's tensors (mamba_ssm format: backbone.embedding.weight) with
 * the initialisation of mamba_ssm: embedding N(0, 0.02²), nn.Linear's U(±1/sqrt(fan_in)),
 * out_proj further divided by sqrt(layers), dt_proj weight U(±R^-½), dt_proj bias
 * softplus⁻¹(dt) with dt = max(exp(U(log dt_min, log dt_max)), dt_floor), A_log = log(1..N)
 * per row, D = 1 */
static ttt_status mamba_params(param_table *t, ttt_lm_offs *o, const ttt_dims *d, const ttt_config *cfg) {
    int64_t D = d->D, E = d->I, N = d->N, R = d->R, K = d->K;
    mamba_block_offs *blk = malloc(sizeof(mamba_block_offs) * (size_t)d->layers);
    if (!blk) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    o->blocks = blk;
    o->embed = param_add_scaled(t, INIT_NORMAL, 0.02, 2, SH(d->V, D),
                                cfg->mamba_ssm_format ? "backbone.embedding.weight" : "backbone.embeddings.weight");
    for (int64_t l = 0; l < d->layers; l++) {
        mamba_block_offs *b = &blk[l];
        memset(b, 0xff, sizeof *b);
        long long L = (long long)l;
#define MNAME(x) "backbone.layers.%lld.mixer." x
        b->in_proj = param_add_scaled(t, INIT_UNIFORM, 1.0 / sqrt((double)D), 2, SH(2 * E, D), MNAME("in_proj.weight"), L);
        if (d->use_bias) b->in_proj_b = param_add(t, INIT_ZERO, 1, SH(2 * E), MNAME("in_proj.bias"), L);
        b->conv_w = param_add_scaled(t, INIT_UNIFORM, 1.0 / sqrt((double)K), 3, SH(E, 1, K), MNAME("conv1d.weight"), L);
        if (d->use_conv_bias)
            b->conv_b = param_add_scaled(t, INIT_UNIFORM, 1.0 / sqrt((double)K), 1, SH(E), MNAME("conv1d.bias"), L);
        b->x_proj = param_add_scaled(t, INIT_UNIFORM, 1.0 / sqrt((double)E), 2, SH(R + 2 * N, E), MNAME("x_proj.weight"), L);
        b->dt_w = param_add_scaled(t, INIT_UNIFORM, 1.0 / sqrt((double)R), 2, SH(E, R), MNAME("dt_proj.weight"), L);
        b->dt_b = param_add(t, INIT_CUSTOM, 1, SH(E), MNAME("dt_proj.bias"), L);
        t->p[t->n - 1].custom = INIT_DT_BIAS;
        b->A_log = param_add(t, INIT_CUSTOM, 2, SH(E, N), MNAME("A_log"), L);
        t->p[t->n - 1].custom = INIT_A_LOG;
        b->D = param_add(t, INIT_ONE, 1, SH(E), MNAME("D"), L);
        b->out_proj = param_add_scaled(t, INIT_UNIFORM, 1.0 / sqrt((double)E) / sqrt((double)d->layers), 2, SH(D, E),
                                       MNAME("out_proj.weight"), L);
        if (d->use_bias) b->out_proj_b = param_add(t, INIT_ZERO, 1, SH(D), MNAME("out_proj.bias"), L);
#undef MNAME
        b->norm = param_add(t, INIT_ONE, 1, SH(D), "backbone.layers.%lld.norm.weight", L);
    }
    o->norm = param_add(t, INIT_ONE, 1, SH(D), "backbone.norm_f.weight");
    o->head = d->tied ? o->embed : param_add_scaled(t, INIT_NORMAL, 0.02, 2, SH(d->V, D), "lm_head.weight");
    return TTT_OK;
}

static double mamba_init(const ttt_config *cfg, const param_info *p, int64_t j, ttt_rng *rng) {
    if (p->custom == INIT_A_LOG) return log((double)(j % p->shape[p->ndim - 1] + 1));
    double lo = log(cfg->time_step_min), hi = log(cfg->time_step_max);
    double dt = exp(lo + (hi - lo) * ttt_rng_uniform(rng));
    if (dt < cfg->time_step_floor) dt = cfg->time_step_floor;
    return dt + log(-expm1(-dt)); /* softplus⁻¹ */
}

static double mamba_block_flops(const ttt_config *c, double keys) {
    (void)keys;
    double D = (double)c->hidden_size, E = (double)c->intermediate_size, N = (double)c->state_size;
    double R = (double)c->time_step_rank;
    double per = 2 * (D * 2 * E + E * (R + 2 * N) + R * E + E * D) + 10 * E * N + 2 * E * (double)c->conv_kernel;
    return (double)c->num_hidden_layers * per;
}

static void mamba_describe(const ttt_config *c, FILE *fp) {
    fprintf(fp, "type:         Mamba-1%s\n", c->mamba_ssm_format ? " (mamba_ssm format)" : "");
    fprintf(fp, "layers:       %lld\nwidth:        %lld\nd_inner:      %lld\nd_state:      %lld\n"
            "dt_rank:      %lld\nconv:         %lld\nvocab:        %lld (embedding rows %lld)\n",
            (long long)c->num_hidden_layers, (long long)c->hidden_size, (long long)c->intermediate_size,
            (long long)c->state_size, (long long)c->time_step_rank, (long long)c->conv_kernel,
            (long long)c->vocab_size, (long long)mamba_vocab_rows(c));
}

static const ttt_family_bench mamba_bench[] = {
    {"mamba", {"mamba-130m", "mamba-1.4b", "mamba-tiny"}},
    {NULL, {NULL, NULL, NULL}},
};

const ttt_family ttt_family_mamba = {
    .model_type = "mamba",
    .title = "Mamba",
    .claims_untyped = mamba_claims_untyped,
    .untyped_hint = "a mamba_ssm config has \"d_model\" instead",
    .parse = mamba_parse,
    .validate = mamba_validate,
    .write = mamba_write,
    .vocab_rows = mamba_vocab_rows,
    .preset = mamba_preset,
    .flags = mamba_flags,
    .flags_help = "  --conv-kernel N\n",
    .flags_done = mamba_flags_done,
    .dims = mamba_dims,
    .params = mamba_params,
    .init_custom = mamba_init,
    .ops = {&lm_mamba_ops_f32, &lm_mamba_ops_f64},
    .bench = mamba_bench,
    .block_flops = mamba_block_flops,
    .describe = mamba_describe,
};
#endif
