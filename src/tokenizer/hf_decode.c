/* hf_decode.c: ids back to text with a tokenizer.json's decoders, as the library's
 * Tokenizer::decode: each id becomes the token's text (an added token its content; special
 * tokens are skipped unless TTT_TOK_DECODE_SPECIAL), the decoders rewrite the list of tokens in
 * order, and the result is their concatenation (with no decoder, the tokens joined by spaces):
 *   ByteLevel     all tokens into one, each character of the GPT-2 alphabet back to its byte
 *                 (a token with a character outside it: its own UTF-8 bytes)
 *   Replace       in each token, every match of the pattern becomes the content
 *   ByteFallback  each run of <0xNN> tokens becomes one token of those bytes
 *   Fuse          all tokens into one
 *   Strip         each token loses up to `start` leading and `stop` trailing `content` characters
 *   Metaspace     in each token the replacement becomes ' '; the first loses one leading ' '
 *                 (unless prepend_scheme is never)
 * With restart_after (Llama-2's BOS), the ids up to and including each such id are decoded on
 * their own, and the results concatenated. The output is bytes: where the library would write U+FFFD for bytes that are not UTF-8
 * (ByteLevel, ByteFallback), the bytes themselves are kept, so that decoding inverts encoding
 * for any input and a stream of tokens can be decoded piece by piece. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizer/hf.h"
#include "tokenizer/tok_impl.h"
#include "tokenizer/utf8.h"

#define OOM ttt_err(TTT_ERR_NOMEM, "out of memory while decoding")

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* the byte of a "<0xNN>" token, or -1 */
static int byte_token(const char *s, size_t n) {
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    int a = hexval(s[3]), b = hexval(s[4]);
    return a < 0 || b < 0 ? -1 : a * 16 + b;
}

typedef struct {
    hf_buf *out;
    const char *s;
    const hf_dec *d;
} repl_ctx;

static int repl_seg(void *vctx, size_t b, size_t e, int is_match) {
    repl_ctx *c = vctx;
    return is_match ? hf_buf_put(c->out, c->d->s, c->d->s_len) : hf_buf_put(c->out, c->s + b, e - b);
}

#define TOK(l, i) ((l)->text.p + (l)->v[i].off)

static ttt_status run_decoder(const hf_tok *h, hf_work *w, const hf_dec *d, const hf_pieces *in, hf_pieces *out) {
    out->n = 0;
    out->text.n = 0;
    hf_buf *t = &w->tmp;
    switch (d->type) {
    case HFD_BYTELEVEL:
    case HFD_FUSE:
        t->n = 0;
        for (int64_t i = 0; i < in->n; i++) {
            const char *s = TOK(in, i);
            size_t n = in->v[i].len, mark = t->n;
            int raw = d->type == HFD_FUSE;
            for (size_t k = 0; k < n && !raw;) {
                uint32_t cp;
                int m = utf8_decode((const unsigned char *)s + k, n - k, &cp);
                int b = m ? hf_cp_to_byte(cp) : -1;
                if (b < 0) {
                    raw = 1;
                    break;
                }
                unsigned char c = (unsigned char)b;
                if (hf_buf_put(t, &c, 1)) return OOM;
                k += (size_t)m;
            }
            if (raw) {
                t->n = mark;
                if (hf_buf_put(t, s, n)) return OOM;
            }
        }
        return hf_pieces_add(out, t->p ? t->p : "", t->n, 0) ? OOM : TTT_OK;
    case HFD_BYTEFALLBACK:
        for (int64_t i = 0; i < in->n;) {
            int b = byte_token(TOK(in, i), in->v[i].len);
            if (b < 0) {
                if (hf_pieces_add(out, TOK(in, i), in->v[i].len, 0)) return OOM;
                i++;
                continue;
            }
            t->n = 0;
            for (; i < in->n && (b = byte_token(TOK(in, i), in->v[i].len)) >= 0; i++) {
                unsigned char c = (unsigned char)b;
                if (hf_buf_put(t, &c, 1)) return OOM;
            }
            if (hf_pieces_add(out, t->p, t->n, 0)) return OOM;
        }
        return TTT_OK;
    case HFD_REPLACE:
        for (int64_t i = 0; i < in->n; i++) {
            t->n = 0;
            if (hf_buf_put(t, "", 0)) return OOM;
            repl_ctx c = {t, TOK(in, i), d};
            TRY(hf_find(h, w, &d->pat, TOK(in, i), in->v[i].len, repl_seg, &c));
            if (hf_pieces_add(out, t->p, t->n, 0)) return OOM;
        }
        return TTT_OK;
    case HFD_STRIP:
        for (int64_t i = 0; i < in->n; i++) {
            const char *s = TOK(in, i);
            size_t n = in->v[i].len, b = 0, e = n, c = d->s_len;
            for (int k = 0; k < d->start && b + c <= e && memcmp(s + b, d->s, c) == 0; k++) b += c;
            for (int k = 0; k < d->stop && e >= b + c && memcmp(s + e - c, d->s, c) == 0; k++) e -= c;
            if (hf_pieces_add(out, s + b, e - b, 0)) return OOM;
        }
        return TTT_OK;
    case HFD_METASPACE:
        for (int64_t i = 0; i < in->n; i++) {
            const char *s = TOK(in, i);
            size_t n = in->v[i].len, r = (size_t)d->rep_len;
            t->n = 0;
            if (hf_buf_put(t, "", 0)) return OOM;
            for (size_t k = 0; k < n;) {
                if (k + r <= n && memcmp(s + k, d->rep, r) == 0) {
                    if (hf_buf_put(t, " ", 1)) return OOM;
                    k += r;
                } else {
                    if (hf_buf_put(t, s + k, 1)) return OOM;
                    k++;
                }
            }
            size_t skip = i == 0 && d->prepend_scheme != HF_PREPEND_NEVER && t->n > 0 && t->p[0] == ' ';
            if (hf_pieces_add(out, t->p + skip, t->n - skip, 0)) return OOM;
        }
        return TTT_OK;
    }
    return ttt_err(TTT_ERR_ARG, "unknown decoder");
}

