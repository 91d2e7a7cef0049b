/* kernels.c: the global kernel selection and thread-count control (OpenMP; OpenBLAS is kept
 * single-threaded). */
#include "ops/kernels.h"

#include <omp.h>

int ttt_reference_kernels = 0;

extern void openblas_set_num_threads(int num_threads);

/* Our OpenMP threads are the only pool: the BLAS always runs single-threaded inside them
 * (see matmul.c). */
__attribute__((constructor)) static void blas_single_threaded(void) { openblas_set_num_threads(1); }

void ttt_set_threads(int n) {
    openblas_set_num_threads(1);
    if (n > 0) omp_set_num_threads(n);
}

int ttt_get_threads(void) { return omp_get_max_threads(); }
