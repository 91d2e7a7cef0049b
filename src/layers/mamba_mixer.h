/* mamba_mixer.h: the Mamba-1 mixer (mamba_ssm's Mamba module; exact statement in
 * golden/mamba_block/README.md), per sequence, time t and channel c < E:
 *   [u⁰_t ; z_t] = in_proj · x_t (+ bias)              split E | E
 *   u_t = silu(conv1d(u⁰)_t)                            causal depthwise, kernel K
 *   [δ_t ; B_t ; C_t] = x_proj · u_t                    split R | N | N
 *   Δ_t = softplus(dt_proj.weight · δ_t + dt_proj.bias)
 *   h_t = exp(Δ_t A) ⊙ h_{t−1} + Δ_t B_t u_t,  s_t = h_t · C_t,  A = −exp(A_log)  [E, N]
 *   y_t = out_proj · ((s_t + D ⊙ u_t) ⊙ silu(z_t)) (+ bias)
 * Forward (training keeps what the backward needs; the selective scan keeps its state only at
 * chunk boundaries), the exact backward (recomputing the states inside each chunk, reverse-time
 * recurrence), and cached continuation for prefill / decode (conv history of the last K−1 u⁰
 * and the state h). Generic over `real`; rows M = B·L, row-major [B, L, ·]. */
#ifndef TTT_LAYERS_MAMBA_MIXER_H
#define TTT_LAYERS_MAMBA_MIXER_H

#include "core/real.h"
#include "model/params.h"

/* offsets (elements) of one Mamba block's tensors (backbone.layers.N.*); not generic, so
 * guarded apart from the rest (a file may include this header once per precision) */
#ifndef TTT_MAMBA_BLOCK_OFFS
#define TTT_MAMBA_BLOCK_OFFS
typedef struct {
    int64_t norm, in_proj, in_proj_b, conv_w, conv_b, x_proj, dt_w, dt_b, A_log, D, out_proj, out_proj_b;
} mamba_block_offs;
#endif

/* channels per scan task: the scan is parallel over (sequence, block of MAMBA_CB channels);
 * a fixed size, so the reductions over channels do not depend on the thread count */
#define MAMBA_CB 32

/* the mixer's tensors (parameters or gradients); NULL when absent */
typedef struct {
    real *in_proj, *in_proj_b;   /* [2E, D], [2E] */
    real *conv_w, *conv_b;       /* [E, 1, K], [E] */
    real *x_proj;                /* [R + 2N, E] */
    real *dt_w, *dt_b;           /* [E, R], [E] */
    real *A_log;                 /* [E, N] */
    real *D;                     /* [E] */
    real *out_proj, *out_proj_b; /* [D, E], [D] */
} RF(mamba_w);

void RF(mamba_w_bind)(RF(mamba_w) *w, real *base, const mamba_block_offs *o);

/* what the forward keeps for the backward (pointers into a workspace) */
typedef struct {
    real *u0, *z, *uc;  /* [M, E] conv input, gate branch, conv output before the SiLU */
    real *dl;           /* [M, R] δ */
    real *Bm, *Cm;      /* [M, N] */
    real *dt;           /* [M, E] Δ */
    real *s;            /* [M, E] scan output */
    real *ckpt;         /* [B, nchunk, ncb, N, MAMBA_CB] state before each chunk, per block of
                         * channels (training; NULL: none) */
} RF(mamba_act);

/* scratch shared by the layers */
typedef struct {
    real *A;            /* [E, N] −exp(A_log) */
    real *u, *g;        /* [M, E] silu(uc); out_proj input (backward: then dz) */
    int64_t chunk;      /* scan recomputation chunk in steps (>= 1) */
    int nthreads;       /* threads of the scan (each has its own work space) */
    real *work;         /* [nthreads, per_thread]: the scan's state per thread (backward: the
                         * replayed states and decays of one chunk, (2·chunk + 5)·N·MAMBA_CB) */
    int64_t per_thread;
    /* backward */
    real *dg, *du, *ddt;     /* [M, E] */
    real *ddl, *dB, *dC;     /* [M, R], [M, N], [M, N] */
    real *dBp, *dCp;         /* [ncb, M, N] per channel-block partial sums */
    real *dAp;               /* [B, E, N] per-sequence partial sums */
} RF(mamba_tmp);

/* decoding state of one layer for B sequences */
typedef struct {
    real *conv_hist;    /* [B, K−1, E] the last K−1 u⁰, oldest first */
    real *state;        /* [B, E, N] h */
} RF(mamba_cache);

/* Point the arrays of a / t into p (NULL: only count); return the number of reals used.
 * train: keep everything the backward needs (checkpoints every `chunk` steps). */
int64_t RF(mamba_act_bind)(RF(mamba_act) *a, real *p, const ttt_dims *d, int64_t B, int64_t L, int train,
                           int64_t chunk);
int64_t RF(mamba_tmp_bind)(RF(mamba_tmp) *t, real *p, const ttt_dims *d, int64_t B, int64_t L, int train,
                           int64_t chunk, int nthreads);

/* y [M, D] = Mixer(x [M, D]). cache NULL: fresh sequences (zero conv history and state);
 * else the tokens continue the cached sequences and the cache is updated. */
void RF(mamba_mixer_forward)(const ttt_dims *d, const RF(mamba_w) *w, RF(mamba_act) *a, RF(mamba_tmp) *t,
                             const real *x, real *y, int64_t B, int64_t L, RF(mamba_cache) *cache);
/* One token for each of n sequences (decode of a running batch): row i of x continues
 * caches[i], a cache of one sequence. The projections run over all n rows; the convolution
 * and the scan per row, as mamba_mixer_forward with B = L = 1 runs them. */
void RF(mamba_mixer_forward_rows)(const ttt_dims *d, const RF(mamba_w) *w, RF(mamba_act) *a, RF(mamba_tmp) *t,
                                  const real *x, real *y, int64_t n, RF(mamba_cache) *caches);

/* dx [M, D] = d y/d x · dy (overwritten); parameter gradients accumulate into gw. Needs the
 * activations of a training forward of the same x (fresh sequences). */
void RF(mamba_mixer_backward)(const ttt_dims *d, const RF(mamba_w) *w, const RF(mamba_w) *gw,
                              const RF(mamba_act) *a, RF(mamba_tmp) *t, const real *x, const real *dy,
                              real *dx, int64_t B, int64_t L);

#endif
