/* fuzz_genconfig.c: libFuzzer harness for the readers of a Hugging Face model directory's
 * generation settings: the input is written as generation_config.json (ttt_gen_config_load, and
 * the settings it gives applied to a prompt) and as tokenizer_config.json (its chat template,
 * ttt_chat_format_dir). Either must load or refuse the file with an error, never crash; settings
 * that load must be in range. */
#include "fuzz_util.h"
#include "generate/chat.h"
#include "generate/gen_config.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t n) {
    fuzz_file("generation_config.json", data, n);
    fuzz_file("tokenizer_config.json", data, n);
    const char *dir = fuzz_dir();
    ttt_gen_config g;
    if (ttt_gen_config_load(dir, 32000, &g) == TTT_OK && g.found) {
        for (int i = 0; i < g.n_eos; i++)
            if (g.eos[i] < 0 || g.eos[i] >= 32000) abort();
        ttt_sampling sp = {0};
        int64_t max_tokens = 128;
        ttt_gen_flags given = {0};
        ttt_gen_config_apply(&g, &given, 5, &sp, &max_tokens);
        if (max_tokens < 0 || sp.temperature < 0) abort();
    }
    char *out = NULL;
    const char *kind = NULL;
    if (ttt_chat_format_dir(dir, "Hello <|im_start|> there", &out, &kind) == TTT_OK && !out) abort();
    free(out);
    return 0;
}
