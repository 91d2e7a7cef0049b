/* strmap.h: open-addressing hash map from byte strings to int64 values, with the keys copied
 * into one growing blob. Holds the tokenizer engine's vocabularies and merge tables and the
 * per-thread caches of encoded words. Not thread-safe for writers; lookups on a map that is
 * no longer modified may run on many threads. */
#ifndef TTT_TOKENIZER_STRMAP_H
#define TTT_TOKENIZER_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t hash;  /* 0 marks an empty slot */
    uint64_t off;   /* key bytes at blob + off */
    uint32_t len;
    int64_t value;
} strmap_slot;

typedef struct {
    strmap_slot *slots;
    uint64_t cap;   /* power of two */
    int64_t n;
    unsigned char *blob;
    size_t blob_len, blob_cap;
} strmap;

uint64_t strmap_hash(const void *key, size_t len);

/* 0 on success, -1 when out of memory */
int strmap_init(strmap *m, int64_t expected);
void strmap_free(strmap *m);
void strmap_clear(strmap *m);
/* Insert or overwrite. 0 on success, -1 when out of memory (or a key over 4 GiB). */
int strmap_put(strmap *m, const void *key, size_t len, int64_t value);
/* 1 and *value if present, else 0 */
int strmap_get(const strmap *m, const void *key, size_t len, int64_t *value);

#endif
