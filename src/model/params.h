/* params.h: the parameter table of a model: every tensor of model.safetensors with its
 * PyTorch name, shape and offset (in elements) inside one contiguous parameter buffer; the
 * gradient buffer has the same layout. Also the named offsets the model code uses. */
#ifndef TTT_MODEL_PARAMS_H
#define TTT_MODEL_PARAMS_H

#include <stdint.h>

#include "ttt.h"

typedef struct {
    char name[96];
    int ndim;
    int64_t shape[4];
    int64_t numel;
    int64_t offset;
    int init;        /* how ttt_model_create initialises it (see init.c) */
    double scale;    /* its std or bound */
} param_info;

/* INIT_NORMAL: N(0, scale²) (scale 0 = config.initializer_range); INIT_UNIFORM: U(−scale, scale);
 * INIT_CONV: flax lecun-normal (TTT convs); INIT_A_LOG: log(1..N) per row (Mamba);
 * INIT_DT_BIAS: softplus⁻¹ of dt ~ exp(U(log dt_min, log dt_max)) (Mamba) */
typedef enum { INIT_NORMAL, INIT_ZERO, INIT_ONE, INIT_CONV, INIT_UNIFORM, INIT_A_LOG, INIT_DT_BIAS } param_init;

typedef struct {
    param_info *p;
    int64_t n, cap;
    int64_t total; /* elements */
    int overflow;  /* a count did not fit in int64 (ttt_params_build then fails) */
} param_table;

/* Offsets (elements) of one TTT block's tensors; -1 when the config has no such tensor. */
typedef struct {
    int64_t pc_norm, pc_w, pc_b;     /* conv.norm.weight, conv.conv.weight/bias (pre_conv) */
    int64_t seq_norm, ffn_norm;
    int64_t q, k, v, o, g;           /* seq_modeling_block.{q,k,v,o,g}_proj.weight */
    int64_t cq_w, cq_b, ck_w, ck_b;  /* conv_q / conv_k (share_qk) */
    int64_t lr_w, lr_b, tok;         /* learnable_ttt_lr_weight/bias, learnable_token_idx */
    int64_t ln_w, ln_b;              /* ttt_norm_weight/bias */
    int64_t W1, b1, W2, b2;
    int64_t post_w, post_b;
    int64_t mg, mu, md;              /* mlp.gate_proj, up_proj, down_proj */
} ttt_block_offs;

/* one Llama block (model.layers.N.*) */
typedef struct {
    int64_t in_norm, q, k, v, o, post_norm, mg, mu, md;
} llama_block_offs;

/* one Mamba block (backbone.layers.N.*) */
typedef struct {
    int64_t norm, in_proj, in_proj_b, conv_w, conv_b, x_proj, dt_w, dt_b, A_log, D, out_proj, out_proj_b;
} mamba_block_offs;

typedef struct {
    int64_t embed, norm, head;  /* head == embed when tied */
    ttt_block_offs *blk;        /* TTT: [num_hidden_layers] */
    llama_block_offs *llama;    /* Llama */
    mamba_block_offs *mamba;    /* Mamba */
} ttt_lm_offs;

/* Sizes every part of the model code uses, from the config (unused fields 0). */
typedef struct {
    ttt_arch arch;
    int64_t V, D, I, layers;             /* V = rows of the embedding / width of the logits */
    int tied;
    double rms_eps, rope_theta;
    /* TTT */
    int64_t nh, f, F, b, K;
    int mlp, pre_conv, share_qk, use_gate;
    double base_lr;
    int fixed_lr_gate, unit_token_scale; /* ablations (config ttt_fixed_lr_gate, ttt_unit_token_scale) */
    /* Llama: nh query heads of dim f, nkv key/value heads */
    int64_t nkv;
    /* Mamba: E = d_inner (I), N state, R dt rank, K conv */
    int64_t N, R;
    int use_bias, use_conv_bias;
    /* inference only: compute the head in chunks of this many rows (0: all rows at once) */
    int64_t head_chunk;
} ttt_dims;

void ttt_dims_from_config(ttt_dims *d, const ttt_config *cfg);

/* Build the table and the offsets for a config (any architecture). */
ttt_status ttt_params_build(param_table *t, ttt_lm_offs *o, const ttt_config *cfg);
void ttt_params_free(param_table *t, ttt_lm_offs *o);
int64_t param_table_find(const param_table *t, const char *name);

#endif
