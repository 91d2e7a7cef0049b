/* hf.h: the tokenizer.json engine (the Hugging Face `tokenizers` format): the parsed pipeline
 * that hf_load.c builds from a tokenizer.json (and tokenizer_config.json) and the stages that
 * run it, in the library's order:
 *
 *   added tokens (hf_added.c)  split the text at added-token matches (leftmost, longest)
 *   normalizers  (hf_normalize.c)  each remaining section: Prepend, Replace, NFC/NFD/NFKC/NFKD
 *   pre-tokenizers (hf_pretok.c)   cut a section into pieces: Split, ByteLevel, Metaspace,
 *                                  Digits, Whitespace, WhitespaceSplit
 *   model        (hf_bpe.c)        BPE of each piece (the merge loop of bpe.c)
 *   post-processor (hf_encode.c)   TemplateProcessing's special tokens, when asked for
 *   decoders     (hf_decode.c)     ids back to bytes: ByteLevel, Replace, ByteFallback, Fuse,
 *                                  Strip, Metaspace
 *
 * Text is bytes: input that is not UTF-8 is accepted (an invalid byte counts as one character
 * of its own, which only byte-level or byte-fallback tokens can encode).
 *
 * The built-in formats are configurations of this engine, built by thin loaders (hf_build.c):
 * tiktoken rank files (tiktoken.c) and Llama-2's extracted vocabulary (llama.c). Four options
 * exist for them, each a rule of those formats that tokenizer.json cannot state:
 * rank_by_bytes (tiktoken's merge rule), special_on_request (special-token texts are ordinary
 * text unless the caller allows them), space_key (Llama-2's spaces, with a literal U+2581 kept
 * exact) and restart_after (Llama-2's decoding drops the dummy space again after each BOS). */
#ifndef TTT_TOKENIZER_HF_H
#define TTT_TOKENIZER_HF_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer/pretok.h"
#include "tokenizer/strmap.h"
#include "tokenizer/tok_state.h"
#include "ttt_tokenizer.h"

/* a growing byte buffer */
typedef struct {
    char *p;
    size_t n, cap;
} hf_buf;
int hf_buf_put(hf_buf *b, const void *s, size_t n); /* -1 when out of memory */

/* a piece of text: bytes [off, off + len) of a buffer; start: it begins the whole input (the
 * "first" of Metaspace's prepend_scheme) */
typedef struct {
    size_t off, len;
    int start;
} hf_span;

typedef struct {
    hf_buf text;
    hf_span *v;
    int64_t n, cap;
} hf_pieces;
int hf_pieces_add(hf_pieces *p, const void *s, size_t n, int start); /* copies s; -1 on OOM */
void hf_pieces_free(hf_pieces *p);

/* a pattern: a literal string, or a PCRE2 regex (index into hf_tok.re) */
typedef struct {
    char *lit;
    size_t lit_len;
    int re;        /* -1: literal */
} hf_pattern;

enum { HFN_PREPEND, HFN_REPLACE, HFN_NFC, HFN_NFD, HFN_NFKC, HFN_NFKD };
typedef struct {
    int type;
    hf_pattern pat;   /* Replace */
    char *s;          /* Prepend: the prefix; Replace: the content */
    size_t s_len;
} hf_norm;

/* Split's delimiter behaviours (the library's SplitDelimiterBehavior) */
enum { HFB_REMOVED, HFB_ISOLATED, HFB_MERGED_PREV, HFB_MERGED_NEXT, HFB_CONTIGUOUS };
enum { HFP_SPLIT, HFP_BYTELEVEL, HFP_METASPACE, HFP_DIGITS, HFP_WHITESPACE, HFP_WHITESPACE_SPLIT };
enum { HF_PREPEND_ALWAYS, HF_PREPEND_FIRST, HF_PREPEND_NEVER };
typedef struct {
    int type;
    hf_pattern pat;       /* Split */
    int behavior, invert; /* Split */
    int add_prefix_space, use_regex; /* ByteLevel */
    char rep[8];          /* Metaspace: the replacement character (UTF-8) */
    int rep_len, prepend_scheme, split;
    int individual_digits; /* Digits */
} hf_pre;

enum { HFD_BYTELEVEL, HFD_REPLACE, HFD_BYTEFALLBACK, HFD_FUSE, HFD_STRIP, HFD_METASPACE };
typedef struct {
    int type;
    hf_pattern pat;   /* Replace */
    char *s;          /* Replace: the content; Strip: the character */
    size_t s_len;
    int start, stop;  /* Strip */
    char rep[8];      /* Metaspace */
    int rep_len, prepend_scheme;
} hf_dec;

