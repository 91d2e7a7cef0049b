/* checkpoint.h: checkpoints of a training run. A run directory holds ckpt-NNNNNNNN/
 * directories, each a complete model directory (config.json + model.safetensors) plus
 * train_state.safetensors (AdamW moments "adam.m.<key>" / "adam.v.<key>" in the model's
 * precision, and the step, data position and settings as __metadata__), and a file `latest`
 * naming the newest complete checkpoint. A checkpoint is written into a temporary directory
 * (every file fsync'd), renamed into place, then `latest` is replaced atomically: a crash at
 * any moment leaves the previous checkpoint intact and `latest` pointing at a complete one. */
#ifndef TTT_TRAIN_CHECKPOINT_H
#define TTT_TRAIN_CHECKPOINT_H

#include <stdint.h>

#include "ttt.h"

typedef struct {
    int64_t step;            /* optimizer steps done */
    int64_t windows;         /* training windows consumed (the data position) */
    uint64_t seed;
    void *m, *v;             /* AdamW moments, parameter-buffer layout and precision */
} train_state;

/* keys/vals: extra metadata (settings) recorded with the state */
ttt_status ckpt_write(const char *run_dir, const ttt_model *m, const train_state *st,
                      const char *const *keys, const char *const *vals, int nmeta, int64_t keep,
                      char **written);
/* Load the weights into m and the state (moments allocated by the caller) from a checkpoint
 * directory; `meta_check` keys must match the stored values (settings that must not change
 * across a resume). */
ttt_status ckpt_read(const char *ckpt_dir, ttt_model *m, train_state *st, const char *const *keys,
                     const char *const *vals, int nmeta);

#endif
