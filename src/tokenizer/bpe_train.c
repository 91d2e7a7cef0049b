/* bpe_train.c: BPE tokenizer training, byte-level (GPT-2) and SentencePiece-style with byte
 * fallback (see bpe_train.h for the algorithm and the id layout). */
#include "tokenizer/bpe_train.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/checked.h"
#include "core/error.h"
#include "io/fsutil.h"
#include "tokenizer/pretok.h"
#include "tokenizer/strmap.h"
#include "tokenizer/tokjson_write.h"
#include "tokenizer/utf8.h"

#define SPACE_SYM "\xe2\x96\x81" /* U+2581, SentencePiece's space */
#define MAX_FILE_BYTES ((size_t)1 << 34)

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void bpe_train_defaults(bpe_train_opts *o) {
    memset(o, 0, sizeof *o);
    o->kind = BPE_TRAIN_BYTE;
    o->vocab_size = 4096;
    o->min_frequency = 2;
    o->char_coverage = 0.9995;
}

/* grow *p (elements of size elem, capacity *cap) to hold need elements; 0 or -1 (no memory) */
static int grow(void *pp, int64_t *cap, int64_t need, size_t elem) {
    void **p = pp;
    if (need <= *cap) return 0;
    int64_t nc = *cap ? *cap : 16;
    while (nc < need) {
        if (nc > INT64_MAX / 2) return -1;
        nc *= 2;
    }
    size_t bytes;
    if (!ttt_sz_mul_ok((size_t)nc, elem, &bytes)) return -1;
    void *q = realloc(*p, bytes);
    if (!q) return -1;
    *p = q;
    *cap = nc;
    return 0;
}

/* ---- counting words ------------------------------------------------------------------ */

/* add one occurrence of word w[0, n) */
static int add_word(strmap *m, const char *w, size_t n) {
    int64_t v = 0;
    strmap_get(m, w, n, &v);
    return strmap_put(m, w, n, v + 1);
}

/* add a piece, cut into words of at most BPE_TRAIN_MAX_WORD bytes at UTF-8 character starts */
static int add_piece(strmap *m, const char *p, size_t n) {
    while (n > BPE_TRAIN_MAX_WORD) {
        size_t cut = BPE_TRAIN_MAX_WORD;
        while (cut > BPE_TRAIN_MAX_WORD - 4 && ((unsigned char)p[cut] & 0xC0) == 0x80) cut--;
        if (add_word(m, p, cut)) return -1;
        p += cut, n -= cut;
    }
    return n ? add_word(m, p, n) : 0;
}

typedef struct {
    strmap *m;
    const char *text;
    int64_t pieces;
} piece_ctx;

static int on_piece(void *vctx, size_t begin, size_t end) {
    piece_ctx *c = vctx;
    c->pieces++;
    return add_piece(c->m, c->text + begin, end - begin);
}

/* SentencePiece-style words of one document: "▁" + text, ' ' -> "▁", a new word at every "▁"
 * that follows something else. buf is scratch (grown as needed). */
static int sp_words(strmap *m, const char *text, size_t len, char **buf, int64_t *cap, int64_t *n_words) {
    int64_t n = 0;
    int prev_space = 1;
    if (grow(buf, cap, 3, 1)) return -1;
    memcpy(*buf, SPACE_SYM, 3);
    n = 3;
    for (size_t i = 0; i < len;) {
        int space = text[i] == ' ' || (len - i >= 3 && memcmp(text + i, SPACE_SYM, 3) == 0);
        if (space && !prev_space) {
            if (add_piece(m, *buf, (size_t)n)) return -1;
            (*n_words)++;
            n = 0;
        }
        if (grow(buf, cap, n + 3, 1)) return -1;
        if (space) {
            memcpy(*buf + n, SPACE_SYM, 3);
            n += 3;
            i += text[i] == ' ' ? 1 : 3;
        } else {
            (*buf)[n++] = text[i++];
        }
        prev_space = space;
    }
    if (n) {
        if (add_piece(m, *buf, (size_t)n)) return -1;
        (*n_words)++;
    }
    return 0;
}

typedef struct {
    const char *const *paths; /* or NULL: texts */
    const char *const *texts;
    const size_t *lens;
    int64_t n;
} source;

typedef struct {
    ttt_status status;
    int64_t doc;
    char msg[512];
} thread_err;

