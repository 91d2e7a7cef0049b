/* hf_util.c: small pieces the tokenizer.json stages share: byte buffers and piece lists, the
 * GPT-2 byte alphabet, characters of possibly invalid UTF-8, White_Space, and the per-thread
 * pipeline state (hf.h). */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizer/hf.h"
#include "tokenizer/utf8.h"

int hf_buf_put(hf_buf *b, const void *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 256;
        while (c < b->n + n + 1) {
            if (c > SIZE_MAX / 2) return -1;
            c *= 2;
        }
        char *q = realloc(b->p, c);
        if (!q) return -1;
        b->p = q;
        b->cap = c;
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return 0;
}

int hf_pieces_add(hf_pieces *p, const void *s, size_t n, int start) {
    if (p->n == p->cap) {
        int64_t c = p->cap ? 2 * p->cap : 64;
        hf_span *v = realloc(p->v, (size_t)c * sizeof *v);
        if (!v) return -1;
        p->v = v;
        p->cap = c;
    }
    size_t off = p->text.n;
    if (hf_buf_put(&p->text, s, n)) return -1;
    p->v[p->n++] = (hf_span){off, n, start};
    return 0;
}

void hf_pieces_free(hf_pieces *p) {
    free(p->text.p);
    free(p->v);
    memset(p, 0, sizeof *p);
}

/* GPT-2's bytes_to_unicode: the printable bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for
 * themselves; the other 68 bytes, in order, for U+0100, U+0101, ... */
static int printable(int b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); }

/* the other bytes are 0x00-0x20 (33), 0x7F-0xA0 (34) and 0xAD (1) */
uint32_t hf_byte_to_cp(unsigned char b) {
    if (printable(b)) return b;
    if (b <= 0x20) return 0x100u + b;
    if (b >= 0x7F && b <= 0xA0) return 0x100u + 33 + (uint32_t)(b - 0x7F);
    return 0x100u + 67; /* 0xAD */
}

int hf_cp_to_byte(uint32_t cp) {
    if (cp < 0x100) return printable((int)cp) ? (int)cp : -1;
    uint32_t k = cp - 0x100;
    if (k < 33) return (int)k;
    if (k < 67) return (int)(0x7F + k - 33);
    return k == 67 ? 0xAD : -1;
}

int hf_is_space(uint32_t cp) {
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
           cp == 0x3000;
}

int hf_next_char(const char *s, size_t n, size_t i, uint32_t *cp) {
    int k = utf8_decode((const unsigned char *)s + i, n - i, cp);
    if (k) return k;
    *cp = 0xFFFFFFFFu;
    return 1;
}

ttt_status hf_work_init(hf_work *w, const hf_tok *h) {
    memset(w, 0, sizeof *w);
    if (h->n_re) {
        w->pst = calloc((size_t)h->n_re, sizeof *w->pst);
        if (!w->pst) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < h->n_re; i++) {
        ttt_status s = pretok_state_init(&w->pst[i], &h->re[i]);
        if (s != TTT_OK) {
            hf_work_free(w);
            return s;
        }
        w->n_pst = i + 1;
    }
    return TTT_OK;
}

void hf_work_free(hf_work *w) {
    for (int i = 0; i < w->n_pst; i++) pretok_state_free(&w->pst[i]);
    free(w->pst);
    for (int i = 0; i < 2; i++) free(w->nb[i].p), hf_pieces_free(&w->pc[i]);
    free(w->tmp.p);
    memset(w, 0, sizeof *w);
}
