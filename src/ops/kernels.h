/* kernels.h: process-wide choice between the plain reference implementations and the
 * optimised ones (BLAS GEMM, later fused kernels). Not generic. */
#ifndef TTT_OPS_KERNELS_H
#define TTT_OPS_KERNELS_H

/* 1: reference kernels everywhere (tests compare against them); 0: fast paths */
extern int ttt_reference_kernels;
/* Set the number of threads for OpenMP regions and the BLAS library. */
void ttt_set_threads(int n);
int ttt_get_threads(void);

#endif
