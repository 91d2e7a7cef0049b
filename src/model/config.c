/* config.c: config.json of any model family: reading with libcjson (the family is the one
 * whose "model_type" the file names; its parse hook reads the fields), validation with
 * messages naming the file and field (the checks common to all families, then the family's),
 * writing, and the presets of all families. Also the readers and checks the families' config
 * code shares (model/family.h). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/fsutil.h"
#include "io/json.h"
#include "model/family.h"
#include "ttt.h"

#define MAX_CONFIG_BYTES (16u << 20)
#define MAX_DIM ((int64_t)1 << 31)
#define MAX_LAYERS 65536

ttt_status cfg_int(const cfg_json *c, const char *name, int required, int64_t *out) {
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

ttt_status cfg_id(const cfg_json *c, const char *name, int64_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->root, name);
    if (!v) return TTT_OK;
    if (cJSON_IsNull(v)) {
        *out = -1;
        return TTT_OK;
    }
    return cfg_int(c, name, 0, out);
}

ttt_status cfg_num(const cfg_json *c, const char *name, int required, double *out) {
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

ttt_status cfg_bool(const cfg_json *c, const char *name, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->root, name);
    if (!v) return TTT_OK;
    if (!cJSON_IsBool(v))
        return ttt_err(TTT_ERR_CONFIG, "%s: field \"%s\" must be true or false", c->path, name);
    *out = cJSON_IsTrue(v);
    return TTT_OK;
}

const char *cfg_str(const cfg_json *c, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->root, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

void cfg_defaults(ttt_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->rms_norm_eps = 1e-6;
    cfg->rope_theta = 10000.0;
    cfg->tie_word_embeddings = 1;
    cfg->max_position_embeddings = 2048;
    cfg->bos_token_id = 1;
    cfg->eos_token_id = 2;
    cfg->pad_token_id = -1;
    cfg->initializer_range = 0.02;
}

ttt_status cfg_llama_style(const cfg_json *c, ttt_config *cfg, const char *silu_why) {
    TRY(cfg_int(c, "vocab_size", 1, &cfg->vocab_size));
    TRY(cfg_int(c, "hidden_size", 1, &cfg->hidden_size));
    TRY(cfg_int(c, "intermediate_size", 1, &cfg->intermediate_size));
    TRY(cfg_int(c, "num_hidden_layers", 1, &cfg->num_hidden_layers));
    TRY(cfg_int(c, "num_attention_heads", 1, &cfg->num_attention_heads));
    TRY(cfg_num(c, "rms_norm_eps", 0, &cfg->rms_norm_eps));
    TRY(cfg_num(c, "rope_theta", 0, &cfg->rope_theta));
    TRY(cfg_bool(c, "tie_word_embeddings", &cfg->tie_word_embeddings));
    TRY(cfg_int(c, "max_position_embeddings", 0, &cfg->max_position_embeddings));
    TRY(cfg_id(c, "bos_token_id", &cfg->bos_token_id));
    /* eos_token_id may be a list (Llama 3.1): the first id here; `ttt generate` stops at any of
     * them (src/generate/gen_config.c) */
    const cJSON *eos = cJSON_GetObjectItemCaseSensitive(c->root, "eos_token_id");
    if (cJSON_IsArray(eos)) {
        int n = cJSON_GetArraySize(eos);
        for (int i = 0; i < n; i++) {
            const cJSON *e = cJSON_GetArrayItem(eos, i);
            if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) || e->valuedouble < 0 ||
                e->valuedouble > 9007199254740992.0)
                return ttt_err(TTT_ERR_CONFIG, "%s: field \"eos_token_id\" entry %d must be a token id (an integer "
                               ">= 0)", c->path, i);
        }
        if (n == 0)
            return ttt_err(TTT_ERR_CONFIG, "%s: field \"eos_token_id\" is an empty list (expected an id, a list "
                           "of ids, or null)", c->path);
        cfg->eos_token_id = (int64_t)cJSON_GetArrayItem(eos, 0)->valuedouble;
    } else {
        TRY(cfg_id(c, "eos_token_id", &cfg->eos_token_id));
    }
    TRY(cfg_id(c, "pad_token_id", &cfg->pad_token_id));
    TRY(cfg_num(c, "initializer_range", 0, &cfg->initializer_range));
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(c->root, "hidden_act");
    if (act && (!cJSON_IsString(act) || strcmp(act->valuestring, "silu") != 0))
        return ttt_err(TTT_ERR_CONFIG, "%s: field \"hidden_act\" must be \"silu\"%s", c->path, silu_why);
    const cJSON *tp = cJSON_GetObjectItemCaseSensitive(c->root, "pretraining_tp");
    if (tp && !(cJSON_IsNumber(tp) && tp->valuedouble == 1.0))
        return ttt_err(TTT_ERR_CONFIG, "%s: field \"pretraining_tp\" must be 1", c->path);
    return TTT_OK;
}

