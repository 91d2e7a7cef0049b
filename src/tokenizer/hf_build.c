/* hf_build.c: building the engine's pipeline (hf.h) step by step. These are the steps that
 * reading a tokenizer.json (hf_load.c) and the thin loaders of the two built-in formats share:
 * tiktoken.c (rank files) and llama.c (Llama-2's extracted vocabulary and merges) describe
 * their tokenizers as configurations of this one engine, so there is a single encoder and a
 * single decoder behind every format. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizer/hf.h"
#include "tokenizer/tok_impl.h"

#define OOM ttt_err(TTT_ERR_NOMEM, "out of memory")

static char *dup_n(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (p) memcpy(p, s, n), p[n] = 0;
    return p;
}

ttt_status hf_new(ttt_tok *t, hf_tok **out) {
    hf_tok *h = calloc(1, sizeof *h);
    *out = h;
    if (!h) return OOM;
    t->hf = h;
    h->unk = -1;
    h->re_bytelevel = -1;
    h->restart_after = -1;
    return TTT_OK;
}

ttt_status hf_set_size(hf_tok *h, int64_t V, int64_t n_keys) {
    h->V = V;
    h->str_off = malloc((size_t)(V ? V : 1) * sizeof *h->str_off);
    h->str_len = calloc((size_t)(V ? V : 1), sizeof *h->str_len);
    h->is_special = calloc((size_t)(V ? V : 1), 1);
    if (!h->str_off || !h->str_len || !h->is_special || strmap_init(&h->vocab, n_keys)) return OOM;
    for (int64_t i = 0; i < V; i++) h->str_off[i] = -1;
    return TTT_OK;
}

ttt_status hf_set_text(hf_tok *h, hf_buf *blob, int32_t id, const char *s, size_t n) {
    h->str_off[id] = (int64_t)blob->n;
    h->str_len[id] = (int32_t)n;
    return hf_buf_put(blob, s, n) ? OOM : TTT_OK;
}

ttt_status hf_add_regex(hf_tok *h, const char *pattern, const char *origin, int *index) {
    pretok *r = realloc(h->re, (size_t)(h->n_re + 1) * sizeof *r);
    if (!r) return OOM;
    h->re = r;
    char name[300];
    snprintf(name, sizeof name, "%s: regex /%.200s/", origin, pattern);
    TRY(pretok_compile(&h->re[h->n_re], pattern, name));
    *index = h->n_re++;
    return TTT_OK;
}

/* append a component; on failure its strings are freed */
ttt_status hf_push_norm(hf_tok *h, hf_norm n) {
    hf_norm *v = realloc(h->norm, (size_t)(h->n_norm + 1) * sizeof *v);
    if (!v) return free(n.s), free(n.pat.lit), OOM;
    h->norm = v;
    h->norm[h->n_norm++] = n;
    return TTT_OK;
}

ttt_status hf_push_pre(hf_tok *h, hf_pre p) {
    hf_pre *v = realloc(h->pre, (size_t)(h->n_pre + 1) * sizeof *v);
    if (!v) return free(p.pat.lit), OOM;
    h->pre = v;
    h->pre[h->n_pre++] = p;
    return TTT_OK;
}

ttt_status hf_push_dec(hf_tok *h, hf_dec d) {
    hf_dec *v = realloc(h->dec, (size_t)(h->n_dec + 1) * sizeof *v);
    if (!v) return free(d.s), free(d.pat.lit), OOM;
    h->dec = v;
    h->dec[h->n_dec++] = d;
    h->has_decoder = 1;
    return TTT_OK;
}

static int32_t vocab_id(const hf_tok *h, const char *s, size_t n) {
    int64_t v;
    return strmap_get(&h->vocab, s, n, &v) ? (int32_t)v : -1;
}

