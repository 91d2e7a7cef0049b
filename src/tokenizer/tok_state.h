/* tok_state.h: the per-thread encoding state of the tokenizer engine (BPE scratch, the
 * pipeline's buffers, the cache of merged words, the current segment's ids) and the helpers the
 * encoder (hf_*.c) builds its output with; hf_encode.c gives each encoding thread one. */
#ifndef TTT_TOKENIZER_TOK_STATE_H
#define TTT_TOKENIZER_TOK_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer/bpe.h"
#include "tokenizer/pretok.h"
#include "tokenizer/strmap.h"
#include "ttt_tokenizer.h"

/* per-thread encoding state */
typedef struct {
    bpe_work bpe;
    strmap cache;           /* word key -> (offset into cache_ids << 20 | count) */
    int32_t *cache_ids;
    int64_t cache_n, cache_cap;
    int32_t *out;           /* the current segment's ids */
    int64_t out_n, out_cap;
    int32_t *tmp;           /* BPE output of one word */
    int64_t tmp_cap;
    const unsigned char *word; /* the word being merged (rank_by_bytes: pair callback context) */
    const ttt_tok *tok;
    struct hf_work *hf;     /* the pipeline's state (hf.h) */
} tok_state;

ttt_status tok_state_init(tok_state *st, const ttt_tok *t);
void tok_state_free(tok_state *st);
/* append ids to st->out; -1 when out of memory */
int tok_out_push(tok_state *st, const int32_t *ids, int64_t n);
/* 1 if the word with these key bytes is in the cache (its ids are then appended to st->out),
 * 0 if not, -1 when out of memory */
int tok_cache_lookup(tok_state *st, const void *key, size_t key_len);
/* encode one word through the cache: key bytes identify it, syms in st->bpe hold its n
 * initial symbols; the merged ids are appended to st->out */
int tok_merge_cached(tok_state *st, const void *key, size_t key_len, int64_t n, bpe_pair_fn fn);

/* one encoded stretch of document `doc` (a segment, a section, a special token) */
typedef struct {
    int64_t doc;
    int32_t *ids; /* malloc'd, or NULL when n == 0 */
    int64_t n;
} tok_part;

/* Join the parts (in document order) into ids[d] / n_ids[d] for each of the n_docs documents,
 * with pre[0, n_pre) before each and post[0, n_post) after it, and free every part's ids and
 * the array. `status` is the encoding's so far: when it is not TTT_OK (or memory runs out
 * here), nothing is returned (ids[d] NULL) and the status comes back with `msg` as its message
 * (if msg is not empty). */
ttt_status tok_join(tok_part *parts, int64_t n_parts, int64_t n_docs, const int32_t *pre, int64_t n_pre,
                    const int32_t *post, int64_t n_post, ttt_status status, const char *msg, int32_t **ids,
                    int64_t *n_ids);

#endif
