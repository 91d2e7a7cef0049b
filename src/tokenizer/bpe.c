/* bpe.c: lowest-rank-first pair merging (see bpe.h). */
#include "tokenizer/bpe.h"

#include <stdlib.h>

void bpe_work_init(bpe_work *w) {
    w->syms = NULL;
    w->syms_cap = 0;
    w->heap = NULL;
    w->heap_cap = w->heap_n = 0;
    w->scan_max = 24;
}

void bpe_work_free(bpe_work *w) {
    free(w->syms);
    free(w->heap);
    bpe_work_init(w);
}

int bpe_work_reserve(bpe_work *w, int64_t n) {
    if (n <= w->syms_cap) return 0;
    int64_t cap = w->syms_cap ? w->syms_cap : 64;
    while (cap < n) cap *= 2;
    if (n > ((int64_t)1 << 20)) cap = n; /* a huge piece: exactly its size (40 bytes a byte), not twice */
    bpe_sym *s = realloc(w->syms, (size_t)cap * sizeof *s);
    if (!s) return -1;
    w->syms = s;
    w->syms_cap = cap;
    return 0;
}

/* heap order: lower rank first, then lower position (= further left) */
static inline int heap_less(const bpe_heap_item *a, const bpe_heap_item *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

/* room for n entries in the heap; -1 when out of memory */
static int heap_reserve(bpe_work *w, int64_t n) {
    if (n <= w->heap_cap) return 0;
    int64_t cap = w->heap_cap ? w->heap_cap : 256;
    while (cap < n) cap *= 2;
    if (n > ((int64_t)1 << 20)) cap = n + n / 4; /* a huge word: a quarter more, not twice */
    bpe_heap_item *h = realloc(w->heap, (size_t)cap * sizeof *h);
    if (!h) return -1;
    w->heap = h;
    w->heap_cap = cap;
    return 0;
}

/* move entry i down to its place (its children are heaps) */
static void heap_sift_down(bpe_work *w, int64_t i) {
    bpe_heap_item *h = w->heap, it = h[i];
    int64_t n = w->heap_n;
    for (;;) {
        int64_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && heap_less(&h[c + 1], &h[c])) c++;
        if (!heap_less(&h[c], &it)) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = it;
}

static int heap_push(bpe_work *w, int64_t rank, int32_t pos, uint32_t version) {
    if (w->heap_n == w->heap_cap && heap_reserve(w, w->heap_n + 1)) return -1;
    bpe_heap_item *h = w->heap, it = {rank, pos, version};
    int64_t i = w->heap_n++;
    while (i > 0) {
        int64_t p = (i - 1) / 2;
        if (!heap_less(&it, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = it;
    return 0;
}

static bpe_heap_item heap_pop(bpe_work *w) {
    bpe_heap_item top = w->heap[0];
    w->heap[0] = w->heap[--w->heap_n];
    if (w->heap_n > 0) heap_sift_down(w, 0);
    return top;
}

static inline void set_rank(bpe_sym *s, int32_t i, bpe_pair_fn pair, const void *ctx) {
    bpe_sym *a = &s[i];
    a->version++;
    a->rank = a->next >= 0 ? pair(ctx, a, &s[a->next], &a->merged) : BPE_NO_MERGE;
}

/* replace symbol i and its successor by the merged token */
static inline void merge_at(bpe_sym *s, int32_t i) {
    bpe_sym *a = &s[i], *b = &s[a->next];
    a->id = a->merged;
    a->end = b->end;
    a->next = b->next;
    if (b->next >= 0) s[b->next].prev = i;
    b->version++;
    b->rank = BPE_NO_MERGE;
    b->prev = b->next = -1;
}

int64_t bpe_merge(bpe_work *w, int64_t n, bpe_pair_fn pair, const void *ctx, int32_t *out) {
    bpe_sym *s = w->syms;
    if (n <= 0) return 0;
    for (int32_t i = 0; i < n; i++) {
        s[i].prev = i - 1;
        s[i].next = i + 1 < n ? i + 1 : -1;
        s[i].version = 0;
    }
    for (int32_t i = 0; i < n; i++) set_rank(s, i, pair, ctx);

    if (n <= w->scan_max) {
        for (;;) {
            int32_t best = -1;
            int64_t best_rank = BPE_NO_MERGE;
            for (int32_t i = 0; i >= 0; i = s[i].next)
                if (s[i].rank < best_rank) best_rank = s[i].rank, best = i;
            if (best < 0) break;
            merge_at(s, best);
            set_rank(s, best, pair, ctx);
            if (s[best].prev >= 0) set_rank(s, s[best].prev, pair, ctx);
        }
    } else {
        /* the first entries in position order, then a bottom-up heapify: O(n) instead of
         * n pushes, the same heap order (rank, then position), so the same merges */
        if (heap_reserve(w, n)) return -1;
        w->heap_n = 0;
        for (int32_t i = 0; i < n; i++)
            if (s[i].rank != BPE_NO_MERGE) w->heap[w->heap_n++] = (bpe_heap_item){s[i].rank, i, s[i].version};
        for (int64_t i = w->heap_n / 2 - 1; i >= 0; i--) heap_sift_down(w, i);
        while (w->heap_n > 0) {
            bpe_heap_item it = heap_pop(w);
            bpe_sym *a = &s[it.pos];
            if (a->version != it.version || a->rank == BPE_NO_MERGE) continue; /* stale */
            merge_at(s, it.pos);
            set_rank(s, it.pos, pair, ctx);
            if (a->rank != BPE_NO_MERGE && heap_push(w, a->rank, it.pos, a->version)) return -1;
            int32_t p = a->prev;
            if (p >= 0) {
                set_rank(s, p, pair, ctx);
                if (s[p].rank != BPE_NO_MERGE && heap_push(w, s[p].rank, p, s[p].version)) return -1;
            }
        }
    }
    int64_t k = 0;
    for (int32_t i = 0; i >= 0; i = s[i].next) out[k++] = s[i].id;
    return k;
}