ttt_status cfg_check_size(const char *o, const char *name, int64_t v) {
    if (v <= 0 || v > MAX_DIM)
        return ttt_err(TTT_ERR_CONFIG, "%s: \"%s\" is %lld, expected a positive size", o, name, (long long)v);
    return TTT_OK;
}

/* real numbers outside the families' ranges are typos or attacks: no trained model uses them,
 * and they overflow to inf or nan in the first forward pass */
ttt_status cfg_check_real(const char *o, const char *name, double v, int lo_closed, double lo, double hi) {
    if (!(isfinite(v) && (lo_closed ? v >= lo : v > lo) && v <= hi))
        return ttt_err(TTT_ERR_CONFIG, "%s: \"%s\" is %g, expected a number in %s%g, %g]", o, name, v,
                       lo_closed ? "[" : "(", lo, hi);
    return TTT_OK;
}

ttt_status cfg_check_conv(const char *o, int64_t k) {
    if (k <= 0 || k > 1024)
        return ttt_err(TTT_ERR_CONFIG, "%s: \"conv_kernel\" is %lld, expected 1..1024", o, (long long)k);
    return TTT_OK;
}

ttt_status cfg_check_heads(const ttt_config *cfg, const char *o) {
    TRY(cfg_check_size(o, "intermediate_size", cfg->intermediate_size));
    TRY(cfg_check_size(o, "num_attention_heads", cfg->num_attention_heads));
    if (cfg->hidden_size % cfg->num_attention_heads != 0)
        return ttt_err(TTT_ERR_CONFIG,
                       "%s: \"hidden_size\" %lld is not divisible by \"num_attention_heads\" %lld", o,
                       (long long)cfg->hidden_size, (long long)cfg->num_attention_heads);
    int64_t f = cfg->hidden_size / cfg->num_attention_heads;
    if (f % 2 != 0)
        return ttt_err(TTT_ERR_CONFIG, "%s: head dim hidden_size/num_attention_heads = %lld must be "
                       "even (RoPE rotates pairs)", o, (long long)f);
    return cfg_check_real(o, "rope_theta", cfg->rope_theta, 0, 0.0, 1e12);
}

void cfg_write_id(cJSON *r, const char *name, int64_t id) {
    if (id >= 0)
        cJSON_AddNumberToObject(r, name, (double)id);
    else
        cJSON_AddNullToObject(r, name);
}

int64_t ttt_config_vocab_rows(const ttt_config *cfg) {
    const ttt_family *f = ttt_family_of(cfg);
    return f && f->vocab_rows ? f->vocab_rows(cfg) : cfg->vocab_size;
}

int64_t ttt_config_max_context(const ttt_config *cfg) {
    const ttt_family *f = ttt_family_of(cfg);
    return f && f->max_context ? f->max_context(cfg) : 0;
}

ttt_status ttt_config_validate(const ttt_config *cfg, const char *origin) {
    const char *o = origin ? origin : "config";
    const ttt_family *fam = ttt_family_of(cfg);
    if (!fam) return ttt_err(TTT_ERR_CONFIG, "%s: unknown model family %d", o, (int)cfg->arch);
    TRY(cfg_check_size(o, "vocab_size", cfg->vocab_size));
    TRY(cfg_check_size(o, "hidden_size", cfg->hidden_size));
    TRY(cfg_check_size(o, "num_hidden_layers", cfg->num_hidden_layers));
    if (cfg->num_hidden_layers > MAX_LAYERS)
        return ttt_err(TTT_ERR_CONFIG, "%s: \"num_hidden_layers\" is %lld, expected 1..%d", o,
                       (long long)cfg->num_hidden_layers, MAX_LAYERS);
    if (cfg->bos_token_id >= cfg->vocab_size || cfg->eos_token_id >= cfg->vocab_size ||
        cfg->bos_token_id < -1 || cfg->eos_token_id < -1)
        return ttt_err(TTT_ERR_CONFIG, "%s: bos/eos token id %lld/%lld outside [0, vocab_size = %lld) (null: none)",
                       o, (long long)cfg->bos_token_id, (long long)cfg->eos_token_id, (long long)cfg->vocab_size);
    TRY(cfg_check_real(o, "rms_norm_eps", cfg->rms_norm_eps, 0, 0.0, 1.0));
    TRY(cfg_check_real(o, "initializer_range", cfg->initializer_range, 1, 0.0, 10.0));
    return fam->validate ? fam->validate(cfg, o) : TTT_OK;
}

