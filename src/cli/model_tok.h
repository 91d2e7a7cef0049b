/* model_tok.h: the tokenizer of a model directory (DIR/tokenizer.json, written by `ttt init
 * --tokenizer` and into every checkpoint of `ttt train --tokenizer`), loaded with where it came
 * from. A built-in tokenizer (Llama-2, tiktoken) saved as tokenizer.json keeps its name
 * ("llama2", "r50k_base": tokenizer_config.json's "ttt_tokenizer", see ttt_tok_save), so it
 * goes with the token files and models made with the original. */
#ifndef TTT_CLI_MODEL_TOK_H
#define TTT_CLI_MODEL_TOK_H

#include "ttt_tokenizer.h"

typedef struct {
    ttt_tok *tok;
    char from[1100]; /* where it was loaded from, for messages */
} model_tok;

/* DIR/tokenizer.json exists (as anything: loading then says what is wrong with it) */
int model_tok_in_dir(const char *dir);

/* Load the tokenizer at PATH (any path ttt_tok_load takes). */
ttt_status model_tok_load(const char *path, model_tok *mt);
void model_tok_free(model_tok *mt);
/* The tokenizer of a model (ttt generate, ttt serve): FLAG (a --tokenizer path) when given, else
 * the one the config names (NAME, may be "") looked up in MODEL_DIR, then the directory's own
 * tokenizer.json, then NAME in data/tok/; an error says where it looked. */
ttt_status model_tok_find(const char *flag, const char *model_dir, const char *name, model_tok *out);

/* the name a model records for it (ttt_tok_name) */
const char *model_tok_name(const model_tok *mt);
/* name is its name */
int model_tok_is(const model_tok *mt, const char *name);
/* "'llama2' (32000 ids)" into buf */
const char *model_tok_describe(const model_tok *mt, char *buf, size_t cap);

#endif
