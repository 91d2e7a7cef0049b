/* kernels.c: the global kernel selection (reference or fast paths, the GEMM library, the
 * active bf16 weight region), the CPU feature checks, and thread-count control (OpenMP;
 * OpenBLAS is kept single-threaded, oneDNN runs single-threaded inside our panels). */
#include "ops/kernels.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

int ttt_reference_kernels = 0;
#ifdef TTT_HAVE_DNNL
int ttt_gemm_lib = TTT_GEMM_DNNL;
#else
int ttt_gemm_lib = TTT_GEMM_OPENBLAS;
#endif
int ttt_gemv_max_m = TTT_GEMV_MAX_M;
_Thread_local int ttt_gemv_batch_exact = 0;
ttt_bf16_region ttt_bf16_active = {NULL, 0, NULL, NULL};

extern void openblas_set_num_threads(int num_threads);

const char *ttt_gemm_lib_name(int lib) { return lib == TTT_GEMM_DNNL ? "dnnl" : "openblas"; }

int ttt_gemm_select(const char *name) {
    if (strcmp(name, "openblas") == 0) {
        ttt_gemm_lib = TTT_GEMM_OPENBLAS;
        return 0;
    }
#ifdef TTT_HAVE_DNNL
    if (strcmp(name, "dnnl") == 0) {
        ttt_gemm_lib = TTT_GEMM_DNNL;
        return 0;
    }
#endif
    return -1;
}

/* Our OpenMP threads are the only pool: the BLAS always runs single-threaded inside them
 * (see matmul.c). TTT_GEMM picks the GEMM library (unknown names keep the default),
 * TTT_GEMV_MAX_M the largest product sent to the matrix-vector kernels (0..64). */
__attribute__((constructor)) static void kernels_init(void) {
    openblas_set_num_threads(1);
    const char *g = getenv("TTT_GEMM");
    if (g && *g) ttt_gemm_select(g);
    const char *v = getenv("TTT_GEMV_MAX_M");
    if (v && *v) {
        long n = strtol(v, NULL, 10);
        if (n >= 0 && n <= 64) ttt_gemv_max_m = (int)n;
    }
}

void ttt_set_threads(int n) {
    openblas_set_num_threads(1);
    if (n > 0) omp_set_num_threads(n);
}

int ttt_get_threads(void) { return omp_get_max_threads(); }

int ttt_cpu_has_bf16(void) {
    static int v = -1;
    if (v < 0) {
        __builtin_cpu_init();
        v = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512bf16");
    }
    return v;
}

int ttt_cpu_has_avx512(void) {
    static int v = -1;
    if (v < 0) {
        __builtin_cpu_init();
        v = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
    }
    return v;
}

#define SCRATCH_SLOTS 64
static struct {
    ttt_buf buf;
    int busy;
} scratch[SCRATCH_SLOTS];

void *ttt_scratch_take(size_t bytes, int *slot) {
    int s = -1;
#pragma omp critical(ttt_scratch)
    for (int i = 0; i < SCRATCH_SLOTS && s < 0; i++)
        if (!scratch[i].busy) scratch[i].busy = 1, s = i;
    if (s < 0) return NULL;
    if (ttt_buf_reserve(&scratch[s].buf, bytes ? bytes : 1, "scratch") != TTT_OK) {
        ttt_scratch_give(s);
        return NULL;
    }
    *slot = s;
    return scratch[s].buf.data;
}

void ttt_scratch_give(int slot) {
#pragma omp critical(ttt_scratch)
    scratch[slot].busy = 0;
}