/* the tables the encoder derives from the vocabulary and the merges; after both are in */
ttt_status hf_model_finish(hf_tok *h) {
    for (int b = 0; b < 256; b++) {
        char name[8];
        unsigned char ch = (unsigned char)b;
        snprintf(name, sizeof name, "<0x%02X>", b);
        h->byte_id[b] = h->byte_level ? vocab_id(h, (const char *)&ch, 1) : h->byte_fallback ? vocab_id(h, name, 6) : -1;
    }
    int plain = !h->prefix_len && !h->suffix_len;
    for (int c = 0; c < 128; c++) {
        char ch = (char)c;
        h->char_id[c] = plain && !h->byte_level ? vocab_id(h, &ch, 1) : -1;
    }
    /* byte cuts: every byte has its <0xNN> token and none of them is in a merge, so no merge
     * crosses a character that falls back to bytes */
    int all_bytes = h->byte_fallback && !h->byte_level && plain && !h->ignore_merges;
    for (int b = 0; b < 256 && all_bytes; b++) all_bytes = h->byte_id[b] >= 0;
    unsigned char *is_byte = all_bytes ? calloc((size_t)h->V, 1) : NULL;
    if (all_bytes && !is_byte) return OOM;
    for (int b = 0; b < 256 && is_byte; b++) is_byte[h->byte_id[b]] = 1;
    for (uint64_t k = 0; is_byte && k < h->pairs.cap; k++) {
        const strmap_slot *sl = &h->pairs.slots[k];
        if (!sl->hash) continue;
        uint32_t ab[2];
        memcpy(ab, h->pairs.blob + sl->off, sizeof ab);
        int64_t merged = sl->value & 0xFFFFFFFF;
        if (is_byte[ab[0]] || is_byte[ab[1]] || is_byte[merged]) all_bytes = 0;
    }
    free(is_byte);
    h->byte_cut = all_bytes;
    /* words: the pairs of adjacent characters, one of them a cut character, inside tokens */
    h->cut_words = !h->byte_level && !h->ignore_merges && plain;
    if (h->cut_words && strmap_init(&h->cut_pairs, 1024)) return OOM;
    for (uint64_t k = 0; h->cut_words && k < h->vocab.cap; k++) {
        const strmap_slot *sl = &h->vocab.slots[k];
        if (!sl->hash) continue;
        const char *p = (const char *)h->vocab.blob + sl->off;
        uint32_t prev = 0xFFFFFFFFu, cp;
        for (size_t i = 0; i < sl->len;) {
            i += (size_t)hf_next_char(p, sl->len, i, &cp);
            if (i > 0 && prev != 0xFFFFFFFFu && (hf_cut_char(h, prev) || hf_cut_char(h, cp))) {
                uint32_t key[2] = {prev, cp};
                if (strmap_put(&h->cut_pairs, key, sizeof key, 1)) return OOM;
            }
            prev = cp;
        }
    }
    return TTT_OK;
}

ttt_status hf_add_token(hf_tok *h, hf_buf *blob, const hf_added_tok *a, const char *origin) {
    if (a->len == 0) return ttt_err(TTT_ERR_FORMAT, "%s: added token %d has empty content", origin, a->id);
    if (a->id < 0 || a->id >= h->V)
        return ttt_err(TTT_ERR_FORMAT, "%s: added token \"%.40s\" has id %d, outside 0..%lld", origin, a->content, a->id,
                       (long long)h->V - 1);
    if (!h->added_by_text.slots && (strmap_init(&h->added_by_text, 16) || strmap_init(&h->trie_raw.next, 64) ||
                                    strmap_init(&h->trie_norm.next, 64)))
        return OOM;
    int64_t prev;
    if (strmap_get(&h->added_by_text, a->content, a->len, &prev))
        return ttt_err(TTT_ERR_FORMAT, "%s: added token \"%.40s\" is listed twice", origin, a->content);
    if (h->n_added == h->cap_added) {
        int64_t c = h->cap_added ? 2 * h->cap_added : 16;
        hf_added_tok *v = realloc(h->added, (size_t)c * sizeof *v);
        if (!v) return OOM;
        h->added = v;
        h->cap_added = c;
    }
    hf_added_tok *d = &h->added[h->n_added];
    *d = *a;
    if (!(d->content = dup_n(a->content, a->len))) return OOM;
    h->n_added++;
    /* an id the vocabulary also has: the added content is what it decodes to, as in the library */
    TRY(hf_set_text(h, blob, a->id, a->content, a->len));
    h->is_special[a->id] = (unsigned char)a->special;
    return strmap_put(&h->added_by_text, a->content, a->len, h->n_added - 1) ? OOM : TTT_OK;
}

/* the tries of the added tokens: contents as written, and normalized ones as the normalizer
 * leaves them; after the normalizers and every added token are in */
ttt_status hf_added_finish(hf_tok *h) {
    for (int64_t i = 0; i < h->n_added; i++) {
        hf_added_tok *a = &h->added[i];
        if (a->normalized && h->n_norm > 0) {
            hf_buf nb = {0};
            ttt_status s = hf_normalize_string(h, a->content, a->len, &nb);
            if (s == TTT_OK && nb.n > 0 && hf_trie_add(&h->trie_norm, nb.p, nb.n, (int32_t)i)) s = OOM;
            free(nb.p);
            TRY(s);
            h->any_norm_added = 1;
        } else if (hf_trie_add(&h->trie_raw, a->content, a->len, (int32_t)i)) {
            return OOM;
        }
    }
    return TTT_OK;
}
