/* model.h: the model object behind the public ttt_model handle, and the entry points of
 * the generic (f32 / f64) TTT language-model code. */
#ifndef TTT_MODEL_MODEL_H
#define TTT_MODEL_MODEL_H

#include "core/mem.h"
#include "model/params.h"
#include "ttt.h"

struct ttt_model {
    ttt_config cfg;
    ttt_dims dims;
    ttt_options opt;
    param_table tab;
    ttt_lm_offs offs;
    size_t elem;        /* sizeof(real): 4 or 8 */
    void *w;            /* parameters, tab.total elements */
    void *g;            /* gradients, same layout (allocated on first use) */
    float *rope_cs;     /* [b, f/2] cos then [b, f/2] sin, float32 as ttt.py computes them */
    ttt_buf ws;         /* activations and scratch, grow-only */
    ttt_buf hidden;     /* residual streams of the last forward (when kept) */
    int keep_hidden;
    int64_t hidden_B, hidden_L;
};

struct ttt_cache {
    ttt_model *m;
    int64_t B;
    int64_t pos;        /* tokens processed so far */
    size_t bytes;
    void *data;         /* per layer: pre-conv history, q/k conv history, states, sums */
};

/* generic entry points (lm.c, compiled for f32 and f64) */
#define DECLARE_LM(sfx) \
    ttt_status lm_forward_##sfx(ttt_model *m, const int32_t *ids, const int32_t *targets, \
                                int64_t B, int64_t L, int per_seq, int backward, double scale, \
                                float *logits, double *loss); \
    int64_t lm_cache_elems_##sfx(const ttt_model *m, int64_t B); \
    void lm_cache_reset_##sfx(ttt_cache *c); \
    ttt_status lm_prefill_##sfx(ttt_model *m, ttt_cache *c, const int32_t *ids, int64_t L, \
                                float *logits);
DECLARE_LM(f32)
DECLARE_LM(f64)

/* init.c */
void ttt_init_params(ttt_model *m, uint64_t seed);

#endif
