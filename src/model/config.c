/* config.c: config.json of a TTT model (ttt.py TTTConfig field names): parsing with
 * libcjson, validation with messages naming the file and field, writing, and presets. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/fsutil.h"
#include "io/json.h"
#include "ttt.h"

#define MAX_CONFIG_BYTES (16u << 20)
#define MAX_DIM ((int64_t)1 << 31)
/* the inner loop keeps mini_batch_size^2 per head; the paper uses 16 */
#define MAX_MINI_BATCH 4096
#define MAX_LAYERS 65536

typedef struct {
    const char *path;
    const cJSON *root;
} jctx;

/* Integer field; required fields fail when absent, optional ones keep *out. */
static ttt_status get_int(jctx *c, const char *name, int required, int64_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->root, name);
    if (!v) {
        if (required)
            return ttt_err(TTT_ERR_CONFIG, "%s: required field \"%s\" is missing", c->path, name);
        return TTT_OK;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
        fabs(v->valuedouble) > 9007199254740992.0)
        return ttt_err(TTT_ERR_CONFIG, "%s: field \"%s\" must be an integer", c->path, name);
    *out = (int64_t)v->valuedouble;
    return TTT_OK;
}

/* Integer or null (null -> -1). */
static ttt_status get_id(jctx *c, const char *name, int64_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->root, name);
    if (!v) return TTT_OK;
    if (cJSON_IsNull(v)) {
        *out = -1;
        return TTT_OK;
    }
    return get_int(c, name, 0, out);
}

static ttt_status get_num(jctx *c, const char *name, int required, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->root, name);
    if (!v) {
        if (required)
            return ttt_err(TTT_ERR_CONFIG, "%s: required field \"%s\" is missing", c->path, name);
        return TTT_OK;
    }
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return ttt_err(TTT_ERR_CONFIG, "%s: field \"%s\" must be a finite number", c->path, name);
    *out = v->valuedouble;
    return TTT_OK;
}

static ttt_status get_bool(jctx *c, const char *name, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->root, name);
    if (!v) return TTT_OK;
    if (!cJSON_IsBool(v))
        return ttt_err(TTT_ERR_CONFIG, "%s: field \"%s\" must be true or false", c->path, name);
    *out = cJSON_IsTrue(v);
    return TTT_OK;
}

