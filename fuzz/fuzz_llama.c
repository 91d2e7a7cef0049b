/* fuzz_llama.c: libFuzzer harness for the Llama-2 loader. The input holds both files: a 4-byte
 * little-endian length of vocab.txt, vocab.txt, then merges.u16le. A pair that loads must
 * encode and decode a fixed text exactly. */
#include "fuzz_util.h"
#include "ttt_tokenizer.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t n) {
    if (n < 4) return 0;
    size_t vn = (size_t)data[0] | (size_t)data[1] << 8 | (size_t)data[2] << 16 | (size_t)data[3] << 24;
    if (vn > n - 4) vn = n - 4;
    fuzz_file("vocab.txt", data + 4, vn);
    fuzz_file("merges.u16le", data + 4 + vn, n - 4 - vn);
    ttt_tok *t;
    if (ttt_tok_load(fuzz_dir(), NULL, &t) != TTT_OK) return 0;
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
