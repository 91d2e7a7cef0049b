/* cmd_init.c: `ttt init`: write a freshly initialised model directory from a preset, with
 * optional overrides of individual config fields, and with --tokenizer the tokenizer's
 * tokenizer.json + tokenizer_config.json beside config.json (its vocabulary, BOS/EOS and name
 * configure the model). The directory is written into a staging directory beside it and renamed
 * into place, so it is complete or absent; an existing directory gets the files one by one, each
 * replaced whole, config.json last. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/model_flags.h"
#include "cli/model_tok.h"
#include "core/error.h"
#include "io/fsutil.h"
#include "ttt.h"

static const flag_spec own_flags[] = {{"out", 1},  {"seed", 1}, {"vocab", 1},
                                   {"bos", 1},       {"eos", 1},  {"dtype", 1}, {"tokenizer", 1}, {NULL, 0}};

static void help(void) {
    printf("usage: ttt init --preset NAME --out DIR [--seed N] [--tokenizer PATH] [overrides]\n\n"
           "Writes DIR/config.json and DIR/model.safetensors, initialised as in the paper's JAX\n"
           "recipe (docs/design.md 3.4) from the seed (default 0).\n\n"
           "  --tokenizer PATH  a tokenizer.json (or a directory holding one), a .tiktoken file or a\n"
           "                    Llama-2 directory: written into DIR as tokenizer.json +\n"
           "                    tokenizer_config.json; the model's vocab_size (unless --vocab, which may\n"
           "                    not be smaller), BOS/EOS ids (unless --bos/--eos) and \"ttt_tokenizer\"\n"
           "                    come from it\n"
           "overrides (one that does not apply to the preset's family is an error):\n");
    model_flags_help(stdout);
    printf("  --vocab N --bos ID --eos ID\n"
           "  --dtype f32|f16|bf16        storage type of model.safetensors (default f32)\n\n"
           "presets:\n");
    const char *desc;
    for (int i = 0; ttt_preset_name(i, &desc); i++) printf("  %-20s %s\n", ttt_preset_name(i, NULL), desc);
}

static mode_t process_umask(void) {
    mode_t u = umask(022);
    umask(u);
    return u;
}

/* the model's files (and the tokenizer's) into directory `out` (file comment) */
static ttt_status write_out(const char *out_arg, const ttt_model *m, ttt_file_dtype fd, const ttt_tok *tok) {
    size_t n = strlen(out_arg);
    while (n > 1 && out_arg[n - 1] == '/') n--;
    char *out = malloc(n + 1), *stage = malloc(n + 48);
    if (!out || !stage) {
        free(out), free(stage);
        return ttt_err(TTT_ERR_NOMEM, "out of memory");
    }
    memcpy(out, out_arg, n);
    out[n] = 0;
    struct stat sb;
    int exists = stat(out, &sb) == 0; /* a link to a directory is that directory */
    ttt_status s = TTT_OK;
    if (n == 0)
        s = ttt_err(TTT_ERR_ARG, "--out is empty (expected a directory)");
    else if (exists && !S_ISDIR(sb.st_mode))
        s = ttt_err(TTT_ERR_IO, "%s exists and is not a directory (expected a model directory to write)", out);
    else if (!exists && lstat(out, &sb) == 0)
        s = ttt_err(TTT_ERR_IO, "%s is a symbolic link to a missing path (expected a directory to write)", out);
    int staged = 0;
    if (s == TTT_OK) {
        snprintf(stage, n + 48, "%s.init-%ld-XXXXXX", out, (long)getpid());
        if (!mkdtemp(stage))
            s = ttt_err(TTT_ERR_IO, "cannot create the staging directory %s beside %s: %s (does its parent "
                        "directory exist?)", stage, out, strerror(errno));
        else
            staged = 1;
    }
    /* mkdtemp makes it 0700; the model directory gets the permissions of a plain mkdir */
    if (s == TTT_OK && chmod(stage, 0777 & ~process_umask()) != 0)
        s = ttt_err(TTT_ERR_IO, "%s: cannot set permissions: %s", stage, strerror(errno));
    if (s == TTT_OK) s = ttt_model_save(m, stage, fd);
    if (s == TTT_OK && tok) s = ttt_tok_save(tok, stage);
    if (s == TTT_OK && !exists) {
        if (rename(stage, out) != 0)
            s = ttt_err(TTT_ERR_IO, "cannot rename %s to %s: %s", stage, out, strerror(errno));
        else
            staged = 0;
    } else if (s == TTT_OK) {
        /* the tokenizer files first and config.json last; a tokenizer file the new model does not
         * have belongs to the model it replaces and goes */
        static const char *files[] = {"tokenizer.json", "tokenizer_config.json", "model.safetensors", "config.json"};
        for (int i = 0; i < 4 && s == TTT_OK; i++) {
            char *from = ttt_path_join(stage, files[i]), *to = ttt_path_join(out, files[i]);
            struct stat fb;
            if (!from || !to)
                s = ttt_err(TTT_ERR_NOMEM, "out of memory");
            else if (lstat(from, &fb) == 0) {
                if (rename(from, to) != 0)
                    s = ttt_err(TTT_ERR_IO, "cannot rename %s to %s: %s", from, to, strerror(errno));
            } else if (i < 2 && lstat(to, &fb) == 0) {
                if (S_ISDIR(fb.st_mode))
                    s = ttt_err(TTT_ERR_IO, "%s is a directory; expected no %s or a file there", to, files[i]);
                else if (unlink(to) != 0)
                    s = ttt_err(TTT_ERR_IO, "cannot remove %s (the replaced model's): %s", to, strerror(errno));
                else
                    fprintf(stderr, "ttt init: note: removed %s, the tokenizer file of the model it replaced\n", to);
            }
            free(from), free(to);
        }
    }
    if (staged) {
        ttt_status keep = s;
        (void)ttt_remove_tree(stage);
        s = keep;
    }
    free(out), free(stage);
    return s;
}

