/* model_tok.c: the tokenizer of a model directory (see model_tok.h). */
#include "cli/model_tok.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "io/fsutil.h"

int model_tok_in_dir(const char *dir) {
    char *p = ttt_path_join(dir, "tokenizer.json");
    struct stat sb;
    int has = p && lstat(p, &sb) == 0;
    free(p);
    return has;
}

ttt_status model_tok_load(const char *path, model_tok *mt) {
    memset(mt, 0, sizeof *mt);
    snprintf(mt->from, sizeof mt->from, "%.1000s", path);
    ttt_status s = ttt_tok_load(path, NULL, &mt->tok);
    if (s != TTT_OK) {
        mt->tok = NULL;
        return s;
    }
    return TTT_OK;
}

void model_tok_free(model_tok *mt) {
    ttt_tok_free(mt->tok);
    mt->tok = NULL;
}

const char *model_tok_name(const model_tok *mt) { return ttt_tok_name(mt->tok); }

int model_tok_is(const model_tok *mt, const char *name) { return strcmp(name, ttt_tok_name(mt->tok)) == 0; }

const char *model_tok_describe(const model_tok *mt, char *buf, size_t cap) {
    snprintf(buf, cap, "'%s' (%lld ids)", ttt_tok_name(mt->tok), (long long)ttt_tok_vocab_size(mt->tok));
    return buf;
}

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* the tokenizer of ttt generate and ttt serve: --tokenizer, else the config's name looked up in the model directory, then the
 * directory's own tokenizer.json, then the name in data/tok */
ttt_status model_tok_find(const char *flag, const char *model_dir, const char *name, model_tok *out) {
    if (flag) return model_tok_load(flag, out);
    int named = name && name[0], own = model_tok_in_dir(model_dir);
    if (!named && !own)
        return ttt_err(TTT_ERR_ARG, "%s/config.json names no tokenizer (\"ttt_tokenizer\") and the directory holds "
                       "no tokenizer.json; give --tokenizer PATH", model_dir);
    char cand[6][1200];
    int n = 0;
    if (named) {
        snprintf(cand[n++], sizeof cand[0], "%s/tokenizer", model_dir);
        snprintf(cand[n++], sizeof cand[0], "%s/%s.tiktoken", model_dir, name);
        snprintf(cand[n++], sizeof cand[0], "%s/%s", model_dir, name);
    }
    if (own) snprintf(cand[n++], sizeof cand[0], "%s", model_dir);
    if (named) {
        snprintf(cand[n++], sizeof cand[0], "data/tok/%s.tiktoken", name);
        snprintf(cand[n++], sizeof cand[0], "data/tok/%s", name);
    }
    for (int i = 0; i < n; i++)
        if (exists(cand[i])) return model_tok_load(cand[i], out);
    return ttt_err(TTT_ERR_ARG, "tokenizer \"%s\" of %s not found (looked in %s/ and data/tok/); give --tokenizer PATH",
                   name, model_dir, model_dir);
}