/* Count the words of every document into *out (one map per thread, summed into the first). */
static ttt_status count_words(const bpe_train_opts *o, const pretok *pre, const source *src, strmap *out,
                              int64_t *bytes_out, int64_t *words_out) {
    int nt = o->threads > 0 ? o->threads : omp_get_max_threads();
    if (nt < 1) nt = 1;
    if (nt > 256) nt = 256;
    strmap *maps = calloc((size_t)nt, sizeof *maps);
    thread_err *errs = calloc((size_t)nt, sizeof *errs);
    int64_t *bytes = calloc((size_t)nt, sizeof *bytes), *words = calloc((size_t)nt, sizeof *words);
    if (!maps || !errs || !bytes || !words) {
        free(maps), free(errs), free(bytes), free(words);
        return ttt_err(TTT_ERR_NOMEM, "tokenizer train: out of memory");
    }
    for (int t = 0; t < nt; t++) errs[t].doc = INT64_MAX;
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num();
        strmap *m = &maps[t];
        thread_err *e = &errs[t];
        pretok_state st;
        int have_st = 0;
        char *buf = NULL;
        int64_t cap = 0;
        if (strmap_init(m, 1 << 16) != 0) {
            e->status = TTT_ERR_NOMEM;
            e->doc = -1;
        } else if (pre) {
            if (pretok_state_init(&st, pre) != TTT_OK) {
                e->status = TTT_ERR_NOMEM;
                e->doc = -1;
            } else {
                have_st = 1;
            }
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t d = 0; d < src->n; d++) {
            if (e->status != TTT_OK) continue;
            char *owned = NULL;
            const char *text;
            size_t len;
            ttt_status s = TTT_OK;
            if (src->paths) {
                s = ttt_read_file(src->paths[d], MAX_FILE_BYTES, &owned, &len);
                text = owned;
            } else {
                text = src->texts[d];
                len = src->lens[d];
            }
            if (s == TTT_OK && len > 0) {
                bytes[t] += (int64_t)len;
                if (pre) {
                    piece_ctx c = {m, text, 0};
                    size_t end;
                    s = pretok_split(pre, &st, text, len, 0, len, on_piece, &c, &end);
                    if (s == TTT_ERR_NOMEM) ttt_err(TTT_ERR_NOMEM, "out of memory");
                    words[t] += c.pieces;
                } else if (sp_words(m, text, len, &buf, &cap, &words[t]) != 0) {
                    s = ttt_err(TTT_ERR_NOMEM, "out of memory");
                }
            }
            if (s != TTT_OK && d < e->doc) {
                e->status = s;
                e->doc = d;
                snprintf(e->msg, sizeof e->msg, "%s", ttt_last_error());
            }
            free(owned);
        }
        free(buf);
        if (have_st) pretok_state_free(&st);
    }
    ttt_status s = TTT_OK;
    int worst = -1;
    for (int t = 0; t < nt; t++)
        if (errs[t].status != TTT_OK && (worst < 0 || errs[t].doc < errs[worst].doc)) worst = t;
    if (worst >= 0) {
        thread_err *e = &errs[worst];
        if (e->doc < 0) s = ttt_err(TTT_ERR_NOMEM, "tokenizer train: out of memory");
        else if (src->paths) s = ttt_err(e->status, "tokenizer train: %s", e->msg);
        else s = ttt_err(e->status, "tokenizer train: text %lld: %s", (long long)e->doc, e->msg);
    }
    /* sum the maps into the first one (counts are exact, so the order does not matter) */
    for (int t = 1; t < nt && s == TTT_OK; t++) {
        strmap *m = &maps[t];
        for (uint64_t i = 0; i < m->cap && s == TTT_OK; i++) {
            const strmap_slot *sl = &m->slots[i];
            if (!sl->hash) continue;
            int64_t v = 0;
            const char *key = (const char *)m->blob + sl->off;
            strmap_get(&maps[0], key, sl->len, &v);
            if (strmap_put(&maps[0], key, sl->len, v + sl->value) != 0)
                s = ttt_err(TTT_ERR_NOMEM, "tokenizer train: out of memory");
        }
    }
    int64_t tb = 0, tw = 0;
    for (int t = 0; t < nt; t++) tb += bytes[t], tw += words[t];
    for (int t = 1; t < nt; t++) strmap_free(&maps[t]);
    if (s == TTT_OK) {
        *out = maps[0];
        *bytes_out = tb;
        *words_out = tw;
    } else {
        strmap_free(&maps[0]);
    }
    free(maps), free(errs), free(bytes), free(words);
    return s;
}

/* ---- distinct words in a fixed order --------------------------------------------------- */

typedef struct {
    const unsigned char *p;
    uint32_t len;
    int64_t count;
} uword;

static int uword_cmp(const void *x, const void *y) {
    const uword *a = x, *b = y;
    uint32_t n = a->len < b->len ? a->len : b->len;
    int c = n ? memcmp(a->p, b->p, n) : 0;
    if (c) return c;
    return (a->len > b->len) - (a->len < b->len);
}

/* ---- the merge loop ------------------------------------------------------------------- */

typedef struct {
    int32_t *sym;    /* every word's symbols, concatenated */
    int64_t n_sym, cap_sym;
    int64_t *off;    /* [n] start of each word in sym */
    int32_t *len;    /* [n] current length */
    int64_t *count;  /* [n] occurrences */
    int64_t n, cap;
} wordset;

static void wordset_free(wordset *w) {
    free(w->sym), free(w->off), free(w->len), free(w->count);
    memset(w, 0, sizeof *w);
}

static int wordset_add(wordset *w, const int32_t *s, int32_t n, int64_t count) {
    if (grow(&w->sym, &w->cap_sym, w->n_sym + n, sizeof *w->sym)) return -1;
    if (w->n + 1 > w->cap) {
        int64_t c1 = w->cap, c2 = w->cap, c3 = w->cap;
        if (grow(&w->off, &c1, w->n + 1, sizeof *w->off) || grow(&w->len, &c2, w->n + 1, sizeof *w->len) ||
            grow(&w->count, &c3, w->n + 1, sizeof *w->count))
            return -1;
        w->cap = c1;
    }
    memcpy(w->sym + w->n_sym, s, (size_t)n * sizeof *s);
    w->off[w->n] = w->n_sym;
    w->len[w->n] = n;
    w->count[w->n] = count;
    w->n++;
    w->n_sym += n;
    return 0;
}

/* token strings by internal id, and string -> id */
typedef struct {
    unsigned char *blob;
    int64_t blob_n, blob_cap;
    int64_t *off;
    int64_t *len;
    int64_t n, cap;
    strmap map;
} tokset;

static void tokset_free(tokset *t) {
    free(t->blob), free(t->off), free(t->len);
    strmap_free(&t->map);
    memset(t, 0, sizeof *t);
}