typedef struct {
    char *content;
    size_t len;
    int32_t id;
    int special, lstrip, rstrip, single_word, normalized;
} hf_added_tok;

/* a byte trie of added-token contents: node transitions in a strmap keyed by (node, byte) */
typedef struct {
    strmap next;          /* 8-byte key (node << 8 | byte) -> child node */
    int32_t *tok;         /* [n_nodes] index into hf_tok.added of the token ending here, -1 */
    int64_t n_nodes, cap;
    unsigned char first[256]; /* 1 if some content starts with this byte */
} hf_trie;

struct hf_tok {
    /* model: BPE */
    int64_t V;            /* ids 0..V-1 (vocabulary and added tokens) */
    strmap vocab;         /* model key -> id (byte-level: the raw bytes of the token) */
    strmap pairs;         /* 8-byte key (left id, right id) -> rank << 32 | merged id */
    int byte_level;       /* a ByteLevel pre-tokenizer: pieces are raw bytes */
    int byte_fallback, ignore_merges, fuse_unk;
    /* tiktoken: two adjacent symbols merge when the bytes they span are a token, with that
     * token's id as the rank (no merge table; ranks are ids) */
    int rank_by_bytes;
    int32_t unk;          /* -1: none */
    int32_t char_id[128]; /* the token of each ASCII character (no prefix/suffix, not byte-level), -1 */
    /* every byte has a <0xNN> token and none is in a merge: no merge crosses a character that
     * falls back to bytes, so words and segments may be cut next to one (Llama-2's newlines) */
    int byte_cut;
    /* Llama-2: the vocabulary's keys have U+2581 replaced by ' ', so that a space in the text
     * is the piece's U+2581 (SentencePiece's escaping, applied to the vocabulary instead of the
     * text) and a literal U+2581 in the text stays itself: it has no token and falls back to
     * its bytes, which decode back to it */
    int space_key;
    int32_t byte_id[256]; /* byte-level: the token of each byte; byte_fallback: <0xNN>, -1 */
    char *prefix, *suffix; /* continuing_subword_prefix, end_of_word_suffix ("" if none) */
    size_t prefix_len, suffix_len;
    /* words (hf_bpe.c): a piece may be cut between characters a and b where one of them is a
     * cut character (U+2581, '\n') and no token holds "ab": no merge can cross there */
    int cut_words;
    strmap cut_pairs;     /* 8-byte key (a, b): code points adjacent in a token, one a cut character */

    /* id -> text as the file writes it (added tokens: their content), for decoding */
    char *blob;
    int64_t *str_off;     /* [V], -1: unassigned id */
    int32_t *str_len;
    unsigned char *is_special; /* [V] */

    hf_norm *norm;
    int n_norm;
    hf_pre *pre;
    int n_pre;
    hf_dec *dec;
    int n_dec;
    int has_decoder;

    hf_added_tok *added;
    int64_t n_added, cap_added;
    /* added tokens that are special are matched in the text only with TTT_TOK_ALLOW_SPECIAL (the
     * built-in formats; a tokenizer.json always matches them, as the library does) */
    int special_on_request;
    /* decoding restarts after this id: the decoders run afresh on what follows (-1: never) */
    int32_t restart_after;
    strmap added_by_text; /* content -> index into added */
    hf_trie trie_raw, trie_norm; /* not normalized / normalized contents */
    int any_norm_added;

    /* TemplateProcessing "single": ids before and after the sequence */
    int32_t *post_pre, *post_post;
    int64_t n_post_pre, n_post_post;

    char *json_path, *config_path; /* the files it was read from (config: NULL if none) */

    pretok *re;           /* every regex of the pipeline */
    int n_re;
    int re_bytelevel;     /* index of the GPT-2 regex of ByteLevel (use_regex), -1 */
};
typedef struct hf_tok hf_tok;

/* per-thread state of the pipeline (tok_state.hf) */
typedef struct hf_work {
    pretok_state *pst;    /* one per regex */
    int n_pst;
    hf_buf nb[2];         /* normalizer buffers */
    hf_pieces pc[2];      /* pre-tokenizer buffers */
    hf_buf tmp;
} hf_work;

ttt_status hf_work_init(hf_work *w, const hf_tok *h);
void hf_work_free(hf_work *w);

/* hf_build.c: the steps of building a pipeline. hf_new allocates it as t->hf, hf_set_size its
 * id tables (ids 0..V-1, room for n_keys vocabulary keys); the vocabulary goes straight into h->vocab (model key ->
 * id) and the token texts through hf_set_text; merges into h->pairs; then hf_model_finish.
 * Added tokens through hf_add_token (content copied), after the normalizers, then
 * hf_added_finish. hf_push_* append a component (its strings are the pipeline's after the call,
 * freed on failure too). */
