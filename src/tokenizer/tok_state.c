/* tok_state.c: the per-thread encoding state (see tok_state.h): setup and release, the
 * output ids of a segment, and merging a word through the per-thread cache. */
#include "tokenizer/tok_state.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizer/hf.h"
#include "tokenizer/tok_impl.h"

#define CACHE_MAX_KEY 256              /* longer words are not cached */
#define CACHE_MAX_ENTRIES (1 << 20)    /* the cache is emptied when it grows past this */

ttt_status tok_state_init(tok_state *st, const ttt_tok *t) {
    memset(st, 0, sizeof *st);
    st->tok = t;
    bpe_work_init(&st->bpe);
    if (strmap_init(&st->cache, 4096)) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    st->hf = malloc(sizeof *st->hf);
    if (!st->hf) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    ttt_status s = hf_work_init(st->hf, t->hf);
    if (s != TTT_OK) {
        free(st->hf);
        st->hf = NULL;
    }
    return s;
}

void tok_state_free(tok_state *st) {
    bpe_work_free(&st->bpe);
    strmap_free(&st->cache);
    free(st->cache_ids);
    free(st->out);
    free(st->tmp);
    if (st->hf) hf_work_free(st->hf);
    free(st->hf);
    memset(st, 0, sizeof *st);
}

static int grow_i32(int32_t **p, int64_t *cap, int64_t need) {
    if (need <= *cap) return 0;
    int64_t c = *cap ? *cap : 1024;
    while (c < need) c *= 2;
    int32_t *q = realloc(*p, (size_t)c * sizeof *q);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

int tok_out_push(tok_state *st, const int32_t *ids, int64_t n) {
    if (grow_i32(&st->out, &st->out_cap, st->out_n + n)) return -1;
    memcpy(st->out + st->out_n, ids, (size_t)n * sizeof *ids);
    st->out_n += n;
    return 0;
}

int tok_cache_lookup(tok_state *st, const void *key, size_t key_len) {
    int64_t v;
    if (key_len > CACHE_MAX_KEY || !strmap_get(&st->cache, key, key_len, &v)) return 0;
    return tok_out_push(st, st->cache_ids + (v >> 20), v & ((1 << 20) - 1)) ? -1 : 1;
}

int tok_merge_cached(tok_state *st, const void *key, size_t key_len, int64_t n, bpe_pair_fn fn) {
    int cacheable = key_len <= CACHE_MAX_KEY;
    int hit = tok_cache_lookup(st, key, key_len);
    if (hit) return hit < 0 ? -1 : 0;
    if (grow_i32(&st->tmp, &st->tmp_cap, n)) return -1;
    int64_t k = bpe_merge(&st->bpe, n, fn, st, st->tmp);
    if (k < 0) return -1;
    if (cacheable) {
        if (st->cache.n >= CACHE_MAX_ENTRIES) {
            strmap_clear(&st->cache);
            st->cache_n = 0;
        }
        if (grow_i32(&st->cache_ids, &st->cache_cap, st->cache_n + k)) return -1;
        memcpy(st->cache_ids + st->cache_n, st->tmp, (size_t)k * sizeof *st->tmp);
        if (strmap_put(&st->cache, key, key_len, st->cache_n << 20 | k)) return -1;
        st->cache_n += k;
    }
    return tok_out_push(st, st->tmp, k);
}

ttt_status tok_join(tok_part *parts, int64_t n_parts, int64_t n_docs, const int32_t *pre, int64_t n_pre,
                    const int32_t *post, int64_t n_post, ttt_status status, const char *msg, int32_t **ids,
                    int64_t *n_ids) {
    for (int64_t d = 0; d < n_docs; d++) ids[d] = NULL, n_ids[d] = 0;
    int64_t *count = calloc((size_t)(n_docs ? n_docs : 1), sizeof *count);
    if (status == TTT_OK && !count) status = ttt_err(TTT_ERR_NOMEM, "out of memory"), msg = "";
    if (status == TTT_OK) {
        for (int64_t i = 0; i < n_parts; i++) count[parts[i].doc] += parts[i].n;
        for (int64_t d = 0; d < n_docs && status == TTT_OK; d++) {
            ids[d] = malloc((size_t)(count[d] + n_pre + n_post + 1) * sizeof **ids);
            if (!ids[d]) status = ttt_err(TTT_ERR_NOMEM, "out of memory"), msg = "";
            else if (n_pre) memcpy(ids[d], pre, (size_t)n_pre * sizeof *pre), n_ids[d] = n_pre;
        }
    }
    for (int64_t i = 0; i < n_parts; i++) {
        tok_part *p = &parts[i];
        if (status == TTT_OK && p->n) {
            memcpy(ids[p->doc] + n_ids[p->doc], p->ids, (size_t)p->n * sizeof *p->ids);
            n_ids[p->doc] += p->n;
        }
        free(p->ids);
    }
    free(parts);
    free(count);
    if (status == TTT_OK) {
        for (int64_t d = 0; d < n_docs; d++)
            if (n_post) memcpy(ids[d] + n_ids[d], post, (size_t)n_post * sizeof *post), n_ids[d] += n_post;
        return TTT_OK;
    }
    for (int64_t d = 0; d < n_docs; d++) free(ids[d]), ids[d] = NULL, n_ids[d] = 0;
    if (msg && msg[0]) ttt_err(status, "%s", msg);
    return status;
}
