/* test_tokenizer_util.h: helpers of the tokenizer and data tests: where the fetched data is
 * (TTT_DATA or ./data), loading a fetched tokenizer or skipping with the reason, whole files. */
#ifndef TTT_TESTS_TOKENIZER_UTIL_H
#define TTT_TESTS_TOKENIZER_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "ttt_tokenizer.h"

/* path under the data directory (static buffer rotation of 8) */
const char *tdata(const char *rel);
/* 1 if the file or directory exists */
int tdata_exists(const char *path);
/* Load tokenizer NAME ("r50k_base", "p50k_base", "cl100k_base", "o200k_base", "llama2") from
 * data/tok: TEST_PASS with *t set, TEST_SKIP (reason printed) when the data is not fetched,
 * TEST_FAIL when it does not load. */
int tdata_tok(const char *name, ttt_tok **t);
/* whole file (NUL-terminated), NULL if unreadable */
char *tdata_read(const char *path, size_t *len);
/* 1 in the AddressSanitizer build (long corpus loops are cut short there) */
int tdata_sanitized(void);
/* first position where a and b differ, -1 if equal (lengths na, nb) */
int64_t tdata_first_diff_i32(const int32_t *a, int64_t na, const int32_t *b, int64_t nb);

#define TOKENIZER_NAMES {"r50k_base", "p50k_base", "cl100k_base", "o200k_base", "llama2"}

#endif
