/* gen_config.h: generation_config.json of a Hugging Face model directory: the default
 * sampling settings and the end-of-sequence ids of `ttt generate`, and how they combine with
 * ttt's own defaults and the command-line flags (gen_config.c). */
#ifndef TTT_GENERATE_GEN_CONFIG_H
#define TTT_GENERATE_GEN_CONFIG_H

#include <stdint.h>

#include "ttt.h"
#include "ttt_generate.h"

#define TTT_GEN_MAX_EOS 32

typedef struct {
    int found;                 /* the directory has generation_config.json */
    int has_do_sample, do_sample;
    int has_temperature, has_top_k, has_top_p, has_max_new_tokens, has_max_length, has_eos;
    double temperature, top_p;
    int64_t top_k, max_new_tokens, max_length;
    int n_eos;                 /* has_eos: 0 when the file says null (no EOS) */
    int32_t eos[TTT_GEN_MAX_EOS];
    char ignored[256];         /* sampling fields present that ttt does not apply ("" if none) */
} ttt_gen_config;

/* Read DIR/generation_config.json (absent: g->found = 0, TTT_OK). Every id must lie in
 * [0, vocab_size). Errors name the file and the field: do_sample true/false, temperature a
 * number >= 0, top_k an integer >= 0, top_p in (0, 1], max_new_tokens an integer >= 0,
 * max_length an integer >= 1, eos_token_id an id, a list of 1..32 ids, or null. */
ttt_status ttt_gen_config_load(const char *dir, int64_t vocab_size, ttt_gen_config *g);

/* The EOS ids of config.json when it has no generation_config.json: "eos_token_id" may be an
 * id or a list (Llama 3.1); ids outside [0, vocab_size) are refused. n = 0: none. */
ttt_status ttt_gen_config_model_eos(const char *dir, int64_t vocab_size, int32_t *eos, int *n);

/* Which settings the command line gave (they win over the file). */
typedef struct {
    int temperature, top_k, top_p, max_tokens;
} ttt_gen_flags;

/* The settings of one `ttt generate` run, in order of precedence: the flags given (already in
 * *sp and *max_tokens), then the file, then ttt's defaults (also already there).
 * From the file, as transformers reads it: do_sample false or absent: greedy (temperature 0);
 * do_sample true: temperature (default 1.0), top_k (default 50), top_p (default 1.0);
 * max_new_tokens, else max_length − prompt_len (at least 0). */
void ttt_gen_config_apply(const ttt_gen_config *g, const ttt_gen_flags *given, int64_t prompt_len,
                          ttt_sampling *sp, int64_t *max_tokens);

#endif
