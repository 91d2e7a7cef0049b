/* kernels.c: the global kernel selection and thread-count control (OpenMP + OpenBLAS). */
#include "ops/kernels.h"

#include <omp.h>

int ttt_reference_kernels = 0;

extern void openblas_set_num_threads(int num_threads);

void ttt_set_threads(int n) {
    if (n <= 0) return;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

int ttt_get_threads(void) { return omp_get_max_threads(); }
