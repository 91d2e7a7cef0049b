/* hf_encode.c: encoding documents with a tokenizer.json. Each document is cut at its added
 * tokens (hf_added.c, contents that are not `normalized`); every section of text between them
 * is normalized, cut again at the normalized added tokens, pre-tokenized into pieces, and each
 * piece encoded by the BPE model. The sections of all documents are encoded in parallel on the
 * OpenMP threads (each with its own state and word cache) and joined in order, so the result
 * does not depend on the thread count. The post-processor's special tokens are added on request
 * (TTT_TOK_ADD_SPECIAL), as are BOS and EOS. With special_on_request (the built-in formats),
 * added tokens are matched only when the caller allows special tokens.
 *
 * A long section is normalized whole and then cut into segments of about tok_segment_bytes
 * before a line that starts with an ASCII letter or digit, encoded in parallel too, where that
 * gives the same tokens:
 *   - without pre-tokenizers, where the BPE model would cut its word there anyway (hf_bpe.c:
 *     next to a cut character, or next to a newline that falls back to bytes);
 *   - when the first pre-tokenizer is a regex (an Isolated Split, or ByteLevel's): each segment
 *     takes the regex's pieces from its start, with all the text visible to lookaheads, until
 *     one would start at or after its end; where the last piece ran past the end, the next
 *     segment is encoded again from there (the way tokenizer.c does it for tiktoken). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizer/hf.h"
#include "tokenizer/tok_impl.h"

#define OOM ttt_err(TTT_ERR_NOMEM, "out of memory while encoding")

typedef struct {
    int64_t doc;
    size_t b, e;      /* the section of text, or of base */
    int32_t added;    /* >= 0: this item is that added token */
    int32_t *ids;
    int64_t n;
    /* a segment of a normalized section: base[0, base_n) is all of it */
    const char *base;
    size_t base_n;
    int start;        /* the section begins the document */
    size_t stop;      /* regex segments: where the last piece ended */
} item;

typedef struct {
    item *v;
    int64_t n, cap;
} item_list;

static int add_item(item_list *l, item it) {
    if (l->n == l->cap) {
        int64_t c = l->cap ? 2 * l->cap : 64;
        item *v = realloc(l->v, (size_t)c * sizeof *v);
        if (!v) return -1;
        l->v = v;
        l->cap = c;
    }
    l->v[l->n++] = it;
    return 0;
}

/* pre-tokenize and encode normalized text */
static ttt_status encode_normalized(tok_state *st, const char *s, size_t n, int start) {
    const hf_tok *h = st->tok->hf;
    if (n == 0) return TTT_OK;
    hf_pieces *pc;
    TRY(hf_pretokenize(h, st->hf, s, n, start, &pc));
    for (int64_t i = 0; i < pc->n; i++) TRY(hf_bpe_piece(st, pc->text.p + pc->v[i].off, pc->v[i].len));
    return TTT_OK;
}

/* one section of text between added tokens; start: it begins the document */
static ttt_status encode_section(tok_state *st, const char *s, size_t n, int start) {
    const hf_tok *h = st->tok->hf;
    const char *ns = s;
    size_t nn = n;
    if (h->n_norm) TRY(hf_normalize(h, st->hf, s, n, &ns, &nn));
    if (!h->any_norm_added) return encode_normalized(st, ns, nn, start);
    /* normalized added tokens are matched in the normalized text; that text lives in a
     * normalizer buffer that pre-tokenizing does not touch */
    size_t pos = 0, b, e;
    int64_t k;
    while ((k = hf_added_find(h, &h->trie_norm, ns, nn, pos, &b, &e)) >= 0) {
        TRY(encode_normalized(st, ns + pos, b - pos, start && pos == 0));
        if (tok_out_push(st, &h->added[k].id, 1)) return OOM;
        pos = e;
    }
    return encode_normalized(st, ns + pos, nn - pos, start && pos == 0);
}

/* 0: long sections are not cut; 1: at word cuts (no pre-tokenizer); 2: after the regex */
static int seg_mode(const hf_tok *h) {
    if (h->any_norm_added) return 0;
    if (h->n_pre == 0) return h->cut_words ? 1 : 0;
    const hf_pre *p = &h->pre[0];
    if (p->type == HFP_SPLIT && p->pat.re >= 0 && p->behavior == HFB_ISOLATED && !p->invert) return 2;
    if (p->type == HFP_BYTELEVEL && p->use_regex && !p->add_prefix_space) return 2;
    return 0;
}

