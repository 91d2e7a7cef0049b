/* cmd_synth.c: `ttt synth TASK`: synthetic token files with a loss mask (src/data/synth.h).
 * Tasks: mqar, Zoology's multi-query associative recall. */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "data/synth.h"
#include "ttt.h"
#include "ttt_tokenizer.h"

static const flag_spec mqar_flags[] = {{"pairs", 1},    {"seq-len", 1}, {"vocab", 1}, {"examples", 1},
                                       {"seed", 1},     {"out", 1},     {"power-a", 1}, {NULL, 0}};

static void help(void) {
    printf("usage: ttt synth mqar --pairs K --seq-len L --vocab V --examples N --out FILE.tok\n"
           "                      [--seed S] [--power-a A]\n\n"
           "Multi-query associative recall (MQAR, Zoology: Arora et al., 2023) as a token file with a\n"
           "loss mask (version 2): N examples of L+1 tokens each (one window of 'ttt train --seq-len L'),\n"
           "each one document. An example holds K key-value pairs k1 v1 ... kK vK (keys distinct ids\n"
           "of [1, V/2), values distinct ids of [V/2, V)), then every key once more as a query at\n"
           "position 2K + 2g, its value right after it; the gaps g are distinct, drawn with\n"
           "P(g) proportional to (g+1)^(A-1) below (L-2K)/2; all other positions hold random ids of\n"
           "[0, V). Only the K answers count as targets ('ttt train' and 'ttt eval' read the mask;\n"
           "'ttt eval --accuracy' reports the share answered exactly).\n\n"
           "  --pairs K      key-value pairs per example (>= 1; needs 4K <= L)\n"
           "  --seq-len L    model inputs per example (even)\n"
           "  --vocab V      vocabulary size (>= 2K + 2; Zoology uses 8192)\n"
           "  --examples N   number of examples (N x (L+1) <= 2^31 tokens)\n"
           "  --seed S       random seed (default 0); the first N examples of a seed are the same for\n"
           "                 any larger N (use another seed for a test set)\n"
           "  --power-a A    the power law of the query gaps (default 0.01, Zoology's; 1 = uniform)\n"
           "  --out FILE     the token file (written atomically)\n");
}

static int mqar(int argc, char **argv) {
    args a;
    if (args_parse(&a, "synth mqar", mqar_flags, argc, argv)) return 2;
    if (a.help) {
        help();
        return 0;
    }
    if (args_require(&a, "pairs") || args_require(&a, "seq-len") || args_require(&a, "vocab") ||
        args_require(&a, "examples") || args_require(&a, "out"))
        return 2;
    synth_mqar_opts o;
    int64_t seed;
    const int64_t BIG = (int64_t)1 << 40;
    if (args_int(&a, "pairs", 0, 1, BIG, &o.pairs) || args_int(&a, "seq-len", 0, 2, BIG, &o.seq_len) ||
        args_int(&a, "vocab", 0, 4, (int64_t)1 << 31, &o.vocab) || args_int(&a, "examples", 0, 1, BIG, &o.examples) ||
        args_int(&a, "seed", 0, 0, INT64_MAX, &seed) || args_double(&a, "power-a", 0.01, &o.power_a))
        return 2;
    o.seed = (uint64_t)seed;
    const char *out = args_str(&a, "out", "");
    if (!out[0]) {
        fprintf(stderr, "ttt synth mqar: --out needs a file name\n");
        return 2;
    }
    if (synth_mqar_check(&o) != TTT_OK) {
        fprintf(stderr, "ttt synth mqar: %s\n", ttt_last_error());
        return 2;
    }
    ttt_tokfile tf;
    if (synth_mqar(&o, &tf) != TTT_OK) return cli_fail("synth mqar");
    ttt_status s = ttt_tokfile_write(out, &tf);
    ttt_tokfile_free(&tf);
    if (s != TTT_OK) return cli_fail("synth mqar");
    printf("%s: %lld MQAR examples of %lld tokens (%lld pairs, vocabulary %lld, seed %llu): %lld tokens, %lld "
           "answer targets\n", out, (long long)o.examples, (long long)(o.seq_len + 1), (long long)o.pairs,
           (long long)o.vocab, (unsigned long long)o.seed, (long long)(o.examples * (o.seq_len + 1)),
           (long long)(o.examples * o.pairs));
    return 0;
}

int cmd_synth(int argc, char **argv) {
    if (argc < 1) {
        fprintf(stderr, "ttt synth: give a task: ttt synth mqar --pairs K --seq-len L --vocab V --examples N --out "
                "FILE (see ttt synth --help)\n");
        return 2;
    }
    if (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
        help();
        return 0;
    }
    if (strcmp(argv[0], "mqar") == 0) return mqar(argc - 1, argv + 1);
    fprintf(stderr, "ttt synth: unknown task '%s'; the tasks are: mqar (see ttt synth --help)\n", argv[0]);
    return 2;
}
