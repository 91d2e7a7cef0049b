/* cmd_tokenize.c: `ttt tokenize` (text to ids or a token file), `ttt detokenize` (ids or a token
 * file back to text) and `ttt data` (all token files of the fetched corpus for one tokenizer). */
#include <errno.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "data/dataset.h"
#include "io/fsutil.h"
#include "ttt_tokenizer.h"

static const char TOKENIZER_HELP[] =
    "  --tokenizer PATH  a Hugging Face tokenizer.json, or a directory holding one (a model\n"
    "                    directory; its tokenizer_config.json is read too), a tiktoken rank file\n"
    "                    (r50k_base.tiktoken = GPT-2, p50k_base, cl100k_base, o200k_base: the\n"
    "                    encoding is taken from the file name) or a Llama-2 directory holding\n"
    "                    vocab.txt and merges.u16le (scripts/fetch-data.sh puts them in data/tok/)\n"
    "  --encoding NAME   the tiktoken encoding, when the file name does not tell it\n";

static int load_tokenizer(const char *cmd, const args *a, ttt_tok **t) {
    if (args_require(a, "tokenizer")) return 2;
    if (ttt_tok_load(args_str(a, "tokenizer", NULL), args_str(a, "encoding", NULL), t) != TTT_OK)
        return cli_fail(cmd);
    return 0;
}

static int write_text(const char *cmd, const char *path, const char *text, size_t len) {
    if (!path) {
        if (len && fwrite(text, 1, len, stdout) != len) {
            fprintf(stderr, "ttt %s: cannot write to stdout\n", cmd);
            return 1;
        }
        return 0;
    }
    ttt_atomic_file af;
    if (ttt_atomic_open(&af, path) != TTT_OK) return cli_fail(cmd);
    ttt_atomic_write(&af, text, len);
    if (ttt_atomic_commit(&af) != TTT_OK) return cli_fail(cmd);
    return 0;
}

/* ---- ttt tokenize ----------------------------------------------------------------------- */

static const flag_spec tokenize_flags[] = {
    {"tokenizer", 1}, {"encoding", 1}, {"text", 1}, {"input", 1}, {"input-list", 1}, {"ids", 0},
    {"output", 1}, {"bos", 0}, {"eos", 0}, {"no-wrap", 0}, {"special", 0}, {"count", 0}, {"add-special", 0},
    {NULL, 0}};

static void tokenize_help(void) {
    printf("usage: ttt tokenize --tokenizer PATH (--text STRING | --input FILE | --input-list LIST)\n"
           "                    (--ids | --output FILE | --count) [flags]\n\n"
           "Encodes text into token ids.\n\n%s"
           "  --text STRING     the text to encode\n"
           "  --input FILE      encode the bytes of FILE (one document)\n"
           "  --input-list LIST encode every file named in LIST (one path per line, relative to the\n"
           "                    list's directory), each file one document\n"
           "  --ids             print the ids on stdout, separated by spaces (no BOS/EOS unless asked)\n"
           "  --output FILE     write a token file (docs/data.md): each document wrapped as BOS doc EOS;\n"
           "                    with the tiktoken encodings one <|endoftext|> separates documents\n"
           "  --count           print only the number of tokens\n"
           "  --bos, --eos      add BOS / EOS around the text (--ids, --count)\n"
           "  --no-wrap         no BOS/EOS in the token file\n"
           "  --special         special-token texts such as <|endoftext|> in the input become their ids\n"
           "                    (tiktoken, Llama-2's <unk> <s> </s>; otherwise they are ordinary text; a\n"
           "                    tokenizer.json always matches its added tokens, as the library does)\n"
           "  --add-special     a tokenizer.json's post-processor tokens (TemplateProcessing: the BOS\n"
           "                    Llama-style files put first), as the library's add_special_tokens\n"
           "                    (--ids, --count)\n",
           TOKENIZER_HELP);
}

/* directory part of a path ("." when none), malloc'd */
static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *d = malloc(n + 1);
    if (d) memcpy(d, path, n), d[n] = 0;
    return d;
}

