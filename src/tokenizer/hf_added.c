/* hf_added.c: finding added tokens in text, before the normalizer sees it (contents that are
 * not `normalized`) or after (normalized contents, matched in normalized text), as the
 * library does: at each place the leftmost match, and of the matches there the longest. A
 * `single_word` token matches only where no word character (a letter, a digit or '_') touches
 * it on either side; `lstrip` / `rstrip` take the whitespace to its left / right with it. The
 * contents are kept in a byte trie whose transitions are a hash map keyed by (node, byte). */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/hf.h"

static int64_t new_node(hf_trie *t) {
    if (t->n_nodes == t->cap) {
        int64_t c = t->cap ? 2 * t->cap : 64;
        int32_t *v = realloc(t->tok, (size_t)c * sizeof *v);
        if (!v) return -1;
        t->tok = v;
        t->cap = c;
    }
    t->tok[t->n_nodes] = -1;
    return t->n_nodes++;
}

static int64_t child(const hf_trie *t, int64_t node, unsigned char c) {
    uint64_t key = (uint64_t)node << 8 | c;
    int64_t v;
    return strmap_get(&t->next, &key, sizeof key, &v) ? v : -1;
}

int hf_trie_add(hf_trie *t, const char *s, size_t n, int32_t index) {
    if (t->n_nodes == 0 && new_node(t) < 0) return -1;
    int64_t node = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int64_t nx = child(t, node, c);
        if (nx < 0) {
            if ((nx = new_node(t)) < 0) return -1;
            uint64_t key = (uint64_t)node << 8 | c;
            if (strmap_put(&t->next, &key, sizeof key, nx)) return -1;
        }
        node = nx;
    }
    if (t->tok[node] < 0) t->tok[node] = index; /* the same content twice: the first */
    t->first[(unsigned char)s[0]] = 1;
    return 0;
}

void hf_trie_free(hf_trie *t) {
    strmap_free(&t->next);
    free(t->tok);
    memset(t, 0, sizeof *t);
}

static int word_char(uint32_t cp) {
    if (cp == '_') return 1;
    if (cp == 0xFFFFFFFFu) return 0;
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) || (c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO);
}

/* the character that ends at byte i (i > 0) */
static uint32_t char_before(const char *s, size_t i, size_t *start) {
    size_t b = i - 1;
    while (b > 0 && i - b < 4 && ((unsigned char)s[b] & 0xC0) == 0x80) b--;
    uint32_t cp;
    int k = hf_next_char(s, i, b, &cp);
    if (b + (size_t)k != i) b = i - 1, cp = 0xFFFFFFFFu; /* not one character: a stray byte */
    *start = b;
    return cp;
}

int64_t hf_added_find(const hf_tok *h, const hf_trie *t, const char *s, size_t n, size_t from, size_t *b, size_t *e) {
    if (t->n_nodes == 0) return -1;
    for (size_t i = from; i < n; i++) {
        if (!t->first[(unsigned char)s[i]]) continue;
        int64_t node = 0, best = -1;
        size_t end = i;
        for (size_t j = i; j < n; j++) {
            node = child(t, node, (unsigned char)s[j]);
            if (node < 0) break;
            if (t->tok[node] >= 0) best = t->tok[node], end = j + 1;
        }
        if (best < 0) continue;
        const hf_added_tok *a = &h->added[best];
        size_t cs;
        uint32_t cp;
        if (a->single_word && ((i > 0 && word_char(char_before(s, i, &cs))) ||
                               (end < n && (hf_next_char(s, n, end, &cp), word_char(cp))))) {
            i = end - 1; /* the search goes on after this match, as the library's does */
            continue;
        }
        size_t bb = i, ee = end;
        if (a->lstrip)
            while (bb > from && hf_is_space(char_before(s, bb, &cs))) bb = cs;
        if (a->rstrip)
            while (ee < n) {
                int k = hf_next_char(s, n, ee, &cp);
                if (!hf_is_space(cp)) break;
                ee += (size_t)k;
            }
        *b = bb;
        *e = ee;
        return best;
    }
    return -1;
}
