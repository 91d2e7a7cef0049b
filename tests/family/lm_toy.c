/* lm_toy.c: the model file of the test suite's toy family "toy-bow", a bag-of-words language
 * model that exists to show that a family is one layer file plus one model file and one
 * registration (docs/adding-a-family.md): nothing under src/ names it. Generic over `real`:
 *   h0 = Embed(ids);  per block:  u = PrefixMean(h)                (toy_mix.h)
 *                                 h += tanh(u Wiᵀ) Woᵀ              Wi [I, D], Wo [D, I]
 *   logits = RMSNorm_final(h) · Headᵀ;  loss = cross-entropy against the targets.
 * Its decode cache is one running sum [B, D] per layer, whatever the context length. The
 * family registers itself when the program starts (a constructor), so linking this file
 * into a program is all it takes. */
#include <string.h>

#include "core/error.h"
#include "model/lm_common.h"
#include "ops/ops.h"
#include "toy_mix.h"

typedef struct {
    int64_t wi, wo; /* layers.N.mix_in.weight, layers.N.mix_out.weight */
} toy_block_offs;

#define BLK(m, l) (&((const toy_block_offs *)(m)->offs.blocks)[l])

/* what one block keeps for the backward */
typedef struct {
    real *u, *o; /* [N, D] prefix mean, [N, I] tanh(u Wiᵀ) */
} RF(toy_act);

typedef struct {
    RF(lm_io) io;
    RF(toy_act) *blk; /* [layers] (training) or [1] */
    int nblk;
    real *tmp;        /* [N, D] */
    real *go;         /* [N, I] (training) */
} RF(toy_ws);

static void layout(bump *bp, RF(toy_ws) *w, const ttt_dims *d, int64_t N, int train) {
    for (int l = 0; l < w->nblk; l++) {
        w->blk[l].u = take(bp, N * d->D);
        w->blk[l].o = take(bp, N * d->I);
    }
    RF(lm_io_layout)(bp, &w->io, d, N, train);
    w->tmp = take(bp, N * d->D);
    w->go = train ? take(bp, N * d->I) : NULL;
}

static ttt_status ws_prepare(ttt_model *m, RF(toy_ws) *w, RF(toy_act) *blks, int64_t N, int train) {
    w->blk = blks;
    w->nblk = train ? (int)m->dims.layers : 1;
    bump b = {NULL, 0};
    layout(&b, w, &m->dims, N, train);
    TRY(RF(lm_reserve)(m, b.off));
    b.base = (real *)m->ws.data;
    b.off = 0;
    layout(&b, w, &m->dims, N, train);
    return TTT_OK;
}

/* h += tanh(u Wiᵀ) Woᵀ with u the prefix mean of h (S: the layer's cache, or NULL) */
static void block_forward(const ttt_model *m, int64_t l, RF(toy_act) *a, RF(toy_ws) *ws, int64_t B, int64_t L,
                          real *S, int64_t pos0) {
    const ttt_dims *d = &m->dims;
    int64_t N = B * L;
    const real *P = (const real *)m->w;
    RF(toy_prefix_mean)(a->u, ws->io.h, S, B, L, d->D, pos0);
    RF(mm_nt)(a->o, a->u, P + BLK(m, l)->wi, N, d->I, d->D, 0);
    for (int64_t i = 0; i < N * d->I; i++) a->o[i] = tanh(a->o[i]);
    RF(mm_nt)(ws->tmp, a->o, P + BLK(m, l)->wo, N, d->D, d->I, 0);
    RF(vec_add)(ws->io.h, ws->tmp, N * d->D);
}

/* io.dh: d loss / d (block output) in, d loss / d (block input) out */
static void block_backward(ttt_model *m, int64_t l, const RF(toy_act) *a, RF(toy_ws) *ws, int64_t B, int64_t L) {
    const ttt_dims *d = &m->dims;
    int64_t N = B * L, D = d->D, I = d->I;
    const real *P = (const real *)m->w, *Wi = P + BLK(m, l)->wi, *Wo = P + BLK(m, l)->wo;
    real *G = (real *)m->g, *g = ws->io.dh;
    RF(mm_nn)(ws->go, g, Wo, N, I, D, 0);                /* d o = g Wo */
    RF(mm_tn)(G + BLK(m, l)->wo, g, a->o, D, I, N, 1);    /* d Wo += gᵀ o */
    for (int64_t i = 0; i < N * I; i++) ws->go[i] *= 1 - a->o[i] * a->o[i]; /* d a = d o ⊙ (1 − o²) */
    RF(mm_tn)(G + BLK(m, l)->wi, ws->go, a->u, I, D, N, 1); /* d Wi += d aᵀ u */
    RF(mm_nn)(ws->tmp, ws->go, Wi, N, D, I, 0);           /* d u = d a Wi */
    RF(toy_prefix_mean_bwd)(g, ws->tmp, B, L, D);         /* residual: g stays, plus the mean's part */
}

