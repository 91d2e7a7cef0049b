/* hf_pretok.c: the pre-tokenizers of a tokenizer.json, which cut a normalized section into the
 * pieces the model encodes one by one, and the pattern matching they share with Replace.
 *
 * A pattern cuts a piece into segments, each a match or not (Rust's Pattern::find_matches:
 * regex and literal matches left to right without overlap; for a character class, every
 * matching character is a match of its own). `invert` swaps the two kinds. The behaviour then
 * decides what the pieces are:
 *   Removed            the non-matches; matches are dropped
 *   Isolated           every segment
 *   MergedWithPrevious a match joins the piece before it (when that is not a match)
 *   MergedWithNext     a match joins the piece after it (the same, from the right)
 *   Contiguous         consecutive segments of the same kind join
 * Empty pieces are dropped. Stages:
 *   Split(pattern, behavior, invert)
 *   ByteLevel(add_prefix_space, use_regex): " " before a piece that lacks it; the GPT-2 regex,
 *       Isolated; the model then reads the piece's raw bytes
 *   Metaspace(replacement, prepend_scheme, split): ' ' -> replacement; the replacement before
 *       the piece (always; first: only at the start of the input; never); split before each
 *       replacement (MergedWithNext)
 *   Digits(individual_digits): numeric characters (Unicode N*), Isolated or Contiguous
 *   Whitespace: the matches of \w+|[^\w\s]+;  WhitespaceSplit: split at White_Space, Removed */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "core/error.h"
#include "tokenizer/hf.h"

#define OOM ttt_err(TTT_ERR_NOMEM, "out of memory while pre-tokenizing")

/* the first occurrence of p[0, m) in s[0, n) (m > 0), or NULL */
static const char *find_lit(const char *s, size_t n, const char *p, size_t m) {
    for (const char *q = s; n >= m && (q = memchr(q, p[0], n - m + 1 - (size_t)(q - s))) != NULL; q++)
        if (memcmp(q, p, m) == 0) return q;
    return NULL;
}

ttt_status hf_find(const hf_tok *h, hf_work *w, const hf_pattern *p, const char *s, size_t n, hf_seg_fn fn, void *ctx) {
    size_t prev = 0;
    if (p->re < 0) {
        if (p->lit_len > 0)
            for (size_t i = 0; i + p->lit_len <= n;) {
                const char *q = find_lit(s + i, n - i, p->lit, p->lit_len);
                if (!q) break;
                size_t b = (size_t)(q - s);
                if (b > prev && fn(ctx, prev, b, 0)) return OOM;
                if (fn(ctx, b, b + p->lit_len, 1)) return OOM;
                prev = i = b + p->lit_len;
            }
    } else {
        const pretok *re = &h->re[p->re];
        pretok_state *st = &w->pst[p->re];
        size_t pos = 0;
        while (pos <= n) {
            int rc = re->jit ? pcre2_jit_match(re->code, (PCRE2_SPTR)s, n, pos, 0, st->md, st->mctx)
                             : pcre2_match(re->code, (PCRE2_SPTR)s, n, pos, 0, st->md, st->mctx);
            if (rc == PCRE2_ERROR_NOMATCH) break;
            if (rc < 0) {
                PCRE2_UCHAR msg[256];
                pcre2_get_error_message(rc, msg, sizeof msg);
                return ttt_err(TTT_ERR_ARG, "regex failed at byte %zu: %s", pos, (const char *)msg);
            }
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(st->md);
            size_t b = ov[0], e = ov[1];
            if (b > prev && fn(ctx, prev, b, 0)) return OOM;
            if (fn(ctx, b, e, 1)) return OOM;
            prev = e;
            if (e > b) {
                pos = e;
            } else { /* an empty match: search again one character further */
                if (e >= n) break;
                uint32_t cp;
                pos = e + (size_t)hf_next_char(s, n, e, &cp);
            }
        }
    }
    if (prev < n && fn(ctx, prev, n, 0)) return OOM;
    return TTT_OK;
}

/* ---- segments and behaviours ------------------------------------------------------------- */

typedef struct {
    size_t b, e;
    int m;
} seg;

typedef struct {
    seg *v;
    int64_t n, cap;
    int invert;
} seg_list;