static const char *get_str(jctx *c, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->root, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* TTTConfig defaults of ttt.py */
static void ttt_defaults(ttt_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->arch = TTT_ARCH_TTT;
    cfg->time_step_min = 0.001;
    cfg->time_step_max = 0.1;
    cfg->time_step_floor = 1e-4;
    cfg->pad_vocab_size_multiple = 1;
    cfg->rms_norm_eps = 1e-6;
    cfg->rope_theta = 10000.0;
    cfg->tie_word_embeddings = 1;
    cfg->max_position_embeddings = 2048;
    cfg->bos_token_id = 1;
    cfg->eos_token_id = 2;
    cfg->pad_token_id = -1;
    cfg->initializer_range = 0.02;
    cfg->ttt_layer_type = TTT_INNER_LINEAR;
    cfg->ttt_base_lr = 1.0;
    cfg->mini_batch_size = 16;
    cfg->conv_kernel = 4;
}

static ttt_status parse_ttt(jctx *c, ttt_config *cfg) {
    ttt_defaults(cfg);
    TRY(get_int(c, "vocab_size", 1, &cfg->vocab_size));
    TRY(get_int(c, "hidden_size", 1, &cfg->hidden_size));
    TRY(get_int(c, "intermediate_size", 1, &cfg->intermediate_size));
    TRY(get_int(c, "num_hidden_layers", 1, &cfg->num_hidden_layers));
    TRY(get_int(c, "num_attention_heads", 1, &cfg->num_attention_heads));
    TRY(get_num(c, "rms_norm_eps", 0, &cfg->rms_norm_eps));
    TRY(get_num(c, "rope_theta", 0, &cfg->rope_theta));
    TRY(get_bool(c, "tie_word_embeddings", &cfg->tie_word_embeddings));
    TRY(get_int(c, "max_position_embeddings", 0, &cfg->max_position_embeddings));
    TRY(get_id(c, "bos_token_id", &cfg->bos_token_id));
    TRY(get_id(c, "eos_token_id", &cfg->eos_token_id));
    TRY(get_id(c, "pad_token_id", &cfg->pad_token_id));
    TRY(get_num(c, "initializer_range", 0, &cfg->initializer_range));
    TRY(get_num(c, "ttt_base_lr", 0, &cfg->ttt_base_lr));
    TRY(get_int(c, "mini_batch_size", 0, &cfg->mini_batch_size));
    TRY(get_bool(c, "pre_conv", &cfg->pre_conv));
    TRY(get_bool(c, "share_qk", &cfg->share_qk));
    TRY(get_bool(c, "use_gate", &cfg->use_gate));
    TRY(get_int(c, "conv_kernel", 0, &cfg->conv_kernel));
    TRY(get_int(c, "scan_checkpoint_group_size", 0, &cfg->scan_checkpoint_group_size));
    TRY(get_bool(c, "ttt_fixed_lr_gate", &cfg->ttt_fixed_lr_gate));
    TRY(get_bool(c, "ttt_unit_token_scale", &cfg->ttt_unit_token_scale));
    const cJSON *lt = cJSON_GetObjectItemCaseSensitive(c->root, "ttt_layer_type");
    if (lt) {
        if (!cJSON_IsString(lt))
            return ttt_err(TTT_ERR_CONFIG, "%s: field \"ttt_layer_type\" must be a string", c->path);
        if (strcmp(lt->valuestring, "linear") == 0)
            cfg->ttt_layer_type = TTT_INNER_LINEAR;
        else if (strcmp(lt->valuestring, "mlp") == 0)
            cfg->ttt_layer_type = TTT_INNER_MLP;
        else
            return ttt_err(TTT_ERR_CONFIG,
                           "%s: field \"ttt_layer_type\" is \"%s\", expected \"linear\" or \"mlp\"",
                           c->path, lt->valuestring);
    }
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(c->root, "hidden_act");
    if (act && (!cJSON_IsString(act) || strcmp(act->valuestring, "silu") != 0))
        return ttt_err(TTT_ERR_CONFIG,
                       "%s: field \"hidden_act\" must be \"silu\" (the SwiGLU MLP of ttt.py)", c->path);
    const cJSON *tp = cJSON_GetObjectItemCaseSensitive(c->root, "pretraining_tp");
    if (tp && !(cJSON_IsNumber(tp) && tp->valuedouble == 1.0))
        return ttt_err(TTT_ERR_CONFIG, "%s: field \"pretraining_tp\" must be 1", c->path);
    return TTT_OK;
}

/* Hugging Face LlamaConfig */
static ttt_status parse_llama(jctx *c, ttt_config *cfg) {
    ttt_defaults(cfg);
    cfg->arch = TTT_ARCH_LLAMA;
    cfg->tie_word_embeddings = 0; /* LlamaConfig's default */
    cfg->max_position_embeddings = 2048;
    TRY(get_int(c, "vocab_size", 1, &cfg->vocab_size));
    TRY(get_int(c, "hidden_size", 1, &cfg->hidden_size));
    TRY(get_int(c, "intermediate_size", 1, &cfg->intermediate_size));
    TRY(get_int(c, "num_hidden_layers", 1, &cfg->num_hidden_layers));
    TRY(get_int(c, "num_attention_heads", 1, &cfg->num_attention_heads));
    cfg->num_key_value_heads = cfg->num_attention_heads;
    const cJSON *kv = cJSON_GetObjectItemCaseSensitive(c->root, "num_key_value_heads");
    if (kv && !cJSON_IsNull(kv)) TRY(get_int(c, "num_key_value_heads", 0, &cfg->num_key_value_heads));
    TRY(get_num(c, "rms_norm_eps", 0, &cfg->rms_norm_eps));
    TRY(get_num(c, "rope_theta", 0, &cfg->rope_theta));
    TRY(get_bool(c, "tie_word_embeddings", &cfg->tie_word_embeddings));
    TRY(get_int(c, "max_position_embeddings", 0, &cfg->max_position_embeddings));
    TRY(get_id(c, "bos_token_id", &cfg->bos_token_id));
    TRY(get_id(c, "eos_token_id", &cfg->eos_token_id));
    TRY(get_id(c, "pad_token_id", &cfg->pad_token_id));
    TRY(get_num(c, "initializer_range", 0, &cfg->initializer_range));
    const cJSON *hd = cJSON_GetObjectItemCaseSensitive(c->root, "head_dim");
    if (hd && !cJSON_IsNull(hd)) {
        int64_t h = 0;
        TRY(get_int(c, "head_dim", 0, &h));
        if (cfg->num_attention_heads > 0 && h * cfg->num_attention_heads != cfg->hidden_size)
            return ttt_err(TTT_ERR_CONFIG,
                           "%s: \"head_dim\" %lld is not hidden_size / num_attention_heads (only that "
                           "layout is supported)", c->path, (long long)h);
    }
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(c->root, "rope_scaling");
    if (rs && !cJSON_IsNull(rs))
        return ttt_err(TTT_ERR_CONFIG, "%s: \"rope_scaling\" is not supported (expected null)", c->path);
    int ab = 0, mb = 0;
    TRY(get_bool(c, "attention_bias", &ab));
    TRY(get_bool(c, "mlp_bias", &mb));
    if (ab || mb)
        return ttt_err(TTT_ERR_CONFIG, "%s: attention_bias / mlp_bias must be false (no biases)", c->path);
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(c->root, "hidden_act");
    if (act && (!cJSON_IsString(act) || strcmp(act->valuestring, "silu") != 0))
        return ttt_err(TTT_ERR_CONFIG, "%s: field \"hidden_act\" must be \"silu\"", c->path);
    const cJSON *tp = cJSON_GetObjectItemCaseSensitive(c->root, "pretraining_tp");
    if (tp && !(cJSON_IsNumber(tp) && tp->valuedouble == 1.0))
        return ttt_err(TTT_ERR_CONFIG, "%s: field \"pretraining_tp\" must be 1", c->path);
    return TTT_OK;
}

static void mamba_defaults(ttt_config *cfg) {
    ttt_defaults(cfg);
    cfg->arch = TTT_ARCH_MAMBA;
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
}

/* "auto" or an integer */
static ttt_status get_rank(jctx *c, const char *name, int64_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->root, name);
    if (!v) return TTT_OK;
    if (cJSON_IsString(v) && strcmp(v->valuestring, "auto") == 0) {
        *out = 0;
        return TTT_OK;
    }
    return get_int(c, name, 0, out);
}

