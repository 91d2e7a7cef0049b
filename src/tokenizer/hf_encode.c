/* hf_encode.c: encoding documents with a tokenizer.json. Each document is cut at its added
 * tokens (hf_added.c, contents that are not `normalized`); every section of text between them
 * is normalized, cut again at the normalized added tokens, pre-tokenized into pieces, and each
 * piece encoded by the BPE model. The sections of all documents are encoded in parallel on the
 * OpenMP threads (each with its own state and word cache) and joined in order, so the result
 * does not depend on the thread count. The post-processor's special tokens are added on request
 * (TTT_TOK_ADD_SPECIAL), as are BOS and EOS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizer/hf.h"
#include "tokenizer/tok_impl.h"

#define OOM ttt_err(TTT_ERR_NOMEM, "out of memory while encoding")

typedef struct {
    int64_t doc;
    size_t b, e;      /* the section of text */
    int32_t added;    /* >= 0: this item is that added token */
    int32_t *ids;
    int64_t n;
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

ttt_status hf_encode_batch(const ttt_tok *t, const char *const *texts, const size_t *lens, int64_t n_docs,
                           int flags, int32_t **ids, int64_t *n_ids) {
    const hf_tok *h = t->hf;
    for (int64_t d = 0; d < n_docs; d++) ids[d] = NULL, n_ids[d] = 0;
    item_list w = {0};
    size_t total = 0;
    int oom = 0;
    for (int64_t d = 0; d < n_docs && !oom; d++) {
        const char *s = texts[d];
        size_t len = lens[d], pos = 0, b, e;
        int64_t k;
        total += len;
        while (!oom && (k = hf_added_find(h, &h->trie_raw, s, len, pos, &b, &e)) >= 0) {
            if (b > pos) oom |= add_item(&w, (item){d, pos, b, -1, NULL, 0});
            oom |= add_item(&w, (item){d, b, e, h->added[k].id, NULL, 0});
            pos = e;
        }
        if (!oom && pos < len) oom |= add_item(&w, (item){d, pos, len, -1, NULL, 0});
    }
    if (oom) {
        free(w.v);
        return OOM;
    }

    ttt_status status = TTT_OK;
    char msg[512] = "";
    int parallel = total >= ((size_t)128 << 10) && w.n > 1;
#pragma omp parallel if (parallel)
    {
        tok_state st;
        ttt_status s = tok_state_init(&st, t);
#pragma omp for schedule(dynamic, 1)
        for (int64_t i = 0; i < w.n; i++) {
            item *it = &w.v[i];
            if (s != TTT_OK) continue;
            st.out_n = 0;
            if (it->added >= 0) s = tok_out_push(&st, &it->added, 1) ? OOM : TTT_OK;
            else s = encode_section(&st, texts[it->doc] + it->b, it->e - it->b, it->b == 0);
            if (s == TTT_OK && st.out_n > 0) {
                it->ids = malloc((size_t)st.out_n * sizeof *it->ids);
                if (!it->ids) s = OOM;
                else memcpy(it->ids, st.out, (size_t)st.out_n * sizeof *it->ids), it->n = st.out_n;
            }
        }
        if (s != TTT_OK) {
#pragma omp critical(ttt_hf_encode_error)
            if (status == TTT_OK) {
                status = s;
                snprintf(msg, sizeof msg, "%s", ttt_last_error());
            }
        }
        tok_state_free(&st);
    }

    /* join, with the post-processor's tokens and BOS/EOS as asked */
    int special = (flags & TTT_TOK_ADD_SPECIAL) != 0;
    int bos = (flags & TTT_TOK_ADD_BOS) && t->bos >= 0, eos = (flags & TTT_TOK_ADD_EOS) && t->eos >= 0;
    int64_t extra = bos + eos + (special ? h->n_post_pre + h->n_post_post : 0);
    int64_t *count = calloc((size_t)(n_docs ? n_docs : 1), sizeof *count);
    if (status == TTT_OK && !count) status = OOM;
    if (status == TTT_OK) {
        for (int64_t i = 0; i < w.n; i++) count[w.v[i].doc] += w.v[i].n;
        for (int64_t d = 0; d < n_docs && status == TTT_OK; d++) {
            ids[d] = malloc((size_t)(count[d] + extra + 1) * sizeof **ids);
            if (!ids[d]) {
                status = OOM;
                break;
            }
            if (bos) ids[d][n_ids[d]++] = t->bos;
            if (special)
                for (int64_t k = 0; k < h->n_post_pre; k++) ids[d][n_ids[d]++] = h->post_pre[k];
        }
    }
    for (int64_t i = 0; i < w.n; i++) {
        item *it = &w.v[i];
        if (status == TTT_OK && it->n) {
            memcpy(ids[it->doc] + n_ids[it->doc], it->ids, (size_t)it->n * sizeof *it->ids);
            n_ids[it->doc] += it->n;
        }
        free(it->ids);
    }
    free(w.v);
    free(count);
    if (status == TTT_OK) {
        for (int64_t d = 0; d < n_docs; d++) {
            if (special)
                for (int64_t k = 0; k < h->n_post_post; k++) ids[d][n_ids[d]++] = h->post_post[k];
            if (eos) ids[d][n_ids[d]++] = t->eos;
        }
        return TTT_OK;
    }
    for (int64_t d = 0; d < n_docs; d++) free(ids[d]), ids[d] = NULL, n_ids[d] = 0;
    if (msg[0]) ttt_err(status, "%s", msg);
    return status;
}
