/* bpe.h: the byte-pair merge loop of the tokenizer engine (hf_bpe.c) and the trainer. A word
 * starts as a list of symbols; repeatedly the adjacent pair with the lowest merge rank is
 * replaced by its merged token, the leftmost pair first among equal ranks, until no pair can
 * merge. Short words use a plain scan (O(n^2)), long ones a binary heap with lazy deletion (O(n
 * log n)); both give identical results. */
#ifndef TTT_TOKENIZER_BPE_H
#define TTT_TOKENIZER_BPE_H

#include <stdint.h>

#define BPE_NO_MERGE INT64_MAX

typedef struct {
    int32_t id;        /* token id of the symbol */
    int32_t start;     /* byte range of the symbol within the word */
    int32_t end;
    int32_t prev, next;     /* neighbours in the list, -1 at the ends */
    int32_t merged;    /* id the pair (this, next) merges into */
    int64_t rank;      /* rank of the pair (this, next); BPE_NO_MERGE if none */
    uint32_t version;  /* bumped whenever rank changes (stale heap entries) */
} bpe_sym;

/* Rank of merging a with the symbol b that follows it, and the merged id; BPE_NO_MERGE if
 * the pair does not merge. */
typedef int64_t (*bpe_pair_fn)(const void *ctx, const bpe_sym *a, const bpe_sym *b, int32_t *merged);

typedef struct {
    int64_t rank;
    int32_t pos;
    uint32_t version;
} bpe_heap_item;

/* per-thread scratch space */
typedef struct {
    bpe_sym *syms;
    int64_t syms_cap;
    bpe_heap_item *heap;
    int64_t heap_cap, heap_n;
    int64_t scan_max; /* words up to this many symbols use the scan (tests change it) */
} bpe_work;

void bpe_work_init(bpe_work *w);
void bpe_work_free(bpe_work *w);
/* room for n symbols in w->syms; -1 when out of memory */
int bpe_work_reserve(bpe_work *w, int64_t n);

/* Merge the n symbols in w->syms (id, start, end set by the caller); the resulting ids go to
 * out (room for n). Returns their number, or -1 when out of memory. */
int64_t bpe_merge(bpe_work *w, int64_t n, bpe_pair_fn pair, const void *ctx, int32_t *out);

#endif
