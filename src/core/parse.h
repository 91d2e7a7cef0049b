/* parse.h: the one strict integer parser. A value is an optional '-' followed by decimal
 * digits and nothing else: no spaces, no '+', no trailing text ("2x"), no empty string, and it
 * must lie in [lo, hi]. Used for flags, training state and every other number read as text. */
#ifndef TTT_CORE_PARSE_H
#define TTT_CORE_PARSE_H

#include <stdint.h>

#include "ttt.h"

/* 1 if s is a strict decimal integer in [lo, hi] (stored in *out), else 0. */
int ttt_parse_i64_ok(const char *s, int64_t lo, int64_t hi, int64_t *out);
int ttt_parse_u64_ok(const char *s, uint64_t *out);
/* Status form: on failure "WHAT must be an integer in [lo, hi], got 'S'". */
ttt_status ttt_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out, const char *what);
/* Unsigned 64-bit value (digits only), e.g. a checksum or an RNG state. */
ttt_status ttt_parse_u64(const char *s, uint64_t *out, const char *what);

#endif
