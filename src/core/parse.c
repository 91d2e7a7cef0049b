/* parse.c: strict decimal integer parsing (see parse.h). */
#include "core/parse.h"

#include "core/error.h"

int ttt_parse_u64_ok(const char *s, uint64_t *out) {
    if (!s || !*s) return 0;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') return 0;
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10) return 0;
        v = v * 10 + d;
    }
    *out = v;
    return 1;
}

int ttt_parse_i64_ok(const char *s, int64_t lo, int64_t hi, int64_t *out) {
    if (!s) return 0;
    int neg = s[0] == '-';
    uint64_t mag;
    if (!ttt_parse_u64_ok(s + neg, &mag)) return 0;
    int64_t v;
    if (neg) {
        if (mag > (uint64_t)INT64_MAX + 1) return 0;
        v = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
    } else {
        if (mag > (uint64_t)INT64_MAX) return 0;
        v = (int64_t)mag;
    }
    if (v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

static const char *shown(const char *s) { return s ? s : "(nothing)"; }

ttt_status ttt_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out, const char *what) {
    if (ttt_parse_i64_ok(s, lo, hi, out)) return TTT_OK;
    return ttt_err(TTT_ERR_FORMAT, "%s must be an integer in [%lld, %lld], got '%.64s'", what,
                   (long long)lo, (long long)hi, shown(s));
}

ttt_status ttt_parse_u64(const char *s, uint64_t *out, const char *what) {
    if (ttt_parse_u64_ok(s, out)) return TTT_OK;
    return ttt_err(TTT_ERR_FORMAT, "%s must be an unsigned 64-bit integer, got '%.64s'", what,
                   shown(s));
}