static int tokset_add(tokset *t, const void *s, int64_t n) {
    if (grow(&t->blob, &t->blob_cap, t->blob_n + n, 1)) return -1;
    if (t->n + 1 > t->cap) {
        int64_t c1 = t->cap, c2 = t->cap;
        if (grow(&t->off, &c1, t->n + 1, sizeof *t->off) || grow(&t->len, &c2, t->n + 1, sizeof *t->len)) return -1;
        t->cap = c1;
    }
    memcpy(t->blob + t->blob_n, s, (size_t)n);
    t->off[t->n] = t->blob_n;
    t->len[t->n] = n;
    if (strmap_put(&t->map, s, (size_t)n, t->n) != 0) return -1;
    t->blob_n += n;
    t->n++;
    return 0;
}

/* pair table: open addressing from (a, b) to a pair index */
typedef struct {
    uint64_t *keys; /* ((uint64)a << 32 | b) + 1; 0 = empty */
    int32_t *idx;
    uint64_t cap;   /* power of two */
    int64_t used;
    /* per pair */
    int32_t *a, *b;
    int64_t *cnt;
    int64_t *head;  /* first entry of its word list in the pool, -1 = none */
    int64_t *touched; /* merge step that last raised its count */
    int64_t n, cap_p;
    /* word lists: entries (word, next) */
    int32_t *pw;
    int64_t *pnext;
    int64_t pool_n, pool_cap;
} pairtab;

static void pairtab_free(pairtab *p) {
    free(p->keys), free(p->idx), free(p->a), free(p->b), free(p->cnt), free(p->head), free(p->touched);
    free(p->pw), free(p->pnext);
    memset(p, 0, sizeof *p);
}

static inline uint64_t mix(uint64_t x) {
    x ^= x >> 31;
    x *= 0x9E3779B97F4A7C15ULL;
    x ^= x >> 29;
    return x;
}

static int pairtab_rehash(pairtab *p, uint64_t cap) {
    uint64_t *k = calloc(cap, sizeof *k);
    int32_t *v = malloc(cap * sizeof *v);
    if (!k || !v) {
        free(k), free(v);
        return -1;
    }
    for (uint64_t i = 0; i < p->cap; i++) {
        if (!p->keys[i]) continue;
        uint64_t j = mix(p->keys[i]) & (cap - 1);
        while (k[j]) j = (j + 1) & (cap - 1);
        k[j] = p->keys[i];
        v[j] = p->idx[i];
    }
    free(p->keys), free(p->idx);
    p->keys = k, p->idx = v, p->cap = cap;
    return 0;
}

/* index of pair (a, b); creates it (count 0) when create; -1 when absent (or no memory: *oom) */
static int64_t pair_get(pairtab *p, int32_t a, int32_t b, int create, int *oom) {
    uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
    uint64_t j = mix(key) & (p->cap - 1);
    while (p->keys[j]) {
        if (p->keys[j] == key) return p->idx[j];
        j = (j + 1) & (p->cap - 1);
    }
    if (!create) return -1;
    if (p->n >= INT32_MAX) {
        *oom = 1;
        return -1;
    }
    if (p->n + 1 > p->cap_p) {
        int64_t c[5] = {p->cap_p, p->cap_p, p->cap_p, p->cap_p, p->cap_p};
        if (grow(&p->a, &c[0], p->n + 1, sizeof *p->a) || grow(&p->b, &c[1], p->n + 1, sizeof *p->b) ||
            grow(&p->cnt, &c[2], p->n + 1, sizeof *p->cnt) || grow(&p->head, &c[3], p->n + 1, sizeof *p->head) ||
            grow(&p->touched, &c[4], p->n + 1, sizeof *p->touched)) {
            *oom = 1;
            return -1;
        }
        p->cap_p = c[0];
    }
    int64_t i = p->n++;
    p->a[i] = a, p->b[i] = b, p->cnt[i] = 0, p->head[i] = -1, p->touched[i] = -1;
    p->keys[j] = key;
    p->idx[j] = (int32_t)i;
    if (++p->used * 2 > (int64_t)p->cap && pairtab_rehash(p, p->cap * 2) != 0) *oom = 1;
    return i;
}

/* remember that word w holds pair i (a repeat of the list's first entry is skipped) */
static int pair_note_word(pairtab *p, int64_t i, int32_t w) {
    if (p->head[i] >= 0 && p->pw[p->head[i]] == w) return 0;
    if (p->pool_n + 1 > p->pool_cap) {
        int64_t c1 = p->pool_cap, c2 = p->pool_cap;
        if (grow(&p->pw, &c1, p->pool_n + 1, sizeof *p->pw) || grow(&p->pnext, &c2, p->pool_n + 1, sizeof *p->pnext))
            return -1;
        p->pool_cap = c1;
    }
    p->pw[p->pool_n] = w;
    p->pnext[p->pool_n] = p->head[i];
    p->head[i] = p->pool_n++;
    return 0;
}

/* max-heap of (count, pair): higher count first, then the smaller (a, b) */
typedef struct {
    int64_t count;
    int32_t a, b;
} hitem;

static inline int hbefore(const hitem *x, const hitem *y) {
    if (x->count != y->count) return x->count > y->count;
    if (x->a != y->a) return x->a < y->a;
    return x->b < y->b;
}

typedef struct {
    hitem *v;
    int64_t n, cap;
} heap;

static int heap_push(heap *h, hitem it) {
    if (grow(&h->v, &h->cap, h->n + 1, sizeof *h->v)) return -1;
    int64_t i = h->n++;
    while (i > 0) {
        int64_t par = (i - 1) / 2;
        if (!hbefore(&it, &h->v[par])) break;
        h->v[i] = h->v[par];
        i = par;
    }
    h->v[i] = it;
    return 0;
}

static hitem heap_pop(heap *h) {
    hitem top = h->v[0], last = h->v[--h->n];
    int64_t i = 0;
    for (;;) {
        int64_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && hbefore(&h->v[c + 1], &h->v[c])) c++;
        if (!hbefore(&h->v[c], &last)) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n) h->v[i] = last;
    return top;
}

