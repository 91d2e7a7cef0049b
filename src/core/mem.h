/* mem.h: aligned allocation that reports failures as ttt_status, and a grow-only buffer.
 * First touch of fresh pages is expensive on the target machines, so large buffers are
 * allocated once (grow-only) and reused across calls. */
#ifndef TTT_CORE_MEM_H
#define TTT_CORE_MEM_H

#include <stddef.h>
#include <stdint.h>

#include "ttt.h"

#define TTT_ALIGN 64

/* Allocate bytes (aligned to 64); on failure sets the error and returns NULL. */
void *ttt_malloc(size_t bytes, const char *what);
void *ttt_calloc(size_t bytes, const char *what);
void ttt_free(void *p);

/* A buffer that only grows: ttt_buf_reserve keeps the contents' storage when big enough. */
typedef struct {
    void *data;
    size_t bytes;
} ttt_buf;
ttt_status ttt_buf_reserve(ttt_buf *b, size_t bytes, const char *what);
void ttt_buf_release(ttt_buf *b);

/* Checked size arithmetic: a * b * elem as size_t, failing on overflow. */
ttt_status ttt_size_mul(size_t *out, int64_t a, int64_t b, size_t elem, const char *what);

/* Peak resident set size of this process in bytes (0 if unknown). */
size_t ttt_peak_rss_bytes(void);

#endif
