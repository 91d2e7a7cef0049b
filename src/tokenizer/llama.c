/* llama.c: the Llama-2 tokenizer in the layout extracted from llama-tokenizer-js@1.2.2
 * (vocab.txt: the 32000 pieces in id order; merges.u16le: (left, right) id pairs in rank order),
 * read by a thin loader into a configuration of the tokenizer.json engine (hf.h), the one
 * Llama-2's own tokenizer.json describes:
 *   normalizer  Prepend "▁" (the dummy prefix), then Replace " " by "▁"
 *   model       BPE over the pieces, merges by rank, byte_fallback (<0x00>..<0xFF>), unk <unk>
 *   added       <unk> <s> </s> (special: ordinary text unless TTT_TOK_ALLOW_SPECIAL)
 *   decoders    Replace "▁" by " ", ByteFallback, Fuse, Strip one leading " "
 * and decoding restarts after each BOS, so that every document of a token stream loses its own
 * dummy space. This is Llama-2's own tokenizer.json (the one ttt_tok_save writes), except that
 * there a literal U+2581 in the text is a space, as in SentencePiece; here it stays exact, so
 * that decoding inverts encoding for every text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/fsutil.h"
#include "tokenizer/hf.h"
#include "tokenizer/tok_impl.h"
#include "tokenizer/utf8.h"

#define LLAMA_N_BYTE 256
#define LLAMA_FIRST_BYTE 3      /* <0x00> */
#define LLAMA_FIRST_PIECE (LLAMA_FIRST_BYTE + LLAMA_N_BYTE)
static const char SPACE_PIECE[] = "\xE2\x96\x81"; /* U+2581 LOWER ONE EIGHTH BLOCK */

#define OOM ttt_err(TTT_ERR_NOMEM, "out of memory")

/* the vocabulary key of a piece: its text with every U+2581 as ' ' (space_key) */
static int key_of(const char *s, size_t n, hf_buf *k) {
    k->n = 0;
    for (size_t i = 0; i < n;) {
        int sp = i + 3 <= n && memcmp(s + i, SPACE_PIECE, 3) == 0;
        if (hf_buf_put(k, sp ? " " : s + i, 1)) return -1;
        i += sp ? 3 : 1;
    }
    return 0;
}

/* the id of a piece by its text; -1 if none (or out of memory) */
static int32_t piece_id(const hf_tok *h, hf_buf *k, const char *s, size_t n) {
    int64_t v;
    if (key_of(s, n, k)) return -1;
    return strmap_get(&h->vocab, k->p ? k->p : "", k->n, &v) ? (int32_t)v : -1;
}

static char *dup_str(const char *s) {
    size_t n = strlen(s);
    char *p = malloc(n + 1);
    if (p) memcpy(p, s, n + 1);
    return p;
}

/* the normalizers, decoders and added tokens of the configuration */
static ttt_status llama_pipeline(hf_tok *h, hf_buf *blob, const char *origin) {
    hf_norm prepend = {.type = HFN_PREPEND, .pat.re = -1, .s = dup_str(" "), .s_len = 1};
    if (!prepend.s) return OOM;
    TRY(hf_push_norm(h, prepend));
    hf_dec d[4] = {{.type = HFD_REPLACE, .pat = {dup_str(SPACE_PIECE), 3, -1}, .s = dup_str(" "), .s_len = 1},
                   {.type = HFD_BYTEFALLBACK, .pat.re = -1, .s = dup_str("")},
                   {.type = HFD_FUSE, .pat.re = -1, .s = dup_str("")},
                   {.type = HFD_STRIP, .pat.re = -1, .s = dup_str(" "), .s_len = 1, .start = 1}};
    ttt_status s = TTT_OK;
    for (int i = 0; i < 4; i++) {
        if (s == TTT_OK && (!d[i].s || (d[i].type == HFD_REPLACE && !d[i].pat.lit))) s = OOM;
        if (s == TTT_OK) s = hf_push_dec(h, d[i]);
        else free(d[i].s), free(d[i].pat.lit);
    }
    TRY(s);
    static const char *const control[3] = {"<unk>", "<s>", "</s>"};
    for (int i = 0; i < 3; i++) {
        hf_added_tok a = {.content = (char *)control[i], .len = strlen(control[i]), .id = i, .special = 1};
        TRY(hf_add_token(h, blob, &a, origin));
    }
    h->special_on_request = 1;
    h->restart_after = 1;
    return hf_added_finish(h);
}

