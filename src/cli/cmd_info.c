/* cmd_info.c: `ttt info`: describe a model directory (the family's own lines, then the
 * tokenizer, the parameter count and optionally every tensor). */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "model/family.h"
#include "ttt.h"

static const flag_spec flags[] = {{"model", 1}, {"tensors", 0}, {NULL, 0}};

int cmd_info(int argc, char **argv) {
    args a;
    if (args_parse(&a, "info", flags, argc, argv)) return 2;
    if (a.help) {
        printf("usage: ttt info --model DIR [--tensors]\n\n"
               "Loads and checks the model directory and prints its configuration and parameter\n"
               "count; --tensors also lists every tensor with its shape.\n");
        return 0;
    }
    if (args_require(&a, "model")) return 2;
    ttt_model *m;
    if (ttt_model_load(args_str(&a, "model", ""), NULL, &m) != TTT_OK) return cli_fail("info");
    const ttt_config *c = ttt_model_config(m);
    printf("model:        %s\n", args_str(&a, "model", ""));
    ttt_family_of(c)->describe(c, stdout);
    if (c->tokenizer[0]) printf("tokenizer:    %s (bos %lld, eos %lld)\n", c->tokenizer, (long long)c->bos_token_id,
                                (long long)c->eos_token_id);
    printf("parameters:   %lld\n", (long long)ttt_param_numel_total(m));
    if (args_has(&a, "tensors")) {
        for (int64_t i = 0; i < ttt_param_count(m); i++) {
            int64_t sh[8];
            int nd = ttt_param_shape(m, i, sh);
            printf("  %-60s [", ttt_param_name(m, i));
            for (int k = 0; k < nd; k++) printf("%s%lld", k ? ", " : "", (long long)sh[k]);
            printf("]\n");
        }
    }
    ttt_model_free(m);
    return 0;
}
