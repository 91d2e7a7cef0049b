/* fuzz_tokfile.c: libFuzzer harness for the token-file reader (ttt_tokfile_parse on the bytes,
 * and ttt_tokfile_read / read_header on them as a file), versions 1 and 2 (the loss mask). A
 * valid file must read back to the same tokens, version and mask after a write. */
#include "fuzz_util.h"
#include "ttt_tokenizer.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t n) {
    ttt_tokfile tf, hd;
    if (ttt_tokfile_parse(data, n, "fuzz", 0, &tf) == TTT_OK) {
        const char *p = fuzz_file("rt.tok", (const unsigned char *)"", 0);
        if (ttt_tokfile_write(p, &tf) != TTT_OK) abort(); /* what the reader accepts, the writer writes */
        ttt_tokfile back;
        if (ttt_tokfile_read(p, &back) != TTT_OK || back.n_tokens != tf.n_tokens || back.version != tf.version ||
            (tf.n_tokens && memcmp(back.ids, tf.ids, (size_t)tf.n_tokens * sizeof *tf.ids) != 0) ||
            !back.mask != !tf.mask || (tf.mask && tf.n_tokens && memcmp(back.mask, tf.mask, (size_t)tf.n_tokens) != 0))
            abort();
        for (int64_t i = 0; tf.mask && i < tf.n_tokens; i++)
            if (tf.mask[i] > 1) abort(); /* the reader unpacks flags to 0 or 1 */
        ttt_tokfile_free(&back);
        ttt_tokfile_free(&tf);
    }
    const char *p = fuzz_file("in.tok", data, n);
    if (ttt_tokfile_read(p, &tf) == TTT_OK) ttt_tokfile_free(&tf);
    (void)ttt_tokfile_read_header(p, &hd);
    return 0;
}