int cmd_tokenize(int argc, char **argv) {
    args a;
    if (args_parse(&a, "tokenize", tokenize_flags, argc, argv)) return 2;
    if (a.help) {
        tokenize_help();
        return 0;
    }
    int n_in = args_has(&a, "text") + args_has(&a, "input") + args_has(&a, "input-list");
    int n_out = args_has(&a, "ids") + args_has(&a, "output") + args_has(&a, "count");
    if (n_in != 1) {
        fprintf(stderr, "ttt tokenize: give exactly one of --text, --input or --input-list (see 'ttt tokenize --help')\n");
        return 2;
    }
    if (n_out != 1) {
        fprintf(stderr, "ttt tokenize: give exactly one of --ids, --output or --count (see 'ttt tokenize --help')\n");
        return 2;
    }
    ttt_tok *t;
    int rc = load_tokenizer("tokenize", &a, &t);
    if (rc) return rc;

    int flags = (args_has(&a, "special") ? TTT_TOK_ALLOW_SPECIAL : 0) | (args_has(&a, "add-special") ? TTT_TOK_ADD_SPECIAL : 0);
    const char *missing = args_has(&a, "bos") && ttt_tok_bos(t) < 0 ? "--bos: this tokenizer has no BOS token"
                          : args_has(&a, "eos") && ttt_tok_eos(t) < 0 ? "--eos: this tokenizer has no EOS token"
                          : args_has(&a, "add-special") && args_has(&a, "output")
                              ? "--add-special is for --ids and --count (a token file wraps documents in BOS/EOS)"
                              : NULL;
    if (missing) {
        fprintf(stderr, "ttt tokenize: %s\n", missing);
        ttt_tok_free(t);
        return 2;
    }
    char **paths = NULL, *text = NULL;
    int64_t n_docs = 1;
    size_t len = 0;
    ttt_status s = TTT_OK;
    if (args_has(&a, "input-list")) {
        const char *list = args_str(&a, "input-list", NULL);
        char *dir = dir_of(list);
        s = dir ? data_read_list(list, dir, &paths, &n_docs) : TTT_ERR_NOMEM;
        free(dir);
    } else if (args_has(&a, "input")) {
        s = ttt_read_file(args_str(&a, "input", NULL), (size_t)1 << 31, &text, &len);
    } else {
        const char *tx = args_str(&a, "text", "");
        len = strlen(tx);
        text = malloc(len + 1);
        if (text) memcpy(text, tx, len + 1);
        else s = TTT_ERR_NOMEM;
    }
    if (s != TTT_OK) {
        ttt_tok_free(t);
        return cli_fail("tokenize");
    }

    ttt_tokfile tf;
    int to_file = args_has(&a, "output");
    int wrap = to_file && !args_has(&a, "no-wrap");
    size_t bytes = len;
    double t0 = cli_now();
    if (paths) {
        s = data_tokenize_files(t, paths, n_docs, wrap, flags, &tf, &bytes);
    } else {
        const char *tx = text;
        s = data_tokenize(t, &tx, &len, 1, wrap, flags, &tf);
    }
    double dt = cli_now() - t0;
    data_free_list(paths, n_docs);
    free(text);
    if (s != TTT_OK) {
        ttt_tok_free(t);
        return cli_fail("tokenize");
    }
    if (!to_file) {
        /* --ids / --count: BOS/EOS only when asked */
        int64_t n = tf.n_tokens + args_has(&a, "bos") + args_has(&a, "eos");
        if (args_has(&a, "count")) {
            printf("%lld\n", (long long)n);
        } else {
            const char *sep = "";
            if (args_has(&a, "bos")) printf("%d", ttt_tok_bos(t)), sep = " ";
            for (int64_t i = 0; i < tf.n_tokens; i++) printf("%s%d", sep, tf.ids[i]), sep = " ";
            if (args_has(&a, "eos")) printf("%s%d", sep, ttt_tok_eos(t));
            printf("\n");
        }
        rc = ferror(stdout) ? 1 : 0;
    } else {
        const char *out = args_str(&a, "output", NULL);
        if (ttt_tokfile_write(out, &tf) != TTT_OK) {
            rc = cli_fail("tokenize");
        } else {
            fprintf(stderr, "ttt tokenize: wrote %s: %lld tokens, %lld documents, %s (%zu bytes in %.2f s, %.1f MB/s)\n",
                    out, (long long)tf.n_tokens, (long long)tf.n_docs, ttt_tok_name(t), bytes, dt,
                    dt > 0 ? (double)bytes / dt / 1e6 : 0.0);
        }
    }
    ttt_tokfile_free(&tf);
    ttt_tok_free(t);
    return rc;
}

/* ---- ttt detokenize --------------------------------------------------------------------- */

