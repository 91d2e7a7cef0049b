/* dist.h: the distributed layer of data-parallel training (docs/distributed.md): which process
 * this is among how many, and the few collective operations the training loop needs. Two
 * implementations with this one interface: dist_mpi.c (MPI; compiled when the build finds
 * mpicc, mk/mpi.mk) and dist_single.c (one process, no MPI needed at run time).
 *
 * MPI is initialised only when a launcher (mpirun, mpiexec, srun) started the process; a
 * plain `ttt train` stays a single process even in an MPI build. Only the thread that called
 * dist_init calls these functions (MPI_THREAD_FUNNELED); OpenMP threads never do.
 *
 * Failure model: MPI's default error handler (MPI_ERRORS_ARE_FATAL) ends the whole job on a
 * communication error, and mpirun ends every rank when one dies; errors a rank detects itself
 * are shared through dist_any_failed / the per-step exchange so that every rank returns at
 * the same point instead of waiting forever for the one that left. */
#ifndef TTT_DIST_DIST_H
#define TTT_DIST_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "ttt.h"

/* Start the distributed layer: MPI_Init_thread when a launcher started this process, else
 * nothing (rank 0 of 1). TTT_ERR_ARG when a launcher started several processes but this build
 * has no MPI (each would otherwise train alone into the same run directory). */
ttt_status dist_init(void);
void dist_finalize(void);

int dist_rank(void);        /* this process: 0 .. size−1 (0 when not initialised) */
int dist_size(void);        /* processes in the job (1 when not initialised) */
int dist_local_size(void);  /* processes of the job on this machine */
int dist_have_mpi(void);    /* 1 when built with MPI */
const char *dist_library(void); /* "MPI (Open MPI v4.1.4, ...)" or "none" */

/* buf[n] ← Σ over ranks of buf[n] (elem 4: float, 8: double), the same bytes on every rank.
 * When the number of ranks is a power of two the sum is a fixed binary tree over the ranks:
 * a reduce-scatter by recursive halving with partners at distance 1, 2, 4, ... (after round
 * k each element is the sum of an aligned block of 2^(k+1) ranks, left block + right block),
 * then an allgather by recursive doubling; each rank sends 2·(N−1)/N of the buffer. So with
 * contiguous rank slices the result equals a pairwise sum over the ranks' slices in rank
 * order, independent of the MPI library's choice of algorithm. Other N: MPI_Allreduce. */
void dist_allreduce_sum(void *buf, int64_t n, size_t elem);
int dist_sum_is_tree(void);  /* 1 when dist_allreduce_sum uses the fixed tree */

/* all[size·n] ← every rank's mine[n], in rank order */
void dist_allgather_f64(const double *mine, int64_t n, double *all);
/* root's bytes to every rank */
void dist_bcast(void *buf, size_t bytes, int root);
/* 1 on every rank when any rank passes failed != 0 (a collective: every rank must call it) */
int dist_any_failed(int failed);
void dist_barrier(void);
/* print "ttt: rank R: message" and end the whole job with `code` (MPI_Abort) */
_Noreturn void dist_abort(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Errors: a rank that stops because another rank failed records that here, so that only the
 * rank where an error happened prints it (and rank 0 says which rank failed). */
void dist_set_remote_error(int remote);
int dist_remote_error(void);

#endif