static ttt_status forward(ttt_model *m, const int32_t *ids, const int32_t *targets, int64_t B, int64_t L, int per_seq,
                          int backward, double scale, float *logits, double *loss) {
    const ttt_dims *d = &m->dims;
    int64_t N = B * L;
    RF(toy_act) one[1], *blks = one;
    if (backward) {
        blks = ttt_malloc(sizeof(RF(toy_act)) * (size_t)d->layers, "activation table");
        if (!blks) return TTT_ERR_NOMEM;
    }
    RF(toy_ws) ws;
    ttt_status s = ws_prepare(m, &ws, blks, N, backward);
    if (s != TTT_OK) {
        if (blks != one) ttt_free(blks);
        return s;
    }
    RF(lm_embed)(m, &ws.io, ids, N);
    RF(lm_save_hidden)(m, ws.io.h, 0, N);
    for (int64_t l = 0; l < d->layers; l++) {
        block_forward(m, l, &ws.blk[backward ? l : 0], &ws, B, L, NULL, 0);
        RF(lm_save_hidden)(m, ws.io.h, l + 1, N);
    }
    RF(lm_head)(m, &ws.io, N, logits);
    double lv = RF(lm_loss)(m, &ws.io, ids, targets, B, L, per_seq, backward, scale);
    if (loss) *loss = lv;
    if (backward) {
        RF(lm_head_backward)(m, &ws.io, ws.tmp, N);
        for (int64_t l = d->layers - 1; l >= 0; l--) block_backward(m, l, &ws.blk[l], &ws, B, L);
        RF(lm_embed_backward)(m, &ws.io, ids, N);
        ttt_free(blks);
    }
    return TTT_OK;
}

/* cache: per layer the running sum [B, D] of the residual stream entering the block */
static void cache_reset(ttt_cache *c) {
    memset(c->buf.data, 0, c->bytes);
    c->pos = 0;
}

static ttt_status cache_init(ttt_cache *c) {
    const ttt_dims *d = &c->m->dims;
    size_t bytes;
    TRY(ttt_size_mul(&bytes, d->layers * c->B, d->D, sizeof(real), "cache"));
    TRY(ttt_buf_reserve(&c->buf, bytes, "decode cache"));
    c->bytes = bytes;
    cache_reset(c);
    return TTT_OK;
}

static ttt_status prefill(ttt_model *m, ttt_cache *c, const int32_t *ids, int64_t L, float *logits) {
    const ttt_dims *d = &m->dims;
    int64_t B = c->B, N = B * L;
    RF(toy_act) one[1];
    RF(toy_ws) ws;
    TRY(ws_prepare(m, &ws, one, N, 0));
    RF(lm_embed)(m, &ws.io, ids, N);
    for (int64_t l = 0; l < d->layers; l++)
        block_forward(m, l, &ws.blk[0], &ws, B, L, (real *)c->buf.data + l * B * d->D, c->pos);
    if (logits) RF(lm_head)(m, &ws.io, N, logits);
    c->pos += L;
    return TTT_OK;
}

const lm_arch_ops RF(lm_toy_ops) = {forward, cache_init, cache_reset, prefill, NULL, NULL, NULL};

/* ------------------------------------------------------------------------------------------ */
/* the family: config.json, presets, flags, parameter table, bench cost, info, registration   */

#if TTT_ONCE
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "model/family.h"

extern const lm_arch_ops lm_toy_ops_f64;

static void toy_defaults(ttt_config *cfg) {
    cfg_defaults(cfg);
    cfg->intermediate_size = 32;
}

static ttt_status toy_parse(const cfg_json *c, ttt_config *cfg) {
    toy_defaults(cfg);
    TRY(cfg_int(c, "vocab_size", 1, &cfg->vocab_size));
    TRY(cfg_int(c, "hidden_size", 1, &cfg->hidden_size));
    TRY(cfg_int(c, "num_hidden_layers", 1, &cfg->num_hidden_layers));
    TRY(cfg_int(c, "mix_size", 0, &cfg->intermediate_size));
    TRY(cfg_num(c, "rms_norm_eps", 0, &cfg->rms_norm_eps));
    TRY(cfg_bool(c, "tie_word_embeddings", &cfg->tie_word_embeddings));
    TRY(cfg_id(c, "bos_token_id", &cfg->bos_token_id));
    TRY(cfg_id(c, "eos_token_id", &cfg->eos_token_id));
    TRY(cfg_num(c, "initializer_range", 0, &cfg->initializer_range));
    return TTT_OK;
}