/* a place to cut a normalized section before s[i] (0 < i) */
static int seg_boundary(const hf_tok *h, int mode, const char *s, size_t i) {
    unsigned char c = (unsigned char)s[i];
    if (s[i - 1] != '\n' || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return 0;
    if (mode == 2) return 1;
    if (h->byte_cut && h->char_id['\n'] < 0) return 1; /* a newline falls back to bytes */
    uint32_t key[2] = {'\n', c};
    int64_t v;
    return !strmap_get(&h->cut_pairs, key, sizeof key, &v) && strmap_get(&h->vocab, s + i, 1, &v) &&
           strmap_get(&h->vocab, "\n", 1, &v);
}

typedef struct {
    tok_state *st;
    const char *base;
    int start;
    ttt_status s;
} regex_ctx;

/* a piece of the first pre-tokenizer: the later ones, then the model */
static int regex_piece(void *vctx, size_t b, size_t e, int is_match) {
    (void)is_match;
    regex_ctx *c = vctx;
    const hf_tok *h = c->st->tok->hf;
    hf_pieces *pc;
    c->s = hf_pretokenize_from(h, c->st->hf, c->base + b, e - b, c->start && b == 0, 1, &pc);
    for (int64_t i = 0; i < pc->n && c->s == TTT_OK; i++) c->s = hf_bpe_piece(c->st, pc->text.p + pc->v[i].off, pc->v[i].len);
    return c->s != TTT_OK;
}

/* encode item `it` (from byte `from` of a segment) into it->ids */
static ttt_status encode_item(tok_state *st, const char *const *texts, item *it, size_t from, int mode) {
    st->out_n = 0;
    ttt_status s;
    if (it->added >= 0) {
        s = tok_out_push(st, &it->added, 1) ? OOM : TTT_OK;
    } else if (!it->base) {
        s = encode_section(st, texts[it->doc] + it->b, it->e - it->b, it->b == 0);
    } else if (mode == 1) {
        s = hf_bpe_piece(st, it->base + from, it->e - from);
    } else {
        regex_ctx c = {st, it->base, it->start, TTT_OK};
        s = hf_regex_pieces(st->tok->hf, st->hf, it->base, it->base_n, from, it->e, regex_piece, &c, &it->stop);
        if (c.s != TTT_OK) s = c.s;
    }
    free(it->ids);
    it->ids = NULL;
    it->n = 0;
    if (s == TTT_OK && st->out_n > 0) {
        it->ids = malloc((size_t)st->out_n * sizeof *it->ids);
        if (!it->ids) return OOM;
        memcpy(it->ids, st->out, (size_t)st->out_n * sizeof *it->ids);
        it->n = st->out_n;
    }
    return s;
}

ttt_status hf_encode_batch(const ttt_tok *t, const char *const *texts, const size_t *lens, int64_t n_docs,
                           int flags, int32_t **ids, int64_t *n_ids) {
    const hf_tok *h = t->hf;
    for (int64_t d = 0; d < n_docs; d++) ids[d] = NULL, n_ids[d] = 0;
    item_list w = {0};
    size_t total = 0;
    int oom = 0;
    int match = !h->special_on_request || (flags & TTT_TOK_ALLOW_SPECIAL);
    for (int64_t d = 0; d < n_docs && !oom; d++) {
        const char *s = texts[d];
        size_t len = lens[d], pos = 0, b, e;
        int64_t k;
        total += len;
        while (!oom && match && (k = hf_added_find(h, &h->trie_raw, s, len, pos, &b, &e)) >= 0) {
            if (b > pos) oom |= add_item(&w, (item){.doc = d, .b = pos, .e = b, .added = -1});
            oom |= add_item(&w, (item){.doc = d, .b = b, .e = e, .added = h->added[k].id});
            pos = e;
        }
        if (!oom && pos < len) oom |= add_item(&w, (item){.doc = d, .b = pos, .e = len, .added = -1});
    }
    if (oom) {
        free(w.v);
        return OOM;
    }

    ttt_status status = TTT_OK;
    char msg[512] = "";
    int parallel = total >= ((size_t)128 << 10) && w.n >= 1;
    int mode = seg_mode(h);
    size_t seg = tok_segment_bytes;
    int64_t n_items0 = w.n; /* norm[] is indexed by these items */

    /* long sections: normalized whole (in parallel), then cut into segments */
    char **norm = NULL;
    size_t *norm_n = NULL;
    int64_t n_long = 0;
    for (int64_t i = 0; mode && i < w.n; i++) n_long += w.v[i].added < 0 && w.v[i].e - w.v[i].b > 2 * seg;
    if (n_long) {
        norm = calloc((size_t)w.n, sizeof *norm);
        norm_n = calloc((size_t)w.n, sizeof *norm_n);
        if (!norm || !norm_n) status = OOM;
    }
#pragma omp parallel if (parallel && n_long > 1)
    {
        hf_work hw;
        ttt_status s = n_long && status == TTT_OK ? hf_work_init(&hw, h) : TTT_ERR_ARG;
        int ok = s == TTT_OK;
#pragma omp for schedule(dynamic, 1)
        for (int64_t i = 0; i < w.n; i++) {
            item *it = &w.v[i];
            if (!ok || s != TTT_OK || it->added >= 0 || it->e - it->b <= 2 * seg) continue;
            const char *r;
            size_t rn;
            s = hf_normalize(h, &hw, texts[it->doc] + it->b, it->e - it->b, &r, &rn);
            if (s == TTT_OK && !(norm[i] = malloc(rn + 1))) s = OOM;
            if (s == TTT_OK) memcpy(norm[i], r, rn), norm_n[i] = rn;
        }
        if (ok && s != TTT_OK) {
#pragma omp critical(ttt_hf_encode_error)
            if (status == TTT_OK) {
                status = s;
                snprintf(msg, sizeof msg, "%s", ttt_last_error());
            }
        }
        if (ok) hf_work_free(&hw);
    }
    if (n_long && status == TTT_OK) {
        item_list w2 = {0};
        for (int64_t i = 0; i < w.n && !oom; i++) {
            item it = w.v[i];
            if (!norm[i]) {
                oom |= add_item(&w2, it);
                continue;
            }
            const char *s = norm[i];
            size_t n = norm_n[i], b = 0;
            while (b < n && !oom) {
                size_t e = n;
                if (n - b > 2 * seg) {
                    size_t k = b + seg;
                    while (k < n && !seg_boundary(h, mode, s, k)) k++;
                    e = n - k < seg / 2 ? n : k;
                }
                oom |= add_item(&w2, (item){.doc = it.doc, .b = b, .e = e, .added = -1, .base = s, .base_n = n,
                                            .start = it.b == 0, .stop = e});
                b = e;
            }
        }
        free(w.v);
        w = w2;
        if (oom) status = OOM;
    }

    if (status == TTT_OK) {
#pragma omp parallel if (parallel && w.n > 1)
        {
            tok_state st;
            ttt_status s = tok_state_init(&st, t);
#pragma omp for schedule(dynamic, 1)
            for (int64_t i = 0; i < w.n; i++)
                if (s == TTT_OK) s = encode_item(&st, texts, &w.v[i], w.v[i].b, mode);
            if (s != TTT_OK) {
#pragma omp critical(ttt_hf_encode_error)
                if (status == TTT_OK) {
                    status = s;
                    snprintf(msg, sizeof msg, "%s", ttt_last_error());
                }
            }
            tok_state_free(&st);
        }
    }
    /* regex segments: where the last piece of one ran past its end, encode the next again from there */
    tok_state fix;
    int has_fix = 0;
    for (int64_t i = 1; i < w.n && status == TTT_OK && mode == 2; i++) {
        item *prev = &w.v[i - 1], *it = &w.v[i];
        if (!it->base || prev->base != it->base || prev->stop == it->b) continue;
        if (!has_fix && (status = tok_state_init(&fix, t)) != TTT_OK) break;
        has_fix = 1;
        if (prev->stop >= it->e) { /* the piece covers this segment too */
            free(it->ids);
            it->ids = NULL;
            it->n = 0;
            it->stop = prev->stop;
            continue;
        }
        status = encode_item(&fix, texts, it, prev->stop, mode);
    }
    if (has_fix) tok_state_free(&fix);

    /* join, with the post-processor's tokens and BOS/EOS as asked */
    if (norm)
        for (int64_t i = 0; i < n_items0; i++) free(norm[i]);
    free(norm);
    free(norm_n);
    int special = (flags & TTT_TOK_ADD_SPECIAL) != 0;
    int bos = (flags & TTT_TOK_ADD_BOS) && t->bos >= 0, eos = (flags & TTT_TOK_ADD_EOS) && t->eos >= 0;
    int64_t n_pre = bos + (special ? h->n_post_pre : 0), n_post = eos + (special ? h->n_post_post : 0);
    int32_t *pre = malloc((size_t)(n_pre + 1) * sizeof *pre), *post = malloc((size_t)(n_post + 1) * sizeof *post);
    tok_part *parts = malloc((size_t)(w.n ? w.n : 1) * sizeof *parts);
    if (!pre || !post || !parts) {
        for (int64_t i = 0; i < w.n; i++) free(w.v[i].ids);
        free(w.v), free(pre), free(post), free(parts);
        return OOM;
    }
    int64_t k = 0;
    if (bos) pre[k++] = t->bos;
    for (int64_t i = 0; special && i < h->n_post_pre; i++) pre[k++] = h->post_pre[i];
    k = 0;
    for (int64_t i = 0; special && i < h->n_post_post; i++) post[k++] = h->post_post[i];
    if (eos) post[k++] = t->eos;
    for (int64_t i = 0; i < w.n; i++) parts[i] = (tok_part){w.v[i].doc, w.v[i].ids, w.v[i].n};
    int64_t nw = w.n;
    free(w.v);
    status = tok_join(parts, nw, n_docs, pre, n_pre, post, n_post, status, msg, ids, n_ids);
    free(pre);
    free(post);
    return status;
}
