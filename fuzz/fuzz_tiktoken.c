/* fuzz_tiktoken.c: libFuzzer harness for the tiktoken rank-file loader. The input is the rank
 * file; the first byte picks the encoding it is loaded as. A file that loads must encode and
 * decode a fixed text exactly. */
#include "fuzz_util.h"
#include "ttt_tokenizer.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t n) {
    static const char *enc[] = {"r50k_base", "p50k_base", "cl100k_base", "o200k_base"};
    if (n < 1) return 0;
    const char *p = fuzz_file("rank.tiktoken", data + 1, n - 1);
    ttt_tok *t;
    if (ttt_tok_load(p, enc[data[0] & 3], &t) != TTT_OK) return 0;
    const char text[] = "Hello, world! 123 \xF0\x9F\xA6\x99 \xFF\n\n  x";
    int32_t *ids;
    int64_t k;
    char *back;
    size_t len;
    if (ttt_tok_encode(t, text, sizeof text - 1, 0, &ids, &k) != TTT_OK) abort();
    if (ttt_tok_decode(t, ids, k, 0, &back, &len) != TTT_OK || len != sizeof text - 1 || memcmp(back, text, len))
        abort();
    free(ids);
    free(back);
    ttt_tok_free(t);
    return 0;
}
