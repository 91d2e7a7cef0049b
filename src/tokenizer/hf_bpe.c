/* hf_bpe.c: the BPE model of a tokenizer.json, encoding one pre-tokenized piece, as the
 * library's BPE::merge_word does:
 *   - ignore_merges: a piece that is a token of its own is that token;
 *   - each character becomes the token of its text (with continuing_subword_prefix after the
 *     first, end_of_word_suffix on the last); one without a token becomes its bytes' <0xNN>
 *     tokens (byte_fallback), else unk_token (fuse_unk: one for a run of them); a byte-level
 *     model reads raw bytes, each its alphabet character's token;
 *   - then pairs merge by rank, the lowest first, the leftmost among equals (bpe.c); with
 *     rank_by_bytes (tiktoken) two symbols merge when the bytes they span are a token, at its id.
 * A character that cannot be encoded at all (no token, no byte fallback, no unk_token) is an
 * error: the library drops it silently.
 * Words: a merge joins two adjacent symbols into a token that holds their texts side by side,
 * so no merge can cross the place between characters a and b when no token holds "ab". A
 * piece is cut at such places next to a cut character (U+2581, '\n': hf_load.c lists the
 * pairs around them that tokens do hold) and its words are merged (and cached) one by one,
 * with the tokens of the whole piece. With byte_cut (every byte has its <0xNN> token, and none is
 * in a merge) a piece is also cut next to an ASCII character or an invalid byte that falls back
 * to bytes (Llama-2's newline). This is what makes SentencePiece-style files without a
 * pre-tokenizer (Llama-2, Gemma) fast, where a document is one piece. Like the other encoders, a word longer than
 * TOK_MAX_PIECE bytes is merged in chunks cut at character boundaries. */
#include <string.h>

#include "core/error.h"
#include "tokenizer/hf.h"
#include "tokenizer/tok_impl.h"

#define OOM ttt_err(TTT_ERR_NOMEM, "out of memory while encoding")

static int64_t pair_rank(const void *ctx, const bpe_sym *a, const bpe_sym *b, int32_t *merged) {
    const tok_state *st = ctx;
    uint32_t k[2] = {(uint32_t)a->id, (uint32_t)b->id};
    int64_t v;
    if (!strmap_get(&st->tok->hf->pairs, k, sizeof k, &v)) return BPE_NO_MERGE;
    *merged = (int32_t)(v & 0xFFFFFFFF);
    return v >> 32;
}

/* rank_by_bytes: the bytes a and b span, if they are a token, merge into it at its id */
static int64_t bytes_rank(const void *ctx, const bpe_sym *a, const bpe_sym *b, int32_t *merged) {
    const tok_state *st = ctx;
    int64_t r;
    if (!strmap_get(&st->tok->hf->vocab, st->word + a->start, (size_t)(b->end - a->start), &r)) return BPE_NO_MERGE;
    *merged = (int32_t)r;
    return r;
}

static int add_sym(tok_state *st, int64_t *n, int32_t id, int32_t b, int32_t e) {
    if (bpe_work_reserve(&st->bpe, *n + 1)) return -1;
    st->bpe.syms[*n] = (bpe_sym){.id = id, .start = b, .end = e};
    (*n)++;
    return 0;
}