/* the ids [0, n) through the decoders, appended to out */
static ttt_status decode_run(const ttt_tok *t, hf_work *w, const int32_t *ids, int64_t first, int64_t n, int flags,
                             hf_buf *out) {
    const hf_tok *h = t->hf;
    hf_pieces *cur = &w->pc[0];
    cur->n = 0;
    cur->text.n = 0;
    for (int64_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= h->V || h->str_off[id] < 0)
            return ttt_err(TTT_ERR_ARG, "token %lld is id %d, which %s does not have (ids are 0..%lld%s)",
                           (long long)(first + i), id, t->name, (long long)h->V - 1,
                           id >= 0 && id < h->V ? ", and this one is unassigned" : "");
        if (h->is_special[id] && !(flags & TTT_TOK_DECODE_SPECIAL)) continue;
        if (!h->has_decoder && cur->n > 0 && hf_pieces_add(cur, " ", 1, 0)) return OOM;
        if (hf_pieces_add(cur, h->blob + h->str_off[id], (size_t)h->str_len[id], 0)) return OOM;
    }
    for (int i = 0; i < h->n_dec; i++) {
        hf_pieces *nx = cur == &w->pc[0] ? &w->pc[1] : &w->pc[0];
        TRY(run_decoder(h, w, &h->dec[i], cur, nx));
        cur = nx;
    }
    for (int64_t i = 0; i < cur->n; i++)
        if (hf_buf_put(out, TOK(cur, i), cur->v[i].len)) return OOM;
    return TTT_OK;
}

ttt_status hf_decode(const ttt_tok *t, const int32_t *ids, int64_t n, int flags, char **text, size_t *len) {
    const hf_tok *h = t->hf;
    *text = NULL;
    if (len) *len = 0;
    hf_work w;
    TRY(hf_work_init(&w, h));
    hf_buf out = {0};
    ttt_status s = hf_buf_put(&out, "", 0) ? OOM : TTT_OK;
    /* restart_after: each run of ids up to and including that id is decoded on its own */
    for (int64_t b = 0; b < n && s == TTT_OK;) {
        int64_t e = b;
        while (e < n && ids[e] != h->restart_after) e++;
        e = e < n ? e + 1 : n;
        s = decode_run(t, &w, ids + b, b, e - b, flags, &out);
        b = e;
    }
    hf_work_free(&w);
    if (s != TTT_OK) {
        free(out.p);
        return s;
    }
    out.p[out.n] = 0;
    *text = out.p;
    if (len) *len = out.n;
    return TTT_OK;
}