ttt_status llama_load(ttt_tok *t, const char *dir) {
    t->kind = TTT_TOK_LLAMA;
    snprintf(t->name, sizeof t->name, "llama2");
    t->bos = 1, t->eos = 2;
    const char *sp[3] = {"<unk>", "<s>", "</s>"};

    char *vpath = ttt_path_join(dir, "vocab.txt"), *mpath = ttt_path_join(dir, "merges.u16le");
    char *vbuf = NULL, *mbuf = NULL;
    size_t vlen = 0, mlen = 0;
    hf_tok *h = NULL;
    hf_buf blob = {0}, key = {0};
    ttt_status s = vpath && mpath ? TTT_OK : OOM;
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
    if (s == TTT_OK) s = hf_new(t, &h);
    if (s == TTT_OK) s = hf_set_size(h, V, V);
    for (int64_t id = 0, p = 0; s == TTT_OK && id < V; id++) {
        int64_t e = p;
        while ((size_t)e < vlen && vbuf[e] != '\n') e++;
        const char *w = vbuf + p;
        size_t n = (size_t)(e - p);
        char want[16];
        if (id < 3)
            snprintf(want, sizeof want, "%s", sp[id]);
        else if (id < LLAMA_FIRST_PIECE)
            snprintf(want, sizeof want, "<0x%02X>", (unsigned)(id - LLAMA_FIRST_BYTE));
        if (id < LLAMA_FIRST_PIECE && (n != strlen(want) || memcmp(w, want, n) != 0))
            s = ttt_err(TTT_ERR_FORMAT, "%s: line %lld is '%.*s', expected '%s' (ids 0-2 are <unk> <s> </s>, "
                        "3-258 the bytes <0x00>..<0xFF>)", vpath, (long long)id + 1, (int)(n > 40 ? 40 : n), w, want);
        else if (n == 0)
            s = ttt_err(TTT_ERR_FORMAT, "%s: line %lld (id %lld) is empty", vpath, (long long)id + 1, (long long)id);
        else if (!utf8_valid((const unsigned char *)w, n))
            s = ttt_err(TTT_ERR_FORMAT, "%s: line %lld (id %lld) is not valid UTF-8", vpath, (long long)id + 1,
                        (long long)id);
        else if (hf_set_text(h, &blob, (int32_t)id, w, n) != TTT_OK || key_of(w, n, &key) ||
                 strmap_put(&h->vocab, key.p, key.n, id))
            s = OOM; /* a string listed twice maps to its last id */
        p = e + 1;
    }
    if (s == TTT_OK && piece_id(h, &key, SPACE_PIECE, 3) < 0) s = ttt_err(TTT_ERR_FORMAT, "%s: no piece for U+2581 (the space)", vpath);

    /* merges.u16le: (left id, right id) as little-endian uint16, in rank order */
    int64_t M = (int64_t)(mlen / 4);
    if (s == TTT_OK && (mlen % 4 || M == 0))
        s = ttt_err(TTT_ERR_FORMAT, "%s: %zu bytes; expected a non-zero multiple of 4 (pairs of uint16 ids; "
                    "truncated file?)", mpath, mlen);
    if (s == TTT_OK && strmap_init(&h->pairs, M)) s = OOM;
    hf_buf cat = {0};
    for (int64_t k = 0; s == TTT_OK && k < M; k++) {
        const unsigned char *q = (const unsigned char *)mbuf + 4 * k;
        int32_t a = q[0] | q[1] << 8, b = q[2] | q[3] << 8;
        if (a >= V || b >= V || a < LLAMA_FIRST_PIECE || b < LLAMA_FIRST_PIECE) {
            s = ttt_err(TTT_ERR_FORMAT, "%s: merge %lld is (%d, %d); ids must be in [%d, %lld) (not control or "
                        "byte tokens)", mpath, (long long)k, a, b, LLAMA_FIRST_PIECE, (long long)V);
            break;
        }
        const char *ta = blob.p + h->str_off[a], *tb = blob.p + h->str_off[b];
        size_t la = (size_t)h->str_len[a], lb = (size_t)h->str_len[b];
        cat.n = 0;
        if (hf_buf_put(&cat, ta, la) || hf_buf_put(&cat, tb, lb)) {
            s = OOM;
            break;
        }
        int32_t r = piece_id(h, &key, cat.p, la + lb);
        if (r < LLAMA_FIRST_PIECE) {
            s = ttt_err(TTT_ERR_FORMAT, "%s: merge %lld joins '%.*s' and '%.*s', which is not a piece of %s", mpath,
                        (long long)k, (int)la, ta, (int)lb, tb, vpath);
            break;
        }
        /* merges are looked up by piece text, so use the id each text maps to; a later merge of
         * the same texts replaces an earlier one (as the reference's Map does) */
        uint32_t ab[2] = {(uint32_t)piece_id(h, &key, ta, la), (uint32_t)piece_id(h, &key, tb, lb)};
        if (strmap_put(&h->pairs, ab, sizeof ab, k << 32 | (int64_t)r)) s = OOM;
    }
    free(cat.p);
    free(key.p);
    if (s == TTT_OK) {
        h->space_key = 1;
        h->byte_fallback = 1;
        h->fuse_unk = 1;
        h->unk = 0;
        h->prefix = dup_str("");
        h->suffix = dup_str("");
        if (!h->prefix || !h->suffix) s = OOM;
    }
    if (s == TTT_OK) s = hf_model_finish(h);
    if (s == TTT_OK) s = llama_pipeline(h, &blob, vpath);
    if (h) h->blob = blob.p;
    else free(blob.p);
    t->vocab_size = V;
    free(vbuf);
    free(mbuf);
    free(vpath);
    free(mpath);
    return s;
}
