/* ffi.c: the few entry points the Python package (python/ttt, ctypes) needs beyond the C API
 * used by the `ttt` command: the sizes of the public structs (so that the Python mirrors of
 * ttt_config, ttt_train_opts, ... are checked against this build at import time), direct
 * pointers to a parameter's and gradient's storage (zero-copy numpy views), the generation
 * settings `ttt generate` derives from a model directory (generation_config.json, EOS ids), and
 * a request from a training progress callback to stop the training. */
#include <stdint.h>
#include <string.h>

#include "core/error.h"
#include "py/ffi.h"
#include "generate/gen_config.h"
#include "model/model.h"
#include "ttt.h"
#include "ttt_generate.h"
#include "ttt_tokenizer.h"
#include "ttt_train.h"

size_t ttt_abi_sizeof(const char *type) {
    static const struct {
        const char *name;
        size_t size;
    } t[] = {
        {"ttt_config", sizeof(ttt_config)},
        {"ttt_options", sizeof(ttt_options)},
        {"ttt_train_opts", sizeof(ttt_train_opts)},
        {"ttt_train_progress", sizeof(ttt_train_progress)},
        {"ttt_eval_result", sizeof(ttt_eval_result)},
        {"ttt_sampling", sizeof(ttt_sampling)},
        {"ttt_tokfile", sizeof(ttt_tokfile)},
        {"ttt_text_stream", sizeof(ttt_text_stream)},
        {"ttt_rope_scaling", sizeof(ttt_rope_scaling)},
    };
    if (!type) return 0;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcmp(type, t[i].name) == 0) return t[i].size;
    return 0;
}

/* storage of parameter i (grad = 0) or of its gradient (grad = 1): m->w (or m->g) + offset
 * elements of *elem_bytes (4: float32 model, 8: float64); NULL when i is out of range or the
 * gradients were never allocated */
const void *ttt_param_data(const ttt_model *m, int64_t i, int grad, int *elem_bytes) {
    if (elem_bytes) *elem_bytes = m ? (int)m->elem : 0;
    if (!m || i < 0 || i >= m->tab.n) return NULL;
    const char *base = grad ? (const char *)m->g : (const char *)m->w;
    if (!base) return NULL;
    return base + (size_t)m->tab.p[i].offset * m->elem;
}

ttt_status ttt_generate_settings(const char *dir, const ttt_config *cfg, const struct ttt_tok *tok,
                                 int64_t prompt_len, int given, ttt_sampling *sp, int64_t *max_tokens,
                                 int32_t *eos, int *n_eos, char *ignored, size_t ignored_cap) {
    ttt_gen_config gc;
    ttt_status s;
    *n_eos = 0;
    if (ignored && ignored_cap) ignored[0] = 0;
    if (dir) {
        s = ttt_gen_config_load(dir, cfg->vocab_size, &gc);
        if (s != TTT_OK) return s;
    } else {
        memset(&gc, 0, sizeof gc);
    }
    if (ignored && ignored_cap && gc.ignored[0]) {
        strncpy(ignored, gc.ignored, ignored_cap - 1);
        ignored[ignored_cap - 1] = 0;
    }
    ttt_gen_flags fl = {!!(given & TTT_GIVEN_TEMPERATURE), !!(given & TTT_GIVEN_TOP_K), !!(given & TTT_GIVEN_TOP_P),
                        !!(given & TTT_GIVEN_MAX_TOKENS)};
    ttt_gen_config_apply(&gc, &fl, prompt_len, sp, max_tokens);
    /* the EOS ids: generation_config.json's, else config.json's (an id or a list), else the
     * tokenizer's (cmd_generate.c) */
    if (gc.has_eos) {
        *n_eos = gc.n_eos;
        memcpy(eos, gc.eos, sizeof(int32_t) * (size_t)gc.n_eos);
    } else if (dir) {
        s = ttt_gen_config_model_eos(dir, cfg->vocab_size, eos, n_eos);
        if (s != TTT_OK) return s;
    } else if (cfg->eos_token_id >= 0) {
        eos[(*n_eos)++] = (int32_t)cfg->eos_token_id;
    }
    if (!gc.has_eos && *n_eos == 0 && cfg->eos_token_id < 0 && tok && ttt_tok_eos(tok) >= 0)
        eos[(*n_eos)++] = ttt_tok_eos(tok);
    return TTT_OK;
}

static _Thread_local int stop_requested;

void ttt_train_request_stop(void) { stop_requested = 1; }

int ttt_train_stop_pending(void) {
    int r = stop_requested;
    stop_requested = 0;
    return r;
}
