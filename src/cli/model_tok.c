/* model_tok.c: the tokenizer of a model directory and its alias (see model_tok.h). */
#include "cli/model_tok.h"

#include <cjson/cJSON.h>
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

/* the built-in tokenizers ttt_tok_save rewrites (their names change), with their sizes */
static const struct {
    const char *name;
    int64_t vocab;
} builtin[] = {{"llama2", 32000},       {"r50k_base", 50257},   {"p50k_base", 50281},
               {"cl100k_base", 100277}, {"o200k_base", 200019}};

/* config.json beside the tokenizer.json that PATH is (or that directory PATH holds) */
static char *config_beside(const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0) return NULL;
    if (S_ISDIR(sb.st_mode)) return ttt_path_join(path, "config.json");
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
    if (strcmp(base, "tokenizer.json") != 0) return NULL;
    size_t n = slash ? (size_t)(slash - path) : 0;
    char *dir = malloc(n + 2);
    if (!dir) return NULL;
    if (slash) {
        memcpy(dir, path, n ? n : 1); /* "/tokenizer.json": the root */
        dir[n ? n : 1] = 0;
    } else {
        strcpy(dir, ".");
    }
    char *c = ttt_path_join(dir, "config.json");
    free(dir);
    return c;
}

/* the alias: config.json's "ttt_tokenizer" when it names a built-in tokenizer of this size.
 * Anything unreadable there only means no alias (the tokenizer itself has loaded). */
static void find_alias(const char *path, model_tok *mt) {
    mt->alias[0] = 0;
    if (ttt_tok_kind_of(mt->tok) != TTT_TOK_HF) return;
    char *cp = config_beside(path), *txt = NULL;
    size_t len;
    struct stat sb;
    if (!cp || stat(cp, &sb) != 0 || !S_ISREG(sb.st_mode) || ttt_read_file(cp, (size_t)1 << 20, &txt, &len) != TTT_OK) {
        free(cp);
        ttt_clear_error();
        return;
    }
    cJSON *root = cJSON_ParseWithLength(txt, len);
    const cJSON *nm = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "ttt_tokenizer") : NULL;
    if (cJSON_IsString(nm))
        for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++)
            if (strcmp(nm->valuestring, builtin[i].name) == 0 && ttt_tok_vocab_size(mt->tok) == builtin[i].vocab)
                snprintf(mt->alias, sizeof mt->alias, "%s", builtin[i].name);
    cJSON_Delete(root);
    free(txt);
    free(cp);
}

ttt_status model_tok_load(const char *path, model_tok *mt) {
    memset(mt, 0, sizeof *mt);
    snprintf(mt->from, sizeof mt->from, "%.1000s", path);
    ttt_status s = ttt_tok_load(path, NULL, &mt->tok);
    if (s != TTT_OK) {
        mt->tok = NULL;
        return s;
    }
    find_alias(path, mt);
    return TTT_OK;
}

void model_tok_free(model_tok *mt) {
    ttt_tok_free(mt->tok);
    mt->tok = NULL;
}

const char *model_tok_name(const model_tok *mt) { return mt->alias[0] ? mt->alias : ttt_tok_name(mt->tok); }

int model_tok_is(const model_tok *mt, const char *name) {
    return strcmp(name, ttt_tok_name(mt->tok)) == 0 || (mt->alias[0] && strcmp(name, mt->alias) == 0);
}

const char *model_tok_describe(const model_tok *mt, char *buf, size_t cap) {
    if (mt->alias[0])
        snprintf(buf, cap, "'%s' ('%s' saved as tokenizer.json, %lld ids)", ttt_tok_name(mt->tok), mt->alias,
                 (long long)ttt_tok_vocab_size(mt->tok));
    else
        snprintf(buf, cap, "'%s' (%lld ids)", ttt_tok_name(mt->tok), (long long)ttt_tok_vocab_size(mt->tok));
    return buf;
}