static int seg_add(void *vctx, size_t b, size_t e, int m) {
    seg_list *l = vctx;
    if (l->n == l->cap) {
        int64_t c = l->cap ? 2 * l->cap : 64;
        seg *v = realloc(l->v, (size_t)c * sizeof *v);
        if (!v) return -1;
        l->v = v;
        l->cap = c;
    }
    l->v[l->n++] = (seg){b, e, l->invert ? !m : m};
    return 0;
}

typedef int (*char_pred)(uint32_t cp);
static int is_numeric(uint32_t cp) {
    if (cp == 0xFFFFFFFFu) return 0;
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return c == UTF8PROC_CATEGORY_ND || c == UTF8PROC_CATEGORY_NL || c == UTF8PROC_CATEGORY_NO;
}
static int is_space(uint32_t cp) { return hf_is_space(cp); }

static int find_chars(const char *s, size_t n, char_pred pred, seg_list *l) {
    size_t prev = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int k = hf_next_char(s, n, i, &cp);
        if (pred(cp)) {
            if (i > prev && seg_add(l, prev, i, 0)) return -1;
            if (seg_add(l, i, i + (size_t)k, 1)) return -1;
            prev = i + (size_t)k;
        }
        i += (size_t)k;
    }
    return prev < n ? seg_add(l, prev, n, 0) : 0;
}

/* apply a behaviour to the segments of piece s; append the pieces to out */
static int emit(const seg_list *l, int behavior, const char *s, int start, hf_pieces *out) {
    seg *v = l->v;
    int64_t n = l->n, k = 0;
    /* fold into v[0..k) in place (MergedWithNext walks from the right) */
    if (behavior == HFB_MERGED_NEXT) {
        int prev = 0;
        for (int64_t i = n - 1; i >= 0; i--) {
            seg x = v[i];
            if (x.m && !prev && k > 0) v[n - k].b = x.b;
            else v[n - ++k] = (seg){x.b, x.e, 0};
            prev = x.m;
        }
        v += n - k;
    } else if (behavior != HFB_REMOVED && behavior != HFB_ISOLATED) {
        int prev = 0;
        for (int64_t i = 0; i < n; i++) {
            seg x = v[i];
            int join = behavior == HFB_CONTIGUOUS ? x.m == prev : x.m && !prev;
            if (join && k > 0) v[k - 1].e = x.e;
            else v[k++] = (seg){x.b, x.e, 0};
            prev = x.m;
        }
    } else {
        k = n;
    }
    for (int64_t i = 0; i < k; i++) {
        if (behavior == HFB_REMOVED && v[i].m) continue;
        if (v[i].e > v[i].b && hf_pieces_add(out, s + v[i].b, v[i].e - v[i].b, start && v[i].b == 0)) return -1;
    }
    return 0;
}

/* one pre-tokenizer over one piece */
static ttt_status run_one(const hf_tok *h, hf_work *w, const hf_pre *p, const char *s, size_t n, int start, hf_pieces *out,
                          seg_list *l) {
    l->n = 0;
    l->invert = 0;
    hf_buf *t = &w->tmp;
    switch (p->type) {
    case HFP_SPLIT:
        l->invert = p->invert;
        TRY(hf_find(h, w, &p->pat, s, n, seg_add, l));
        return emit(l, p->behavior, s, start, out) ? OOM : TTT_OK;
    case HFP_WHITESPACE:
        l->invert = 1;
        TRY(hf_find(h, w, &p->pat, s, n, seg_add, l));
        return emit(l, HFB_REMOVED, s, start, out) ? OOM : TTT_OK;
    case HFP_WHITESPACE_SPLIT:
        if (find_chars(s, n, is_space, l)) return OOM;
        return emit(l, HFB_REMOVED, s, start, out) ? OOM : TTT_OK;
    case HFP_DIGITS:
        if (find_chars(s, n, is_numeric, l)) return OOM;
        return emit(l, p->individual_digits ? HFB_ISOLATED : HFB_CONTIGUOUS, s, start, out) ? OOM : TTT_OK;
    case HFP_BYTELEVEL: {
        t->n = 0;
        if (p->add_prefix_space && !(n > 0 && s[0] == ' ') && hf_buf_put(t, " ", 1)) return OOM;
        if (hf_buf_put(t, s, n)) return OOM;
        if (!p->use_regex) return hf_pieces_add(out, t->p, t->n, start) ? OOM : TTT_OK;
        hf_pattern re = {NULL, 0, h->re_bytelevel};
        TRY(hf_find(h, w, &re, t->p, t->n, seg_add, l));
        return emit(l, HFB_ISOLATED, t->p, start, out) ? OOM : TTT_OK;
    }
    case HFP_METASPACE: {
        t->n = 0;
        size_t r = (size_t)p->rep_len;
        int has = n >= 1 && (s[0] == ' ' || (n >= r && memcmp(s, p->rep, r) == 0));
        int pre = p->prepend_scheme == HF_PREPEND_ALWAYS || (p->prepend_scheme == HF_PREPEND_FIRST && start);
        if (pre && !has && hf_buf_put(t, p->rep, r)) return OOM;
        for (size_t i = 0; i < n; i++)
            if (s[i] == ' ' ? hf_buf_put(t, p->rep, r) : hf_buf_put(t, s + i, 1)) return OOM;
        if (!p->split) return hf_pieces_add(out, t->p, t->n, start) ? OOM : TTT_OK;
        hf_pattern lit = {(char *)p->rep, r, -1};
        TRY(hf_find(h, w, &lit, t->p, t->n, seg_add, l));
        return emit(l, HFB_MERGED_NEXT, t->p, start, out) ? OOM : TTT_OK;
    }
    }
    return ttt_err(TTT_ERR_ARG, "unknown pre-tokenizer");
}

