/* ttt_generate.h: sampling the next token from logits (greedy, temperature, top-k, top-p),
 * and assembling streamed text on valid UTF-8 boundaries. Together with the cache API of
 * ttt.h (ttt_cache_create, ttt_prefill_last, ttt_decode_step, ttt_cache_reset) this is what
 * `ttt generate` is built from. */
#ifndef TTT_GENERATE_H
#define TTT_GENERATE_H

#include <stddef.h>
#include <stdint.h>

#include "ttt.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    double temperature; /* 0: greedy (argmax, lowest id on ties) */
    int64_t top_k;      /* keep the k most likely tokens (0: all) */
    double top_p;       /* keep the smallest set whose probability reaches p (1: all) */
} ttt_sampling;

/* TTT_ERR_ARG unless temperature >= 0 (finite), top_k >= 0 and 0 < top_p <= 1. */
ttt_status ttt_sampling_check(const ttt_sampling *s);

/* A sampler for vocabularies of up to V tokens, with its own random stream. */
typedef struct ttt_sampler ttt_sampler;
ttt_status ttt_sampler_create(int64_t V, uint64_t seed, ttt_sampler **out);
void ttt_sampler_free(ttt_sampler *s);
/* The sampler's random stream (xoshiro256** state), to continue a generation bit for bit
 * (ttt generate --save-state / --load-state); an all-zero state is refused (TTT_ERR_ARG). */
void ttt_sampler_get_rng(const ttt_sampler *s, uint64_t state[4]);
ttt_status ttt_sampler_set_rng(ttt_sampler *s, const uint64_t state[4]);
/* Draw a token id from logits [V] (deterministic for a given seed and sequence of calls). */
int32_t ttt_sample(ttt_sampler *smp, const float *logits, int64_t V, const ttt_sampling *s);

/* Streaming text: feed the decoded text of the tokens so far; it returns the bytes that can
 * be printed now: whole UTF-8 characters, holding back bytes that might still become a stop
 * string or complete a multi-byte character. */
typedef struct {
    char *text;          /* all text so far (NUL-terminated) */
    size_t len, cap, emitted;
    const char *stop;    /* nullable */
    int stopped;         /* the stop string was seen (text is cut before it) */
} ttt_text_stream;

void ttt_text_stream_init(ttt_text_stream *ts, const char *stop);
/* replace the whole text (the decoding of every generated token); returns the number of new
 * bytes ready at ts->text + *from */
size_t ttt_text_stream_update(ttt_text_stream *ts, const char *text, size_t len, int final, size_t *from);
void ttt_text_stream_free(ttt_text_stream *ts);

/* The settings of `ttt generate` for the model directory DIR (NULL: a model without one):
 * GIVEN (TTT_GIVEN_* bits) says which of *sp and *max_tokens the caller set explicitly; the
 * others take generation_config.json's values as transformers reads them (see cmd_generate).
 * eos (room for 32 ids) and *n_eos receive the end-of-sequence ids: generation_config.json's,
 * else config.json's eos_token_id (an id or a list), else the tokenizer's EOS. ignored (nullable)
 * receives the sampling fields of the file ttt does not apply. */
enum { TTT_GIVEN_TEMPERATURE = 1, TTT_GIVEN_TOP_K = 2, TTT_GIVEN_TOP_P = 4, TTT_GIVEN_MAX_TOKENS = 8 };
struct ttt_tok;
ttt_status ttt_generate_settings(const char *dir, const ttt_config *cfg, const struct ttt_tok *tok,
                                 int64_t prompt_len, int given, ttt_sampling *sp, int64_t *max_tokens,
                                 int32_t *eos, int *n_eos, char *ignored, size_t ignored_cap);

#ifdef __cplusplus
}
#endif
#endif
