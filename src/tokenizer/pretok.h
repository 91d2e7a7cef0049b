/* pretok.h: the regexes of the tokenizer engine (Split patterns, the tiktoken encodings',
 * GPT-2's): PCRE2 (UTF + Unicode properties, JIT-compiled when available), cutting text into
 * pieces before BPE. Input that is not valid UTF-8 is allowed (PCRE2_MATCH_INVALID_UTF): bytes
 * the pattern cannot match become pieces of their own, so every byte ends up in exactly one
 * piece. */
#ifndef TTT_TOKENIZER_PRETOK_H
#define TTT_TOKENIZER_PRETOK_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stddef.h>

#include "ttt.h"

typedef struct {
    pcre2_code *code;
    int jit;
} pretok;

/* per-thread matching state */
typedef struct {
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *stack;
} pretok_state;

ttt_status pretok_compile(pretok *p, const char *pattern, const char *name);
void pretok_free(pretok *p);
ttt_status pretok_state_init(pretok_state *st, const pretok *p);
void pretok_state_free(pretok_state *st);

/* Called for each piece [begin, end) of text, in order; return nonzero to stop. */
typedef int (*pretok_piece_fn)(void *ctx, size_t begin, size_t end);

/* Cut text into pieces, starting at byte start and stopping before the first piece that would
 * start at or after stop; len is the whole text, so lookaheads and '$' see what follows stop.
 * *end receives the end of the last piece (>= stop when stop < len: a piece may run past it).
 * TTT_OK, or the error of the callback (nonzero return: TTT_ERR_NOMEM) or of PCRE2. */
ttt_status pretok_split(const pretok *p, pretok_state *st, const char *text, size_t len, size_t start,
                        size_t stop, pretok_piece_fn fn, void *ctx, size_t *end);

#endif
