/* ttt_train.h: training and evaluation of libttt models on token files (the paper's recipe,
 * docs/design.md 5; evaluation, 6).
 *
 * Training: AdamW with decoupled weight decay on every parameter, linear warm-up then cosine
 * decay, global-norm gradient clipping, gradient accumulation, windows of L+1 tokens in a
 * seeded shuffled order with targets equal to BOS left out, the TTT-MLP inner learning-rate
 * warm-up. A run directory holds checkpoints (each a model directory plus train_state.
 * safetensors, and the tokenizer's files when one is given), a pointer to the latest complete
 * one, and metrics.jsonl. */
#ifndef TTT_TRAIN_H
#define TTT_TRAIN_H

#include <stdint.h>

#include "ttt.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ttt_tok; /* ttt_tokenizer.h */

typedef enum { TTT_SCHED_COSINE = 0, TTT_SCHED_CONSTANT = 1 } ttt_schedule;

typedef struct {
    int64_t seq_len;        /* L: each window is L+1 tokens (L inputs, L targets) */
    int64_t batch;          /* sequences per optimizer step (all micro-batches together) */
    int64_t micro_batch;    /* sequences per forward/backward (batch must be a multiple) */
    int64_t steps;          /* optimizer steps in all */
    double lr, lr_end;      /* peak and final learning rate */
    int64_t warmup;         /* warm-up steps (the learning rate reaches lr at step `warmup`) */
    ttt_schedule schedule;
    double beta1, beta2, eps, weight_decay, clip; /* clip <= 0: no clipping */
    int ttt_mlp_lr_warmup;  /* TTT-MLP: warm the inner η_base from 0.01/0.1 of it over `warmup` */
    uint64_t seed;          /* order of the windows */
    int64_t ckpt_every;     /* checkpoint every N steps (0: only at the end) */
    int64_t keep_ckpts;     /* complete checkpoints kept (older ones are deleted) */
    int64_t log_every;      /* metrics line every N steps */
    int64_t val_every;      /* validation every N steps (0: only at the end; needs val data) */
    int64_t val_windows;    /* validation windows (the first ones of the validation file) */
    int64_t stop_after;     /* stop (with a checkpoint) after this many steps of this call; 0: no */
    int mask_bos;           /* leave out targets equal to the model's bos_token_id (default 1) */
    int no_shuffle;         /* take the windows in file order (for checking against fixed data) */
    int doc_windows;        /* windows only inside documents: no document boundary inside a
                               window (documents shorter than L+1 tokens are left out) */
    int quiet;              /* no progress output */
    const struct ttt_tok *tokenizer; /* written into every checkpoint as tokenizer.json and
                                        tokenizer_config.json (NULL: none); its vocabulary must
                                        fit the model's vocab_size. Only rank 0 needs it */
    const char *generation_config; /* a generation_config.json copied into every checkpoint
                                      (NULL: none); read once at the start */
} ttt_train_opts;

void ttt_train_opts_default(ttt_train_opts *o);

/* One step's numbers, handed to the progress callback. */
typedef struct {
    int64_t step, steps;
    double loss, lr, grad_norm, tokens_per_s, elapsed_s;
    double val_loss;        /* NaN when no validation ran at this step */
    int64_t start_step;     /* the step this call started from (> 0 when it resumed) */
} ttt_train_progress;

typedef void (*ttt_progress_fn)(const ttt_train_progress *p, void *ctx);

/* Train `m` on the token file `train_path` (validation on `val_path`, may be NULL) with the
 * run directory `run_dir` (created if missing). When run_dir already has a checkpoint and
 * `resume` is set, the model, optimizer and data position continue from it exactly
 * (bit-identical to an uninterrupted run). On return `m` holds the final weights. */
ttt_status ttt_train(ttt_model *m, const ttt_train_opts *o, const char *train_path,
                     const char *val_path, const char *run_dir, int resume,
                     ttt_progress_fn progress, void *ctx);

/* Called from a progress callback (on the thread running ttt_train): ttt_train stops after
 * this step and returns TTT_ERR_ARG ("stopped by the progress callback"); the run directory keeps
 * its latest complete checkpoint and `m` the weights of this step. */
void ttt_train_request_stop(void);

/* The latest complete checkpoint of a run directory (malloc'd path), or NULL with an error. */
char *ttt_run_latest_checkpoint(const char *run_dir);

/* Per-position NLL of targets ([B, L], −1 = none) without materialising all logits at once;
 * nll [B, L] receives 0 where there is no target. */
ttt_status ttt_forward_nll(ttt_model *m, const int32_t *ids, const int32_t *targets, int64_t B,
                           int64_t L, double *nll);

/* Evaluation over non-overlapping windows of L+1 tokens of a token file (targets equal to
 * BOS left out when mask_bos; a file with a loss mask counts exactly the targets it flags):
 * perplexity = exp(Σ NLL / count), accuracy = correct / count where a counted target is
 * correct when it is the argmax of its logits (ties: the lowest id). by_position (nullable,
 * [L]) receives the mean NLL at each position and counts (nullable, [L]) the number of
 * targets. */
typedef struct {
    double nll_sum;
    int64_t count, windows;
    double ppl;
    int64_t correct;     /* counted targets that are the argmax of their logits */
    double accuracy;     /* correct / count */
} ttt_eval_result;

ttt_status ttt_evaluate(ttt_model *m, const char *data_path, int64_t L, int64_t max_windows,
                        int64_t batch, int mask_bos, double *by_position, int64_t *counts,
                        ttt_eval_result *out);

#ifdef __cplusplus
}
#endif
#endif
