/* kernels.h: process-wide choice between the plain reference implementations and the
 * optimised ones (the GEMM library, matrix-vector kernels for decode, bf16 weights, fused
 * kernels), and thread-count control. Not generic. */
#ifndef TTT_OPS_KERNELS_H
#define TTT_OPS_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* 1: reference kernels everywhere (tests compare against them); 0: fast paths */
extern int ttt_reference_kernels;
/* Set the number of threads for OpenMP regions (the GEMM libraries stay single-threaded:
 * our OpenMP threads are the only pool). */
void ttt_set_threads(int n);
int ttt_get_threads(void);

/* The library behind the fast float32 GEMM path (src/ops/matmul.c, docs/gemm.md). The
 * default is oneDNN when the build found it (TTT_HAVE_DNNL), else OpenBLAS; the environment
 * variable TTT_GEMM=openblas|dnnl overrides it at start-up (benchmarks, A/B checks). Both
 * give bit-identical results for any thread count, not the same bits as each other. */
typedef enum { TTT_GEMM_OPENBLAS = 0, TTT_GEMM_DNNL = 1 } ttt_gemm_lib_t;
extern int ttt_gemm_lib;
/* Name of a library ("openblas", "dnnl"); ttt_gemm_select: 0 ok, -1 unknown or not built. */
const char *ttt_gemm_lib_name(int lib);
int ttt_gemm_select(const char *name);

/* Matrix-vector path of mm_nt (decode): products with at most ttt_gemv_max_m rows of A
 * (default TTT_GEMV_MAX_M; the environment variable TTT_GEMV_MAX_M overrides it at start-up,
 * 0 turns the path off for A/B measurements) stream the weight matrix once (src/ops/gemv.c)
 * instead of calling the GEMM library. */
#define TTT_GEMV_MAX_M 4
extern int ttt_gemv_max_m;
/* Set (on the calling thread) around ttt_decode_multi: every mm_nt product takes the
 * matrix-vector path whatever its number of rows. That path sums each output in an order that
 * does not depend on the other rows, so a sequence decoded in a batch gets the bits it gets
 * decoded alone (and still streams each weight matrix once for the whole batch). */
extern _Thread_local int ttt_gemv_batch_exact;
static inline int ttt_gemv_rows(int64_t M) { return M <= ttt_gemv_max_m || ttt_gemv_batch_exact; }

/* bf16 products (src/ops/bf16.c): while a region is active, mm_nt and mm_nn products whose B
 * (a weight matrix) lies inside [lo, lo + n) read the bfloat16 copy at the same offset
 * instead, with the activations rounded to bf16 and float32 accumulation; and, when grad is
 * set (bf16 mixed-precision training), mm_tn products whose C lies inside [grad, grad + n)
 * (weight gradients) round both operands to bf16 and accumulate in float32. model.c
 * activates a model's region around its inference calls (weights only) and, with bf16_train,
 * around ttt_forward_backward, and clears it after. */
typedef struct {
    const float *lo;
    int64_t n;
    const uint16_t *copy;
    const float *grad; /* NULL: inference */
} ttt_bf16_region;
extern ttt_bf16_region ttt_bf16_active;
/* Scratch buffers lent to one caller at a time, from any thread (a fixed pool of grow-only
 * buffers: thread-local ones would leak when OpenMP retires a thread). ttt_scratch_take
 * returns NULL when out of memory or when every buffer is in use; *slot identifies it for
 * ttt_scratch_give. */
void *ttt_scratch_take(size_t bytes, int *slot);
void ttt_scratch_give(int slot);

/* The CPU has AVX512_BF16 (vdpbf16ps), checked once at run time. */
int ttt_cpu_has_bf16(void);
/* The CPU has AVX-512F (the float32 gemv kernel), checked once at run time. */
int ttt_cpu_has_avx512(void);

#endif
