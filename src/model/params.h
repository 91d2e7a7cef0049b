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
    int init;        /* how ttt_model_create initialises it (param_init, see init.c) */
    double scale;    /* its std or bound */
    int custom;      /* INIT_CUSTOM: which of the family's own rules (its init_custom) */
} param_info;

/* INIT_NORMAL: N(0, scale²) (scale 0 = config.initializer_range); INIT_UNIFORM: U(−scale, scale);
 * INIT_TRUNC_NORMAL: scale · (N(0, 1) conditioned on |x| ≤ 2); INIT_CUSTOM: the family's
 * init_custom (model/family.h) */
typedef enum { INIT_NORMAL, INIT_ZERO, INIT_ONE, INIT_UNIFORM, INIT_TRUNC_NORMAL, INIT_CUSTOM } param_init;

/* Where a tensor lives when the buffer's layout is given (a weights file used in place): its
 * offset in elements from the buffer's start, or -1 when it has none. */
typedef int64_t (*param_place_fn)(void *ctx, const char *name, int64_t numel);

typedef struct {
    param_info *p;
    int64_t n, cap;
    int64_t total;  /* elements */
    int overflow;   /* a count did not fit in int64 (ttt_params_build then fails) */
    int nomem;      /* the table could not grow */
    param_place_fn place; /* NULL: each tensor at the next 64-byte boundary */
    void *place_ctx;
    int misplaced;  /* place() gave no offset for some tensor */
} param_table;

/* Offsets (elements) of the tensors every language model has, and the family's own (its
 * per-block offset structs, layout private to the family). */
typedef struct {
    int64_t embed, norm, head;  /* head == embed when tied */
    void *blocks;               /* the family's, malloc'd */
} ttt_lm_offs;

/* Sizes the model code uses, from the config (unused fields 0): the common ones, then those
 * the families' dims hooks set (a new family reuses what fits; the list is not closed). */
typedef struct {
    int64_t V, D, I, layers;             /* V = rows of the embedding / width of the logits */
    int tied;
    double rms_eps, rope_theta;
    /* TTT: nh heads of dim f, inner width F, mini-batch b, conv kernel K */
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

/* Build the table and the offsets for a config (any family: its params hook). */
ttt_status ttt_params_build(param_table *t, ttt_lm_offs *o, const ttt_config *cfg);
/* The same with every tensor where place() says (t->total: the end of the furthest one). */
ttt_status ttt_params_build_placed(param_table *t, ttt_lm_offs *o, const ttt_config *cfg, param_place_fn place,
                                   void *ctx);
/* Append a tensor (name from a printf format) with its shape and initialisation; returns its
 * offset. Sizes are checked: a count beyond int64 sets t->overflow, a failed allocation
 * t->nomem (ttt_params_build then fails). The returned entry is t->p[t->n - 1]. */
int64_t param_add(param_table *t, param_init init, int ndim, const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* the same with a scale (std or bound) */
int64_t param_add_scaled(param_table *t, param_init init, double scale, int ndim, const int64_t *shape,
                         const char *fmt, ...) __attribute__((format(printf, 6, 7)));
#define SH(...) (const int64_t[]){__VA_ARGS__}
void ttt_params_free(param_table *t, ttt_lm_offs *o);
int64_t param_table_find(const param_table *t, const char *name);

#endif
