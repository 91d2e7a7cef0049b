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

#ifdef __cplusplus
}
#endif
#endif
