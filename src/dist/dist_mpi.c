/* dist_mpi.c: the distributed layer over MPI (dist.h), compiled when the build finds mpicc
 * (mk/mpi.mk defines TTT_HAVE_MPI for this file only). The gradient sum is our own fixed
 * reduction tree over MPI point-to-point exchanges when the number of ranks is a power of two,
 * so that its result does not depend on the MPI library's choice of algorithm (dist.h). */
#ifdef TTT_HAVE_MPI
#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "dist/dist.h"

static int inited, rank_, size_ = 1, local_size_ = 1, remote_error;
static char library[128] = "MPI";
static void *scratch;       /* receive buffer of the reduce-scatter (half a bucket) */
static size_t scratch_bytes;

/* elements per bucket of the all-reduce: bounds the receive buffer and keeps MPI's int counts */
#define BUCKET ((int64_t)1 << 24)

/* a launcher (Open MPI's mpirun, Hydra's mpiexec, srun with PMI/PMIx) started this process */
static int launched(void) {
    const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_RANK", "PMIX_RANK", "MV2_COMM_WORLD_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

ttt_status dist_init(void) {
    if (inited || !launched()) return TTT_OK;
    int provided = 0;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return ttt_err(TTT_ERR_IO, "MPI_Init_thread failed");
    /* a communication error (a peer that died, a lost connection) ends the whole job */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    MPI_Comm node;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
    MPI_Comm_size(node, &local_size_);
    MPI_Comm_free(&node);
    char v[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(v, &len);
    v[strcspn(v, ",\n")] = 0;
    snprintf(library, sizeof library, "MPI (%.100s)", v);
    inited = 1;
    return TTT_OK;
}

void dist_finalize(void) {
    if (!inited) return;
    MPI_Finalize();
    inited = 0;
    ttt_free(scratch);
    scratch = NULL, scratch_bytes = 0;
}

int dist_rank(void) { return rank_; }
int dist_size(void) { return size_; }
int dist_local_size(void) { return local_size_; }
int dist_have_mpi(void) { return 1; }
const char *dist_library(void) { return inited ? library : "MPI (not started: one process)"; }

static int active(void) { return inited && size_ > 1; }

int dist_sum_is_tree(void) { return (size_ & (size_ - 1)) == 0; }

/* dst[n] += src[n] (a + b = b + a exactly in IEEE arithmetic, so which partner adds is moot) */
static void add_into(void *dst, const void *src, int64_t n, size_t elem) {
    if (elem == 8) {
        double *d = dst;
        const double *s = src;
        for (int64_t i = 0; i < n; i++) d[i] += s[i];
    } else {
        float *d = dst;
        const float *s = src;
        for (int64_t i = 0; i < n; i++) d[i] += s[i];
    }
}

/* One bucket buf[n], N = 2^K ranks (dist.h):
 *   reduce-scatter, rounds k = 0..K−1 with peer = rank XOR 2^k: split the current segment in
 *     halves, keep the half given by bit k of the rank, send the other; kept += received.
 *     After round k the kept segment holds the sum over the aligned block of 2^(k+1) ranks.
 *   allgather, rounds k = K−1..0: swap segments with the same peers, in reverse. */
static void tree_allreduce(char *buf, int64_t n, size_t elem, MPI_Datatype t) {
    int64_t plo[32], phi[32], lo = 0, hi = n;
    int K = 0;
    for (int d = 1; d < size_; d <<= 1, K++) {
        int peer = rank_ ^ d, upper = (rank_ & d) != 0;
        int64_t mid = lo + (hi - lo) / 2;
        int64_t kl = upper ? mid : lo, kh = upper ? hi : mid; /* kept */
        int64_t sl = upper ? lo : mid, sh = upper ? mid : hi; /* sent */
        MPI_Sendrecv(buf + (size_t)sl * elem, (int)(sh - sl), t, peer, 100 + K, scratch, (int)(kh - kl), t, peer,
                     100 + K, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        add_into(buf + (size_t)kl * elem, scratch, kh - kl, elem);
        plo[K] = lo, phi[K] = hi;
        lo = kl, hi = kh;
    }
    for (int k = K - 1; k >= 0; k--) {
        int d = 1 << k, peer = rank_ ^ d, upper = (rank_ & d) != 0;
        int64_t mid = plo[k] + (phi[k] - plo[k]) / 2;
        int64_t ol = upper ? plo[k] : mid, oh = upper ? mid : phi[k]; /* the peer's segment */
        MPI_Sendrecv(buf + (size_t)lo * elem, (int)(hi - lo), t, peer, 200 + k, buf + (size_t)ol * elem,
                     (int)(oh - ol), t, peer, 200 + k, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        lo = plo[k], hi = phi[k];
    }
}

void dist_allreduce_sum(void *buf, int64_t n, size_t elem) {
    if (!active() || n <= 0) return;
    MPI_Datatype t = elem == 8 ? MPI_DOUBLE : MPI_FLOAT;
    int tree = dist_sum_is_tree();
    size_t need = (size_t)(BUCKET / 2 + 1) * elem;
    if (tree && scratch_bytes < need) {
        ttt_free(scratch);
        scratch = ttt_malloc(need, "all-reduce buffer");
        scratch_bytes = scratch ? need : 0;
        if (!scratch) dist_abort(1, "out of memory for the all-reduce buffer (%zu bytes)", need);
    }
    for (int64_t b0 = 0; b0 < n; b0 += BUCKET) {
        int64_t nb = n - b0 < BUCKET ? n - b0 : BUCKET;
        char *p = (char *)buf + (size_t)b0 * elem;
        if (tree)
            tree_allreduce(p, nb, elem, t);
        else
            MPI_Allreduce(MPI_IN_PLACE, p, (int)nb, t, MPI_SUM, MPI_COMM_WORLD);
    }
}

void dist_allgather_f64(const double *mine, int64_t n, double *all) {
    if (!active()) {
        if (all != mine) memmove(all, mine, sizeof(double) * (size_t)n);
        return;
    }
    MPI_Allgather(mine, (int)n, MPI_DOUBLE, all, (int)n, MPI_DOUBLE, MPI_COMM_WORLD);
}

void dist_bcast(void *buf, size_t bytes, int root) {
    if (!active()) return;
    const size_t CH = (size_t)1 << 30;
    for (size_t o = 0; o < bytes; o += CH)
        MPI_Bcast((char *)buf + o, (int)(bytes - o < CH ? bytes - o : CH), MPI_BYTE, root, MPI_COMM_WORLD);
}

int dist_any_failed(int failed) {
    if (!active()) return failed != 0;
    int f = failed != 0, any = 0;
    MPI_Allreduce(&f, &any, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD);
    return any;
}

void dist_barrier(void) {
    if (active()) MPI_Barrier(MPI_COMM_WORLD);
}

_Noreturn void dist_abort(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ttt: rank %d: ", rank_);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(stderr);
    if (inited) MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}

void dist_set_remote_error(int remote) { remote_error = remote; }
int dist_remote_error(void) { return remote_error; }
#else
typedef int dist_mpi_unused; /* a build without MPI uses dist_single.c */
#endif
