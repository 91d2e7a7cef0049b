/* checked.c: status-returning forms of the checked arithmetic in checked.h. */
#include "core/checked.h"

#include "core/error.h"

ttt_status ttt_i64_mul(int64_t *out, int64_t a, int64_t b, const char *what) {
    if (a < 0 || b < 0)
        return ttt_err(TTT_ERR_ARG, "%s: negative size (%lld x %lld)", what, (long long)a,
                       (long long)b);
    if (!ttt_i64_mul_ok(a, b, out))
        return ttt_err(TTT_ERR_ARG, "%s: %lld x %lld is too large (more than 2^63)", what,
                       (long long)a, (long long)b);
    return TTT_OK;
}

ttt_status ttt_i64_add(int64_t *out, int64_t a, int64_t b, const char *what) {
    if (a < 0 || b < 0)
        return ttt_err(TTT_ERR_ARG, "%s: negative size (%lld + %lld)", what, (long long)a,
                       (long long)b);
    if (!ttt_i64_add_ok(a, b, out))
        return ttt_err(TTT_ERR_ARG, "%s: %lld + %lld is too large (more than 2^63)", what,
                       (long long)a, (long long)b);
    return TTT_OK;
}

ttt_status ttt_i64_prod(int64_t *out, const int64_t *dims, int n, const char *what) {
    int64_t p = 1;
    for (int i = 0; i < n; i++) TRY(ttt_i64_mul(&p, p, dims[i], what));
    *out = p;
    return TTT_OK;
}