/* Hugging Face MambaConfig */
static ttt_status parse_mamba_hf(jctx *c, ttt_config *cfg) {
    mamba_defaults(cfg);
    TRY(get_int(c, "vocab_size", 1, &cfg->vocab_size));
    TRY(get_int(c, "hidden_size", 1, &cfg->hidden_size));
    TRY(get_int(c, "num_hidden_layers", 1, &cfg->num_hidden_layers));
    TRY(get_int(c, "state_size", 0, &cfg->state_size));
    TRY(get_int(c, "expand", 0, &cfg->expand));
    TRY(get_int(c, "conv_kernel", 0, &cfg->conv_kernel));
    TRY(get_bool(c, "use_bias", &cfg->use_bias));
    TRY(get_bool(c, "use_conv_bias", &cfg->use_conv_bias));
    TRY(get_num(c, "layer_norm_epsilon", 0, &cfg->rms_norm_eps));
    TRY(get_bool(c, "tie_word_embeddings", &cfg->tie_word_embeddings));
    TRY(get_id(c, "bos_token_id", &cfg->bos_token_id));
    TRY(get_id(c, "eos_token_id", &cfg->eos_token_id));
    TRY(get_id(c, "pad_token_id", &cfg->pad_token_id));
    TRY(get_num(c, "initializer_range", 0, &cfg->initializer_range));
    TRY(get_num(c, "time_step_min", 0, &cfg->time_step_min));
    TRY(get_num(c, "time_step_max", 0, &cfg->time_step_max));
    TRY(get_num(c, "time_step_floor", 0, &cfg->time_step_floor));
    cfg->time_step_rank = 0;
    TRY(get_rank(c, "time_step_rank", &cfg->time_step_rank));
    if (cfg->time_step_rank == 0) cfg->time_step_rank = (cfg->hidden_size + 15) / 16;
    cfg->intermediate_size = cfg->expand * cfg->hidden_size;
    int64_t inter = cfg->intermediate_size;
    TRY(get_int(c, "intermediate_size", 0, &inter));
    if (inter != cfg->intermediate_size)
        return ttt_err(TTT_ERR_CONFIG, "%s: \"intermediate_size\" %lld is not expand * hidden_size = %lld",
                       c->path, (long long)inter, (long long)cfg->intermediate_size);
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(c->root, "hidden_act");
    if (act && (!cJSON_IsString(act) || strcmp(act->valuestring, "silu") != 0))
        return ttt_err(TTT_ERR_CONFIG, "%s: field \"hidden_act\" must be \"silu\"", c->path);
    return TTT_OK;
}

/* mamba_ssm's original config: d_model, n_layer, vocab_size, ssm_cfg, rms_norm,
 * residual_in_fp32, fused_add_norm, pad_vocab_size_multiple, tie_embeddings */
static ttt_status parse_mamba_ssm(jctx *c, ttt_config *cfg) {
    mamba_defaults(cfg);
    cfg->mamba_ssm_format = 1;
    TRY(get_int(c, "d_model", 1, &cfg->hidden_size));
    TRY(get_int(c, "n_layer", 1, &cfg->num_hidden_layers));
    TRY(get_int(c, "vocab_size", 1, &cfg->vocab_size));
    TRY(get_int(c, "pad_vocab_size_multiple", 0, &cfg->pad_vocab_size_multiple));
    TRY(get_bool(c, "tie_embeddings", &cfg->tie_word_embeddings));
    int rms = 1;
    TRY(get_bool(c, "rms_norm", &rms));
    if (!rms) return ttt_err(TTT_ERR_CONFIG, "%s: \"rms_norm\": false (LayerNorm) is not supported", c->path);
    const cJSON *ssm = cJSON_GetObjectItemCaseSensitive(c->root, "ssm_cfg");
    cfg->time_step_rank = 0;
    if (ssm) {
        if (!cJSON_IsObject(ssm)) return ttt_err(TTT_ERR_CONFIG, "%s: \"ssm_cfg\" must be an object", c->path);
        jctx s = {c->path, ssm};
        TRY(get_int(&s, "d_state", 0, &cfg->state_size));
        TRY(get_int(&s, "d_conv", 0, &cfg->conv_kernel));
        TRY(get_int(&s, "expand", 0, &cfg->expand));
        TRY(get_rank(&s, "dt_rank", &cfg->time_step_rank));
        TRY(get_bool(&s, "conv_bias", &cfg->use_conv_bias));
        TRY(get_bool(&s, "bias", &cfg->use_bias));
        TRY(get_num(&s, "dt_min", 0, &cfg->time_step_min));
        TRY(get_num(&s, "dt_max", 0, &cfg->time_step_max));
        TRY(get_num(&s, "dt_init_floor", 0, &cfg->time_step_floor));
    }
    if (cfg->time_step_rank == 0) cfg->time_step_rank = (cfg->hidden_size + 15) / 16;
    cfg->intermediate_size = cfg->expand * cfg->hidden_size;
    return TTT_OK;
}