static ttt_status encode_word(tok_state *st, const char *s, size_t n) {
    const hf_tok *h = st->tok->hf;
    if (n == 0) return TTT_OK;
    if (tok_cache_lookup(st, s, n) == 1) return TTT_OK;
    int64_t k = 0;
    if (h->byte_level) {
        for (size_t i = 0; i < n; i++) {
            int32_t id = h->byte_id[(unsigned char)s[i]];
            if (id < 0) id = h->unk;
            if (id < 0)
                return ttt_err(TTT_ERR_ARG, "byte 0x%02X has no token in this tokenizer (its byte-level vocabulary "
                               "lacks it, and it has no unk_token)", (unsigned char)s[i]);
            if (add_sym(st, &k, id, (int32_t)i, (int32_t)i + 1)) return OOM;
        }
    } else {
        hf_work *w = st->hf;
        int unk_open = 0;
        for (size_t i = 0; i < n;) {
            unsigned char c0 = (unsigned char)s[i];
            if (c0 < 128 && h->char_id[c0] >= 0) { /* an ASCII character with a token of its own */
                if (add_sym(st, &k, h->char_id[c0], (int32_t)i, (int32_t)i + 1)) return OOM;
                unk_open = 0;
                i++;
                continue;
            }
            uint32_t cp;
            size_t m = (size_t)hf_next_char(s, n, i, &cp);
            hf_buf *t = &w->tmp;
            t->n = 0;
            if ((i > 0 && hf_buf_put(t, h->prefix, h->prefix_len)) || hf_buf_put(t, s + i, m) ||
                (i + m == n && hf_buf_put(t, h->suffix, h->suffix_len)))
                return OOM;
            int64_t v;
            if (strmap_get(&h->vocab, t->p, t->n, &v)) {
                if (add_sym(st, &k, (int32_t)v, (int32_t)i, (int32_t)(i + m))) return OOM;
                unk_open = 0;
            } else {
                int all = h->byte_fallback;
                for (size_t j = 0; j < t->n && all; j++) all = h->byte_id[(unsigned char)t->p[j]] >= 0;
                if (all) {
                    for (size_t j = 0; j < t->n; j++)
                        if (add_sym(st, &k, h->byte_id[(unsigned char)t->p[j]], (int32_t)i, (int32_t)(i + m))) return OOM;
                    unk_open = 0;
                } else if (h->unk >= 0) {
                    if (unk_open && h->fuse_unk) st->bpe.syms[k - 1].end = (int32_t)(i + m);
                    else if (add_sym(st, &k, h->unk, (int32_t)i, (int32_t)(i + m))) return OOM;
                    unk_open = 1;
                } else {
                    if (cp == 0xFFFFFFFFu)
                        return ttt_err(TTT_ERR_ARG, "byte 0x%02X (not UTF-8) has no token in this tokenizer, which has "
                                       "neither byte_fallback nor an unk_token", (unsigned char)s[i]);
                    return ttt_err(TTT_ERR_ARG, "character U+%04X has no token in this tokenizer, which has neither "
                                   "byte_fallback nor an unk_token", (unsigned)cp);
                }
            }
            i += m;
        }
    }
    if (k == 1) return tok_out_push(st, &st->bpe.syms[0].id, 1) ? OOM : TTT_OK;
    st->word = (const unsigned char *)s;
    return tok_merge_cached(st, s, n, k, h->rank_by_bytes ? bytes_rank : pair_rank) ? OOM : TTT_OK;
}

/* a word longer than TOK_MAX_PIECE: chunks cut before a UTF-8 lead byte */
static ttt_status encode_long(tok_state *st, const char *s, size_t n) {
    while (n > TOK_MAX_PIECE) {
        size_t cut = TOK_MAX_PIECE;
        for (int k = 0; k < 3 && ((unsigned char)s[cut] & 0xC0) == 0x80; k++) cut--;
        TRY(encode_word(st, s, cut));
        s += cut, n -= cut;
    }
    return encode_word(st, s, n);
}

ttt_status hf_bpe_piece(tok_state *st, const char *s, size_t n) {
    const hf_tok *h = st->tok->hf;
    if (n == 0) return TTT_OK;
    if (h->ignore_merges) {
        int64_t v;
        if (strmap_get(&h->vocab, s, n, &v)) {
            int32_t id = (int32_t)v;
            return tok_out_push(st, &id, 1) ? OOM : TTT_OK;
        }
    }
    if (!h->cut_words) return encode_long(st, s, n);
    /* cut between a and b where one is a cut character, no token holds "ab", and both are
     * tokens of their own (a byte-fallback or unknown character is never cut from) */
    size_t b = 0, pi = 0, pm = 0;
    uint32_t prev = 0xFFFFFFFFu, cp;
    for (size_t i = 0; i < n; pi = i, pm = (size_t)hf_next_char(s, n, i, &prev), i += pm) {
        size_t m = (size_t)hf_next_char(s, n, i, &cp);
        if (i == 0) continue;
        if (h->byte_cut && ((prev < 128 && h->char_id[prev] < 0) || (cp < 128 && h->char_id[cp] < 0) ||
                            prev == 0xFFFFFFFFu || cp == 0xFFFFFFFFu)) {
            TRY(encode_long(st, s + b, i - b)); /* one of them falls back to bytes */
            b = i;
            continue;
        }
        if (!(hf_cut_char(h, prev) || hf_cut_char(h, cp)) || prev == 0xFFFFFFFFu || cp == 0xFFFFFFFFu) continue;
        uint32_t key[2] = {prev, cp};
        int64_t v;
        if (!strmap_get(&h->cut_pairs, key, sizeof key, &v) && strmap_get(&h->vocab, s + i, m, &v) &&
            strmap_get(&h->vocab, s + pi, pm, &v)) {
            TRY(encode_long(st, s + b, i - b));
            b = i;
        }
    }
    return encode_long(st, s + b, n - b);
}