typedef struct {
    int32_t (*m)[2];
    int32_t *res;
    int64_t n, cap;
} mergelist;

/* N(x, y) += delta; with delta > 0 (pairs holding the new token) note the word and mark it */
static int bump(pairtab *p, int32_t x, int32_t y, int64_t delta, int32_t w, int64_t step, int32_t **tl,
                int64_t *tn, int64_t *tcap) {
    int oom = 0;
    int64_t i = pair_get(p, x, y, delta > 0, &oom);
    if (oom) return -1;
    if (i < 0) return 0; /* a decrease of a pair that was never counted cannot happen; ignore */
    p->cnt[i] += delta;
    if (delta > 0) {
        if (pair_note_word(p, i, w)) return -1;
        if (p->touched[i] != step) {
            p->touched[i] = step;
            if (grow(tl, tcap, *tn + 1, sizeof **tl)) return -1;
            (*tl)[(*tn)++] = (int32_t)i;
        }
    }
    return 0;
}

/* Learn merges until tk holds target tokens (internal ids) or no pair occurs min_freq times. */
static ttt_status learn(wordset *ws, tokset *tk, int64_t target, int64_t min_freq, mergelist *ml, int verbose,
                        int *stopped_early) {
    ttt_status st = TTT_OK;
    pairtab p;
    memset(&p, 0, sizeof p);
    heap h = {0};
    int64_t *stamp = NULL;
    int32_t *tl = NULL;
    int64_t tn = 0, tcap = 0;
    unsigned char *cat = NULL;
    int64_t cat_cap = 0;
    int oom = 0;
    *stopped_early = 0;
    if (ws->n > INT32_MAX) return ttt_err(TTT_ERR_ARG, "tokenizer train: more than %d distinct words", INT32_MAX);
    p.cap = 1 << 16;
    p.keys = calloc(p.cap, sizeof *p.keys);
    p.idx = malloc(p.cap * sizeof *p.idx);
    stamp = malloc((size_t)(ws->n ? ws->n : 1) * sizeof *stamp);
    if (!p.keys || !p.idx || !stamp) goto nomem;
    for (int64_t w = 0; w < ws->n; w++) {
        stamp[w] = -1;
        const int32_t *s = ws->sym + ws->off[w];
        for (int32_t j = 0; j + 1 < ws->len[w]; j++) {
            int64_t i = pair_get(&p, s[j], s[j + 1], 1, &oom);
            if (oom) goto nomem;
            p.cnt[i] += ws->count[w];
            if (pair_note_word(&p, i, (int32_t)w)) goto nomem;
        }
    }
    for (int64_t i = 0; i < p.n; i++)
        if (heap_push(&h, (hitem){p.cnt[i], p.a[i], p.b[i]})) goto nomem;
    int64_t step = 0;
    while (tk->n < target) {
        if (h.n == 0) {
            *stopped_early = 1;
            break;
        }
        hitem top = heap_pop(&h);
        int64_t pi = pair_get(&p, top.a, top.b, 0, &oom);
        if (pi < 0) continue;
        if (p.cnt[pi] != top.count) { /* stale: the count went down since this entry was pushed */
            if (p.cnt[pi] >= min_freq && p.cnt[pi] > 0 && heap_push(&h, (hitem){p.cnt[pi], top.a, top.b})) goto nomem;
            continue;
        }
        if (top.count < min_freq || top.count <= 0) {
            *stopped_early = 1;
            break;
        }
        /* the merged token: the concatenation, an existing id if that string is one */
        int32_t a = top.a, b = top.b;
        int64_t la = tk->len[a], lb = tk->len[b];
        if (grow(&cat, &cat_cap, la + lb, 1)) goto nomem;
        memcpy(cat, tk->blob + tk->off[a], (size_t)la);
        memcpy(cat + la, tk->blob + tk->off[b], (size_t)lb);
        int64_t cid;
        if (!strmap_get(&tk->map, cat, (size_t)(la + lb), &cid)) {
            cid = tk->n;
            if (tokset_add(tk, cat, la + lb)) goto nomem;
        }
        int32_t c = (int32_t)cid;
        if (ml->n + 1 > ml->cap) {
            int64_t c1 = ml->cap, c2 = ml->cap;
            if (grow(&ml->m, &c1, ml->n + 1, sizeof *ml->m) || grow(&ml->res, &c2, ml->n + 1, sizeof *ml->res)) goto nomem;
            ml->cap = c1;
        }
        ml->m[ml->n][0] = a, ml->m[ml->n][1] = b, ml->res[ml->n] = c;
        ml->n++;
        /* replace a b -> c in every word that holds it */
        tn = 0;
        for (int64_t e = p.head[pi]; e >= 0; e = p.pnext[e]) {
            int32_t w = p.pw[e];
            if (stamp[w] == step) continue;
            stamp[w] = step;
            int32_t *s = ws->sym + ws->off[w];
            int32_t n = ws->len[w], out = 0;
            int64_t cnt = ws->count[w];
            for (int32_t i = 0; i < n;) {
                if (i + 1 < n && s[i] == a && s[i + 1] == b) {
                    if (out > 0) {
                        int32_t x = s[out - 1];
                        if (bump(&p, x, a, -cnt, w, step, &tl, &tn, &tcap) || bump(&p, x, c, cnt, w, step, &tl, &tn, &tcap))
                            goto nomem;
                    }
                    if (i + 2 < n) {
                        int32_t y = s[i + 2];
                        if (bump(&p, b, y, -cnt, w, step, &tl, &tn, &tcap) || bump(&p, c, y, cnt, w, step, &tl, &tn, &tcap))
                            goto nomem;
                    }
                    s[out++] = c;
                    i += 2;
                } else {
                    s[out++] = s[i++];
                }
            }
            ws->len[w] = out;
        }
        pi = pair_get(&p, a, b, 0, &oom); /* the table may have moved; the index did not */
        p.cnt[pi] = 0;
        p.head[pi] = -1;
        for (int64_t k = 0; k < tn; k++) {
            int32_t q = tl[k];
            if (p.cnt[q] > 0 && heap_push(&h, (hitem){p.cnt[q], p.a[q], p.b[q]})) goto nomem;
        }
        step++;
        if (verbose && step % 1000 == 0) fprintf(stderr, "  %lld merges, vocabulary %lld\n", (long long)step, (long long)tk->n);
    }
    goto done;
nomem:
    st = ttt_err(TTT_ERR_NOMEM, "tokenizer train: out of memory");
done:
    pairtab_free(&p);
    free(h.v), free(stamp), free(tl), free(cat);
    return st;
}

