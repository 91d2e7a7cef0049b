/* ffi.c: the few entry points the Python package (python/ttt, ctypes) needs beyond the C API
 * used by the `ttt` command: the sizes of the public structs (so that the Python mirrors of
 * ttt_config, ttt_train_opts, ... are checked against this build at import time), direct
 * pointers to a parameter's and gradient's storage (zero-copy numpy views), the generation
 * settings `ttt generate` derives from a model directory (generation_config.json, EOS ids), and
 * a request from a training progress callback to stop the training. */
#include <stddef.h>
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

/* offsetof of the fields the Python mirrors (python/ttt/_structs.py) declare: a field moved or
 * removed in a header is caught at import instead of being read at the wrong place */
int64_t ttt_abi_offsetof(const char *type, const char *field) {
#define F(T, f) {#T, #f, offsetof(T, f)}
    static const struct {
        const char *type, *field;
        size_t off;
    } t[] = {
        F(ttt_config, arch),
        F(ttt_config, vocab_size),
        F(ttt_config, hidden_size),
        F(ttt_config, intermediate_size),
        F(ttt_config, num_hidden_layers),
        F(ttt_config, num_attention_heads),
        F(ttt_config, rms_norm_eps),
        F(ttt_config, rope_theta),
        F(ttt_config, tie_word_embeddings),
        F(ttt_config, max_position_embeddings),
        F(ttt_config, bos_token_id),
        F(ttt_config, eos_token_id),
        F(ttt_config, pad_token_id),
        F(ttt_config, initializer_range),
        F(ttt_config, tokenizer),
        F(ttt_config, ttt_layer_type),
        F(ttt_config, ttt_base_lr),
        F(ttt_config, mini_batch_size),
        F(ttt_config, pre_conv),
        F(ttt_config, share_qk),
        F(ttt_config, use_gate),
        F(ttt_config, conv_kernel),
        F(ttt_config, scan_checkpoint_group_size),
        F(ttt_config, ttt_fixed_lr_gate),
        F(ttt_config, ttt_unit_token_scale),
        F(ttt_config, num_key_value_heads),
        F(ttt_config, head_dim),
        F(ttt_config, attention_bias),
        F(ttt_config, mlp_bias),
        F(ttt_config, rope_scaling),
        F(ttt_config, state_size),
        F(ttt_config, expand),
        F(ttt_config, time_step_rank),
        F(ttt_config, use_bias),
        F(ttt_config, use_conv_bias),
        F(ttt_config, time_step_min),
        F(ttt_config, time_step_max),
        F(ttt_config, time_step_floor),
        F(ttt_config, mamba_ssm_format),
        F(ttt_config, pad_vocab_size_multiple),
        F(ttt_options, precision),
        F(ttt_options, threads),
        F(ttt_options, remat_group),
        F(ttt_options, reference_kernels),
        F(ttt_options, bf16_weights),
        F(ttt_options, bf16_train),
        F(ttt_train_opts, seq_len),
        F(ttt_train_opts, batch),
        F(ttt_train_opts, micro_batch),
        F(ttt_train_opts, steps),
        F(ttt_train_opts, lr),
        F(ttt_train_opts, lr_end),
        F(ttt_train_opts, warmup),
        F(ttt_train_opts, schedule),
        F(ttt_train_opts, beta1),
        F(ttt_train_opts, beta2),
        F(ttt_train_opts, eps),
        F(ttt_train_opts, weight_decay),
        F(ttt_train_opts, clip),
        F(ttt_train_opts, ttt_mlp_lr_warmup),
        F(ttt_train_opts, seed),
        F(ttt_train_opts, ckpt_every),
        F(ttt_train_opts, keep_ckpts),
        F(ttt_train_opts, log_every),
        F(ttt_train_opts, val_every),
        F(ttt_train_opts, val_windows),
        F(ttt_train_opts, stop_after),
        F(ttt_train_opts, mask_bos),
        F(ttt_train_opts, no_shuffle),
        F(ttt_train_opts, doc_windows),
        F(ttt_train_opts, quiet),
        F(ttt_train_opts, tokenizer),
        F(ttt_train_opts, generation_config),
        F(ttt_train_progress, step),
        F(ttt_train_progress, steps),
        F(ttt_train_progress, loss),
        F(ttt_train_progress, lr),
        F(ttt_train_progress, grad_norm),
        F(ttt_train_progress, tokens_per_s),
        F(ttt_train_progress, elapsed_s),
        F(ttt_train_progress, val_loss),
        F(ttt_train_progress, start_step),
        F(ttt_eval_result, nll_sum),
        F(ttt_eval_result, count),
        F(ttt_eval_result, windows),
        F(ttt_eval_result, ppl),
        F(ttt_sampling, temperature),
        F(ttt_sampling, top_k),
        F(ttt_sampling, top_p),
        F(ttt_tokfile, version),
        F(ttt_tokfile, width),
        F(ttt_tokfile, n_tokens),
        F(ttt_tokfile, n_docs),
        F(ttt_tokfile, bos_id),
        F(ttt_tokfile, eos_id),
        F(ttt_tokfile, vocab_size),
        F(ttt_tokfile, tokenizer),
        F(ttt_tokfile, checksum),
        F(ttt_tokfile, ids),
        F(ttt_tokfile, doc_start),
        F(ttt_text_stream, text),
        F(ttt_text_stream, len),
        F(ttt_text_stream, cap),
        F(ttt_text_stream, emitted),
        F(ttt_text_stream, stop),
        F(ttt_text_stream, stopped),
        F(ttt_rope_scaling, type),
        F(ttt_rope_scaling, factor),
        F(ttt_rope_scaling, low_freq_factor),
        F(ttt_rope_scaling, high_freq_factor),
        F(ttt_rope_scaling, original_max_position_embeddings),
    };
#undef F
    if (!type || !field) return -1;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcmp(type, t[i].type) == 0 && strcmp(field, t[i].field) == 0) return (int64_t)t[i].off;
    return -1;
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
