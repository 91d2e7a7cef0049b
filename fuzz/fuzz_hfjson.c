/* fuzz_hfjson.c: libFuzzer harness for the tokenizer.json reader (src/tokenizer/hf_load.c) and
 * the pipeline it builds. The input is the tokenizer.json; a file that loads must encode a
 * fixed text (Unicode, invalid UTF-8, whitespace runs, an added-token-like string) into ids
 * inside its vocabulary, or refuse it with an error, and decode those ids. */
#include "fuzz_util.h"
#include "ttt_tokenizer.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t n) {
    const char *p = fuzz_file("tokenizer.json", data, n);
    ttt_tok *t;
    if (ttt_tok_load(p, NULL, &t) != TTT_OK) return 0;
    static const char text[] = "Hello, world! 123 \xF0\x9F\xA6\x99 \xFF\n\n  x <s> e\xCC\x81 \xE2\x96\x81 1234";
    static const int flags[] = {0, TTT_TOK_ADD_SPECIAL | TTT_TOK_ADD_BOS | TTT_TOK_ADD_EOS};
    for (int f = 0; f < 2; f++) {
        int32_t *ids;
        int64_t k;
        if (ttt_tok_encode(t, text, sizeof text - 1, flags[f], &ids, &k) != TTT_OK) continue;
        for (int64_t i = 0; i < k; i++)
            if (ids[i] < 0 || ids[i] >= ttt_tok_vocab_size(t)) abort();
        char *back;
        size_t len;
        if (ttt_tok_decode(t, ids, k, TTT_TOK_DECODE_SPECIAL, &back, &len) == TTT_OK) free(back);
        free(ids);
    }
    ttt_tok_free(t);
    return 0;
}