/* ---- the two kinds ------------------------------------------------------------------- */

typedef struct {
    int64_t n_alpha;
    int64_t fallback_tokens; /* byte tokens of characters outside the alphabet (sp) */
    int64_t n_chars, n_covered;
} prep_stats;

/* byte level: each distinct word is its bytes; internal ids = GPT-2 order */
static ttt_status prep_byte(const uword *uw, int64_t nu, wordset *ws, tokset *tk, prep_stats *ps) {
    int32_t id_of[256];
    for (int i = 0; i < 256; i++) {
        unsigned char b = tokjson_byte_of_id(i);
        id_of[b] = i;
        if (tokset_add(tk, &b, 1)) return ttt_err(TTT_ERR_NOMEM, "tokenizer train: out of memory");
    }
    int32_t *buf = malloc(BPE_TRAIN_MAX_WORD * sizeof *buf);
    if (!buf) return ttt_err(TTT_ERR_NOMEM, "tokenizer train: out of memory");
    for (int64_t w = 0; w < nu; w++) {
        for (uint32_t j = 0; j < uw[w].len; j++) buf[j] = id_of[uw[w].p[j]];
        if (wordset_add(ws, buf, (int32_t)uw[w].len, uw[w].count)) {
            free(buf);
            return ttt_err(TTT_ERR_NOMEM, "tokenizer train: out of memory");
        }
    }
    free(buf);
    ps->n_alpha = 256;
    return TTT_OK;
}

typedef struct {
    uint32_t cp;
    int64_t count;
} charcount;

static int charcount_cmp(const void *x, const void *y) {
    const charcount *a = x, *b = y;
    if (a->count != b->count) return a->count < b->count ? 1 : -1;
    return (a->cp > b->cp) - (a->cp < b->cp);
}

#define N_CP 0x110000

/* sp: the alphabet by character coverage; words split into runs of alphabet characters */
static ttt_status prep_sp(const uword *uw, int64_t nu, double coverage, wordset *ws, tokset *tk, prep_stats *ps) {
    ttt_status st = TTT_OK;
    int64_t *cnt = calloc(N_CP, sizeof *cnt);
    int32_t *id = malloc(N_CP * sizeof *id);
    charcount *cc = NULL;
    int32_t *buf = malloc(BPE_TRAIN_MAX_WORD * sizeof *buf);
    if (!cnt || !id || !buf) goto nomem;
    int64_t total = 0;
    for (int64_t w = 0; w < nu; w++) {
        const unsigned char *p = uw[w].p;
        size_t n = uw[w].len;
        for (size_t i = 0; i < n;) {
            uint32_t cp;
            int k = utf8_decode(p + i, n - i, &cp);
            if (k == 0) {
                i++;
                continue;
            }
            cnt[cp] += uw[w].count;
            total += uw[w].count;
            i += (size_t)k;
        }
    }
    int64_t nc = 0;
    for (uint32_t c = 0; c < N_CP; c++) nc += cnt[c] > 0;
    cc = malloc((size_t)(nc ? nc : 1) * sizeof *cc);
    if (!cc) goto nomem;
    nc = 0;
    for (uint32_t c = 0; c < N_CP; c++)
        if (cnt[c] > 0) cc[nc++] = (charcount){c, cnt[c]};
    qsort(cc, (size_t)nc, sizeof *cc, charcount_cmp);
    /* SentencePiece: take characters while the covered fraction is below the coverage; U+2581
     * always (it starts every word) */
    int64_t covered = 0, na = 0;
    for (uint32_t c = 0; c < N_CP; c++) id[c] = -1;
    for (int64_t i = 0; i < nc; i++) {
        int take = (double)covered < coverage * (double)total || cc[i].cp == 0x2581;
        if (!take) continue;
        covered += cc[i].count;
        id[cc[i].cp] = (int32_t)na++;
        unsigned char u[4];
        int k;
        uint32_t cp = cc[i].cp;
        if (cp < 0x80) u[0] = (unsigned char)cp, k = 1;
        else if (cp < 0x800) u[0] = (unsigned char)(0xC0 | cp >> 6), u[1] = (unsigned char)(0x80 | (cp & 63)), k = 2;
        else if (cp < 0x10000)
            u[0] = (unsigned char)(0xE0 | cp >> 12), u[1] = (unsigned char)(0x80 | ((cp >> 6) & 63)),
            u[2] = (unsigned char)(0x80 | (cp & 63)), k = 3;
        else
            u[0] = (unsigned char)(0xF0 | cp >> 18), u[1] = (unsigned char)(0x80 | ((cp >> 12) & 63)),
            u[2] = (unsigned char)(0x80 | ((cp >> 6) & 63)), u[3] = (unsigned char)(0x80 | (cp & 63)), k = 4;
        if (tokset_add(tk, u, k)) goto nomem;
    }
    /* runs of alphabet characters become training words */
    for (int64_t w = 0; w < nu; w++) {
        const unsigned char *p = uw[w].p;
        size_t n = uw[w].len;
        int32_t run = 0;
        for (size_t i = 0; i <= n;) {
            uint32_t cp = 0;
            int k = i < n ? utf8_decode(p + i, n - i, &cp) : 0;
            int32_t cid = k ? id[cp] : -1;
            if (cid < 0) {
                if (run && wordset_add(ws, buf, run, uw[w].count)) goto nomem;
                run = 0;
                if (i == n) break;
                int bytes = k ? k : 1;
                ps->fallback_tokens += bytes * uw[w].count;
                i += (size_t)bytes;
                continue;
            }
            buf[run++] = cid;
            i += (size_t)k;
        }
    }
    ps->n_alpha = na;
    ps->n_chars = total;
    ps->n_covered = covered;
    goto done;
nomem:
    st = ttt_err(TTT_ERR_NOMEM, "tokenizer train: out of memory");
done:
    free(cnt), free(id), free(cc), free(buf);
    return st;
}

