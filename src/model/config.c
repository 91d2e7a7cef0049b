/* config.c: config.json of a TTT model (ttt.py TTTConfig field names): parsing with
 * libcjson, validation with messages naming the file and field, writing, and presets. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/fsutil.h"
#include "ttt.h"

#define MAX_CONFIG_BYTES (16u << 20)
#define MAX_DIM ((int64_t)1 << 31)

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

ttt_status ttt_config_validate(const ttt_config *cfg, const char *origin) {
    const char *o = origin ? origin : "config";
#define POS(field) \
    if (cfg->field <= 0 || cfg->field > MAX_DIM) \
        return ttt_err(TTT_ERR_CONFIG, "%s: \"" #field "\" is %lld, expected a positive size", o, \
                       (long long)cfg->field);
    POS(vocab_size)
    POS(hidden_size)
    POS(intermediate_size)
    POS(num_hidden_layers)
    POS(num_attention_heads)
    POS(mini_batch_size)
#undef POS
    if (cfg->hidden_size % cfg->num_attention_heads != 0)
        return ttt_err(TTT_ERR_CONFIG,
                       "%s: \"hidden_size\" %lld is not divisible by \"num_attention_heads\" %lld", o,
                       (long long)cfg->hidden_size, (long long)cfg->num_attention_heads);
    int64_t f = cfg->hidden_size / cfg->num_attention_heads;
    if (f % 2 != 0)
        return ttt_err(TTT_ERR_CONFIG, "%s: head dim hidden_size/num_attention_heads = %lld must be "
                       "even (RoPE rotates pairs)", o, (long long)f);
    if ((cfg->pre_conv || cfg->share_qk) && (cfg->conv_kernel <= 0 || cfg->conv_kernel > 1024))
        return ttt_err(TTT_ERR_CONFIG, "%s: \"conv_kernel\" is %lld, expected 1..1024", o,
                       (long long)cfg->conv_kernel);
    if (!(cfg->rms_norm_eps > 0))
        return ttt_err(TTT_ERR_CONFIG, "%s: \"rms_norm_eps\" must be > 0", o);
    if (!(cfg->rope_theta > 0))
        return ttt_err(TTT_ERR_CONFIG, "%s: \"rope_theta\" must be > 0", o);
    if (!(cfg->ttt_base_lr >= 0) || !isfinite(cfg->ttt_base_lr))
        return ttt_err(TTT_ERR_CONFIG, "%s: \"ttt_base_lr\" must be a finite number >= 0", o);
    if (cfg->ttt_layer_type != TTT_INNER_LINEAR && cfg->ttt_layer_type != TTT_INNER_MLP)
        return ttt_err(TTT_ERR_CONFIG, "%s: unknown ttt_layer_type", o);
    if (cfg->bos_token_id >= cfg->vocab_size || cfg->eos_token_id >= cfg->vocab_size)
        return ttt_err(TTT_ERR_CONFIG, "%s: bos/eos token id outside [0, vocab_size)", o);
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
    } else {
        jctx c = {path, root};
        const char *mt = get_str(&c, "model_type");
        if (!mt)
            s = ttt_err(TTT_ERR_CONFIG, "%s: field \"model_type\" is missing (expected \"ttt\")", path);
        else if (strcmp(mt, "ttt") == 0)
            s = parse_ttt(&c, out);
        else
            s = ttt_err(TTT_ERR_CONFIG, "%s: unsupported \"model_type\" \"%s\" (supported: \"ttt\")",
                        path, mt);
        if (s == TTT_OK) s = ttt_config_validate(out, path);
    }
    cJSON_Delete(root);
    return s;
}

ttt_status ttt_config_save(const ttt_config *cfg, const char *path) {
    cJSON *r = cJSON_CreateObject();
    if (!r) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    cJSON *arch = cJSON_AddArrayToObject(r, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString("TTTForCausalLM"));
#define ID(name) \
    if (cfg->name >= 0) cJSON_AddNumberToObject(r, #name, (double)cfg->name); \
    else cJSON_AddNullToObject(r, #name);
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
#undef ID
    cJSON_AddBoolToObject(r, "pre_conv", cfg->pre_conv);
    cJSON_AddNumberToObject(r, "pretraining_tp", 1);
    cJSON_AddNumberToObject(r, "rms_norm_eps", cfg->rms_norm_eps);
    cJSON_AddNumberToObject(r, "rope_theta", cfg->rope_theta);
    cJSON_AddNumberToObject(r, "scan_checkpoint_group_size", (double)cfg->scan_checkpoint_group_size);
    cJSON_AddBoolToObject(r, "share_qk", cfg->share_qk);
    cJSON_AddBoolToObject(r, "tie_word_embeddings", cfg->tie_word_embeddings);
    cJSON_AddStringToObject(r, "torch_dtype", "float32");
    cJSON_AddNumberToObject(r, "ttt_base_lr", cfg->ttt_base_lr);
    cJSON_AddStringToObject(r, "ttt_layer_type",
                            cfg->ttt_layer_type == TTT_INNER_MLP ? "mlp" : "linear");
    cJSON_AddBoolToObject(r, "use_cache", 0);
    cJSON_AddBoolToObject(r, "use_gate", cfg->use_gate);
    cJSON_AddNumberToObject(r, "vocab_size", (double)cfg->vocab_size);
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
/* presets (spec 3.2): the paper's sizes for both inner models and both backbones, plus tiny
 * ones for tests and demonstrations */