int cmd_init(int argc, char **argv) {
    args a;
    flag_spec spec[96];
    if (args_parse(&a, "init", model_flags_spec(spec, 96, own_flags), argc, argv)) return 2;
    if (a.help) {
        help();
        return 0;
    }
    if (args_require(&a, "preset") || args_require(&a, "out")) return 2;
    ttt_config cfg;
    int rc = model_config_from_flags(&a, "init", &cfg);
    if (rc) return rc;
    int64_t seed, v;
    if (args_int(&a, "seed", 0, 0, INT64_MAX, &seed)) return 2;
    const int64_t MAXD = (int64_t)1 << 30;
    /* the tokenizer's vocabulary, BOS/EOS and name, unless the flags say otherwise */
    model_tok mt = {0};
    const char *tokp = args_str(&a, "tokenizer", NULL);
    if (tokp) {
        if (model_tok_load(tokp, &mt) != TTT_OK) {
            fprintf(stderr, "ttt init: --tokenizer: %s\n", ttt_last_error());
            return 1;
        }
        cfg.vocab_size = ttt_tok_vocab_size(mt.tok);
        cfg.bos_token_id = ttt_tok_bos(mt.tok);
        cfg.eos_token_id = ttt_tok_eos(mt.tok);
        snprintf(cfg.tokenizer, sizeof cfg.tokenizer, "%s", model_tok_name(&mt));
    }
#define FAIL2 \
    do { \
        model_tok_free(&mt); \
        return 2; \
    } while (0)
    if (args_int(&a, "vocab", cfg.vocab_size, 1, MAXD, &v)) FAIL2;
    if (tokp && v < cfg.vocab_size) {
        char d[1200];
        fprintf(stderr, "ttt init: --vocab %lld is smaller than the vocabulary of --tokenizer %s, %s: give --vocab "
                "%lld or more (more pads the embeddings), or leave --vocab out\n", (long long)v, tokp,
                model_tok_describe(&mt, d, sizeof d), (long long)cfg.vocab_size);
        FAIL2;
    }
    cfg.vocab_size = v;
    if (args_int(&a, "bos", cfg.bos_token_id, -1, MAXD, &v)) FAIL2;
    cfg.bos_token_id = v;
    if (args_int(&a, "eos", cfg.eos_token_id, -1, MAXD, &v)) FAIL2;
    cfg.eos_token_id = v;
    const char *dt = args_str(&a, "dtype", "f32");
    ttt_file_dtype fd;
    if (strcmp(dt, "f32") == 0)
        fd = TTT_DTYPE_F32;
    else if (strcmp(dt, "f16") == 0)
        fd = TTT_DTYPE_F16;
    else if (strcmp(dt, "bf16") == 0)
        fd = TTT_DTYPE_BF16;
    else {
        fprintf(stderr, "ttt init: --dtype must be f32, f16 or bf16, got '%s'\n", dt);
        FAIL2;
    }
#undef FAIL2
    ttt_model *m;
    if (ttt_model_create(&cfg, (uint64_t)seed, NULL, &m) != TTT_OK) {
        model_tok_free(&mt);
        return cli_fail("init");
    }
    const char *out = args_str(&a, "out", NULL);
    ttt_status s = write_out(out, m, fd, mt.tok);
    int64_t n = ttt_param_numel_total(m);
    ttt_model_free(m);
    if (s != TTT_OK) {
        model_tok_free(&mt);
        return cli_fail("init");
    }
    char tn[96] = "";
    if (mt.tok) snprintf(tn, sizeof tn, ", tokenizer %s", model_tok_name(&mt));
    fprintf(stderr, "ttt init: wrote %s (%s, %lld parameters, seed %lld%s)\n", out, args_str(&a, "preset", ""),
            (long long)n, (long long)seed, tn);
    model_tok_free(&mt);
    return 0;
}
