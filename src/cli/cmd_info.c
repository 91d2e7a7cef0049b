/* cmd_info.c: `ttt info`: describe a model directory (the family's own lines, then the
 * tokenizer, the parameter count, the weight files with their dtypes, the tokenizer and
 * generation files present, and optionally every tensor). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/args.h"
#include "cli/cmd_state.h"
#include "cli/commands.h"
#include "core/checked.h"
#include "io/fsutil.h"
#include "io/st_set.h"
#include "model/family.h"
#include "ttt.h"

static const char *base_name(const char *p) {
    const char *b = strrchr(p, '/');
    return b ? b + 1 : p;
}

/* "weights:" the layout (one file, or N shards and the index), the tensors per dtype and their
 * bytes, and whether the model uses the file in place; "files:" the tokenizer and generation
 * files of the directory */
static int describe_files(const char *dir, int in_place) {
    st_set s;
    if (st_set_open(&s, dir) != TTT_OK) return 1;
    int count[ST_BOOL + 1] = {0};
    uint64_t bytes = 0;
    for (int i = 0; i < s.n; i++) count[s.e[i].t->dtype]++, bytes += s.e[i].t->end - s.e[i].t->begin;
    if (s.nfiles == 1 && strcmp(base_name(s.shown), "model.safetensors") == 0)
        printf("weights:      model.safetensors,");
    else
        printf("weights:      %s + %d shard%s (%s .. %s),", base_name(s.shown), s.nfiles, s.nfiles == 1 ? "" : "s",
               base_name(s.files[0].path), base_name(s.files[s.nfiles - 1].path));
    printf(" %d tensors:", s.n);
    for (int d = 0; d <= ST_BOOL; d++)
        if (count[d]) printf(" %d %s", count[d], st_dtype_name((st_dtype)d));
    printf(", %llu bytes, %s\n", (unsigned long long)bytes,
           in_place ? "used in place (mapped)" : "copied into memory");
    st_set_close(&s);
    static const char *const extra[] = {"tokenizer.json", "tokenizer_config.json", "generation_config.json",
                                        "special_tokens_map.json", "tokenizer.model", NULL};
    int any = 0;
    for (int i = 0; extra[i]; i++) {
        char *p = ttt_path_join(dir, extra[i]);
        struct stat sb;
        if (p && stat(p, &sb) == 0 && S_ISREG(sb.st_mode)) printf("%s%s", any++ ? " " : "files:        ", extra[i]);
        free(p);
    }
    if (any) printf("\n");
    return 0;
}

static const flag_spec flags[] = {{"model", 1}, {"tensors", 0}, {"state", 1}, {"state-size", 1}, {"preset", 1}, {NULL, 0}};

int cmd_info(int argc, char **argv) {
    args a;
    if (args_parse(&a, "info", flags, argc, argv)) return 2;
    if (a.help) {
        printf("usage: ttt info --model DIR [--tensors]\n\n"
               "Loads and checks the model directory and prints its configuration and parameter\n"
               "count, the weight files (one model.safetensors, or the index and its shards) with the\n"
               "tensors' dtypes, and the tokenizer and generation files present; --tensors also\n"
               "lists every tensor with its shape.\n"
               "       ttt info --state FILE [--model DIR]\n\n"
               "Describes a state file (ttt generate --save-state): family, precision, batch, position,\n"
               "model identity, tensors; with --model, whether it loads into that model.\n"
               "       ttt info --state-size N[,N...] (--model DIR | --preset NAME)\n\n"
               "The bytes of one sequence's state at each context length N, from the configuration.\n");
        return 0;
    }
    if (args_has(&a, "state")) return cmd_info_state(args_str(&a, "state", ""), args_str(&a, "model", NULL));
    if (args_has(&a, "state-size"))
        return cmd_info_state_size(args_str(&a, "state-size", ""), args_str(&a, "model", NULL), args_str(&a, "preset", NULL));
    if (args_require(&a, "model")) return 2;
    ttt_model *m;
    if (ttt_model_load(args_str(&a, "model", ""), NULL, &m) != TTT_OK) return cli_fail("info");
    const ttt_config *c = ttt_model_config(m);
    printf("model:        %s\n", args_str(&a, "model", ""));
    ttt_family_of(c)->describe(c, stdout);
    if (c->tokenizer[0]) printf("tokenizer:    %s (bos %lld, eos %lld)\n", c->tokenizer, (long long)c->bos_token_id,
                                (long long)c->eos_token_id);
    /* embedding = rows x width, twice with a separate LM head; the rest is the body (the
     * "non-embedding" count the studies match models by) */
    int64_t total = ttt_param_numel_total(m), emb = 0;
    if (!ttt_i64_mul_ok(ttt_config_vocab_rows(c), c->hidden_size, &emb) ||
        !ttt_i64_mul_ok(emb, c->tie_word_embeddings ? 1 : 2, &emb) || emb > total)
        emb = -1;
    if (emb >= 0)
        printf("parameters:   %lld (%s %lld, non-embedding %lld)\n", (long long)total,
               c->tie_word_embeddings ? "tied embedding" : "embedding and LM head", (long long)emb,
               (long long)(total - emb));
    else
        printf("parameters:   %lld\n", (long long)total);
    if (describe_files(args_str(&a, "model", ""), ttt_model_in_place(m))) {
        ttt_model_free(m);
        return cli_fail("info");
    }
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
