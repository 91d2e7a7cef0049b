/* cmd_tokenizer.c: `ttt tokenizer train`: learn a BPE tokenizer (byte-level GPT-2 style or
 * SentencePiece-style with byte fallback) from text files and save it as tokenizer.json +
 * tokenizer_config.json (src/tokenizer/bpe_train.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "data/dataset.h"
#include "tokenizer/bpe_train.h"

/* print the library's message once prefixed ("ttt tokenizer train: ..."), return 1 */
static int train_fail(void) {
    const char *m = ttt_last_error();
    static const char *const own[] = {"tokenizer train: ", "tokenizer save: "};
    for (int i = 0; i < 2; i++)
        if (strncmp(m, own[i], strlen(own[i])) == 0) m += strlen(own[i]);
    fprintf(stderr, "ttt tokenizer train: %s\n", m);
    return 1;
}

static const flag_spec train_flags[] = {
    {"input-list", 1}, {"vocab", 1},    {"out", 1},   {"kind", 1},           {"min-frequency", 1},
    {"threads", 1},    {"pattern", 1},  {"config", 1}, {"character-coverage", 1}, {"special-first", 0},
    {"model-max-length", 1}, {"quiet", 0}, {NULL, 0}};

static void train_help(void) {
    printf("usage: ttt tokenizer train --input FILE... --vocab N --out tokenizer.json [--kind byte-bpe|sp-bpe]\n"
           "                           [--special TOKEN ...] [flags]\n\n"
           "Learns a BPE tokenizer from text files (each file one document) and writes a Hugging Face\n"
           "tokenizer.json (loadable by the tokenizers library, transformers and transformers.js) and\n"
           "tokenizer_config.json next to it.\n\n"
           "  --input FILE...         the training text (several files after one --input, or --input repeated)\n"
           "  --input-list LIST       also every file named in LIST (one path per line, relative to LIST's dir)\n"
           "  --vocab N               vocabulary size, special tokens included\n"
           "  --out PATH              the tokenizer.json to write (atomically)\n"
           "  --kind byte-bpe         byte-level BPE as GPT-2: regex pre-tokenizer, 256 byte tokens (default)\n"
           "  --kind sp-bpe           SentencePiece-style BPE with byte fallback as Llama-2: <unk> <s> </s>,\n"
           "                          <0x00>..<0xFF>, the characters, the merged pieces; words start at '▁'\n"
           "  --special TOKEN...      special tokens (added_tokens), given after the vocabulary's ids (or\n"
           "                          first with --special-first). byte-bpe: default <|endoftext|>, the\n"
           "                          first one is BOS/EOS/UNK; sp-bpe: extra to <unk> <s> </s>\n"
           "  --special-first         specials take the first ids (sp-bpe: right after </s>)\n"
           "  --min-frequency N       a pair merges only if it occurs at least N times (default 2)\n"
           "  --pattern REGEX         byte-bpe: the split regex (PCRE2; default GPT-2's r50k pattern)\n"
           "  --character-coverage X  sp-bpe: fraction of the text's characters in the alphabet\n"
           "                          (default 0.9995, as SentencePiece); the rest fall back to bytes\n"
           "  --threads N             threads for counting words (default: all); the result is the same\n"
           "  --config PATH           where tokenizer_config.json goes (default: next to --out)\n"
           "  --model-max-length N    tokenizer_config.json's model_max_length (default: no limit)\n"
           "  --quiet                 no summary on stderr\n\n"
           "Merges: the most frequent adjacent pair first; equal counts: the smaller (left id, right id).\n");
}

/* Split argv into the multi-value flags (--input, --special: every following argument up to the
 * next one starting with "--"; "--input=F" / "--special=T" take one) and the rest. */
typedef struct {
    const char **v;
    int n;
} strlist;

static int push(strlist *l, const char *s) {
    const char **nv = realloc(l->v, (size_t)(l->n + 1) * sizeof *nv);
    if (!nv) return -1;
    nv[l->n++] = s;
    l->v = nv;
    return 0;
}

