/* checkpoint.h: checkpoints of a training run. A run directory holds ckpt-NNNNNNNN/
 * directories, each a complete model directory (config.json + model.safetensors) plus
 * train_state.safetensors (AdamW moments "adam.m.<key>" / "adam.v.<key>" in the model's
 * precision, and the step, data position and settings as __metadata__), and a file `latest`
 * naming the newest complete checkpoint. A checkpoint is written into a temporary directory
 * (mkdtemp: .tmp-ckpt-NNNNNNNN-PID-XXXXXX, every file fsync'd), renamed into place, then
 * `latest` is replaced atomically: a crash at any moment leaves the previous checkpoint intact
 * and `latest` pointing at a complete one.
 *
 * Only entries the run itself makes are ever deleted: real directories named exactly like a
 * checkpoint (ckpt-%08lld) or one of its temporary directories, and its own temporary
 * `.model.tmp-PID-N` links; a symbolic link is never followed (one named like a checkpoint is
 * left alone with a warning). */
#ifndef TTT_TRAIN_CHECKPOINT_H
#define TTT_TRAIN_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "ttt.h"
#include "ttt_tokenizer.h"

typedef struct {
    int64_t step;            /* optimizer steps done */
    int64_t windows;         /* training windows consumed (the data position) */
    uint64_t seed;
    void *m, *v;             /* AdamW moments, parameter-buffer layout and precision */
} train_state;

/* The tokenizer files of a run's checkpoints, made once (ttt_tok_save into a scratch directory
 * of the system's temporary directory, then read back): every checkpoint gets the same bytes,
 * and a tokenizer.json that was copied from a file needs that file only at the start. With
 * them, the generation_config.json of the model the run started from (ckpt_generation_read). */
typedef struct {
    char *json, *config; /* tokenizer.json, tokenizer_config.json (NULL when there is none) */
    size_t json_len, config_len;
    char *gen;           /* generation_config.json (NULL when there is none) */
    size_t gen_len;
} ckpt_tokenizer;
ttt_status ckpt_tokenizer_make(const ttt_tok *t, ckpt_tokenizer *out);
void ckpt_tokenizer_free(ckpt_tokenizer *ct);
/* read generation_config.json at path into ct->gen (kept as it is) */
ttt_status ckpt_generation_read(const char *path, ckpt_tokenizer *ct);

/* tok: the tokenizer files written into the checkpoint (NULL: none).
 * keys/vals: extra metadata (settings) recorded with the state (they must not repeat the
 * state's own keys: ttt_train_state_version, step, windows_consumed, seed) */
ttt_status ckpt_write(const char *run_dir, const ttt_model *m, const ckpt_tokenizer *tok, const train_state *st,
                      const char *const *keys, const char *const *vals, int nmeta, int64_t keep,
                      char **written);

/* What a resume expects of the state: the batch (windows_consumed must be step · batch, the
 * one way the training loop advances), the seed, and settings `keys` whose stored values must
 * equal `vals` (settings that must not change across a resume). batch 0: no check of the
 * data position against the step. Per key (each array may be NULL, each entry too): absent,
 * the value the key stands for in a checkpoint written before the key existed; hint, what a
 * mismatch asks the user to keep the same ("setting" when none). */
typedef struct {
    int64_t batch;
    uint64_t seed;
    const char *const *keys, *const *vals;
    int nmeta;
    const char *const *absent, *const *hint;
} ckpt_expect;

/* Load the weights into m and the state (moments allocated by the caller) from a checkpoint
 * directory. */
ttt_status ckpt_read(const char *ckpt_dir, ttt_model *m, train_state *st, const ckpt_expect *ex);
/* The training state alone (train_state.safetensors at path): every integer parsed strictly,
 * the settings compared, the moments' names and shapes checked against m. */
ttt_status ckpt_read_state(const char *path, const ttt_model *m, train_state *st, const ckpt_expect *ex);

/* The content of `latest` (len bytes; shown names it in messages): exactly "ckpt-<digits>",
 * optionally followed by one newline. The checkpoint's directory name (NUL-terminated) goes to
 * name, its step to *step. */
ttt_status ckpt_parse_latest(const char *txt, size_t len, const char *shown, char name[32], int64_t *step);
/* The latest checkpoint of a run: `latest` parsed as above, naming a real directory (not a
 * symbolic link) of run_dir. *path: malloc'd; step may be NULL. */
ttt_status ckpt_latest(const char *run_dir, char **path, int64_t *step);

#endif