ttt_status hf_new(ttt_tok *t, hf_tok **out);
ttt_status hf_set_size(hf_tok *h, int64_t V, int64_t n_keys);
ttt_status hf_set_text(hf_tok *h, hf_buf *blob, int32_t id, const char *s, size_t n);
ttt_status hf_add_regex(hf_tok *h, const char *pattern, const char *origin, int *index);
ttt_status hf_push_norm(hf_tok *h, hf_norm n);
ttt_status hf_push_pre(hf_tok *h, hf_pre p);
ttt_status hf_push_dec(hf_tok *h, hf_dec d);
ttt_status hf_model_finish(hf_tok *h);
ttt_status hf_add_token(hf_tok *h, hf_buf *blob, const hf_added_tok *a, const char *origin);
ttt_status hf_added_finish(hf_tok *h);

/* hf_load.c: load PATH (a tokenizer.json) and the tokenizer_config.json next to it, if any */
ttt_status hf_load(ttt_tok *t, const char *path);
void hf_free(hf_tok *h);

/* hf_normalize.c: normalize in[0, n) into a buffer of w; *out points at the result */
ttt_status hf_normalize(const hf_tok *h, hf_work *w, const char *in, size_t n, const char **out, size_t *out_n);
/* normalize one string with a fresh state (added-token contents at load time) */
ttt_status hf_normalize_string(const hf_tok *h, const char *in, size_t n, hf_buf *out);

/* hf_pretok.c: cut a normalized section into pieces (in w->pc[?]; *out points at them) */
ttt_status hf_pretokenize(const hf_tok *h, hf_work *w, const char *s, size_t n, int start, hf_pieces **out);
/* the same from pre-tokenizer `first` on (the earlier ones are not applied) */
ttt_status hf_pretokenize_from(const hf_tok *h, hf_work *w, const char *s, size_t n, int start, int first,
                               hf_pieces **out);
/* the matches of pattern p in s: callback for each (begin, end, is_match) segment in order */
typedef int (*hf_seg_fn)(void *ctx, size_t b, size_t e, int is_match);
ttt_status hf_find(const hf_tok *h, hf_work *w, const hf_pattern *p, const char *s, size_t n, hf_seg_fn fn, void *ctx);
/* The first pre-tokenizer's regex (an Isolated Split or ByteLevel's) over s[0, n) from byte
 * `from`: fn for each piece in order until one would start at or after `until` (the regex sees
 * all of s, so lookaheads see past `until`); *end receives where the last piece ended (it may
 * run past `until`). Pieces as hf_find gives them, but an empty match makes none. */
ttt_status hf_regex_pieces(const hf_tok *h, hf_work *w, const char *s, size_t n, size_t from, size_t until,
                           hf_seg_fn fn, void *ctx, size_t *end);

/* hf_bpe.c: the BPE model: encode one piece, appending ids to st->out */
ttt_status hf_bpe_piece(tok_state *st, const char *s, size_t n);

/* hf_added.c: the trie; find the leftmost match in s[from, n) of the trie's tokens, with its
 * lstrip/rstrip/single_word rules; returns the index into h->added, or -1 (none). *b, *e: the
 * text it replaces (with stripped whitespace) */
int hf_trie_add(hf_trie *t, const char *s, size_t n, int32_t index);
void hf_trie_free(hf_trie *t);
int64_t hf_added_find(const hf_tok *h, const hf_trie *t, const char *s, size_t n, size_t from, size_t *b, size_t *e);

/* hf_encode.c: encode documents; hf_decode.c: decode ids */
ttt_status hf_encode_batch(const ttt_tok *t, const char *const *texts, const size_t *lens, int64_t n_docs,
                           int flags, int32_t **ids, int64_t *n_ids);
ttt_status hf_decode(const ttt_tok *t, const int32_t *ids, int64_t n, int flags, char **text, size_t *len);

/* the GPT-2 byte alphabet: byte -> code point, and back (-1 for other code points) */
uint32_t hf_byte_to_cp(unsigned char b);
int hf_cp_to_byte(uint32_t cp);

/* the cut characters of hf_tok.cut_pairs: U+2581 and '\n' (and ' ' with space_key) */
static inline int hf_cut_char(const hf_tok *h, uint32_t cp) {
    return cp == 0x2581 || cp == '\n' || (cp == ' ' && h->space_key);
}

/* 1 if cp is White_Space (Rust's char::is_whitespace) */
int hf_is_space(uint32_t cp);
/* next character of s at i: its length (an invalid byte: 1, cp = 0xFFFFFFFF) */
int hf_next_char(const char *s, size_t n, size_t i, uint32_t *cp);

#endif
