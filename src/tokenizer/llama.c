/* llama.c: the Llama-2 SentencePiece-style BPE as llama-tokenizer-js@1.2.2 implements it:
 * the loader of its extracted vocabulary (vocab.txt) and merges (merges.u16le), and the encoder
 * of one text segment: a space is put before the text, spaces become U+2581, every character
 * becomes its piece (or its UTF-8 bytes as <0xNN> tokens when it has none), then adjacent
 * pieces merge by rank, the leftmost first among equal ranks.
 *
 * Two facts of the vocabulary make the work local: byte tokens never merge, and no piece has a
 * U+2581 after another character, so a U+2581 that follows something else starts a new word
 * and words are merged (and cached) one at a time with the same result as the whole text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/fsutil.h"
#include "tokenizer/tok_impl.h"
#include "tokenizer/tok_state.h"
#include "tokenizer/utf8.h"

#define LLAMA_N_BYTE 256
#define LLAMA_FIRST_BYTE 3      /* <0x00> */
#define LLAMA_FIRST_PIECE (LLAMA_FIRST_BYTE + LLAMA_N_BYTE)
static const char SPACE_PIECE[] = "\xE2\x96\x81"; /* U+2581 LOWER ONE EIGHTH BLOCK */

/* the high half of a 64-bit multiplicative hash: every bit of the key reaches the slot (the low
 * bits of key * odd depend only on the low bits of the key, the right id, so every merge ending
 * in the same token fell into one probe chain: a 5 MB word spent 60% of its time there) */
static inline uint32_t pair_slot(uint32_t key, uint32_t cap) {
    return (uint32_t)(((uint64_t)key * 0x9E3779B97F4A7C15u) >> 32) & (cap - 1);
}

static const llama_pair *pair_find(const ttt_tok *t, int32_t a, int32_t b) {
    uint32_t key = (uint32_t)a << 16 | (uint32_t)b;
    for (uint32_t i = pair_slot(key, t->pairs_cap);; i = (i + 1) & (t->pairs_cap - 1)) {
        const llama_pair *p = &t->pairs[i];
        if (p->rank < 0 || p->key == key) return p;
    }
}

static int64_t pair_rank(const void *ctx, const bpe_sym *a, const bpe_sym *b, int32_t *merged) {
    const tok_state *st = ctx;
    const llama_pair *p = pair_find(st->tok, a->id, b->id);
    if (p->rank < 0) return BPE_NO_MERGE;
    *merged = p->result;
    return p->rank;
}

static int32_t piece_id(const ttt_tok *t, const void *s, size_t n) {
    int64_t v;
    return strmap_get(&t->pieces, s, n, &v) ? (int32_t)v : -1;
}