static ttt_status toy_validate(const ttt_config *cfg, const char *o) {
    return cfg_check_size(o, "mix_size", cfg->intermediate_size);
}

static void toy_write(cJSON *r, const ttt_config *cfg) {
    cfg_write_id(r, "bos_token_id", cfg->bos_token_id);
    cfg_write_id(r, "eos_token_id", cfg->eos_token_id);
    cJSON_AddNumberToObject(r, "hidden_size", (double)cfg->hidden_size);
    cJSON_AddNumberToObject(r, "initializer_range", cfg->initializer_range);
    cJSON_AddNumberToObject(r, "mix_size", (double)cfg->intermediate_size);
    cJSON_AddStringToObject(r, "model_type", "toy-bow");
    cJSON_AddNumberToObject(r, "num_hidden_layers", (double)cfg->num_hidden_layers);
    cJSON_AddNumberToObject(r, "rms_norm_eps", cfg->rms_norm_eps);
    cJSON_AddBoolToObject(r, "tie_word_embeddings", cfg->tie_word_embeddings);
    cJSON_AddNumberToObject(r, "vocab_size", (double)cfg->vocab_size);
}

static const char *toy_preset(int i, const char **desc, ttt_config *out) {
    if (i != 0) return NULL;
    if (desc) *desc = "the test suite's toy bag-of-words family: 2 x 16, mix 32, vocab 97";
    if (out) {
        toy_defaults(out);
        out->num_hidden_layers = 2;
        out->hidden_size = 16;
        out->vocab_size = 97;
    }
    return "toy-tiny";
}

static const ttt_family_flag toy_flags[] = {
    {"mix", TTT_FLAG_INT, offsetof(ttt_config, intermediate_size)},
    {NULL, TTT_FLAG_INT, 0},
};

/* embed.weight, layers.N.mix_in.weight / mix_out.weight, norm.weight (and lm_head.weight):
 * every matrix N(0, initializer_range²), the norm 1 */
static ttt_status toy_params(param_table *t, ttt_lm_offs *o, const ttt_dims *d, const ttt_config *cfg) {
    (void)cfg;
    toy_block_offs *blk = malloc(sizeof *blk * (size_t)d->layers);
    if (!blk) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    o->blocks = blk;
    o->embed = param_add(t, INIT_NORMAL, 2, SH(d->V, d->D), "embed.weight");
    for (int64_t l = 0; l < d->layers; l++) {
        blk[l].wi = param_add(t, INIT_NORMAL, 2, SH(d->I, d->D), "layers.%lld.mix_in.weight", (long long)l);
        blk[l].wo = param_add(t, INIT_NORMAL, 2, SH(d->D, d->I), "layers.%lld.mix_out.weight", (long long)l);
    }
    o->norm = param_add(t, INIT_ONE, 1, SH(d->D), "norm.weight");
    o->head = d->tied ? o->embed : param_add(t, INIT_NORMAL, 2, SH(d->V, d->D), "lm_head.weight");
    return TTT_OK;
}

static double toy_block_flops(const ttt_config *c, double keys) {
    (void)keys;
    return (double)c->num_hidden_layers * 4 * (double)c->hidden_size * (double)c->intermediate_size;
}

static void toy_describe(const ttt_config *c, FILE *fp) {
    fprintf(fp, "type:         toy bag-of-words (prefix mean, tanh mixing)\n");
    fprintf(fp, "layers:       %lld\nwidth:        %lld\nmix:          %lld\nvocab:        %lld\n",
            (long long)c->num_hidden_layers, (long long)c->hidden_size, (long long)c->intermediate_size,
            (long long)c->vocab_size);
}

static const ttt_family_bench toy_bench[] = {{"toy", {"toy-tiny", "toy-tiny", "toy-tiny"}}, {NULL, {NULL, NULL, NULL}}};

const ttt_family ttt_family_toy = {
    .model_type = "toy-bow",
    .title = "toy",
    .parse = toy_parse,
    .validate = toy_validate,
    .write = toy_write,
    .preset = toy_preset,
    .flags = toy_flags,
    .flags_help = "  --mix N                     width of the tanh mixing (mix_size)\n",
    .params = toy_params,
    .ops = {&lm_toy_ops_f32, &lm_toy_ops_f64},
    .bench = toy_bench,
    .block_flops = toy_block_flops,
    .describe = toy_describe,
};

/* the one line that registers it, run when the program starts */
__attribute__((constructor)) static void toy_register(void) { ttt_family_register(&ttt_family_toy); }
#endif
