/* family.h: the registry of model families (docs/adding-a-family.md). A family (TTT, the
 * Llama-architecture Transformer, Mamba, or one a program registers at run time) is described
 * by one ttt_family value in its model file src/model/lm_<name>.c: its config.json fields and
 * their validation, presets and `ttt init` flags, parameter table and initialisation, the
 * forward / backward / cache operations in both precisions, the FLOP count `ttt bench` reports
 * against and what `ttt info` prints. The generic code (config loading and saving, model
 * creation and loading, the commands) looks the family up here and never names one.
 * Also the config.json readers and checks the families share (config.c). */
#ifndef TTT_MODEL_FAMILY_H
#define TTT_MODEL_FAMILY_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>

#include "core/rng.h"
#include "model/model.h"
#include "model/params.h"
#include "ttt.h"

/* A flag of `ttt init` / `ttt train --preset` that overrides a field of the preset. */
typedef enum {
    TTT_FLAG_INT,    /* "--name N": the int64_t field at `field`, 1 .. 2^30 */
    TTT_FLAG_REAL,   /* "--name X": the double field at `field` */
    TTT_FLAG_TRUE,   /* "--name": the int field at `field` becomes 1 */
    TTT_FLAG_CHOICE  /* "--name WORD": given to the family's set_choice */
} ttt_flag_kind;

typedef struct {
    const char *name;   /* without the leading dashes; NULL ends a table */
    ttt_flag_kind kind;
    size_t field;       /* offsetof(ttt_config, ...) (not for TTT_FLAG_CHOICE) */
} ttt_family_flag;

/* A model of `ttt bench --models`: the presets it measures at --size 125m, --size 1.3b and
 * with --quick. */
typedef struct {
    const char *key;    /* NULL ends a table */
    const char *preset[3];
} ttt_family_bench;

/* config.json as a family's parser sees it: the file (for messages) and one JSON object */
typedef struct {
    const char *path;
    const cJSON *root;
} cfg_json;

typedef struct ttt_family ttt_family;
struct ttt_family {
    const char *model_type; /* config.json "model_type" */
    const char *title;      /* the family in messages and listings ("Mamba") */

    /* ---- config.json ---- */
    /* whether this family reads a config without the usual "model_type" (NULL: never) */
    int (*claims_untyped)(const cJSON *root);
    const char *untyped_hint; /* for the message when none does ("a ... config has ...") */
    /* fill *out from the file: the family's defaults, then the fields present. Fields common
     * to every family are checked afterwards by ttt_config_validate. */
    ttt_status (*parse)(const cfg_json *c, ttt_config *out);
    /* the family's checks, after the common ones (vocab, width, layers, ids, eps, init range) */
    ttt_status (*validate)(const ttt_config *cfg, const char *origin);
    /* write the family's fields into config.json (as its reference implementation would) */
    void (*write)(cJSON *root, const ttt_config *cfg);
    int64_t (*vocab_rows)(const ttt_config *cfg);  /* rows of the embedding; NULL: vocab_size */
    int64_t (*max_context)(const ttt_config *cfg); /* longest sequence; NULL: no limit */

    /* ---- presets and flags ---- */
    /* preset i: its name (NULL past the last), a one-line description, its config (nullable) */
    const char *(*preset)(int i, const char **desc, ttt_config *out);
    const ttt_family_flag *flags; /* the family's overrides, applied in this order */
    const char *flags_help;       /* their help lines ("  --flag ...  meaning\n"...) */
    ttt_status (*set_choice)(ttt_config *cfg, const char *flag, const char *value); /* CHOICE */
    /* after the overrides: fields that follow others (given(ctx, flag): was --flag given) */
    void (*flags_done)(ttt_config *cfg, int (*given)(const void *ctx, const char *flag), const void *ctx);

