/* bias.c: the bias of a linear layer, y = x Wᵀ + b:
 *   forward   y[m, c] += b[c]
 *   backward  db[c] += Σ_m dy[m, c]
 * The backward splits the columns among threads in blocks, each block summing its rows in
 * order, so it is bit-identical for any thread count. */
#include "ops/ops.h"

#define COLBLK 64

void RF(bias_add)(real *y, const real *b, int64_t M, int64_t C) {
    if (!b) return;
#pragma omp parallel for schedule(static) if (TTT_PAR(M * C))
    for (int64_t m = 0; m < M; m++)
        for (int64_t c = 0; c < C; c++) y[m * C + c] += b[c];
}

void RF(bias_grad)(real *db, const real *dy, int64_t M, int64_t C) {
    if (!db) return;
    int64_t nb = (C + COLBLK - 1) / COLBLK;
#pragma omp parallel for schedule(static) if (TTT_PAR(M * C))
    for (int64_t bi = 0; bi < nb; bi++) {
        int64_t c0 = bi * COLBLK, c1 = c0 + COLBLK < C ? c0 + COLBLK : C;
        real acc[COLBLK] = {0};
        for (int64_t m = 0; m < M; m++)
            for (int64_t c = c0; c < c1; c++) acc[c - c0] += dy[m * C + c];
        for (int64_t c = c0; c < c1; c++) db[c] += acc[c - c0];
    }
}