ttt_status hf_pretokenize_from(const hf_tok *h, hf_work *w, const char *s, size_t n, int start, int first,
                               hf_pieces **out) {
    hf_pieces *cur = &w->pc[first & 1];
    cur->n = 0;
    cur->text.n = 0;
    if (hf_pieces_add(cur, s, n, start)) return OOM;
    seg_list l = {0};
    ttt_status st = TTT_OK;
    for (int i = first; i < h->n_pre && st == TTT_OK; i++) {
        hf_pieces *nx = &w->pc[(i + 1) & 1];
        nx->n = 0;
        nx->text.n = 0;
        for (int64_t k = 0; k < cur->n && st == TTT_OK; k++) {
            /* cur's text may move while nx grows, but cur and nx are different buffers */
            const hf_span *sp = &cur->v[k];
            st = run_one(h, w, &h->pre[i], cur->text.p + sp->off, sp->len, sp->start, nx, &l);
        }
        cur = nx;
    }
    free(l.v);
    *out = cur;
    return st;
}

ttt_status hf_pretokenize(const hf_tok *h, hf_work *w, const char *s, size_t n, int start, hf_pieces **out) {
    return hf_pretokenize_from(h, w, s, n, start, 0, out);
}

ttt_status hf_regex_pieces(const hf_tok *h, hf_work *w, const char *s, size_t n, size_t from, size_t until,
                           hf_seg_fn fn, void *ctx, size_t *end) {
    const hf_pre *p = &h->pre[0];
    int re = p->type == HFP_BYTELEVEL ? h->re_bytelevel : p->pat.re;
    const pretok *code = &h->re[re];
    pretok_state *st = &w->pst[re];
    size_t pos = from, gap = from; /* where the search goes on; where the text not yet in a piece starts */
    while (gap < n && gap < until) {
        size_t b = n, e = n;
        if (pos < n) {
            int rc = code->jit ? pcre2_jit_match(code->code, (PCRE2_SPTR)s, n, pos, 0, st->md, st->mctx)
                               : pcre2_match(code->code, (PCRE2_SPTR)s, n, pos, 0, st->md, st->mctx);
            if (rc >= 0) {
                PCRE2_SIZE *ov = pcre2_get_ovector_pointer(st->md);
                b = ov[0], e = ov[1];
            } else if (rc != PCRE2_ERROR_NOMATCH) {
                PCRE2_UCHAR msg[256];
                pcre2_get_error_message(rc, msg, sizeof msg);
                return ttt_err(TTT_ERR_ARG, "regex failed at byte %zu: %s", pos, (const char *)msg);
            }
        }
        if (b > gap) { /* the text before the match is a piece of its own */
            if (fn(ctx, gap, b, 0)) return OOM;
            gap = b;
            if (gap >= until) break; /* a piece that starts at `until` is the next range's */
        }
        if (b >= n) break;
        if (e > b) {
            if (fn(ctx, b, e, 1)) return OOM;
            gap = pos = e;
        } else { /* an empty match makes no piece; the search goes on one character later */
            uint32_t cp;
            pos = b + (size_t)hf_next_char(s, n, b, &cp);
        }
    }
    *end = gap;
    return TTT_OK;
}
