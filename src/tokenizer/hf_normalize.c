/* hf_normalize.c: the normalizers of a tokenizer.json, applied in order to each section of text
 * between added tokens:
 *   Prepend(p):        s -> p + s            (a non-empty s)
 *   Replace(pat, c):   every match of pat, left to right, without overlaps, becomes c
 *   NFC, NFD, NFKC, NFKD: Unicode normalization forms (libutf8proc); bytes that are not UTF-8
 *                      are kept as they are, and each valid stretch between them is normalized */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "core/error.h"
#include "tokenizer/hf.h"
#include "tokenizer/utf8.h"

#define OOM ttt_err(TTT_ERR_NOMEM, "out of memory while normalizing")

typedef struct {
    hf_buf *out;
    const char *s;
    const hf_norm *n;
} repl_ctx;

static int repl_seg(void *vctx, size_t b, size_t e, int is_match) {
    repl_ctx *c = vctx;
    return is_match ? hf_buf_put(c->out, c->n->s, c->n->s_len) : hf_buf_put(c->out, c->s + b, e - b);
}

static ttt_status unicode_form(int type, const char *s, size_t n, hf_buf *out) {
    utf8proc_option_t opt = UTF8PROC_STABLE;
    if (type == HFN_NFC || type == HFN_NFKC) opt |= UTF8PROC_COMPOSE;
    else opt |= UTF8PROC_DECOMPOSE;
    if (type == HFN_NFKC || type == HFN_NFKD) opt |= UTF8PROC_COMPAT;
    size_t i = 0;
    while (i < n) {
        /* the longest valid stretch from i; ASCII needs no work in any form */
        size_t j = i;
        int ascii = 1;
        uint32_t cp;
        while (j < n) {
            if ((unsigned char)s[j] < 0x80) {
                j++;
                continue;
            }
            int k = utf8_decode((const unsigned char *)s + j, n - j, &cp);
            if (!k) break;
            ascii = 0;
            j += (size_t)k;
        }
        if (ascii || j == i) {
            if (hf_buf_put(out, s + i, j - i)) return OOM;
        } else {
            utf8proc_uint8_t *dst = NULL;
            if (j - i > (size_t)PTRDIFF_MAX / 8) return ttt_err(TTT_ERR_ARG, "text too long to normalize");
            utf8proc_ssize_t m = utf8proc_map((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(j - i), &dst, opt);
            if (m < 0) {
                free(dst);
                return m == UTF8PROC_ERROR_NOMEM ? OOM
                       : ttt_err(TTT_ERR_ARG, "Unicode normalization failed at byte %zu: %s", i, utf8proc_errmsg(m));
            }
            int fail = hf_buf_put(out, dst, (size_t)m);
            free(dst);
            if (fail) return OOM;
        }
        i = j;
        if (i < n && utf8_decode((const unsigned char *)s + i, n - i, &cp) == 0) { /* an invalid byte */
            if (hf_buf_put(out, s + i, 1)) return OOM;
            i++;
        }
    }
    return TTT_OK;
}

static ttt_status apply(const hf_tok *h, hf_work *w, const hf_norm *nm, const char *s, size_t n, hf_buf *out) {
    out->n = 0;
    if (hf_buf_put(out, "", 0)) return OOM;
    switch (nm->type) {
    case HFN_PREPEND:
        if (n > 0 && (hf_buf_put(out, nm->s, nm->s_len) || hf_buf_put(out, s, n))) return OOM;
        return TTT_OK;
    case HFN_REPLACE: {
        repl_ctx c = {out, s, nm};
        return hf_find(h, w, &nm->pat, s, n, repl_seg, &c);
    }
    default:
        return unicode_form(nm->type, s, n, out);
    }
}

ttt_status hf_normalize(const hf_tok *h, hf_work *w, const char *in, size_t n, const char **out, size_t *out_n) {
    const char *cur = in;
    size_t len = n;
    for (int i = 0; i < h->n_norm; i++) {
        hf_buf *b = &w->nb[i & 1];
        TRY(apply(h, w, &h->norm[i], cur, len, b));
        cur = b->p, len = b->n;
    }
    *out = cur;
    *out_n = len;
    return TTT_OK;
}

ttt_status hf_normalize_string(const hf_tok *h, const char *in, size_t n, hf_buf *out) {
    hf_work w;
    TRY(hf_work_init(&w, h));
    const char *r;
    size_t rn;
    ttt_status s = hf_normalize(h, &w, in, n, &r, &rn);
    if (s == TTT_OK && hf_buf_put(out, r, rn)) s = OOM;
    hf_work_free(&w);
    return s;
}