typedef struct {
    const char *name;
    const char *desc;
    int64_t layers, width, heads, inter, vocab;
    int mlp, mamba_backbone;
} preset;

static const preset presets[] = {
    {"ttt-linear-125m", "TTT-Linear (M) 125M: 12 x 768, 12 heads, SwiGLU 2048, vocab 32000", 12, 768, 12, 2048, 32000, 0, 1},
    {"ttt-linear-350m", "TTT-Linear (M) 350M: 24 x 1024, 16 heads, SwiGLU 2736", 24, 1024, 16, 2736, 32000, 0, 1},
    {"ttt-linear-760m", "TTT-Linear (M) 760M: 24 x 1536, 16 heads (head dim 96), SwiGLU 4096", 24, 1536, 16, 4096, 32000, 0, 1},
    {"ttt-linear-1.3b", "TTT-Linear (M) 1.3B: 24 x 2048, 32 heads, SwiGLU 5504", 24, 2048, 32, 5504, 32000, 0, 1},
    {"ttt-mlp-125m", "TTT-MLP (M) 125M", 12, 768, 12, 2048, 32000, 1, 1},
    {"ttt-mlp-350m", "TTT-MLP (M) 350M", 24, 1024, 16, 2736, 32000, 1, 1},
    {"ttt-mlp-760m", "TTT-MLP (M) 760M", 24, 1536, 16, 4096, 32000, 1, 1},
    {"ttt-mlp-1.3b", "TTT-MLP (M) 1.3B", 24, 2048, 32, 5504, 32000, 1, 1},
    {"ttt-linear-125m-tf", "TTT-Linear (T) 125M, Transformer backbone", 12, 768, 12, 2048, 32000, 0, 0},
    {"ttt-linear-350m-tf", "TTT-Linear (T) 350M", 24, 1024, 16, 2736, 32000, 0, 0},
    {"ttt-linear-760m-tf", "TTT-Linear (T) 760M", 24, 1536, 16, 4096, 32000, 0, 0},
    {"ttt-linear-1.3b-tf", "TTT-Linear (T) 1.3B", 24, 2048, 32, 5504, 32000, 0, 0},
    {"ttt-mlp-125m-tf", "TTT-MLP (T) 125M, Transformer backbone", 12, 768, 12, 2048, 32000, 1, 0},
    {"ttt-mlp-350m-tf", "TTT-MLP (T) 350M", 24, 1024, 16, 2736, 32000, 1, 0},
    {"ttt-mlp-760m-tf", "TTT-MLP (T) 760M", 24, 1536, 16, 4096, 32000, 1, 0},
    {"ttt-mlp-1.3b-tf", "TTT-MLP (T) 1.3B", 24, 2048, 32, 5504, 32000, 1, 0},
    {"ttt-linear-tiny", "tiny TTT-Linear (M) for tests: 2 x 64, 4 heads, SwiGLU 176, vocab 97", 2, 64, 4, 176, 97, 0, 1},
    {"ttt-mlp-tiny", "tiny TTT-MLP (M) for tests", 2, 64, 4, 176, 97, 1, 1},
    {"ttt-linear-tiny-tf", "tiny TTT-Linear (T) for tests", 2, 64, 4, 176, 97, 0, 0},
    {"ttt-mlp-tiny-tf", "tiny TTT-MLP (T) for tests", 2, 64, 4, 176, 97, 1, 0},
    {"ttt-linear-small", "small TTT-Linear (M): 4 x 256, 4 heads, SwiGLU 688, vocab 32000", 4, 256, 4, 688, 32000, 0, 1},
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
        ttt_defaults(out);
        out->num_hidden_layers = p->layers;
        out->hidden_size = p->width;
        out->num_attention_heads = p->heads;
        out->intermediate_size = p->inter;
        out->vocab_size = p->vocab;
        out->ttt_layer_type = p->mlp ? TTT_INNER_MLP : TTT_INNER_LINEAR;
        out->ttt_base_lr = p->mlp ? 0.1 : 1.0;
        out->pre_conv = out->share_qk = out->use_gate = p->mamba_backbone;
        return TTT_OK;
    }
    return ttt_err(TTT_ERR_ARG, "unknown preset \"%s\" (see 'ttt init --help' for the list)", name);
}
