/* gen_config.c: generation_config.json (transformers' GenerationConfig as a file) read into the
 * settings of `ttt generate`, and the EOS ids of config.json (see gen_config.h). */
#include "generate/gen_config.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "io/json.h"

#define MAX_GEN_CONFIG_BYTES (1u << 20)

static int is_int(const cJSON *v) {
    return cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) && fabs(v->valuedouble) <= 9007199254740992.0;
}

/* an id, a list of ids, or null (n = 0) */
static ttt_status read_ids(const cJSON *v, const char *path, const char *name, int64_t V, int32_t *ids, int *n) {
    *n = 0;
    if (cJSON_IsNull(v)) return TTT_OK;
    int list = cJSON_IsArray(v), cnt = list ? cJSON_GetArraySize(v) : 1;
    if ((!list && !is_int(v)) || (list && (cnt < 1 || cnt > TTT_GEN_MAX_EOS)))
        return ttt_err(TTT_ERR_CONFIG, "%s: \"%s\" must be a token id, a list of 1 to %d token ids, or null", path,
                       name, TTT_GEN_MAX_EOS);
    for (int i = 0; i < cnt; i++) {
        const cJSON *e = list ? cJSON_GetArrayItem(v, i) : v;
        if (!is_int(e) || e->valuedouble < 0 || e->valuedouble >= (double)V) {
            if (list)
                return ttt_err(TTT_ERR_CONFIG, "%s: \"%s\" entry %d is not a token id in [0, %lld) (the model's "
                               "vocab_size)", path, name, i, (long long)V);
            return ttt_err(TTT_ERR_CONFIG, "%s: \"%s\" is not a token id in [0, %lld) (the model's vocab_size)", path,
                           name, (long long)V);
        }
        ids[(*n)++] = (int32_t)e->valuedouble;
    }
    return TTT_OK;
}

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

ttt_status ttt_gen_config_load(const char *dir, int64_t vocab_size, ttt_gen_config *g) {
    memset(g, 0, sizeof *g);
    char path[1200];
    snprintf(path, sizeof path, "%s/generation_config.json", dir);
    if (!file_exists(path)) return TTT_OK;
    cJSON *root;
    TRY(ttt_json_load(path, MAX_GEN_CONFIG_BYTES, TTT_ERR_CONFIG, &root));
    g->found = 1;
    ttt_status s = TTT_OK;
    const cJSON *v;
#define FIELD(name) (v = cJSON_GetObjectItemCaseSensitive(root, name)) != NULL && !cJSON_IsNull(v)
    if (s == TTT_OK && FIELD("do_sample")) {
        if (!cJSON_IsBool(v))
            s = ttt_err(TTT_ERR_CONFIG, "%s: \"do_sample\" must be true or false", path);
        g->has_do_sample = 1, g->do_sample = cJSON_IsTrue(v);
    }
    if (s == TTT_OK && FIELD("temperature")) {
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0)
            s = ttt_err(TTT_ERR_CONFIG, "%s: \"temperature\" must be a number >= 0", path);
        g->has_temperature = 1, g->temperature = v->valuedouble;
    }
    if (s == TTT_OK && FIELD("top_k")) {
        if (!is_int(v) || v->valuedouble < 0 || v->valuedouble > (double)INT32_MAX)
            s = ttt_err(TTT_ERR_CONFIG, "%s: \"top_k\" must be an integer in [0, 2^31) (0: off)", path);
        else
            g->has_top_k = 1, g->top_k = (int64_t)v->valuedouble;
    }
    if (s == TTT_OK && FIELD("top_p")) {
        if (!cJSON_IsNumber(v) || !(v->valuedouble > 0 && v->valuedouble <= 1))
            s = ttt_err(TTT_ERR_CONFIG, "%s: \"top_p\" must be a number in (0, 1]", path);
        g->has_top_p = 1, g->top_p = v->valuedouble;
    }
    if (s == TTT_OK && FIELD("max_new_tokens")) {
        if (!is_int(v) || v->valuedouble < 0 || v->valuedouble > (double)(1 << 30))
            s = ttt_err(TTT_ERR_CONFIG, "%s: \"max_new_tokens\" must be an integer in [0, 2^30]", path);
        else
            g->has_max_new_tokens = 1, g->max_new_tokens = (int64_t)v->valuedouble;
    }
    if (s == TTT_OK && FIELD("max_length")) {
        if (!is_int(v) || v->valuedouble < 1 || v->valuedouble > (double)(1 << 30))
            s = ttt_err(TTT_ERR_CONFIG, "%s: \"max_length\" must be an integer in [1, 2^30]", path);
        else
            g->has_max_length = 1, g->max_length = (int64_t)v->valuedouble;
    }
    v = cJSON_GetObjectItemCaseSensitive(root, "eos_token_id");
    if (s == TTT_OK && v) {
        g->has_eos = 1;
        s = read_ids(v, path, "eos_token_id", vocab_size, g->eos, &g->n_eos);
    }
    /* settings that would change what is sampled but that ttt does not implement: named, so
     * that the difference from transformers is visible (their neutral values are not) */
    static const struct {
        const char *name;
        double neutral;
    } other[] = {{"repetition_penalty", 1}, {"num_beams", 1}, {"min_new_tokens", 0}, {"min_length", 0},
                 {"no_repeat_ngram_size", 0}, {"typical_p", 1}, {"min_p", 0}, {"epsilon_cutoff", 0},
                 {"eta_cutoff", 0}, {"length_penalty", 1}, {"encoder_repetition_penalty", 1}};
    for (size_t i = 0; s == TTT_OK && i < sizeof other / sizeof other[0]; i++)
        if (FIELD(other[i].name) && !(cJSON_IsNumber(v) && v->valuedouble == other[i].neutral)) {
            size_t k = strlen(g->ignored);
            snprintf(g->ignored + k, sizeof g->ignored - k, "%s%s", k ? ", " : "", other[i].name);
        }
#undef FIELD
    cJSON_Delete(root);
    return s;
}

ttt_status ttt_gen_config_model_eos(const char *dir, int64_t vocab_size, int32_t *eos, int *n) {
    *n = 0;
    char path[1200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    cJSON *root;
    TRY(ttt_json_load(path, 16u << 20, TTT_ERR_CONFIG, &root));
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "eos_token_id");
    ttt_status s = v ? read_ids(v, path, "eos_token_id", vocab_size, eos, n) : TTT_OK;
    cJSON_Delete(root);
    return s;
}

/* file settings where no flag was given; do_sample false (transformers' default): greedy */
void ttt_gen_config_apply(const ttt_gen_config *g, const ttt_gen_flags *given, int64_t prompt_len,
                          ttt_sampling *sp, int64_t *max_tokens) {
    if (!g->found) return;
    if (g->has_do_sample && g->do_sample) {
        if (!given->temperature) sp->temperature = g->has_temperature ? g->temperature : 1.0;
        if (!given->top_k) sp->top_k = g->has_top_k ? g->top_k : 50;
        if (!given->top_p) sp->top_p = g->has_top_p ? g->top_p : 1.0;
    } else if (!given->temperature) {
        sp->temperature = 0; /* greedy; top-k and top-p do not matter */
    }
    if (!given->max_tokens) {
        if (g->has_max_new_tokens)
            *max_tokens = g->max_new_tokens;
        else if (g->has_max_length)
            *max_tokens = g->max_length > prompt_len ? g->max_length - prompt_len : 0;
    }
}