/* ---- the whole training -------------------------------------------------------------- */

void bpe_model_free(bpe_model *m) {
    if (m->tok)
        for (int64_t i = 0; i < m->n_ids; i++) free(m->tok[i]);
    free(m->tok), free(m->tok_len), free(m->is_special), free(m->merges), free(m->merge_result), free(m->pattern);
    memset(m, 0, sizeof *m);
}

static ttt_status check_opts(const bpe_train_opts *o) {
    if (o->kind != BPE_TRAIN_BYTE && o->kind != BPE_TRAIN_SP)
        return ttt_err(TTT_ERR_ARG, "tokenizer train: unknown kind %d (expected byte-bpe or sp-bpe)", (int)o->kind);
    if (o->n_specials < 0 || o->n_specials > BPE_TRAIN_MAX_SPECIAL)
        return ttt_err(TTT_ERR_ARG, "tokenizer train: %d special tokens (at most %d)", o->n_specials, BPE_TRAIN_MAX_SPECIAL);
    for (int i = 0; i < o->n_specials; i++) {
        const char *s = o->specials[i];
        if (!s || !*s) return ttt_err(TTT_ERR_ARG, "tokenizer train: special token %d is empty", i + 1);
        if (!utf8_valid((const unsigned char *)s, strlen(s)))
            return ttt_err(TTT_ERR_ARG, "tokenizer train: special token %d is not valid UTF-8", i + 1);
        for (int j = 0; j < i; j++)
            if (strcmp(s, o->specials[j]) == 0)
                return ttt_err(TTT_ERR_ARG, "tokenizer train: special token '%s' is given twice", s);
        if (o->kind == BPE_TRAIN_SP && (strcmp(s, "<unk>") == 0 || strcmp(s, "<s>") == 0 || strcmp(s, "</s>") == 0))
            return ttt_err(TTT_ERR_ARG, "tokenizer train: special token '%s' is already one of sp-bpe's <unk> <s> </s>", s);
        if (o->kind == BPE_TRAIN_SP && strlen(s) == 6 && strncmp(s, "<0x", 3) == 0 && s[5] == '>')
            return ttt_err(TTT_ERR_ARG, "tokenizer train: special token '%s' looks like a byte piece <0xXX>", s);
    }
    if (o->min_frequency < 1)
        return ttt_err(TTT_ERR_ARG, "tokenizer train: min frequency %lld (expected >= 1)", (long long)o->min_frequency);
    if (o->kind == BPE_TRAIN_SP && !(o->char_coverage > 0 && o->char_coverage <= 1))
        return ttt_err(TTT_ERR_ARG, "tokenizer train: character coverage %g (expected a number in (0, 1])", o->char_coverage);
    int n_sp = o->n_specials > 0 ? o->n_specials : (o->kind == BPE_TRAIN_BYTE ? 1 : 0);
    int64_t min = (o->kind == BPE_TRAIN_BYTE ? 256 : 3 + 256 + 1) + n_sp;
    if (o->vocab_size < min)
        return ttt_err(TTT_ERR_ARG, "tokenizer train: vocabulary size %lld is too small (%s needs at least %lld: %s)",
                       (long long)o->vocab_size, o->kind == BPE_TRAIN_BYTE ? "byte-bpe" : "sp-bpe", (long long)min,
                       o->kind == BPE_TRAIN_BYTE ? "256 byte tokens + the special tokens"
                                                 : "<unk> <s> </s>, 256 byte pieces, the characters + the special tokens");
    if (o->vocab_size > BPE_TRAIN_MAX_VOCAB)
        return ttt_err(TTT_ERR_ARG, "tokenizer train: vocabulary size %lld is too large (at most %lld)",
                       (long long)o->vocab_size, (long long)BPE_TRAIN_MAX_VOCAB);
    return TTT_OK;
}

static char *dup_bytes(const void *p, size_t n) {
    char *d = malloc(n + 1);
    if (d) {
        if (n) memcpy(d, p, n);
        d[n] = 0;
    }
    return d;
}

