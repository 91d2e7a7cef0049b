/* prof.h: an optional breakdown of where the time of a forward or training step goes
 * (`ttt forward --profile`): exclusive wall time, calls and FLOPs per class of operation,
 * taken at the operations' entry points on the calling thread. Calls made inside a parallel
 * region are part of their caller's time; a nested call's time is its own, not its caller's.
 * Off by default: an entry point then costs one branch. */
#ifndef TTT_CORE_PROF_H
#define TTT_CORE_PROF_H

#include <stdint.h>

typedef enum {
    TTT_PROF_MM_NT,      /* C = A Bᵀ: forward projections (weights [out, in]) */
    TTT_PROF_MM_NN,      /* C = A B: input gradients */
    TTT_PROF_MM_TN,      /* C = Aᵀ B: weight gradients */
    TTT_PROF_TTT_FWD,    /* the TTT scan over mini-batches, forward (inner loop) */
    TTT_PROF_TTT_BWD,    /* its backward, with the recomputation of groups */
    TTT_PROF_ATTN_FWD,   /* tiled causal attention */
    TTT_PROF_ATTN_BWD,
    TTT_PROF_MAMBA_FWD,  /* the Mamba mixer without its projections: conv, selective scan, gates */
    TTT_PROF_MAMBA_BWD,
    TTT_PROF_NORM,       /* RMSNorm and LayerNorm, forward and backward */
    TTT_PROF_CONV,       /* depthwise causal convolutions (pre-conv, conv_q / conv_k) */
    TTT_PROF_ELEMWISE,   /* SwiGLU, the gelu gate, RoPE, residual adds */
    TTT_PROF_LOSS,       /* cross-entropy (softmax over the vocabulary) */
    TTT_PROF_EMBED,      /* embedding rows and their gradient */
    TTT_PROF_OPTIM,      /* gradient norm and AdamW */
    TTT_PROF_N
} ttt_prof_cat;

extern int ttt_prof_enabled;

/* start timing an operation of class cat; returns the token for ttt_prof_end (0: not timed) */
int ttt_prof_begin(int cat);
/* end the operation begun with token tok, which did `flops` floating-point operations */
void ttt_prof_end(int tok, double flops);
void ttt_prof_reset(void);

typedef struct {
    double seconds[TTT_PROF_N]; /* exclusive */
    double flops[TTT_PROF_N];
    int64_t calls[TTT_PROF_N];
} ttt_prof_totals;

void ttt_prof_get(ttt_prof_totals *out);
const char *ttt_prof_name(int cat);

/* Time the rest of the enclosing block (every return included) as one operation of class cat
 * with fl FLOPs: one line at the top of an entry point. */
typedef struct {
    int tok;
    double flops;
} ttt_prof_scope_t;
static inline void ttt_prof_scope_end(ttt_prof_scope_t *s) {
    if (s->tok) ttt_prof_end(s->tok, s->flops);
}
#define TTT_PROF_SCOPE(cat, fl) \
    __attribute__((cleanup(ttt_prof_scope_end))) ttt_prof_scope_t ttt_prof_scope_ = {ttt_prof_enabled ? ttt_prof_begin(cat) : 0, (fl)}

#endif