/* the family that reads a config.json: the one its "model_type" names, or one that claims
 * a config without it */
static const ttt_family *family_for(const cJSON *root, const char *mt, int *id) {
    for (int i = 0; i < ttt_family_count(); i++) {
        const ttt_family *f = ttt_family_at(i);
        if (mt ? strcmp(mt, f->model_type) == 0 : f->claims_untyped && f->claims_untyped(root)) {
            *id = i;
            return f;
        }
    }
    return NULL;
}

/* the model types, "\"ttt\", \"llama\" or \"mamba\"" (last_sep " or ") or "...; a mamba_ssm
 * config has ..." with the hints of the families that read configs without one */
static void list_types(char *buf, size_t cap, const char *last_sep, int hints) {
    buf[0] = 0;
    int n = ttt_family_count();
    for (int i = 0; i < n; i++) {
        size_t k = strlen(buf);
        snprintf(buf + k, cap - k, "%s\"%s\"", i == 0 ? "" : i == n - 1 ? last_sep : ", ",
                 ttt_family_at(i)->model_type);
    }
    for (int i = 0; hints && i < n; i++) {
        size_t k = strlen(buf);
        if (ttt_family_at(i)->untyped_hint) snprintf(buf + k, cap - k, "; %s", ttt_family_at(i)->untyped_hint);
    }
}

ttt_status ttt_config_load(const char *path, ttt_config *out) {
    cJSON *root;
    TRY(ttt_json_load(path, MAX_CONFIG_BYTES, TTT_ERR_CONFIG, &root));
    ttt_status s = TTT_OK;
    cfg_json c = {path, root};
    const cJSON *mtv = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    const char *mt = cfg_str(&c, "model_type");
    int id = -1;
    const ttt_family *fam = mtv && !mt ? NULL : family_for(root, mt, &id);
    char types[512];
    if (fam) {
        s = fam->parse(&c, out);
        out->arch = (ttt_arch)id;
    } else if (!mtv) {
        list_types(types, sizeof types, " or ", 1);
        s = ttt_err(TTT_ERR_CONFIG, "%s: field \"model_type\" is missing (expected %s)", path, types);
    } else {
        list_types(types, sizeof types, ", ", 0);
        s = ttt_err(TTT_ERR_CONFIG, "%s: unsupported \"model_type\" %s%s%s (supported: %s)", path,
                    mt ? "\"" : "", mt ? mt : "(not a string)", mt ? "\"" : "", types);
    }
    if (s == TTT_OK) {
        const cJSON *tk = cJSON_GetObjectItemCaseSensitive(root, "ttt_tokenizer");
        if (tk && !cJSON_IsString(tk))
            s = ttt_err(TTT_ERR_CONFIG, "%s: field \"ttt_tokenizer\" must be a string", path);
        else if (tk)
            snprintf(out->tokenizer, sizeof out->tokenizer, "%s", tk->valuestring);
    }
    if (s == TTT_OK) s = ttt_config_validate(out, path);
    cJSON_Delete(root);
    return s;
}

ttt_status ttt_config_save(const ttt_config *cfg, const char *path) {
    const ttt_family *fam = ttt_family_of(cfg);
    if (!fam) return ttt_err(TTT_ERR_CONFIG, "%s: unknown model family %d", path, (int)cfg->arch);
    cJSON *r = cJSON_CreateObject();
    if (!r) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    fam->write(r, cfg);
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
/* presets (design.md 3.3): each family's, in registration order */

const char *ttt_preset_name(int i, const char **desc) {
    for (int k = 0; k < ttt_family_count() && i >= 0; k++) {
        const ttt_family *f = ttt_family_at(k);
        const char *name;
        for (int j = 0; f->preset && (name = f->preset(j, desc, NULL)) != NULL; j++)
            if (i-- == 0) return name;
    }
    return NULL;
}

ttt_status ttt_config_preset(const char *name, ttt_config *out) {
    for (int k = 0; k < ttt_family_count(); k++) {
        const ttt_family *f = ttt_family_at(k);
        const char *pn;
        for (int i = 0; f->preset && (pn = f->preset(i, NULL, NULL)) != NULL; i++)
            if (strcmp(pn, name) == 0) {
                f->preset(i, NULL, out);
                out->arch = (ttt_arch)k;
                return TTT_OK;
            }
    }
    return ttt_err(TTT_ERR_ARG, "unknown preset \"%s\" (see 'ttt init --help' for the list)", name);
}
