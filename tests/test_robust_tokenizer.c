/* test_robust_tokenizer.c: valid text that used to be refused (issue 16): a whitespace run of
 * more than ten million bytes made PCRE2 stop with "match limit exceeded" in cl100k_base and
 * o200k_base, whose pattern \s+(?!\S) backtracks once per byte of the run. The run is one
 * piece of the same pattern now; the tokens decode back to the text and end with the token of
 * " x", as the pattern's split says (a newline run in cl100k_base likewise). (The sanitizer build uses a shorter run: it checks the
 * same structure without the ten-million-step case.) A pathological word is merged in 64 KiB
 * chunks (tok_impl.h TOK_MAX_PIECE) so that a 50 MB word takes linear time and bounded memory;
 * the chunked tokens are checked against the chunks encoded one by one. */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "test_tokenizer_util.h"

/* a run of n bytes c, then 'x': the last token must be the last of `last` encoded alone */
static int long_run(const char *name, char c, const char *last) {
    ttt_tok *t;
    int r = tdata_tok(name, &t);
    if (r != TEST_PASS) return r;
    size_t n = tdata_sanitized() ? (size_t)1 << 16 : (size_t)11 << 20; /* above the old 10^7 limit */
    char *text = malloc(n + 1);
    memset(text, c, n);
    text[n] = 'x';
    int32_t *ids = NULL, *tail = NULL;
    int64_t k = 0, kt = 0;
    ttt_status s = ttt_tok_encode(t, text, n + 1, 0, &ids, &k);
    int ok = s == TTT_OK;
    if (!ok) test_fail("%s: %zu bytes 0x%02x and 'x': %s", name, n, (unsigned)c, ttt_last_error());
    ok = ok && ttt_tok_encode(t, last, strlen(last), 0, &tail, &kt) == TTT_OK && kt >= 1;
    if (ok && ids[k - 1] != tail[kt - 1]) {
        test_fail("%s: the last token is %d, not the token %d that ends \"%s\"", name, ids[k - 1], tail[kt - 1],
                  last);
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

TEST(robust_tokenizer_long_space_cl100k) { return long_run("cl100k_base", ' ', " x"); }
TEST(robust_tokenizer_long_space_o200k) { return long_run("o200k_base", ' ', " x"); }
/* cl100k_base also refused eleven million newlines (\s*[\r\n]+ takes the run, then "x") */
TEST(robust_tokenizer_long_newline_cl100k) { return long_run("cl100k_base", '\n', "\nx"); }

/* a pathological word (no space for 3 x 64 KiB + 5 bytes) is merged in 64 KiB chunks: its
 * tokens are those of the chunks encoded one by one, and decode back to the word; a word of
 * 64 KiB is one BPE run (the same tokens as before chunking existed) */
static int long_word(const char *name) {
    ttt_tok *t;
    int r = tdata_tok(name, &t);
    if (r != TEST_PASS) return r;
    const size_t chunk = (size_t)1 << 16, n = 3 * chunk + 5;
    char *text = malloc(n);
    for (size_t i = 0; i < n; i++) text[i] = "abcab"[i % 5 == 4 ? 2 : i % 3]; /* letters only */
    int32_t *ids = NULL;
    int64_t k = 0;
    int ok = ttt_tok_encode(t, text, n, 0, &ids, &k) == TTT_OK;
    int32_t *want = malloc(sizeof(int32_t) * n);
    int64_t nw = 0;
    /* the chunks, encoded one by one: tiktoken cuts the piece every 64 KiB; Llama-2 cuts its
     * word every 64 Ki symbols, the first holding the dummy-prefix space (so 64 Ki - 1 bytes),
     * and only a whole text gets that prefix: its first chunk alone is compared */
    int llama = strcmp(name, "llama2") == 0;
    for (size_t b = 0; ok && b < (llama ? 1 : n); b += chunk) {
        size_t len = llama ? chunk - 1 : b + chunk < n ? chunk : n - b;
        int32_t *part = NULL;
        int64_t kp = 0;
        ok = ttt_tok_encode(t, text + b, len, 0, &part, &kp) == TTT_OK;
        for (int64_t i = 0; ok && i < kp; i++) want[nw++] = part[i];
        free(part);
    }
    int64_t kall = k;
    if (llama && ok && nw < k) k = nw; /* the prefix */
    int64_t d = ok ? tdata_first_diff_i32(ids, k, want, nw) : 0;
    if (ok && d >= 0) {
        test_fail("%s: a %zu-byte word: token %lld differs from the chunk-by-chunk encoding (%lld vs %lld tokens)",
                  name, n, (long long)d, (long long)k, (long long)nw);
        ok = 0;
    }
    char *back = NULL;
    size_t bl = 0;
    if (ok && (ttt_tok_decode(t, ids, kall, 0, &back, &bl) != TTT_OK || bl != n || memcmp(back, text, n))) {
        test_fail("%s: the tokens of the long word do not decode back to it", name);
        ok = 0;
    }
    free(back);
    free(ids);
    free(want);
    free(text);
    ttt_tok_free(t);
    return ok ? TEST_PASS : TEST_FAIL;
}

TEST(robust_tokenizer_long_word_cl100k) { return long_word("cl100k_base"); }
TEST(robust_tokenizer_long_word_llama2) { return long_word("llama2"); }