ttt_status llama_load(ttt_tok *t, const char *dir) {
    t->kind = TTT_TOK_LLAMA;
    snprintf(t->name, sizeof t->name, "llama2");
    t->bos = 1, t->eos = 2;
    t->n_special = 3;
    const char *sp[3] = {"<unk>", "<s>", "</s>"};
    for (int i = 0; i < 3; i++) {
        snprintf(t->special[i].text, sizeof t->special[i].text, "%s", sp[i]);
        t->special[i].id = i;
    }

    char *vpath = ttt_path_join(dir, "vocab.txt"), *mpath = ttt_path_join(dir, "merges.u16le");
    char *vbuf = NULL, *mbuf = NULL;
    size_t vlen = 0, mlen = 0;
    ttt_status s = vpath && mpath ? TTT_OK : ttt_err(TTT_ERR_NOMEM, "out of memory");
    if (s == TTT_OK) s = ttt_read_file(vpath, (size_t)16 << 20, &vbuf, &vlen);
    if (s == TTT_OK) s = ttt_read_file(mpath, (size_t)16 << 20, &mbuf, &mlen);

    /* vocab.txt: pieces joined by '\n' in id order (one final newline is tolerated) */
    int64_t V = 0;
    if (s == TTT_OK) {
        if (vlen > 0 && vbuf[vlen - 1] == '\n') vlen--;
        V = 1;
        for (size_t i = 0; i < vlen; i++) V += vbuf[i] == '\n';
        if (V < LLAMA_FIRST_PIECE + 1 || V > 65536)
            s = ttt_err(TTT_ERR_FORMAT, "%s: %lld pieces; expected between %d and 65536 (32000 for Llama 2; "
                        "truncated file?)", vpath, (long long)V, LLAMA_FIRST_PIECE + 1);
    }
    if (s == TTT_OK) {
        t->vocab_size = V;
        t->blob = (unsigned char *)vbuf;
        vbuf = NULL;
        t->piece_off = malloc((size_t)V * sizeof *t->piece_off);
        t->piece_len = malloc((size_t)V * sizeof *t->piece_len);
        if (!t->piece_off || !t->piece_len || strmap_init(&t->pieces, V)) s = ttt_err(TTT_ERR_NOMEM, "out of memory");
    }
    for (int64_t id = 0, p = 0; s == TTT_OK && id < V; id++) {
        int64_t e = p;
        while ((size_t)e < vlen && t->blob[e] != '\n') e++;
        t->piece_off[id] = p;
        t->piece_len[id] = (int32_t)(e - p);
        const unsigned char *w = t->blob + p;
        size_t n = (size_t)(e - p);
        char want[16];
        if (id < 3)
            snprintf(want, sizeof want, "%s", sp[id]);
        else if (id < LLAMA_FIRST_PIECE)
            snprintf(want, sizeof want, "<0x%02X>", (unsigned)(id - LLAMA_FIRST_BYTE));
        if (id < LLAMA_FIRST_PIECE && (n != strlen(want) || memcmp(w, want, n) != 0))
            s = ttt_err(TTT_ERR_FORMAT, "%s: line %lld is '%.*s', expected '%s' (ids 0-2 are <unk> <s> </s>, "
                        "3-258 the bytes <0x00>..<0xFF>)", vpath, (long long)id + 1, (int)(n > 40 ? 40 : n),
                        (const char *)w, want);
        else if (n == 0)
            s = ttt_err(TTT_ERR_FORMAT, "%s: line %lld (id %lld) is empty", vpath, (long long)id + 1, (long long)id);
        else if (!utf8_valid(w, n))
            s = ttt_err(TTT_ERR_FORMAT, "%s: line %lld (id %lld) is not valid UTF-8", vpath, (long long)id + 1,
                        (long long)id);
        else if (strmap_put(&t->pieces, w, n, id)) /* a string listed twice maps to its last id */
            s = ttt_err(TTT_ERR_NOMEM, "out of memory");
        p = e + 1;
    }
    if (s == TTT_OK) {
        t->space_id = piece_id(t, SPACE_PIECE, 3);
        if (t->space_id < 0) s = ttt_err(TTT_ERR_FORMAT, "%s: no piece for U+2581 (the space)", vpath);
        for (int c = 0; c < 128; c++) {
            char ch = (char)c;
            t->ascii_id[c] = piece_id(t, &ch, 1);
        }
    }

    /* merges.u16le: (left id, right id) as little-endian uint16, in rank order */
    int64_t M = (int64_t)(mlen / 4);
    if (s == TTT_OK && (mlen % 4 || M == 0))
        s = ttt_err(TTT_ERR_FORMAT, "%s: %zu bytes; expected a non-zero multiple of 4 (pairs of uint16 ids; "
                    "truncated file?)", mpath, mlen);
    if (s == TTT_OK) {
        uint32_t cap = 16;
        while (cap < 2 * (uint64_t)M) cap <<= 1;
        t->pairs = malloc((size_t)cap * sizeof *t->pairs);
        t->pairs_cap = cap;
        if (!t->pairs) s = ttt_err(TTT_ERR_NOMEM, "out of memory");
        for (uint32_t i = 0; s == TTT_OK && i < cap; i++) t->pairs[i].rank = -1;
    }
    char *cat = NULL;
    if (s == TTT_OK && !(cat = malloc(2 * 65536 * 4))) s = ttt_err(TTT_ERR_NOMEM, "out of memory");
    for (int64_t k = 0; s == TTT_OK && k < M; k++) {
        const unsigned char *q = (const unsigned char *)mbuf + 4 * k;
        int32_t a = q[0] | q[1] << 8, b = q[2] | q[3] << 8;
        if (a >= V || b >= V || a < LLAMA_FIRST_PIECE || b < LLAMA_FIRST_PIECE) {
            s = ttt_err(TTT_ERR_FORMAT, "%s: merge %lld is (%d, %d); ids must be in [%d, %lld) (not control or "
                        "byte tokens)", mpath, (long long)k, a, b, LLAMA_FIRST_PIECE, (long long)V);
            break;
        }
        size_t la = (size_t)t->piece_len[a], lb = (size_t)t->piece_len[b];
        memcpy(cat, t->blob + t->piece_off[a], la);
        memcpy(cat + la, t->blob + t->piece_off[b], lb);
        int32_t r = piece_id(t, cat, la + lb);
        if (r < LLAMA_FIRST_PIECE) {
            s = ttt_err(TTT_ERR_FORMAT, "%s: merge %lld joins '%.*s' and '%.*s', which is not a piece of %s",
                        mpath, (long long)k, (int)la, t->blob + t->piece_off[a], (int)lb,
                        t->blob + t->piece_off[b], vpath);
            break;
        }
        /* merges are looked up by piece text, so use the id each text maps to; a later merge of
         * the same texts replaces an earlier one (as the reference's Map does) */
        int32_t ca = piece_id(t, t->blob + t->piece_off[a], la), cb = piece_id(t, t->blob + t->piece_off[b], lb);
        llama_pair *p = (llama_pair *)pair_find(t, ca, cb);
        p->key = (uint32_t)ca << 16 | (uint32_t)cb;
        p->rank = (int32_t)k;
        p->result = r;
    }
    free(cat);
    free(vbuf);
    free(mbuf);
    free(vpath);
    free(mpath);
    return s;
}

