/* checked.h: checked integer arithmetic for sizes that come from input (config values,
 * tensor shapes, flags, file headers). Every product or sum of dimensions goes through these
 * helpers, so an absurd input is refused with a message instead of wrapping around and
 * asking for a tiny (or enormous) allocation. */
#ifndef TTT_CORE_CHECKED_H
#define TTT_CORE_CHECKED_H

#include <stddef.h>
#include <stdint.h>

#include "ttt.h"

/* Raw forms: return 1 and store the result when it fits, 0 on overflow or negative input. */
static inline int ttt_i64_mul_ok(int64_t a, int64_t b, int64_t *out) {
    if (a < 0 || b < 0) return 0;
    return !__builtin_mul_overflow(a, b, out);
}
static inline int ttt_i64_add_ok(int64_t a, int64_t b, int64_t *out) {
    if (a < 0 || b < 0) return 0;
    return !__builtin_add_overflow(a, b, out);
}
static inline int ttt_sz_mul_ok(size_t a, size_t b, size_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}
static inline int ttt_sz_add_ok(size_t a, size_t b, size_t *out) {
    return !__builtin_add_overflow(a, b, out);
}

/* Status forms: *out = a * b (or a + b) for non-negative a, b; on overflow or a negative
 * operand, set the error "WHAT: ... is too large" and return TTT_ERR_ARG. */
ttt_status ttt_i64_mul(int64_t *out, int64_t a, int64_t b, const char *what);
ttt_status ttt_i64_add(int64_t *out, int64_t a, int64_t b, const char *what);
/* *out = product of n non-negative dims (n >= 0; the empty product is 1). */
ttt_status ttt_i64_prod(int64_t *out, const int64_t *dims, int n, const char *what);

#endif
