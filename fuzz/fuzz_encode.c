/* fuzz_encode.c: libFuzzer harness for encoding: any bytes must encode and decode back exactly
 * with every fetched tokenizer (TTT_DATA or ./data; skipped ones are not fetched), with and
 * without special tokens, in small segments (the joins) and in one pass. */
#include "fuzz_util.h"
#include "tokenizer/tok_impl.h"
#include "ttt_tokenizer.h"

static ttt_tok *toks[5];
static int n_toks;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *root = getenv("TTT_DATA");
    const char *names[] = {"tok/r50k_base.tiktoken", "tok/p50k_base.tiktoken", "tok/cl100k_base.tiktoken",
                           "tok/o200k_base.tiktoken", "tok/llama2"};
    for (int i = 0; i < 5; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", root && *root ? root : "data", names[i]);
        if (ttt_tok_load(path, NULL, &toks[n_toks]) == TTT_OK) n_toks++;
    }
    if (n_toks == 0) fprintf(stderr, "fuzz_encode: no tokenizer under data/tok (run make data)\n");
    return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t n) {
    for (int i = 0; i < n_toks; i++) {
        for (int mode = 0; mode < 2; mode++) {
            int flags = mode ? TTT_TOK_ALLOW_SPECIAL : 0;
            tok_segment_bytes = mode ? 7 : (size_t)1 << 40;
            int32_t *ids, *ids2;
            int64_t k, k2;
            char *back;
            size_t len;
            if (ttt_tok_encode(toks[i], (const char *)data, n, flags, &ids, &k) != TTT_OK) abort();
            if (ttt_tok_decode(toks[i], ids, k, mode ? TTT_TOK_DECODE_SPECIAL : 0, &back, &len) != TTT_OK) abort();
            if (len != n || memcmp(back, data, n) != 0) abort();
            /* the other segmentation gives the same ids */
            tok_segment_bytes = mode ? (size_t)1 << 40 : 7;
            if (ttt_tok_encode(toks[i], (const char *)data, n, flags, &ids2, &k2) != TTT_OK) abort();
            if (k != k2 || memcmp(ids, ids2, (size_t)k * sizeof *ids) != 0) abort();
            free(ids), free(ids2), free(back);
        }
    }
    return 0;
}