    /* ---- the model ---- */
    void (*dims)(ttt_dims *d, const ttt_config *cfg); /* the family's fields of ttt_dims */
    /* the parameter table (param_add) with o->embed, o->norm, o->head and the family's own
     * offsets in o->blocks (malloc'd; freed by ttt_params_free) */
    ttt_status (*params)(param_table *t, ttt_lm_offs *o, const ttt_dims *d, const ttt_config *cfg);
    /* element j of a parameter whose init is INIT_CUSTOM (NULL if the family has none) */
    double (*init_custom)(const ttt_config *cfg, const param_info *p, int64_t j, ttt_rng *rng);
    /* after allocation: tables of the family in m->priv (ttt_malloc'd; NULL: none) */
    ttt_status (*prepare)(ttt_model *m);
    const lm_arch_ops *ops[2]; /* [0] float32, [1] float64 */
    /* the inner-loop diagnostics of ttt_forward_ttt_stats (NULL: the family has none) */
    ttt_status (*inner_stats)(ttt_model *m, const int32_t *ids, int64_t B, int64_t L, double *stats);
    int (*inner_lr_warmup)(const ttt_config *cfg); /* training warms the inner lr up (NULL: never;
                                                       `ttt train --no-ttt-lr-warmup` turns it off) */

    /* ---- ttt bench and ttt info ---- */
    const ttt_family_bench *bench; /* NULL: not benchmarked */
    /* forward FLOPs per token of all blocks (the head is added by the caller) when each
     * query sees `keys` earlier tokens (attention; T/2 on average over a prefill of T) */
    double (*block_flops)(const ttt_config *cfg, double keys);
    void (*describe)(const ttt_config *cfg, FILE *fp); /* `ttt info` lines after "model:" */
};

/* Families in registration order: the built-in ones first, with ids TTT_ARCH_TTT,
 * TTT_ARCH_LLAMA, TTT_ARCH_MAMBA (src/model/families.c), then those registered at run time. */
int ttt_family_count(void);
const ttt_family *ttt_family_at(int id);
/* The family of a configuration (NULL if cfg->arch names none). */
const ttt_family *ttt_family_of(const ttt_config *cfg);
/* Add a family (before any model of it is made; not thread-safe): returns its id, the value of
 * ttt_config.arch for its models, or -1 (registry full, or a model_type already taken). */
int ttt_family_register(const ttt_family *f);

/* ---- shared by the families' config code (config.c) ---- */

/* the defaults every family starts from (ttt.py / LlamaConfig): eps 1e-6, rope 10000, tied,
 * 2048 positions, bos 1, eos 2, no pad, initializer_range 0.02 */
void cfg_defaults(ttt_config *cfg);
/* Integer field; required fields fail when absent, optional ones keep *out. */
ttt_status cfg_int(const cfg_json *c, const char *name, int required, int64_t *out);
ttt_status cfg_num(const cfg_json *c, const char *name, int required, double *out);
ttt_status cfg_bool(const cfg_json *c, const char *name, int *out);
ttt_status cfg_id(const cfg_json *c, const char *name, int64_t *out);    /* integer or null (-1) */
const char *cfg_str(const cfg_json *c, const char *name);               /* NULL if absent or not text */
/* the fields of a LlamaConfig-style file (ttt.py's TTTConfig has them too): vocab_size,
 * hidden_size, intermediate_size, num_hidden_layers, num_attention_heads (required),
 * rms_norm_eps, rope_theta, tie_word_embeddings, max_position_embeddings, bos/eos/pad ids,
 * initializer_range; and "hidden_act" must be "silu" (why: the message's end), pretraining_tp 1 */
ttt_status cfg_llama_style(const cfg_json *c, ttt_config *cfg, const char *silu_why);
/* field checks with the messages of every config error: a positive size; a real in a range */
ttt_status cfg_check_size(const char *origin, const char *name, int64_t v);
ttt_status cfg_check_real(const char *origin, const char *name, double v, int lo_closed, double lo, double hi);
/* heads: num_attention_heads > 0 divides hidden_size into an even head dim; rope_theta */
ttt_status cfg_check_heads(const ttt_config *cfg, const char *origin);
/* "conv_kernel" in 1..1024 */
ttt_status cfg_check_conv(const char *origin, int64_t k);
/* write a token id field (null when absent, -1) */
void cfg_write_id(cJSON *r, const char *name, int64_t id);

#endif
