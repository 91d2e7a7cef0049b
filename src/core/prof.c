/* prof.c: the per-operation time breakdown (see prof.h). A stack of open operations on the
 * calling thread: when one ends, its elapsed time minus that of the operations it called is
 * added to its class. */
#include "core/prof.h"

#include <omp.h>
#include <string.h>

int ttt_prof_enabled = 0;

enum { MAX_DEPTH = 32 };
static struct {
    int cat;
    double t0, child;
} stack[MAX_DEPTH];
static int depth;
static ttt_prof_totals tot;

int ttt_prof_begin(int cat) {
    if (!ttt_prof_enabled || omp_in_parallel() || depth == MAX_DEPTH) return 0;
    stack[depth].cat = cat;
    stack[depth].child = 0;
    stack[depth].t0 = omp_get_wtime();
    depth++;
    return depth; /* 1-based */
}

void ttt_prof_end(int tok, double flops) {
    if (tok == 0 || tok != depth) return;
    double dt = omp_get_wtime() - stack[depth - 1].t0;
    int c = stack[depth - 1].cat;
    tot.seconds[c] += dt - stack[depth - 1].child;
    tot.flops[c] += flops;
    tot.calls[c]++;
    depth--;
    if (depth > 0) stack[depth - 1].child += dt;
}

void ttt_prof_reset(void) {
    memset(&tot, 0, sizeof tot);
    depth = 0;
}

void ttt_prof_get(ttt_prof_totals *out) { *out = tot; }

const char *ttt_prof_name(int cat) {
    static const char *const names[TTT_PROF_N] = {
        "matmul A*B^T (forward)", "matmul A*B (input grads)", "matmul A^T*B (weight grads)",
        "TTT scan forward", "TTT scan backward", "attention forward", "attention backward",
        "Mamba mixer forward", "Mamba mixer backward", "norms", "depthwise convolutions", "elementwise (act, rope, add)",
        "cross-entropy", "embedding", "optimizer"};
    return cat >= 0 && cat < TTT_PROF_N ? names[cat] : "?";
}
