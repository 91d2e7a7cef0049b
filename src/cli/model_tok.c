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
