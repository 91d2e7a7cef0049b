/* ttt_fast.c: the run-time choice between the AVX-512 and the portable builds of the fused TTT
 * kernels (ttt_fast_impl.h), made once from the CPU's features, and the kernels' work-space
 * size. */
#include "kernels/ttt_fast.h"

#include <stdlib.h>
#include <string.h>

/* the two builds of ttt_fast_impl.h */
#define DECLARE_ISA(sfx)                                                                           \
    void ttt_fast_mb_forward_##sfx(const ttt_inner_dims *, int64_t, const ttt_fast_in *, float *,  \
                                   float *, float *, int64_t, float *, float *);                  \
    void ttt_fast_mb_backward_##sfx(const ttt_inner_dims *, int64_t, const ttt_fast_in *,          \
                                    const float *, const float *, int64_t, float *, float *,       \
                                    float *, float *, float *, float *, float *, float *, float *); \
    void ttt_fast_primal_step_##sfx(const ttt_inner_dims *, const float *, const float *,          \
                                    const float *, float, float, const float *, const float *,     \
                                    float *, float *, int, float *, float *);
DECLARE_ISA(portable)
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_AVX512_PATH 1
DECLARE_ISA(avx512)
#else
#define HAVE_AVX512_PATH 0
#endif

static int force_portable = 0;
static int have_avx512 = 0;

/* once, when the library loads (before any thread can ask): AVX-512 F, BW, DQ and VL (what
 * the target attribute of ttt_fast_avx512.c enables), unless the environment says
 * TTT_FAST_ISA=portable (to run the portable path on such a CPU) */
__attribute__((constructor)) static void detect_isa(void) {
    const char *env = getenv("TTT_FAST_ISA");
    int portable = env && strcmp(env, "portable") == 0;
#if HAVE_AVX512_PATH
    __builtin_cpu_init();
    have_avx512 = !portable && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                  __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#else
    (void)portable;
#endif
}

static int use_avx512(void) { return have_avx512 && !force_portable; }

const char *ttt_fast_isa(void) { return use_avx512() ? "avx512" : "portable"; }

void ttt_fast_force_portable(int on) { force_portable = on; }

int ttt_fast_usable(const ttt_inner_dims *d) {
    return d->b >= 1 && d->b <= 16 && d->f >= 1 && d->F >= 1 && (d->mlp || d->F == d->f);
}

/* the largest of the kernels' bump allocations (ttt_fast_impl.h), plus 16 floats for the
 * alignment of the start: the MLP backward holds 17 blocks of [f][16] and 14 of [F][16] (3 and
 * 5 of them cache copies when b < 16), six 16×16 blocks and two token-major copies ([16][f],
 * [16][F]); Linear (F = f) 19 [f][16] blocks and six 16×16; the forwards and the primal step
 * need less. Rounded up here, to 20 and 16 blocks. */
int64_t ttt_fast_scratch_elems(const ttt_inner_dims *d) {
    int64_t f = (d->f + 15) & ~(int64_t)15, F = (d->F + 15) & ~(int64_t)15;
    return 16 * (20 * f + 16 * F) + 6 * 256 + 64;
}

void ttt_fast_mb_forward(const ttt_inner_dims *d, int64_t n, const ttt_fast_in *in, float *state,
                         float *sums, float *out, int64_t ldo, float *mbc, float *scratch) {
#if HAVE_AVX512_PATH
    if (use_avx512())
        ttt_fast_mb_forward_avx512(d, n, in, state, sums, out, ldo, mbc, scratch);
    else
#endif
        ttt_fast_mb_forward_portable(d, n, in, state, sums, out, ldo, mbc, scratch);
}

void ttt_fast_mb_backward(const ttt_inner_dims *d, int64_t n, const ttt_fast_in *in,
                          const float *mbc, const float *dout, int64_t ldo, float *dstate,
                          float *dQ, float *dK, float *dV, float *dlr, float *dtau, float *dgamma,
                          float *dbeta, float *scratch) {
#if HAVE_AVX512_PATH
    if (use_avx512())
        ttt_fast_mb_backward_avx512(d, n, in, mbc, dout, ldo, dstate, dQ, dK, dV, dlr, dtau, dgamma,
                                    dbeta, scratch);
    else
#endif
        ttt_fast_mb_backward_portable(d, n, in, mbc, dout, ldo, dstate, dQ, dK, dV, dlr, dtau,
                                      dgamma, dbeta, scratch);
}

void ttt_fast_primal_step(const ttt_inner_dims *d, const float *q, const float *k, const float *v,
                          float lr, float tau, const float *gamma, const float *beta, float *state,
                          float *sums, int commit, float *out, float *scratch) {
#if HAVE_AVX512_PATH
    if (use_avx512())
        ttt_fast_primal_step_avx512(d, q, k, v, lr, tau, gamma, beta, state, sums, commit, out, scratch);
    else
#endif
        ttt_fast_primal_step_portable(d, q, k, v, lr, tau, gamma, beta, state, sums, commit, out,
                                      scratch);
}
