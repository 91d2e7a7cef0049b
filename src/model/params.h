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
} param_info;

typedef enum { INIT_NORMAL, INIT_ZERO, INIT_ONE, INIT_CONV } param_init;

typedef struct {
    param_info *p;
    int64_t n, cap;
    int64_t total; /* elements */
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

typedef struct {
    int64_t embed, norm, head; /* head == embed when tied */
    ttt_block_offs *blk;       /* [num_hidden_layers] */
} ttt_lm_offs;

/* Sizes every part of the TTT model code uses, from the config. */
typedef struct {
    int64_t V, D, I, nh, f, F, b, K, layers;
    int mlp, pre_conv, share_qk, use_gate, tied;
    double rms_eps, base_lr, rope_theta;
} ttt_dims;

void ttt_dims_from_config(ttt_dims *d, const ttt_config *cfg);

/* Build the table and the offsets for a TTT config. */
ttt_status ttt_params_build(param_table *t, ttt_lm_offs *o, const ttt_config *cfg);
void ttt_params_free(param_table *t, ttt_lm_offs *o);
int64_t param_table_find(const param_table *t, const char *name);

#endif
