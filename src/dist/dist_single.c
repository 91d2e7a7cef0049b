/* dist_single.c: the distributed layer of a build without MPI (dist.h): one process, rank 0 of
 * 1, every collective a no-op. It refuses to run when a launcher started several processes,
 * since each would train alone into the same run directory. */
#ifndef TTT_HAVE_MPI
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "dist/dist.h"

static int remote_error;

/* processes a launcher said it started (0: no launcher) */
static long launcher_size(void) {
    const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return strtol(v, NULL, 10);
    }
    return 0;
}

ttt_status dist_init(void) {
    long n = launcher_size();
    if (n > 1)
        return ttt_err(TTT_ERR_ARG, "a launcher started %ld processes, but this ttt was built without MPI: install "
                       "MPI (openmpi-bin and libopenmpi-dev) and rebuild (make), or run one process",
                       n);
    return TTT_OK;
}

void dist_finalize(void) {}
int dist_rank(void) { return 0; }
int dist_size(void) { return 1; }
int dist_local_size(void) { return 1; }
int dist_have_mpi(void) { return 0; }
const char *dist_library(void) { return "none"; }
void dist_allreduce_sum(void *buf, int64_t n, size_t elem) { (void)buf, (void)n, (void)elem; }
int dist_sum_is_tree(void) { return 1; }

void dist_allgather_f64(const double *mine, int64_t n, double *all) {
    if (all != mine) memmove(all, mine, sizeof(double) * (size_t)n);
}

void dist_bcast(void *buf, size_t bytes, int root) { (void)buf, (void)bytes, (void)root; }
int dist_any_failed(int failed) { return failed != 0; }
void dist_barrier(void) {}

_Noreturn void dist_abort(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ttt: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(code);
}

void dist_set_remote_error(int remote) { remote_error = remote; }
int dist_remote_error(void) { return remote_error; }
#else
typedef int dist_single_unused; /* an MPI build uses dist_mpi.c */
#endif