static const flag_spec detokenize_flags[] = {{"tokenizer", 1}, {"encoding", 1}, {"ids", 1}, {"input", 1},
                                             {"output", 1},    {"special", 0},  {NULL, 0}};

static void detokenize_help(void) {
    printf("usage: ttt detokenize --tokenizer PATH (--ids \"1 2 3\" | --input TOKENFILE) [--output FILE]\n\n"
           "Decodes token ids back into text (stdout unless --output).\n\n%s"
           "  --ids \"ID ...\"    ids separated by spaces or commas\n"
           "  --input FILE      a token file written by ttt tokenize / ttt data (its tokenizer must\n"
           "                    match --tokenizer)\n"
           "  --output FILE     write the text to FILE (atomically)\n"
           "  --special         write special tokens (BOS/EOS, <|endoftext|>) as their text; by default\n"
           "                    they produce nothing\n",
           TOKENIZER_HELP);
}

/* parse "1 2 3" / "1,2,3" / "[1, 2, 3]" */
static int parse_ids(const char *s, int32_t **out, int64_t *n) {
    int64_t cap = 64, k = 0;
    int32_t *v = malloc((size_t)cap * sizeof *v);
    if (!v) return -1;
    const char *p = s;
    for (;;) {
        while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n' || *p == '[' || *p == ']') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long long x = strtoll(p, &end, 10);
        if (end == p || errno || x < INT32_MIN || x > INT32_MAX ||
            (*end && *end != ' ' && *end != ',' && *end != '\t' && *end != '\n' && *end != ']')) {
            const char *e = end == p ? p + 1 : end;
            while (*e && *e != ' ' && *e != ',') e++;
            fprintf(stderr, "ttt detokenize: --ids: '%.*s' is not a token id (expected decimal integers separated "
                    "by spaces or commas)\n", (int)(e - p > 40 ? 40 : e - p), p);
            free(v);
            return -2;
        }
        if (k == cap) {
            cap *= 2;
            int32_t *q = realloc(v, (size_t)cap * sizeof *q);
            if (!q) {
                free(v);
                return -1;
            }
            v = q;
        }
        v[k++] = (int32_t)x;
        p = end;
    }
    *out = v;
    *n = k;
    return 0;
}

int cmd_detokenize(int argc, char **argv) {
    args a;
    if (args_parse(&a, "detokenize", detokenize_flags, argc, argv)) return 2;
    if (a.help) {
        detokenize_help();
        return 0;
    }
    if (args_has(&a, "ids") + args_has(&a, "input") != 1) {
        fprintf(stderr, "ttt detokenize: give exactly one of --ids or --input (see 'ttt detokenize --help')\n");
        return 2;
    }
    ttt_tok *t;
    int rc = load_tokenizer("detokenize", &a, &t);
    if (rc) return rc;
    int32_t *ids = NULL;
    int64_t n = 0;
    ttt_tokfile tf = {0};
    if (args_has(&a, "ids")) {
        int r = parse_ids(args_str(&a, "ids", ""), &ids, &n);
        if (r) {
            ttt_tok_free(t);
            if (r == -1) fprintf(stderr, "ttt detokenize: out of memory\n");
            return r == -2 ? 2 : 1;
        }
    } else {
        const char *in = args_str(&a, "input", NULL);
        if (ttt_tokfile_read(in, &tf) != TTT_OK) {
            ttt_tok_free(t);
            return cli_fail("detokenize");
        }
        if (strcmp(tf.tokenizer, ttt_tok_name(t)) != 0 || tf.vocab_size != ttt_tok_vocab_size(t)) {
            fprintf(stderr, "ttt detokenize: %s was made with tokenizer '%s' (%lld ids), but --tokenizer is '%s' "
                    "(%lld ids)\n", in, tf.tokenizer, (long long)tf.vocab_size, ttt_tok_name(t),
                    (long long)ttt_tok_vocab_size(t));
            ttt_tokfile_free(&tf);
            ttt_tok_free(t);
            return 1;
        }
        ids = tf.ids;
        n = tf.n_tokens;
        tf.ids = NULL;
    }
    char *text;
    size_t len;
    int flags = args_has(&a, "special") ? TTT_TOK_DECODE_SPECIAL : 0;
    if (ttt_tok_decode(t, ids, n, flags, &text, &len) != TTT_OK) {
        rc = cli_fail("detokenize");
    } else {
        rc = write_text("detokenize", args_str(&a, "output", NULL), text, len);
        free(text);
    }
    free(ids);
    ttt_tokfile_free(&tf);
    ttt_tok_free(t);
    return rc;
}