int64_t ttt_config_vocab_rows(const ttt_config *cfg) {
    int64_t m = cfg->arch == TTT_ARCH_MAMBA && cfg->mamba_ssm_format && cfg->pad_vocab_size_multiple > 1
                    ? cfg->pad_vocab_size_multiple
                    : 1;
    return (cfg->vocab_size + m - 1) / m * m;
}

ttt_status ttt_config_validate(const ttt_config *cfg, const char *origin) {
    const char *o = origin ? origin : "config";
#define POS(field) \
    if (cfg->field <= 0 || cfg->field > MAX_DIM) \
        return ttt_err(TTT_ERR_CONFIG, "%s: \"" #field "\" is %lld, expected a positive size", o, \
                       (long long)cfg->field);
    POS(vocab_size)
    POS(hidden_size)
    POS(num_hidden_layers)
    if (cfg->num_hidden_layers > MAX_LAYERS)
        return ttt_err(TTT_ERR_CONFIG, "%s: \"num_hidden_layers\" is %lld, expected 1..%d", o,
                       (long long)cfg->num_hidden_layers, MAX_LAYERS);
    if (cfg->bos_token_id >= cfg->vocab_size || cfg->eos_token_id >= cfg->vocab_size ||
        cfg->bos_token_id < -1 || cfg->eos_token_id < -1)
        return ttt_err(TTT_ERR_CONFIG, "%s: bos/eos token id %lld/%lld outside [0, vocab_size = %lld) (null: none)",
                       o, (long long)cfg->bos_token_id, (long long)cfg->eos_token_id, (long long)cfg->vocab_size);
    /* real numbers outside these ranges are typos or attacks: no trained model uses them,
     * and they overflow to inf or nan in the first forward pass */
#define RANGE(field, name, lo_ok, lo, hi) \
    if (!(isfinite(cfg->field) && ((lo_ok) ? cfg->field >= (lo) : cfg->field > (lo)) && \
          cfg->field <= (hi))) \
        return ttt_err(TTT_ERR_CONFIG, "%s: \"" name "\" is %g, expected a number in %s%g, %g]", o, \
                       cfg->field, (lo_ok) ? "[" : "(", (double)(lo), (double)(hi));
    RANGE(rms_norm_eps, "rms_norm_eps", 0, 0.0, 1.0)
    RANGE(initializer_range, "initializer_range", 1, 0.0, 10.0)
    if (cfg->arch == TTT_ARCH_MAMBA) {
        POS(state_size)
        POS(expand)
        POS(time_step_rank)
        POS(pad_vocab_size_multiple)
        if (cfg->conv_kernel <= 0 || cfg->conv_kernel > 1024)
            return ttt_err(TTT_ERR_CONFIG, "%s: \"conv_kernel\" is %lld, expected 1..1024", o,
                           (long long)cfg->conv_kernel);
        if (cfg->intermediate_size != cfg->expand * cfg->hidden_size)
            return ttt_err(TTT_ERR_CONFIG, "%s: intermediate_size must be expand * hidden_size", o);
        RANGE(time_step_min, "time_step_min", 0, 0.0, 1e3)
        RANGE(time_step_max, "time_step_max", 0, 0.0, 1e3)
        RANGE(time_step_floor, "time_step_floor", 1, 0.0, 1e3)
        if (cfg->time_step_min > cfg->time_step_max)
            return ttt_err(TTT_ERR_CONFIG, "%s: \"time_step_min\" %g is larger than \"time_step_max\" %g",
                           o, cfg->time_step_min, cfg->time_step_max);
        return TTT_OK;
    }
    POS(intermediate_size)
    POS(num_attention_heads)
    if (cfg->hidden_size % cfg->num_attention_heads != 0)
        return ttt_err(TTT_ERR_CONFIG,
                       "%s: \"hidden_size\" %lld is not divisible by \"num_attention_heads\" %lld", o,
                       (long long)cfg->hidden_size, (long long)cfg->num_attention_heads);
    int64_t f = cfg->hidden_size / cfg->num_attention_heads;
    if (f % 2 != 0)
        return ttt_err(TTT_ERR_CONFIG, "%s: head dim hidden_size/num_attention_heads = %lld must be "
                       "even (RoPE rotates pairs)", o, (long long)f);
    RANGE(rope_theta, "rope_theta", 0, 0.0, 1e12)
    if (cfg->arch == TTT_ARCH_LLAMA) {
        POS(num_key_value_heads)
        if (cfg->num_attention_heads % cfg->num_key_value_heads != 0)
            return ttt_err(TTT_ERR_CONFIG,
                           "%s: \"num_attention_heads\" %lld is not a multiple of \"num_key_value_heads\" %lld",
                           o, (long long)cfg->num_attention_heads, (long long)cfg->num_key_value_heads);
        POS(max_position_embeddings)
        return TTT_OK;
    }
    POS(mini_batch_size)
    if ((cfg->pre_conv || cfg->share_qk) && (cfg->conv_kernel <= 0 || cfg->conv_kernel > 1024))
        return ttt_err(TTT_ERR_CONFIG, "%s: \"conv_kernel\" is %lld, expected 1..1024", o,
                       (long long)cfg->conv_kernel);
    RANGE(ttt_base_lr, "ttt_base_lr", 1, 0.0, 1e3)
    if (cfg->mini_batch_size > MAX_MINI_BATCH)
        return ttt_err(TTT_ERR_CONFIG, "%s: \"mini_batch_size\" is %lld, expected 1..%d", o,
                       (long long)cfg->mini_batch_size, MAX_MINI_BATCH);
    if (cfg->ttt_layer_type != TTT_INNER_LINEAR && cfg->ttt_layer_type != TTT_INNER_MLP)
        return ttt_err(TTT_ERR_CONFIG, "%s: unknown ttt_layer_type", o);
    return TTT_OK;
}

