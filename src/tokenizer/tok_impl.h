/* tok_impl.h: the tokenizer object behind ttt_tok (include/ttt_tokenizer.h), filled by the
 * loaders of tiktoken.c and llama.c, and the interface of those two encoders to tokenizer.c:
 * loading, encoding one segment, segment boundaries. The per-thread encoding state is in
 * tok_state.h. */
#ifndef TTT_TOKENIZER_TOK_IMPL_H
#define TTT_TOKENIZER_TOK_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer/pretok.h"
#include "tokenizer/strmap.h"
#include "tokenizer/tok_state.h"
#include "ttt_tokenizer.h"

#define TOK_MAX_SPECIAL 16
/* The longest stretch merged by one BPE run: a pre-tokenizer piece (tiktoken) or a word of
 * pieces (Llama-2) longer than this, which no text but a pathological one has, is merged in
 * consecutive chunks of at most this many bytes (symbols), cut at character boundaries, so
 * that time and memory stay linear with a small constant (a 50 MB word: one BPE run over 50 MB
 * took 27 s and 3 GB). Tiktoken-based encoders do the same (Llama 3's splits runs of 25,000
 * characters); tokens of any piece up to this size are exactly the unsplit BPE's. */
#define TOK_MAX_PIECE ((size_t)1 << 16)

typedef struct {
    uint32_t key;   /* (left << 16 | right) + 1; 0 = empty */
    int32_t rank;
    int32_t result;
} llama_pair;

struct ttt_tok {
    ttt_tok_kind kind;
    char name[32];
    int64_t vocab_size;     /* ids are 0..vocab_size-1 */
    int32_t bos, eos;
    /* id -> piece bytes (tiktoken: the token bytes; Llama: the vocab line), -1 offset = no piece */
    unsigned char *blob;
    int64_t *piece_off;     /* [vocab_size] */
    int32_t *piece_len;     /* [vocab_size] */
    int n_special;
    struct {
        char text[32];
        int32_t id;
    } special[TOK_MAX_SPECIAL];
    /* tiktoken */
    strmap ranks;           /* token bytes -> rank (= id) */
    int32_t byte_rank[256];
    pretok pre;
    /* Llama */
    strmap pieces;          /* piece string -> id (the last id for strings listed twice) */
    int32_t ascii_id[128];  /* id of each ASCII character's piece, -1 if none */
    int32_t space_id;       /* id of U+2581 */
    llama_pair *pairs;      /* merge table, open addressing */
    uint32_t pairs_cap;     /* power of two */
    /* tokenizer.json (hf.h) */
    struct hf_tok *hf;
};

/* loaders (fill a zeroed ttt_tok) */
ttt_status tiktoken_load(ttt_tok *t, const char *path, const char *encoding);
ttt_status llama_load(ttt_tok *t, const char *dir);

/* encode one segment of a document, appending to st->out. tiktoken: text[0, len) is the whole
 * run of ordinary text the segment [begin, end) lies in; pieces are taken from begin until one
 * would start at or after end, and *stop receives where the last piece ended (a piece may run
 * past end; the caller then re-encodes the next segment from there). */
ttt_status tiktoken_encode_segment(tok_state *st, const char *text, size_t len, size_t begin, size_t end,
                                   size_t *stop);
ttt_status llama_encode_segment(tok_state *st, const char *text, size_t len, int dummy_prefix);

/* 1 if text[i] (0 < i) is a good place to start a segment: Llama: always exact; tiktoken: the
 * usual start of a piece, checked while encoding */
int tiktoken_boundary(const char *text, size_t i);
int llama_boundary(const char *text, size_t i);

/* segments are about this many bytes (tokenizer.c; tests make it small to check the joins) */
extern size_t tok_segment_bytes;

/* names and patterns of the known tiktoken encodings (tiktoken.c) */
const char *tiktoken_encoding_name(int i);
const char *tiktoken_encoding_pattern(const char *name);
int64_t tiktoken_encoding_vocab(const char *name); /* ids of the encoding, -1 if unknown */

#endif