/* ---- ttt data --------------------------------------------------------------------------- */

static const flag_spec data_flags[] = {{"tokenizer", 1}, {"encoding", 1}, {"data", 1}, {"out", 1}, {NULL, 0}};

static void data_help(void) {
    printf("usage: ttt data --tokenizer PATH [--data DIR] [--out DIR]\n\n"
           "Writes one token file per split list DIR/splits/NAME.list (made by scripts/fetch-data.sh:\n"
           "train, eval, long_moby_dick, long_emma, long_persuasion) into OUT/NAME.tok, every document\n"
           "wrapped as BOS doc EOS, and prints documents, bytes and tokens per split.\n\n%s"
           "  --data DIR        the fetched data (default: data)\n"
           "  --out DIR         where the token files go (default: DIR/tokens/<tokenizer name>)\n",
           TOKENIZER_HELP);
}

static int cmp_str(const void *x, const void *y) { return strcmp(*(char *const *)x, *(char *const *)y); }

int cmd_data(int argc, char **argv) {
    args a;
    if (args_parse(&a, "data", data_flags, argc, argv)) return 2;
    if (a.help) {
        data_help();
        return 0;
    }
    ttt_tok *t;
    int rc = load_tokenizer("data", &a, &t);
    if (rc) return rc;
    const char *data = args_str(&a, "data", "data");
    char *splits = ttt_path_join(data, "splits");
    char *out = NULL;
    if (args_has(&a, "out")) {
        out = strdup(args_str(&a, "out", NULL));
    } else {
        char *tokdir = ttt_path_join(data, "tokens");
        if (tokdir && ttt_mkdir(tokdir) == TTT_OK) out = ttt_path_join(tokdir, ttt_tok_name(t));
        free(tokdir);
    }
    DIR *dir = splits ? opendir(splits) : NULL;
    if (!dir) {
        fprintf(stderr, "ttt data: cannot read %s/ (run scripts/fetch-data.sh or 'make data' first)\n", splits ? splits : data);
        free(splits), free(out), ttt_tok_free(t);
        return 1;
    }
    char *names[64];
    int n_names = 0;
    struct dirent *e;
    while ((e = readdir(dir)) && n_names < 64) {
        size_t m = strlen(e->d_name);
        if (m > 5 && strcmp(e->d_name + m - 5, ".list") == 0) names[n_names++] = strdup(e->d_name);
    }
    closedir(dir);
    qsort(names, (size_t)n_names, sizeof names[0], cmp_str);
    if (n_names == 0) fprintf(stderr, "ttt data: no *.list files in %s\n", splits), rc = 1;
    if (!rc && (!out || ttt_mkdir(out) != TTT_OK)) rc = out ? cli_fail("data") : 1;
    if (!rc)
        printf("%-16s %6s %12s %12s %8s %8s  %s\n", "split", "docs", "bytes", "tokens", "bytes/tk", "seconds", "file");
    for (int i = 0; i < n_names && !rc; i++) {
        char *list = ttt_path_join(splits, names[i]);
        names[i][strlen(names[i]) - 5] = 0;
        char fname[300];
        snprintf(fname, sizeof fname, "%s.tok", names[i]);
        char *dst = ttt_path_join(out, fname);
        char **paths = NULL;
        int64_t n_docs = 0;
        ttt_tokfile tf = {0};
        size_t bytes = 0;
        double t0 = cli_now();
        /* list entries are relative to the list's directory */
        if (data_read_list(list, splits, &paths, &n_docs) != TTT_OK ||
            data_tokenize_files(t, paths, n_docs, 1, 0, &tf, &bytes) != TTT_OK ||
            ttt_tokfile_write(dst, &tf) != TTT_OK) {
            rc = cli_fail("data");
        } else {
            printf("%-16s %6lld %12zu %12lld %8.3f %8.2f  %s\n", names[i], (long long)n_docs, bytes,
                   (long long)tf.n_tokens, tf.n_tokens ? (double)bytes / (double)tf.n_tokens : 0.0, cli_now() - t0, dst);
            fflush(stdout);
        }
        data_free_list(paths, n_docs);
        ttt_tokfile_free(&tf);
        free(list);
        free(dst);
    }
    for (int i = 0; i < n_names; i++) free(names[i]);
    free(splits);
    free(out);
    ttt_tok_free(t);
    return rc;
}
