/* ops.h: the numeric operations shared by every layer, each a forward/backward pair over
 * plain arrays with explicit sizes (outputs first, then inputs, then sizes). Backward
 * functions accumulate (+=) into gradients. Row-major throughout; N = number of rows (tokens),
 * D = row width. Generic over `real` (see core/real.h): include after real.h.
 *
 * Determinism: every function gives bit-identical results for any thread count. Rows are
 * split among threads only where each row's output is independent; parameter gradients,
 * which sum over rows, are split by columns, each summing its rows in order. */
#ifndef TTT_OPS_OPS_H
#define TTT_OPS_OPS_H

#include <stdint.h>

#include "core/real.h"

/* Parallelise a loop only when it has enough work: on tiny loops the cost of waking and
 * joining threads (and their spin-waits on a busy machine) exceeds the work itself. */
#define TTT_PAR_MIN_WORK 32768
#define TTT_PAR(work) ((int64_t)(work) >= TTT_PAR_MIN_WORK)

/* matmul.c ------------------------------------------------------------------------------- */
/* C[M,N] = (acc ? C : 0) + A[M,K] · B[N,K]^T   (a linear layer y = x W^T, W as [out, in]) */
void RF(mm_nt)(real *C, const real *A, const real *B, int64_t M, int64_t N, int64_t K, int acc);
/* C[M,N] = (acc ? C : 0) + A[M,K] · B[K,N]     (backward to the input: dx = dy W) */
void RF(mm_nn)(real *C, const real *A, const real *B, int64_t M, int64_t N, int64_t K, int acc);
/* C[M,N] = (acc ? C : 0) + A[K,M]^T · B[K,N]   (weight gradient: dW += dy^T x) */
void RF(mm_tn)(real *C, const real *A, const real *B, int64_t M, int64_t N, int64_t K, int acc);
/* C[m,n] = beta·C + op(A)·op(B) (op: transposed when ta / tb), rows of A, B, C at strides
 * lda, ldb, ldc: one single-threaded GEMM library call (oneDNN or OpenBLAS, as above), for
 * kernels that already run one per thread (the wide TTT mini-batch). */
void RF(gemm_block)(int ta, int tb, int64_t m, int64_t n, int64_t k, const real *A, int64_t lda,
                    const real *B, int64_t ldb, real beta, real *C, int64_t ldc);

/* bias.c --------------------------------------------------------------------------------- */
/* y[m, c] += b[c] (b NULL: nothing) */
void RF(bias_add)(real *y, const real *b, int64_t M, int64_t C);
/* db[c] += Σ_m dy[m, c] (db NULL: nothing), each column summed over the rows in order */
void RF(bias_grad)(real *db, const real *dy, int64_t M, int64_t C);

/* norm.c --------------------------------------------------------------------------------- */
/* y = w ⊙ x / sqrt(mean(x²) + eps); rstd[N] saved for backward */
void RF(rmsnorm_fwd)(real *y, real *rstd, const real *x, const real *w, int64_t N, int64_t D, real eps);
/* dx += ..., dw += Σ_rows dy ⊙ x ⊙ rstd */
void RF(rmsnorm_bwd)(real *dx, real *dw, const real *dy, const real *x, const real *w,
                     const real *rstd, int64_t N, int64_t D);
/* LayerNorm over D: y = w ⊙ (x − μ)/σ + b, σ = sqrt(var + eps) (biased); mean, rstd saved */
void RF(layernorm_fwd)(real *y, real *mean, real *rstd, const real *x, const real *w, const real *b,
                       int64_t N, int64_t D, real eps);
/* dx += ..., dw += Σ dy ⊙ x̂, db += Σ dy */
void RF(layernorm_bwd)(real *dx, real *dw, real *db, const real *dy, const real *x, const real *w,
                       const real *mean, const real *rstd, int64_t N, int64_t D);

/* conv.c --------------------------------------------------------------------------------- */
/* Depthwise causal convolution over time, per sequence of [L, D] (B sequences):
 * y[t,c] = bias[c] + Σ_{k<K} w[c,k] · u[t−K+1+k, c]; u at negative times comes from hist
 * ([B, K−1, D], oldest first) or is 0 when hist is NULL. w is PyTorch's [D, 1, K]. */
