/* tok_impl.h: the tokenizer object behind ttt_tok (include/ttt_tokenizer.h). Every format is
 * run by the one engine of hf.h: a tokenizer.json is read by hf_load.c, and the two built-in
 * formats by thin loaders that describe them as configurations of that engine (tiktoken.c,
 * llama.c). The per-thread encoding state is in tok_state.h. */
#ifndef TTT_TOKENIZER_TOK_IMPL_H
#define TTT_TOKENIZER_TOK_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer/pretok.h"
#include "tokenizer/strmap.h"
#include "tokenizer/tok_state.h"
#include "ttt_tokenizer.h"

/* The longest stretch merged by one BPE run: a pre-tokenizer piece (tiktoken) or a word of
 * pieces (Llama-2) longer than this, which no text but a pathological one has, is merged in
 * consecutive chunks of at most this many bytes (symbols), cut at character boundaries, so
 * that time and memory stay linear with a small constant (a 50 MB word: one BPE run over 50 MB
 * took 27 s and 3 GB). Tiktoken-based encoders do the same (Llama 3's splits runs of 25,000
 * characters); tokens of any piece up to this size are exactly the unsplit BPE's. */
#define TOK_MAX_PIECE ((size_t)1 << 16)

struct ttt_tok {
    ttt_tok_kind kind;      /* the format it was read from */
    char name[32];
    int64_t vocab_size;     /* ids are 0..vocab_size-1 */
    int32_t bos, eos;
    struct hf_tok *hf;      /* the pipeline (hf.h) */
};

/* loaders (fill a zeroed ttt_tok) */
ttt_status tiktoken_load(ttt_tok *t, const char *path, const char *encoding);
ttt_status llama_load(ttt_tok *t, const char *dir);

/* segments are about this many bytes (hf_encode.c; tests make it small to check the joins) */
extern size_t tok_segment_bytes;

/* names and patterns of the known tiktoken encodings (tiktoken.c) */
const char *tiktoken_encoding_name(int i);
const char *tiktoken_encoding_pattern(const char *name);
int64_t tiktoken_encoding_vocab(const char *name); /* ids of the encoding, -1 if unknown */

#endif
