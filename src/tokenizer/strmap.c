/* strmap.c: byte-string hash map with linear probing (see strmap.h). */
#include "tokenizer/strmap.h"

#include <stdlib.h>
#include <string.h>

static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* 8 bytes at a time, then the tail; never returns 0 (0 marks an empty slot) */
uint64_t strmap_hash(const void *key, size_t len) {
    const unsigned char *p = key;
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ (uint64_t)len;
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = mix64(h ^ w) * 0x9E3779B97F4A7C15ULL;
        p += 8, len -= 8;
    }
    uint64_t w = 0;
    for (size_t i = 0; i < len; i++) w |= (uint64_t)p[i] << (8 * i);
    h = mix64(h ^ w ^ 0xA5A5A5A5ULL);
    return h ? h : 1;
}

int strmap_init(strmap *m, int64_t expected) {
    memset(m, 0, sizeof *m);
    uint64_t cap = 16;
    while ((int64_t)cap < expected * 2) cap <<= 1;
    m->slots = calloc(cap, sizeof *m->slots);
    if (!m->slots) return -1;
    m->cap = cap;
    return 0;
}

void strmap_free(strmap *m) {
    free(m->slots);
    free(m->blob);
    memset(m, 0, sizeof *m);
}

void strmap_clear(strmap *m) {
    memset(m->slots, 0, m->cap * sizeof *m->slots);
    m->n = 0;
    m->blob_len = 0;
}

static strmap_slot *find(const strmap *m, const void *key, size_t len, uint64_t h) {
    uint64_t mask = m->cap - 1;
    for (uint64_t i = h & mask;; i = (i + 1) & mask) {
        strmap_slot *s = &m->slots[i];
        if (s->hash == 0) return s;
        if (s->hash == h && s->len == len && (len == 0 || memcmp(m->blob + s->off, key, len) == 0))
            return s;
    }
}

static int grow(strmap *m) {
    uint64_t ncap = m->cap * 2;
    strmap_slot *ns = calloc(ncap, sizeof *ns);
    if (!ns) return -1;
    for (uint64_t i = 0; i < m->cap; i++) {
        strmap_slot *s = &m->slots[i];
        if (!s->hash) continue;
        uint64_t j = s->hash & (ncap - 1);
        while (ns[j].hash) j = (j + 1) & (ncap - 1);
        ns[j] = *s;
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return 0;
}

int strmap_put(strmap *m, const void *key, size_t len, int64_t value) {
    if (len > UINT32_MAX) return -1;
    if ((uint64_t)(m->n + 1) * 2 > m->cap && grow(m)) return -1;
    uint64_t h = strmap_hash(key, len);
    strmap_slot *s = find(m, key, len, h);
    if (s->hash) {
        s->value = value;
        return 0;
    }
    if (m->blob_len + len > m->blob_cap) {
        size_t nc = m->blob_cap ? m->blob_cap * 2 : 4096;
        while (nc < m->blob_len + len) nc *= 2;
        unsigned char *nb = realloc(m->blob, nc);
        if (!nb) return -1;
        m->blob = nb;
        m->blob_cap = nc;
    }
    if (len) memcpy(m->blob + m->blob_len, key, len);
    s->hash = h;
    s->off = m->blob_len;
    s->len = (uint32_t)len;
    s->value = value;
    m->blob_len += len;
    m->n++;
    return 0;
}

int strmap_get(const strmap *m, const void *key, size_t len, int64_t *value) {
    if (!m->slots) return 0;
    strmap_slot *s = find(m, key, len, strmap_hash(key, len));
    if (!s->hash) return 0;
    *value = s->value;
    return 1;
}