/* final ids from the internal ones; fills m */
static ttt_status assemble(const bpe_train_opts *o, const tokset *tk, const mergelist *ml, bpe_model *m) {
    static const char *const dflt[] = {"<|endoftext|>"};
    const char *const *sp = o->n_specials ? o->specials : (o->kind == BPE_TRAIN_BYTE ? dflt : NULL);
    int nsp = o->n_specials ? o->n_specials : (o->kind == BPE_TRAIN_BYTE ? 1 : 0);
    int64_t fixed = o->kind == BPE_TRAIN_SP ? 3 + 256 : 0; /* <unk> <s> </s> + bytes */
    int64_t base, sp_at;                                  /* id of internal 0; first extra special */
    if (o->kind == BPE_TRAIN_SP) {
        base = o->specials_first ? fixed + nsp : fixed;
        sp_at = o->specials_first ? 3 : fixed + tk->n;
    } else {
        base = o->specials_first ? nsp : 0;
        sp_at = o->specials_first ? 0 : tk->n;
    }
    m->n_ids = fixed + nsp + tk->n;
    size_t n = (size_t)m->n_ids;
    m->tok = calloc(n, sizeof *m->tok);
    m->tok_len = calloc(n, sizeof *m->tok_len);
    m->is_special = calloc(n, 1);
    m->merges = malloc((size_t)(ml->n ? ml->n : 1) * sizeof *m->merges);
    m->merge_result = malloc((size_t)(ml->n ? ml->n : 1) * sizeof *m->merge_result);
    if (!m->tok || !m->tok_len || !m->is_special || !m->merges || !m->merge_result) goto nomem;
    if (o->kind == BPE_TRAIN_SP) {
        const char *fx[3] = {"<unk>", "<s>", "</s>"};
        int64_t bytes_at = o->specials_first ? 3 + nsp : 3;
        for (int i = 0; i < 3; i++) {
            m->tok[i] = dup_bytes(fx[i], strlen(fx[i]));
            m->tok_len[i] = strlen(fx[i]);
            m->is_special[i] = 1;
            if (!m->tok[i]) goto nomem;
        }
        for (int b = 0; b < 256; b++) {
            char s[8];
            snprintf(s, sizeof s, "<0x%02X>", b);
            m->tok[bytes_at + b] = dup_bytes(s, 6);
            m->tok_len[bytes_at + b] = 6;
            if (!m->tok[bytes_at + b]) goto nomem;
        }
        m->unk = 0, m->bos = 1, m->eos = 2;
    }
    for (int i = 0; i < nsp; i++) {
        int64_t id = sp_at + i;
        m->tok[id] = dup_bytes(sp[i], strlen(sp[i]));
        m->tok_len[id] = strlen(sp[i]);
        m->is_special[id] = 1;
        if (!m->tok[id]) goto nomem;
    }
    if (o->kind == BPE_TRAIN_BYTE) m->bos = m->eos = m->unk = (int32_t)sp_at;
    for (int64_t i = 0; i < tk->n; i++) {
        m->tok[base + i] = dup_bytes(tk->blob + tk->off[i], (size_t)tk->len[i]);
        m->tok_len[base + i] = (size_t)tk->len[i];
        if (!m->tok[base + i]) goto nomem;
    }
    for (int64_t k = 0; k < ml->n; k++) {
        m->merges[k][0] = (int32_t)(base + ml->m[k][0]);
        m->merges[k][1] = (int32_t)(base + ml->m[k][1]);
        m->merge_result[k] = (int32_t)(base + ml->res[k]);
    }
    m->n_merges = ml->n;
    return TTT_OK;
nomem:
    return ttt_err(TTT_ERR_NOMEM, "tokenizer train: out of memory");
}

static ttt_status train(const bpe_train_opts *o, const source *src, bpe_model *m) {
    memset(m, 0, sizeof *m);
    m->bos = m->eos = m->unk = -1;
    TRY(check_opts(o));
    if (src->n <= 0) return ttt_err(TTT_ERR_ARG, "tokenizer train: no input files");
    ttt_status st = TTT_OK;
    pretok pre;
    int have_pre = 0;
    strmap words;
    int have_words = 0;
    uword *uw = NULL;
    wordset ws;
    memset(&ws, 0, sizeof ws);
    tokset tk;
    memset(&tk, 0, sizeof tk);
    mergelist ml = {0};
    prep_stats ps;
    memset(&ps, 0, sizeof ps);
    double t0 = now_s();
    m->kind = o->kind;
    if (o->kind == BPE_TRAIN_BYTE) {
        const char *pat = o->pattern ? o->pattern : TOKJSON_GPT2_PATTERN;
        if (!utf8_valid((const unsigned char *)pat, strlen(pat)) || !*pat) {
            st = ttt_err(TTT_ERR_ARG, "tokenizer train: the split pattern is empty or not valid UTF-8");
            goto out;
        }
        if ((st = pretok_compile(&pre, pat, "--pattern")) != TTT_OK) goto out;
        have_pre = 1;
        m->pattern = dup_bytes(pat, strlen(pat));
        if (!m->pattern) goto nomem;
    }
    int64_t bytes = 0, nwords = 0;
    if ((st = count_words(o, have_pre ? &pre : NULL, src, &words, &bytes, &nwords)) != TTT_OK) goto out;
    have_words = 1;
    m->n_files = src->n;
    m->corpus_bytes = bytes;
    m->n_words = nwords;
    if (words.n == 0) {
        st = ttt_err(TTT_ERR_ARG, "tokenizer train: the input is empty (%lld file%s, no text)", (long long)src->n,
                     src->n == 1 ? "" : "s");
        goto out;
    }
    uw = malloc((size_t)words.n * sizeof *uw);
    if (!uw) goto nomem;
    int64_t nu = 0;
    for (uint64_t i = 0; i < words.cap; i++) {
        const strmap_slot *sl = &words.slots[i];
        if (sl->hash) uw[nu++] = (uword){words.blob + sl->off, sl->len, sl->value};
    }
    qsort(uw, (size_t)nu, sizeof *uw, uword_cmp);
    m->n_unique_words = nu;
    if (strmap_init(&tk.map, 1 << 12) != 0) goto nomem;
    if (o->kind == BPE_TRAIN_BYTE) st = prep_byte(uw, nu, &ws, &tk, &ps);
    else st = prep_sp(uw, nu, o->char_coverage, &ws, &tk, &ps);
    if (st != TTT_OK) goto out;
    m->n_alphabet = ps.n_alpha;
    m->n_chars = ps.n_chars;
    m->n_chars_covered = ps.n_covered;
    int nsp = o->n_specials ? o->n_specials : (o->kind == BPE_TRAIN_BYTE ? 1 : 0);
    int64_t fixed = (o->kind == BPE_TRAIN_SP ? 3 + 256 : 0) + nsp;
    int64_t target = o->vocab_size - fixed; /* internal tokens wanted */
    if (target < tk.n) {
        st = ttt_err(TTT_ERR_ARG,
                     "tokenizer train: vocabulary size %lld is too small: sp-bpe needs %lld ids before any merge (<unk> <s> "
                     "</s>, 256 byte pieces, %lld characters for coverage %g, %d extra special tokens); raise --vocab or "
                     "lower --character-coverage",
                     (long long)o->vocab_size, (long long)(fixed + tk.n), (long long)tk.n, o->char_coverage, nsp);
        goto out;
    }
    m->seconds_count = now_s() - t0;
    if (o->verbose)
        fprintf(stderr, "tokenizer train: %lld bytes, %lld words (%lld distinct) counted in %.2f s\n", (long long)bytes,
                (long long)nwords, (long long)nu, m->seconds_count);
    /* the words' bytes live in the map's blob, no longer needed once the word set is built */
    free(uw);
    uw = NULL;
    strmap_free(&words);
    have_words = 0;
    double t1 = now_s();
    if ((st = learn(&ws, &tk, target, o->min_frequency, &ml, o->verbose, &m->stopped_early)) != TTT_OK) goto out;
    m->seconds_merge = now_s() - t1;
    int64_t toks = ps.fallback_tokens;
    for (int64_t w = 0; w < ws.n; w++) toks += ws.count[w] * ws.len[w];
    m->corpus_tokens = toks;
    st = assemble(o, &tk, &ml, m);
    goto out;
nomem:
    st = ttt_err(TTT_ERR_NOMEM, "tokenizer train: out of memory");
out:
    if (have_pre) pretok_free(&pre);
    if (have_words) strmap_free(&words);
    free(uw);
    wordset_free(&ws);
    tokset_free(&tk);
    free(ml.m), free(ml.res);
    if (st != TTT_OK) bpe_model_free(m);
    return st;
}