ttt_status ttt_config_load(const char *path, ttt_config *out) {
    char *text = NULL;
    size_t len = 0;
    TRY(ttt_read_file(path, MAX_CONFIG_BYTES, &text, &len));
    const char *endp = NULL;
    /* length includes the terminating NUL, which cJSON requires when checking for trailing bytes */
    cJSON *root = cJSON_ParseWithLengthOpts(text, len + 1, &endp, 1);
    if (!root) {
        long at = endp ? (long)(endp - text) : -1L;
        free(text);
        return ttt_err(TTT_ERR_CONFIG, "%s: not valid JSON (error near byte %ld)", path, at);
    }
    free(text);
    ttt_status s = TTT_OK;
    if (!cJSON_IsObject(root)) {
        s = ttt_err(TTT_ERR_CONFIG, "%s: expected a JSON object", path);
    } else if ((s = ttt_json_check_unique(root, path, NULL)) != TTT_OK) {
        /* the message names the key */
    } else {
        jctx c = {path, root};
        const char *mt = get_str(&c, "model_type");
        if (!mt && cJSON_GetObjectItemCaseSensitive(root, "d_model"))
            s = parse_mamba_ssm(&c, out); /* mamba_ssm's original format has no model_type */
        else if (!mt)
            s = ttt_err(TTT_ERR_CONFIG,
                        "%s: field \"model_type\" is missing (expected \"ttt\", \"llama\" or \"mamba\"; a mamba_ssm "
                        "config has \"d_model\" instead)", path);
        else if (strcmp(mt, "ttt") == 0)
            s = parse_ttt(&c, out);
        else if (strcmp(mt, "llama") == 0)
            s = parse_llama(&c, out);
        else if (strcmp(mt, "mamba") == 0)
            s = parse_mamba_hf(&c, out);
        else
            s = ttt_err(TTT_ERR_CONFIG,
                        "%s: unsupported \"model_type\" \"%s\" (supported: \"ttt\", \"llama\", \"mamba\")",
                        path, mt);
        if (s == TTT_OK) {
            const cJSON *tk = cJSON_GetObjectItemCaseSensitive(root, "ttt_tokenizer");
            if (tk && !cJSON_IsString(tk))
                s = ttt_err(TTT_ERR_CONFIG, "%s: field \"ttt_tokenizer\" must be a string", path);
            else if (tk)
                snprintf(out->tokenizer, sizeof out->tokenizer, "%s", tk->valuestring);
        }
        if (s == TTT_OK) s = ttt_config_validate(out, path);
    }
    cJSON_Delete(root);
    return s;
}

