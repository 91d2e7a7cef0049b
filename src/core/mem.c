/* mem.c: aligned allocation helpers, the grow-only buffer and peak-RSS readout. */
#include "core/mem.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "core/error.h"

void *ttt_malloc(size_t bytes, const char *what) {
    void *p = NULL;
    if (bytes == 0) bytes = TTT_ALIGN;
    if (posix_memalign(&p, TTT_ALIGN, bytes) != 0) {
        ttt_err(TTT_ERR_NOMEM, "out of memory allocating %zu bytes for %s", bytes, what);
        return NULL;
    }
    return p;
}

void *ttt_calloc(size_t bytes, const char *what) {
    void *p = ttt_malloc(bytes, what);
    if (p) memset(p, 0, bytes ? bytes : TTT_ALIGN);
    return p;
}

void ttt_free(void *p) { free(p); }

ttt_status ttt_buf_reserve(ttt_buf *b, size_t bytes, const char *what) {
    if (b->data && b->bytes >= bytes) return TTT_OK;
    void *p = ttt_malloc(bytes, what);
    if (!p) return TTT_ERR_NOMEM;
    free(b->data);
    b->data = p;
    b->bytes = bytes;
    return TTT_OK;
}

void ttt_buf_release(ttt_buf *b) {
    free(b->data);
    b->data = NULL;
    b->bytes = 0;
}

ttt_status ttt_size_mul(size_t *out, int64_t a, int64_t b, size_t elem, const char *what) {
    if (a < 0 || b < 0) return ttt_err(TTT_ERR_ARG, "%s: negative size", what);
    __uint128_t r = (__uint128_t)(uint64_t)a * (uint64_t)b * elem;
    if (r > (__uint128_t)(SIZE_MAX / 2))
        return ttt_err(TTT_ERR_NOMEM, "%s: size %lld x %lld is too large", what, (long long)a,
                       (long long)b);
    *out = (size_t)r;
    return TTT_OK;
}

size_t ttt_peak_rss_bytes(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (size_t)ru.ru_maxrss * 1024u;
}
