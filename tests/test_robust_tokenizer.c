/* test_robust_tokenizer.c: valid text that used to be refused (issue 16): a whitespace run of
 * more than ten million bytes made PCRE2 stop with "match limit exceeded" in cl100k_base and
 * o200k_base, whose pattern \s+(?!\S) backtracks once per byte of the run. The run is one
 * piece of the same pattern now; the tokens decode back to the text and end with the token of
 * " x", as the pattern's split says. (The sanitizer build uses a shorter run: it checks the
 * same structure without the ten-million-step case.) */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "test_tokenizer_util.h"

static int long_space_run(const char *name) {
    ttt_tok *t;
    int r = tdata_tok(name, &t);
    if (r != TEST_PASS) return r;
    size_t n = tdata_sanitized() ? (size_t)1 << 16 : (size_t)11 << 20; /* above the old 10^7 limit */
    char *text = malloc(n + 1);
    memset(text, ' ', n);
    text[n] = 'x';
    int32_t *ids = NULL, *tail = NULL;
    int64_t k = 0, kt = 0;
    ttt_status s = ttt_tok_encode(t, text, n + 1, 0, &ids, &k);
    int ok = s == TTT_OK;
    if (!ok) test_fail("%s: %zu spaces and 'x': %s", name, n, ttt_last_error());
    ok = ok && ttt_tok_encode(t, " x", 2, 0, &tail, &kt) == TTT_OK && kt == 1;
    if (ok && ids[k - 1] != tail[0]) {
        test_fail("%s: the last token is %d, not the token %d of \" x\"", name, ids[k - 1], tail[0]);
        ok = 0;
    }
    char *back = NULL;
    size_t bl = 0;
    if (ok && (ttt_tok_decode(t, ids, k, 0, &back, &bl) != TTT_OK || bl != n + 1 || memcmp(back, text, n + 1))) {
        test_fail("%s: the %lld tokens do not decode to the text (%zu bytes back of %zu)", name, (long long)k, bl,
                  n + 1);
        ok = 0;
    }
    free(back);
    free(ids);
    free(tail);
    free(text);
    ttt_tok_free(t);
    return ok ? TEST_PASS : TEST_FAIL;
}

TEST(robust_tokenizer_long_space_cl100k) { return long_space_run("cl100k_base"); }
TEST(robust_tokenizer_long_space_o200k) { return long_space_run("o200k_base"); }