void RF(dwconv_fwd)(real *y, const real *u, const real *hist, const real *w, const real *bias,
                    int64_t B, int64_t L, int64_t D, int64_t K);
/* Backward without history (full sequences): du += ..., dw += ..., dbias += ... */
void RF(dwconv_bwd)(real *du, real *dw, real *dbias, const real *dy, const real *u, const real *w,
                    int64_t B, int64_t L, int64_t D, int64_t K);
/* Shift the last K−1 inputs of this chunk (u [B, L, D]) into hist [B, K−1, D]. */
void RF(dwconv_hist_update)(real *hist, const real *u, int64_t B, int64_t L, int64_t D, int64_t K);

/* rope.c --------------------------------------------------------------------------------- */
/* Interleaved rotary embedding (pairs (2m, 2m+1)) on x [B, L, H, F] in place, position of
 * token t = (pos0 + t) mod period; cs = [period, F/2] cos then [period, F/2] sin (a table in
 * float precision as ttt.py computes it). inverse = 1 rotates by −φ (the backward). */
void RF(rope_interleaved)(real *x, const float *cs, int64_t B, int64_t L, int64_t H, int64_t F,
                          int64_t pos0, int64_t period, int inverse);

/* act.c ---------------------------------------------------------------------------------- */
/* gelu (tanh approximation, exact sqrt(2/π)) and its exact derivative */
real RF(gelu)(real x);
real RF(gelu_grad)(real x);
/* ttt.py's gelu_bwd (truncated constants 0.79788456, 0.1070322243) and its derivative */
real RF(gelu_bwd_ttt)(real x);
real RF(gelu_bwd_ttt_grad)(real x);
real RF(sigmoid)(real x);
/* SwiGLU product: m = silu(a) ⊙ b, n elements */
void RF(swiglu_fwd)(real *m, const real *a, const real *b, int64_t n);
/* da = dm ⊙ b ⊙ silu'(a), db = dm ⊙ silu(a) (overwrite) */
void RF(swiglu_bwd)(real *da, real *db, const real *dm, const real *a, const real *b, int64_t n);
/* y = ln ⊙ gelu(g) over n elements */
void RF(gelu_gate_fwd)(real *y, const real *ln, const real *g, int64_t n);
/* dln = dy ⊙ gelu(g), dg = dy ⊙ ln ⊙ gelu'(g) (overwrite; dln may alias dy) */
void RF(gelu_gate_bwd)(real *dln, real *dg, const real *dy, const real *ln, const real *g, int64_t n);

/* embed.c / xent.c ------------------------------------------------------------------------ */
void RF(embed_fwd)(real *h, const int32_t *ids, const real *E, int64_t N, int64_t D);
/* dE[ids[r]] += dh[r] */
void RF(embed_bwd)(real *dE, const int32_t *ids, const real *dh, int64_t N, int64_t D);
/* Cross-entropy of rows of logits [N, V] against targets (−1 = not counted), each row with
 * weight wt[r]: returns Σ_r wt[r]·nll[r] (accumulated in double, rows in order). If dlogits
 * is not NULL it receives wt[r]·(softmax(row) − onehot(target)) · scale (rows without a target
 * get zeros); dlogits may alias logits. */
double RF(xent_fwd_bwd)(real *dlogits, const real *logits, const int32_t *targets,
                        const double *wt, double scale, int64_t N, int64_t V);
/* nll[r] = logsumexp(row r) − row[target r] (0 where the target is −1) */
void RF(xent_rows)(double *nll, const real *logits, const int32_t *targets, int64_t N, int64_t V);

/* adamw.c ------------------------------------------------------------------------------ */
/* Σ g² in double, deterministic for any thread count */
double RF(sumsq)(const real *g, int64_t n);
/* one AdamW update of n parameters (see adamw.c); g is multiplied by gscale (clipping) */
void RF(adamw_step)(real *p, const real *g, real *m, real *v, int64_t n, double lr, double b1,
                    double b2, double eps, double wd, int64_t t, double gscale);

/* misc */
void RF(vec_add)(real *y, const real *x, int64_t n); /* y += x */

#endif