static int tok_train(int argc, char **argv) {
    strlist inputs = {0}, specials = {0}, rest = {0};
    int rc = 0;
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        strlist *dst = NULL;
        if (strcmp(s, "--input") == 0) dst = &inputs;
        else if (strcmp(s, "--special") == 0) dst = &specials;
        if (dst) {
            int got = 0;
            while (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
                if (push(dst, argv[++i])) goto nomem;
                got++;
            }
            if (!got) {
                fprintf(stderr, "ttt tokenizer train: flag '%s' needs at least one value\n", s);
                rc = 2;
                goto out;
            }
        } else if (strncmp(s, "--input=", 8) == 0) {
            if (push(&inputs, s + 8)) goto nomem;
        } else if (strncmp(s, "--special=", 10) == 0) {
            if (push(&specials, s + 10)) goto nomem;
        } else if (push(&rest, s)) {
            goto nomem;
        }
    }
    args a;
    if (args_parse(&a, "tokenizer train", train_flags, rest.n, (char **)rest.v)) {
        rc = 2;
        goto out;
    }
    if (a.help) {
        train_help();
        goto out;
    }
    if (args_require(&a, "vocab") || args_require(&a, "out")) {
        rc = 2;
        goto out;
    }
    bpe_train_opts o;
    bpe_train_defaults(&o);
    const char *kind = args_str(&a, "kind", "byte-bpe");
    if (strcmp(kind, "byte-bpe") == 0) o.kind = BPE_TRAIN_BYTE;
    else if (strcmp(kind, "sp-bpe") == 0) o.kind = BPE_TRAIN_SP;
    else {
        fprintf(stderr, "ttt tokenizer train: --kind must be byte-bpe or sp-bpe, got '%s'\n", kind);
        rc = 2;
        goto out;
    }
    int64_t threads = 0, mml = 0;
    if (args_int(&a, "vocab", 0, 1, INT64_MAX, &o.vocab_size) ||
        args_int(&a, "min-frequency", 2, 1, INT64_MAX, &o.min_frequency) ||
        args_int(&a, "threads", 0, 1, 256, &threads) || args_int(&a, "model-max-length", 0, 1, INT64_MAX, &mml) ||
        args_double(&a, "character-coverage", 0.9995, &o.char_coverage)) {
        rc = 2;
        goto out;
    }
    if (o.vocab_size > BPE_TRAIN_MAX_VOCAB) {
        fprintf(stderr, "ttt tokenizer train: --vocab %lld is too large (at most %lld)\n", (long long)o.vocab_size,
                (long long)BPE_TRAIN_MAX_VOCAB);
        rc = 2;
        goto out;
    }
    if (args_has(&a, "character-coverage") && o.kind != BPE_TRAIN_SP) {
        fprintf(stderr, "ttt tokenizer train: --character-coverage is for --kind sp-bpe\n");
        rc = 2;
        goto out;
    }
    if (args_has(&a, "pattern") && o.kind != BPE_TRAIN_BYTE) {
        fprintf(stderr, "ttt tokenizer train: --pattern is for --kind byte-bpe (sp-bpe has no pre-tokenizer)\n");
        rc = 2;
        goto out;
    }
    o.threads = (int)threads;
    o.pattern = args_str(&a, "pattern", NULL);
    o.specials = specials.v;
    o.n_specials = specials.n;
    o.specials_first = args_has(&a, "special-first");
    if (specials.n > BPE_TRAIN_MAX_SPECIAL) {
        fprintf(stderr, "ttt tokenizer train: %d special tokens (at most %d)\n", specials.n, BPE_TRAIN_MAX_SPECIAL);
        rc = 2;
        goto out;
    }
    /* the file list: --input files, then those of --input-list */
    char **listed = NULL;
    int64_t n_listed = 0;
    if (args_has(&a, "input-list")) {
        const char *list = args_str(&a, "input-list", NULL);
        const char *slash = strrchr(list, '/');
        char *dir = slash ? strndup(list, slash == list ? 1 : (size_t)(slash - list)) : strdup(".");
        ttt_status s = dir ? data_read_list(list, dir, &listed, &n_listed) : TTT_ERR_NOMEM;
        free(dir);
        if (s != TTT_OK) {
            rc = train_fail();
            goto out;
        }
    }
    for (int64_t i = 0; i < n_listed; i++)
        if (push(&inputs, listed[i])) {
            data_free_list(listed, n_listed);
            goto nomem;
        }
    if (inputs.n == 0) {
        fprintf(stderr, "ttt tokenizer train: give the training text with --input FILE... or --input-list LIST\n");
        data_free_list(listed, n_listed);
        rc = 2;
        goto out;
    }
    int quiet = args_has(&a, "quiet");
    const char *outp = args_str(&a, "out", NULL);
    bpe_model m;
    if (bpe_train_files(&o, inputs.v, inputs.n, &m) != TTT_OK) {
        data_free_list(listed, n_listed);
        rc = train_fail();
        goto out;
    }
    data_free_list(listed, n_listed);
    if (bpe_model_save(&m, outp, args_str(&a, "config", NULL), mml) != TTT_OK) {
        bpe_model_free(&m);
        rc = train_fail();
        goto out;
    }
    if (!quiet) {
        fprintf(stderr,
                "ttt tokenizer train: wrote %s: %s, %lld ids (%lld merges), %lld files, %lld bytes, %lld words "
                "(%lld distinct)\n",
                outp, o.kind == BPE_TRAIN_BYTE ? "byte-bpe" : "sp-bpe", (long long)m.n_ids, (long long)m.n_merges,
                (long long)m.n_files, (long long)m.corpus_bytes, (long long)m.n_words, (long long)m.n_unique_words);
        if (o.kind == BPE_TRAIN_SP)
            fprintf(stderr, "  alphabet: %lld characters covering %.4f%% of %lld\n", (long long)m.n_alphabet,
                    m.n_chars ? 100.0 * (double)m.n_chars_covered / (double)m.n_chars : 0.0, (long long)m.n_chars);
        if (m.stopped_early)
            fprintf(stderr, "  stopped early: no pair occurs %lld times or more (vocabulary %lld < --vocab %lld)\n",
                    (long long)o.min_frequency, (long long)m.n_ids, (long long)o.vocab_size);
        fprintf(stderr, "  training text: %lld tokens, %.3f bytes/token; counting %.2f s, merges %.2f s\n",
                (long long)m.corpus_tokens, m.corpus_tokens ? (double)m.corpus_bytes / (double)m.corpus_tokens : 0.0,
                m.seconds_count, m.seconds_merge);
    }
    /* machine-readable line for scripts and tests */
    printf("tokens %lld bytes %lld ids %lld merges %lld seconds %.3f\n", (long long)m.corpus_tokens,
           (long long)m.corpus_bytes, (long long)m.n_ids, (long long)m.n_merges, m.seconds_count + m.seconds_merge);
    bpe_model_free(&m);
    goto out;
nomem:
    fprintf(stderr, "ttt tokenizer train: out of memory\n");
    rc = 1;
out:
    free(inputs.v), free(specials.v), free(rest.v);
    return rc;
}

int cmd_tokenizer(int argc, char **argv) {
    if (argc < 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "help") == 0) {
        FILE *fp = argc < 1 ? stderr : stdout;
        fprintf(fp, "usage: ttt tokenizer <subcommand> [flags]\n\nsubcommands:\n"
                    "  train   learn a BPE tokenizer from text files, write tokenizer.json (ttt tokenizer train --help)\n");
        return argc < 1 ? 2 : 0;
    }
    if (strcmp(argv[0], "train") == 0) return tok_train(argc - 1, argv + 1);
    fprintf(stderr, "ttt tokenizer: unknown subcommand '%s' (expected: train)\n", argv[0]);
    return 2;
}