/* --------------------------------------------------------------------------------------- */

typedef struct {
    tok_state *st;
    int64_t n;         /* symbols in the current word */
    int32_t last_id;
} word_ctx;

static int flush_word(word_ctx *w) {
    tok_state *st = w->st;
    int64_t n = w->n;
    w->n = 0;
    if (n == 0) return 0;
    if (n == 1) return tok_out_push(st, &st->bpe.syms[0].id, 1);
    return tok_merge_cached(st, st->key, (size_t)n * sizeof *st->key, n, pair_rank);
}

static int add_piece(word_ctx *w, int32_t id) {
    tok_state *st = w->st;
    /* a U+2581 after anything but U+2581 starts a new word */
    if (w->n > 0 && id == st->tok->space_id && w->last_id != id && flush_word(w)) return -1;
    if (w->n >= (int64_t)TOK_MAX_PIECE && flush_word(w)) return -1; /* a pathological word: chunks */
    if (bpe_work_reserve(&st->bpe, w->n + 1)) return -1;
    if (w->n + 1 > st->key_cap) {
        int64_t cap = st->key_cap ? st->key_cap * 2 : 256;
        uint32_t *k = realloc(st->key, (size_t)cap * sizeof *k);
        if (!k) return -1;
        st->key = k;
        st->key_cap = cap;
    }
    bpe_sym *s = &st->bpe.syms[w->n];
    s->id = id;
    s->start = (int32_t)w->n;
    s->end = (int32_t)w->n + 1;
    st->key[w->n] = (uint32_t)id;
    w->n++;
    w->last_id = id;
    return 0;
}

/* bytes without a piece: one <0xNN> token each, never merged */
static int add_bytes(word_ctx *w, const unsigned char *b, size_t n) {
    if (flush_word(w)) return -1;
    for (size_t i = 0; i < n; i++) {
        int32_t id = LLAMA_FIRST_BYTE + b[i];
        if (tok_out_push(w->st, &id, 1)) return -1;
    }
    return 0;
}

ttt_status llama_encode_segment(tok_state *st, const char *text, size_t len, int dummy_prefix) {
    const ttt_tok *t = st->tok;
    const unsigned char *s = (const unsigned char *)text;
    word_ctx w = {st, 0, -1};
    int fail = 0;
    if (dummy_prefix && len > 0) fail |= add_piece(&w, t->space_id);
    for (size_t i = 0; i < len && !fail;) {
        unsigned c = s[i];
        if (c == ' ') {
            fail |= add_piece(&w, t->space_id);
            i++;
        } else if (c < 0x80) {
            int32_t id = t->ascii_id[c];
            fail |= id >= 0 ? add_piece(&w, id) : add_bytes(&w, s + i, 1);
            i++;
        } else {
            uint32_t cp;
            int k = utf8_decode(s + i, len - i, &cp);
            if (k == 0) { /* not UTF-8: the byte stands for itself */
                fail |= add_bytes(&w, s + i, 1);
                i++;
                continue;
            }
            /* a literal U+2581 would decode as a space; its bytes keep the round trip exact */
            int32_t id = cp == 0x2581 ? -1 : piece_id(t, s + i, (size_t)k);
            fail |= id >= 0 ? add_piece(&w, id) : add_bytes(&w, s + i, (size_t)k);
            i += (size_t)k;
        }
    }
    if (!fail) fail |= flush_word(&w);
    return fail ? ttt_err(TTT_ERR_NOMEM, "out of memory while encoding") : TTT_OK;
}

/* a newline has no piece (it is <0x0A>) and byte tokens never merge */
int llama_boundary(const char *text, size_t i) { return text[i - 1] == '\n'; }
