/* model_tok.h: the tokenizer of a model directory (DIR/tokenizer.json, written by `ttt init
 * --tokenizer` and into every checkpoint of `ttt train --tokenizer`) and the name it stands for.
 *
 * A built-in tokenizer (Llama-2, tiktoken) saved as tokenizer.json (ttt_tok_save) loads back as
 * "hf-<hash>", while the directory's config.json records the original name ("llama2",
 * "r50k_base") as "ttt_tokenizer", and token files made with the original carry that name. So a
 * tokenizer.json loaded from a directory whose config.json names a built-in tokenizer with the
 * same vocabulary size has that name as its alias: it stands for the original tokenizer when
 * names are compared (token file headers, the model's config). */
#ifndef TTT_CLI_MODEL_TOK_H
#define TTT_CLI_MODEL_TOK_H

#include "ttt_tokenizer.h"

typedef struct {
    ttt_tok *tok;
    char alias[64]; /* the built-in name of the config.json beside its tokenizer.json, or "" */
    char from[1100]; /* where it was loaded from, for messages */
} model_tok;

/* DIR/tokenizer.json exists (as anything: loading then says what is wrong with it) */
int model_tok_in_dir(const char *dir);

/* Load the tokenizer at PATH (any path ttt_tok_load takes) and its alias. */
ttt_status model_tok_load(const char *path, model_tok *mt);
void model_tok_free(model_tok *mt);

/* the name a model records for it: the alias when there is one, else ttt_tok_name */
const char *model_tok_name(const model_tok *mt);
/* name is its own name or its alias */
int model_tok_is(const model_tok *mt, const char *name);
/* "'llama2' (32000 ids)" or "'hf-…' ('llama2' saved as tokenizer.json, 32000 ids)" into buf */
const char *model_tok_describe(const model_tok *mt, char *buf, size_t cap);

#endif