#define ID(name) \
    if (cfg->name >= 0) \
        cJSON_AddNumberToObject(r, #name, (double)cfg->name); \
    else \
        cJSON_AddNullToObject(r, #name);

static void json_ttt(cJSON *r, const ttt_config *cfg) {
    cJSON *arch = cJSON_AddArrayToObject(r, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString("TTTForCausalLM"));
    ID(bos_token_id)
    cJSON_AddNumberToObject(r, "conv_kernel", (double)cfg->conv_kernel);
    ID(eos_token_id)
    cJSON_AddStringToObject(r, "hidden_act", "silu");
    cJSON_AddNumberToObject(r, "hidden_size", (double)cfg->hidden_size);
    cJSON_AddNumberToObject(r, "initializer_range", cfg->initializer_range);
    cJSON_AddNumberToObject(r, "intermediate_size", (double)cfg->intermediate_size);
    cJSON_AddNumberToObject(r, "max_position_embeddings", (double)cfg->max_position_embeddings);
    cJSON_AddNumberToObject(r, "mini_batch_size", (double)cfg->mini_batch_size);
    cJSON_AddStringToObject(r, "model_type", "ttt");
    cJSON_AddNumberToObject(r, "num_attention_heads", (double)cfg->num_attention_heads);
    cJSON_AddNumberToObject(r, "num_hidden_layers", (double)cfg->num_hidden_layers);
    ID(pad_token_id)
    cJSON_AddBoolToObject(r, "pre_conv", cfg->pre_conv);
    cJSON_AddNumberToObject(r, "pretraining_tp", 1);
    cJSON_AddNumberToObject(r, "rms_norm_eps", cfg->rms_norm_eps);
    cJSON_AddNumberToObject(r, "rope_theta", cfg->rope_theta);
    cJSON_AddNumberToObject(r, "scan_checkpoint_group_size", (double)cfg->scan_checkpoint_group_size);
    cJSON_AddBoolToObject(r, "share_qk", cfg->share_qk);
    cJSON_AddBoolToObject(r, "tie_word_embeddings", cfg->tie_word_embeddings);
    cJSON_AddStringToObject(r, "torch_dtype", "float32");
    cJSON_AddNumberToObject(r, "ttt_base_lr", cfg->ttt_base_lr);
    if (cfg->ttt_fixed_lr_gate) cJSON_AddBoolToObject(r, "ttt_fixed_lr_gate", 1);
    if (cfg->ttt_unit_token_scale) cJSON_AddBoolToObject(r, "ttt_unit_token_scale", 1);
    cJSON_AddStringToObject(r, "ttt_layer_type", cfg->ttt_layer_type == TTT_INNER_MLP ? "mlp" : "linear");
    cJSON_AddBoolToObject(r, "use_cache", 0);
    cJSON_AddBoolToObject(r, "use_gate", cfg->use_gate);
    cJSON_AddNumberToObject(r, "vocab_size", (double)cfg->vocab_size);
}

static void json_llama(cJSON *r, const ttt_config *cfg) {
    cJSON *arch = cJSON_AddArrayToObject(r, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString("LlamaForCausalLM"));
    cJSON_AddBoolToObject(r, "attention_bias", 0);
    cJSON_AddNumberToObject(r, "attention_dropout", 0.0);
    ID(bos_token_id)
    ID(eos_token_id)
    cJSON_AddNumberToObject(r, "head_dim", (double)(cfg->hidden_size / cfg->num_attention_heads));
    cJSON_AddStringToObject(r, "hidden_act", "silu");
    cJSON_AddNumberToObject(r, "hidden_size", (double)cfg->hidden_size);
    cJSON_AddNumberToObject(r, "initializer_range", cfg->initializer_range);
    cJSON_AddNumberToObject(r, "intermediate_size", (double)cfg->intermediate_size);
    cJSON_AddNumberToObject(r, "max_position_embeddings", (double)cfg->max_position_embeddings);
    cJSON_AddBoolToObject(r, "mlp_bias", 0);
    cJSON_AddStringToObject(r, "model_type", "llama");
    cJSON_AddNumberToObject(r, "num_attention_heads", (double)cfg->num_attention_heads);
    cJSON_AddNumberToObject(r, "num_hidden_layers", (double)cfg->num_hidden_layers);
    cJSON_AddNumberToObject(r, "num_key_value_heads", (double)cfg->num_key_value_heads);
    ID(pad_token_id)
    cJSON_AddNumberToObject(r, "pretraining_tp", 1);
    cJSON_AddNumberToObject(r, "rms_norm_eps", cfg->rms_norm_eps);
    cJSON_AddNullToObject(r, "rope_scaling");
    cJSON_AddNumberToObject(r, "rope_theta", cfg->rope_theta);
    cJSON_AddBoolToObject(r, "tie_word_embeddings", cfg->tie_word_embeddings);
    cJSON_AddStringToObject(r, "torch_dtype", "float32");
    cJSON_AddBoolToObject(r, "use_cache", 1);
    cJSON_AddNumberToObject(r, "vocab_size", (double)cfg->vocab_size);
}

static void json_mamba(cJSON *r, const ttt_config *cfg) {
    if (cfg->mamba_ssm_format) {
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
        return;
    }
    cJSON *arch = cJSON_AddArrayToObject(r, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString("MambaForCausalLM"));
    ID(bos_token_id)
    cJSON_AddNumberToObject(r, "conv_kernel", (double)cfg->conv_kernel);
    ID(eos_token_id)
    cJSON_AddNumberToObject(r, "expand", (double)cfg->expand);
    cJSON_AddStringToObject(r, "hidden_act", "silu");
    cJSON_AddNumberToObject(r, "hidden_size", (double)cfg->hidden_size);
    cJSON_AddNumberToObject(r, "initializer_range", cfg->initializer_range);
    cJSON_AddNumberToObject(r, "intermediate_size", (double)cfg->intermediate_size);
    cJSON_AddNumberToObject(r, "layer_norm_epsilon", cfg->rms_norm_eps);
    cJSON_AddStringToObject(r, "model_type", "mamba");
    cJSON_AddNumberToObject(r, "num_hidden_layers", (double)cfg->num_hidden_layers);
    ID(pad_token_id)
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
#undef ID

ttt_status ttt_config_save(const ttt_config *cfg, const char *path) {
    cJSON *r = cJSON_CreateObject();
    if (!r) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    if (cfg->arch == TTT_ARCH_LLAMA)
        json_llama(r, cfg);
    else if (cfg->arch == TTT_ARCH_MAMBA)
        json_mamba(r, cfg);
    else
        json_ttt(r, cfg);
    if (cfg->tokenizer[0]) cJSON_AddStringToObject(r, "ttt_tokenizer", cfg->tokenizer);
    char *txt = cJSON_Print(r);
    cJSON_Delete(r);
    if (!txt) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    ttt_atomic_file af;
    ttt_status s = ttt_atomic_open(&af, path);
    if (s == TTT_OK) {
        s = ttt_atomic_write(&af, txt, strlen(txt));
        if (s == TTT_OK) s = ttt_atomic_write(&af, "\n", 1);
        if (s == TTT_OK)
            s = ttt_atomic_commit(&af);
        else
            ttt_atomic_abort(&af);
    }
    free(txt);
    return s;
}

/* ---------------------------------------------------------------------------------------- */
/* presets (design.md 3.3): the paper's sizes for both inner models and both backbones, plus tiny
 * ones for tests and demonstrations */

typedef struct {
    const char *name;
    const char *desc;
    ttt_arch arch;
    int64_t layers, width, heads, inter, vocab;
    int mlp, mamba_backbone; /* TTT; Llama: mlp = KV heads (0 = heads) */
} preset;

#define TTT_(n, d, l, w, h, i, v, mlp, mb) {n, d, TTT_ARCH_TTT, l, w, h, i, v, mlp, mb}
#define LLAMA_(n, d, l, w, h, i, v, kv) {n, d, TTT_ARCH_LLAMA, l, w, h, i, v, kv, 0}
#define MAMBA_(n, d, l, w, v) {n, d, TTT_ARCH_MAMBA, l, w, 0, 0, v, 0, 0}

static const preset presets[] = {
    TTT_("ttt-linear-125m", "TTT-Linear (M) 125M: 12 x 768, 12 heads, SwiGLU 2048, vocab 32000", 12, 768, 12, 2048, 32000, 0, 1),
    TTT_("ttt-linear-350m", "TTT-Linear (M) 350M: 24 x 1024, 16 heads, SwiGLU 2736", 24, 1024, 16, 2736, 32000, 0, 1),
    TTT_("ttt-linear-760m", "TTT-Linear (M) 760M: 24 x 1536, 16 heads (head dim 96), SwiGLU 4096", 24, 1536, 16, 4096, 32000, 0, 1),
    TTT_("ttt-linear-1.3b", "TTT-Linear (M) 1.3B: 24 x 2048, 32 heads, SwiGLU 5504", 24, 2048, 32, 5504, 32000, 0, 1),
    TTT_("ttt-mlp-125m", "TTT-MLP (M) 125M", 12, 768, 12, 2048, 32000, 1, 1),
    TTT_("ttt-mlp-350m", "TTT-MLP (M) 350M", 24, 1024, 16, 2736, 32000, 1, 1),
    TTT_("ttt-mlp-760m", "TTT-MLP (M) 760M", 24, 1536, 16, 4096, 32000, 1, 1),
    TTT_("ttt-mlp-1.3b", "TTT-MLP (M) 1.3B", 24, 2048, 32, 5504, 32000, 1, 1),
    TTT_("ttt-linear-125m-tf", "TTT-Linear (T) 125M, Transformer backbone", 12, 768, 12, 2048, 32000, 0, 0),
    TTT_("ttt-linear-350m-tf", "TTT-Linear (T) 350M", 24, 1024, 16, 2736, 32000, 0, 0),
    TTT_("ttt-linear-760m-tf", "TTT-Linear (T) 760M", 24, 1536, 16, 4096, 32000, 0, 0),
    TTT_("ttt-linear-1.3b-tf", "TTT-Linear (T) 1.3B", 24, 2048, 32, 5504, 32000, 0, 0),
    TTT_("ttt-mlp-125m-tf", "TTT-MLP (T) 125M, Transformer backbone", 12, 768, 12, 2048, 32000, 1, 0),
    TTT_("ttt-mlp-350m-tf", "TTT-MLP (T) 350M", 24, 1024, 16, 2736, 32000, 1, 0),
    TTT_("ttt-mlp-760m-tf", "TTT-MLP (T) 760M", 24, 1536, 16, 4096, 32000, 1, 0),
    TTT_("ttt-mlp-1.3b-tf", "TTT-MLP (T) 1.3B", 24, 2048, 32, 5504, 32000, 1, 0),
    TTT_("ttt-linear-tiny", "tiny TTT-Linear (M) for tests: 2 x 64, 4 heads, SwiGLU 176, vocab 97", 2, 64, 4, 176, 97, 0, 1),
    TTT_("ttt-mlp-tiny", "tiny TTT-MLP (M) for tests", 2, 64, 4, 176, 97, 1, 1),
    TTT_("ttt-linear-tiny-tf", "tiny TTT-Linear (T) for tests", 2, 64, 4, 176, 97, 0, 0),
    TTT_("ttt-mlp-tiny-tf", "tiny TTT-MLP (T) for tests", 2, 64, 4, 176, 97, 1, 0),
    TTT_("ttt-linear-small", "small TTT-Linear (M): 4 x 256, 4 heads, SwiGLU 688, vocab 32000", 4, 256, 4, 688, 32000, 0, 1),
    TTT_("ttt-mlp-small", "small TTT-MLP (M): 4 x 256, 4 heads, SwiGLU 688, vocab 32000", 4, 256, 4, 688, 32000, 1, 1),
    LLAMA_("llama-125m", "Transformer++ (Llama) 125M: 12 x 768, 12 heads, SwiGLU 2048, vocab 32000", 12, 768, 12, 2048, 32000, 0),
    LLAMA_("llama-350m", "Transformer++ (Llama) 350M: 24 x 1024, 16 heads, SwiGLU 2736", 24, 1024, 16, 2736, 32000, 0),
    LLAMA_("llama-760m", "Transformer++ (Llama) 760M: 24 x 1536, 16 heads, SwiGLU 4096", 24, 1536, 16, 4096, 32000, 0),
    LLAMA_("llama-1.3b", "Transformer++ (Llama) 1.3B: 24 x 2048, 32 heads, SwiGLU 5504", 24, 2048, 32, 5504, 32000, 0),
    LLAMA_("llama-tiny", "tiny Llama for tests: 2 x 64, 4 heads, 2 KV heads, SwiGLU 176, vocab 97", 2, 64, 4, 176, 97, 2),
    LLAMA_("llama-small", "small Transformer (Llama): 4 x 256, 4 heads, SwiGLU 688, vocab 32000", 4, 256, 4, 688, 32000, 0),
    MAMBA_("mamba-130m", "Mamba 130M: 24 x 768, d_state 16, expand 2, vocab 32000", 24, 768, 32000),
    MAMBA_("mamba-370m", "Mamba 370M: 48 x 1024", 48, 1024, 32000),
    MAMBA_("mamba-790m", "Mamba 790M: 48 x 1536", 48, 1536, 32000),
    MAMBA_("mamba-1.4b", "Mamba 1.4B: 48 x 2048", 48, 2048, 32000),
    MAMBA_("mamba-tiny", "tiny Mamba for tests: 2 x 64, d_state 16, expand 2, vocab 97", 2, 64, 97),
    MAMBA_("mamba-small", "small Mamba: 8 x 256, d_state 16, expand 2, vocab 32000", 8, 256, 32000),
};
#define N_PRESETS (int)(sizeof presets / sizeof presets[0])

const char *ttt_preset_name(int i, const char **desc) {
    if (i < 0 || i >= N_PRESETS) return NULL;
    if (desc) *desc = presets[i].desc;
    return presets[i].name;
}

ttt_status ttt_config_preset(const char *name, ttt_config *out) {
    for (int i = 0; i < N_PRESETS; i++) {
        const preset *p = &presets[i];
        if (strcmp(p->name, name) != 0) continue;
        if (p->arch == TTT_ARCH_MAMBA) {
            mamba_defaults(out);
            out->num_hidden_layers = p->layers;
            out->hidden_size = p->width;
            out->vocab_size = p->vocab;
            out->intermediate_size = out->expand * p->width;
            out->time_step_rank = (p->width + 15) / 16;
            /* the paper's setup: Llama-2 tokenizer ids, initialisation std 0.02 of the embedding */
            out->bos_token_id = 1;
            out->eos_token_id = 2;
            out->pad_token_id = -1;
            out->initializer_range = 0.02;
            return TTT_OK;
        }
        ttt_defaults(out);
        out->arch = p->arch;
        out->num_hidden_layers = p->layers;
        out->hidden_size = p->width;
        out->num_attention_heads = p->heads;
        out->intermediate_size = p->inter;
        out->vocab_size = p->vocab;
        if (p->arch == TTT_ARCH_LLAMA) {
            out->num_key_value_heads = p->mlp ? p->mlp : p->heads;
            out->tie_word_embeddings = 1; /* the paper's baseline ties the embeddings */
            return TTT_OK;
        }
        out->ttt_layer_type = p->mlp ? TTT_INNER_MLP : TTT_INNER_LINEAR;
        out->ttt_base_lr = p->mlp ? 0.1 : 1.0;
        out->pre_conv = out->share_qk = out->use_gate = p->mamba_backbone;
        return TTT_OK;
    }
    return ttt_err(TTT_ERR_ARG, "unknown preset \"%s\" (see 'ttt init --help' for the list)", name);
}
