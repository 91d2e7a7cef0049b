/* model.h: the model object behind the public ttt_model handle, the cache object, and the
 * table of entry points each family's model code provides (compiled for f32 and f64; the
 * family's description, model/family.h, holds both). */
#ifndef TTT_MODEL_MODEL_H
#define TTT_MODEL_MODEL_H

#include "core/mem.h"
#include "model/params.h"
#include "ttt.h"

typedef struct lm_arch_ops lm_arch_ops;

struct ttt_model {
    ttt_config cfg;
    ttt_dims dims;
    ttt_options opt;
    param_table tab;
    ttt_lm_offs offs;
    const lm_arch_ops *ops; /* the family's code, in the model's precision */
    size_t elem;        /* sizeof(real): 4 or 8 */
    void *w;            /* parameters, tab.total elements */
    void *w_map;        /* w lies in this private mapping of the weights file (in place), or NULL */
    size_t w_map_len;
    void *g;            /* gradients, same layout (allocated on first use) */
    uint16_t *w_bf16;   /* bf16 copy of w for inference with opt.bf16_weights (or NULL) */
    int w_bf16_stale;   /* w changed since the copy was made */
    void *priv;         /* the family's own tables (its prepare hook; ttt_free'd with the model) */
    ttt_buf ws;         /* activations and scratch, grow-only */
    ttt_buf hidden;     /* residual streams of the last forward (when kept) */
    int keep_hidden;
    int64_t hidden_B, hidden_L;
    double *nll_out;    /* when set, the loss step also writes each row's NLL here [B·L] */
    int32_t *argmax_out;/* when set, the loss step also writes each row's argmax over the
                           vocabulary here [B·L] (rows with a target; ties: the lowest id) */
    int64_t last_only_B;/* > 0: the head makes logits only for the last row of each of these
                           sequences (prefill for generation) */
};

struct ttt_cache {
    ttt_model *m;
    int64_t B;
    int64_t pos;        /* tokens processed so far */
    int64_t cap;        /* positions the storage holds (architectures whose cache grows) */
    ttt_buf buf;        /* the family's state (layout private to its lm_*.c) */
    size_t bytes;       /* bytes in use */
};

/* One tensor of a cache's state as ttt_cache_save writes it (cache_io.c): its name, shape
 * (the batch first), and where its elements lie in the cache: numel / run runs of `run`
 * contiguous elements, run i starting `i·stride` elements after `data` (data NULL when only
 * the shapes were asked for). A run never spans two sequences, and `run` does not depend on
 * the batch (ttt_decode_multi moves sequences run by run). */
typedef struct {
    char name[64];
    int ndim;
    int64_t shape[4];
    void *data;
    int64_t run, stride;
} lm_state_tensor;

/* state_tensors helper: describe tensor number *n (when *n < max) and count it */
static inline void lm_state_add(lm_state_tensor *t, int64_t *n, int64_t max, const char *name, void *data,
                                int64_t run, int64_t stride, int ndim, int64_t s0, int64_t s1, int64_t s2,
                                int64_t s3) {
    if (*n < max) {
        lm_state_tensor *e = &t[*n];
        size_t k = 0;
        while (name[k] && k + 1 < sizeof e->name) e->name[k] = name[k], k++;
        e->name[k] = 0;
        e->ndim = ndim;
        e->shape[0] = s0, e->shape[1] = s1, e->shape[2] = s2, e->shape[3] = s3;
        e->data = data;
        e->run = run;
        e->stride = stride;
    }
    (*n)++;
}

/* What a family's model code provides (lm_ttt.c, lm_llama.c, lm_mamba.c), per precision. */
struct lm_arch_ops {
    /* Full-sequence forward; with backward, gradients accumulate into m->g. targets NULL:
     * the next input token; per_seq: per-sequence mean loss; scale multiplies gradients. */
    ttt_status (*forward)(ttt_model *m, const int32_t *ids, const int32_t *targets, int64_t B,
                          int64_t L, int per_seq, int backward, double scale, float *logits,
                          double *loss);
    /* allocate c->buf for c->B sequences and reset it */
    ttt_status (*cache_init)(ttt_cache *c);
    void (*cache_reset)(ttt_cache *c);
    /* continue the cached sequences by L tokens (ids [B, L]); logits [B, L, V] nullable */
    ttt_status (*prefill)(ttt_model *m, ttt_cache *c, const int32_t *ids, int64_t L, float *logits);
    /* ---- state files (cache_io.c; NULL: the family's caches cannot be saved) ---- */
    /* the state of a cache of B sequences at position pos as named tensors: fills
     * t[0 .. min(n, max)) and returns n. c NULL: shapes only (nothing allocated, data NULL);
     * else c->B == B and the cache holds pos positions (after state_reserve). */
    int64_t (*state_tensors)(const ttt_model *m, ttt_cache *c, int64_t B, int64_t pos,
                             lm_state_tensor *t, int64_t max);
    /* make room in c for pos positions before a load (NULL: the size does not depend on pos) */
    ttt_status (*state_reserve)(ttt_cache *c, int64_t pos);
    /* ttt_decode_multi: one step of n single-sequence caches, each at its own position, ids
     * and logits [n] / [n, V] (nullable), the products over all n rows and the per-sequence
     * parts (attention, convolutions, scans) on each cache in place; ids are checked, the
     * caches are distinct caches of m. NULL: each cache takes ttt_decode_step alone. */
    ttt_status (*decode_multi)(ttt_model *m, ttt_cache **caches, int64_t n, const int32_t *ids, float *logits);
};

/* ttt_decode_multi through the family's own decode_multi (checks ids, applies the options and
 * the bf16 region as ttt_decode_step does); caches already checked by the caller */
ttt_status ttt_model_decode_multi(ttt_model *m, ttt_cache **caches, int64_t n, const int32_t *ids, float *logits);

/* Multiply the TTT inner learning rate η_base (the TTT-MLP warm-up during training). */
void ttt_model_set_inner_lr_mult(ttt_model *m, double mult);

/* init.c */
void ttt_init_params(ttt_model *m, uint64_t seed);

#endif