ttt_status bpe_train_files(const bpe_train_opts *o, const char *const *paths, int64_t n_paths, bpe_model *m) {
    source src = {paths, NULL, NULL, n_paths};
    return train(o, &src, m);
}

ttt_status bpe_train_texts(const bpe_train_opts *o, const char *const *texts, const size_t *lens, int64_t n,
                           bpe_model *m) {
    source src = {NULL, texts, lens, n};
    return train(o, &src, m);
}

/* ---- saving ---------------------------------------------------------------------------- */

ttt_status bpe_model_save(const bpe_model *m, const char *json_path, const char *config_path,
                          int64_t model_max_length) {
    if (!m->tok || m->n_ids <= 0) return ttt_err(TTT_ERR_ARG, "tokenizer save: empty model");
    ttt_status st = TTT_OK;
    size_t n = (size_t)m->n_ids;
    const char **vocab = calloc(n, sizeof *vocab);
    tokjson_special *sp = calloc(n, sizeof *sp);
    char *cfg = NULL;
    if (!vocab || !sp) {
        st = ttt_err(TTT_ERR_NOMEM, "tokenizer save: out of memory");
        goto out;
    }
    int nsp = 0;
    for (size_t i = 0; i < n; i++) {
        if (m->is_special[i]) {
            sp[nsp++] = (tokjson_special){m->tok[i], m->tok_len[i], (int32_t)i};
            if (m->kind == BPE_TRAIN_SP) vocab[i] = m->tok[i]; /* Llama-2 lists them in the vocab too */
        } else {
            vocab[i] = m->tok[i];
        }
    }
    tokjson_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.kind = m->kind == BPE_TRAIN_BYTE ? TOKJSON_BYTE_LEVEL : TOKJSON_SP_BPE;
    spec.n_ids = m->n_ids;
    spec.vocab = vocab;
    spec.vocab_len = m->tok_len;
    spec.vocab_raw_bytes = m->kind == BPE_TRAIN_BYTE;
    spec.merges = (const int32_t(*)[2])m->merges;
    spec.n_merges = m->n_merges;
    spec.special = sp;
    spec.n_special = nsp;
    spec.pattern = m->pattern;
    spec.unk_token = "<unk>";
    if (m->bos >= 0) spec.bos_token = m->tok[m->bos];
    if (m->eos >= 0) spec.eos_token = m->tok[m->eos];
    if (m->unk >= 0) spec.config_unk_token = m->tok[m->unk];
    spec.add_bos_token = m->kind == BPE_TRAIN_SP;
    spec.model_max_length = model_max_length;
    if (!config_path) {
        const char *slash = strrchr(json_path, '/');
        if (slash) {
            size_t dn = (size_t)(slash - json_path) + 1;
            cfg = malloc(dn + sizeof "tokenizer_config.json");
            if (cfg) memcpy(cfg, json_path, dn), strcpy(cfg + dn, "tokenizer_config.json");
        } else {
            cfg = dup_bytes("tokenizer_config.json", strlen("tokenizer_config.json"));
        }
        if (!cfg) {
            st = ttt_err(TTT_ERR_NOMEM, "tokenizer save: out of memory");
            goto out;
        }
        config_path = cfg;
    }
    if (strcmp(config_path, json_path) == 0) {
        st = ttt_err(TTT_ERR_ARG, "tokenizer save: the output '%s' is also where tokenizer_config.json goes; name the "
                     "tokenizer file differently", json_path);
        goto out;
    }
    if ((st = tokjson_write(json_path, &spec)) != TTT_OK) goto out;
    st = tokjson_write_config(config_path, &spec);
out:
    free(vocab), free(sp), free(cfg);
    return st;
}
