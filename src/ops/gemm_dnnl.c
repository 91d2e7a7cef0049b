/* gemm_dnnl.c: oneDNN (Debian libdnnl, C API) behind the fast GEMM path (docs/gemm.md):
 * dnnl_sgemm for float32 blocks, and the bf16 matmul primitive (float32 output) for the bf16
 * products (inference with bf16 weights, bf16 mixed-precision training). Both are called on fixed panels of C by matmul.c / bf16.c, inside an OpenMP
 * parallel construct, each call single-threaded: the calling task's OpenMP thread count is
 * set to 1 first (a per-task setting, so it ends with the construct), which is the count
 * oneDNN plans its work for. That keeps one thread pool (ours; oneDNN runs on the same GNU
 * OpenMP runtime) and results independent of the thread count (oneDNN's own threading may
 * split K among threads, which would not be). Float32 only: the file is empty in the f64
 * instantiation, and the functions report failure when the build has no oneDNN. */
#include <omp.h>
#include <string.h>

#include "ops/gemm.h"
#include "ops/kernels.h"
#include "ops/ops.h"

#if TTT_REAL == 32
#ifdef TTT_HAVE_DNNL
#include <dnnl.h>

int gemm_dnnl_block(int ta, int tb, int64_t m, int64_t n, int64_t k, const float *A, int64_t lda,
                    const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    omp_set_num_threads(1);
    return dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, 1.0f, A, lda, B, ldb, beta, C, ldc) !=
           dnnl_success;
}

/* bf16 matmul primitives, created once per shape (a small table; shapes repeat every call) */
typedef struct {
    int64_t m, n, k, as0, as1, bs0, bs1, ldc;
    int acc;
    dnnl_primitive_t prim;
    dnnl_memory_desc_t sd, wd, dd, pd; /* src, weights, dst, scratchpad */
    size_t scratch_bytes;
} prim_entry;

#define PRIM_MAX 512 /* a training step of one model needs a few dozen */
static prim_entry prims[PRIM_MAX];
static int nprims;
static dnnl_engine_t engine;
static int engine_failed;

static dnnl_primitive_t bf16_prim(int64_t m, int64_t n, int64_t k, int64_t as0, int64_t as1, int64_t bs0,
                                  int64_t bs1, int64_t ldc, int acc, const prim_entry **out) {
    dnnl_primitive_t p = NULL;
#pragma omp critical(ttt_dnnl_prims)
    {
        for (int i = 0; i < nprims && !p; i++) {
            prim_entry *e = &prims[i];
            if (e->m == m && e->n == n && e->k == k && e->as0 == as0 && e->as1 == as1 && e->bs0 == bs0 &&
                e->bs1 == bs1 && e->ldc == ldc && e->acc == acc)
                p = e->prim, *out = e;
        }
        if (!p && !engine_failed && nprims < PRIM_MAX) {
            if (!engine && dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success) engine_failed = 1;
            prim_entry *e = &prims[nprims];
            /* src [m,k]: element (i, kk) at i·as0 + kk·as1; weights [k,n]: (kk, j) at kk·bs0 + j·bs1 */
            dnnl_dims_t sdims = {m, k}, sstr = {as0, as1}, wdims = {k, n}, wstr = {bs0, bs1}, ddims = {m, n},
                        dstr = {ldc, 1};
            dnnl_primitive_attr_t attr = NULL;
            dnnl_post_ops_t po = NULL;
            dnnl_matmul_desc_t md;
            dnnl_primitive_desc_t pd = NULL;
            int ok = !engine_failed &&
                     dnnl_memory_desc_init_by_strides(&e->sd, 2, sdims, dnnl_bf16, sstr) == dnnl_success &&
                     dnnl_memory_desc_init_by_strides(&e->wd, 2, wdims, dnnl_bf16, wstr) == dnnl_success &&
                     dnnl_memory_desc_init_by_strides(&e->dd, 2, ddims, dnnl_f32, dstr) == dnnl_success &&
                     dnnl_matmul_desc_init(&md, &e->sd, &e->wd, NULL, &e->dd) == dnnl_success &&
                     dnnl_primitive_attr_create(&attr) == dnnl_success &&
                     dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) == dnnl_success;
            if (ok && acc) /* C += product: the sum post-op */
                ok = dnnl_post_ops_create(&po) == dnnl_success &&
                     dnnl_post_ops_append_sum(po, 1.0f) == dnnl_success &&
                     dnnl_primitive_attr_set_post_ops(attr, po) == dnnl_success;
            ok = ok && dnnl_primitive_desc_create(&pd, &md, attr, engine, NULL) == dnnl_success &&
                 dnnl_primitive_create(&e->prim, pd) == dnnl_success;
            if (ok) {
                const dnnl_memory_desc_t *sp = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
                if (sp) e->pd = *sp;
                e->scratch_bytes = sp ? dnnl_memory_desc_get_size(sp) : 0;
            }
            if (pd) dnnl_primitive_desc_destroy(pd);
            if (po) dnnl_post_ops_destroy(po);
            if (attr) dnnl_primitive_attr_destroy(attr);
            if (ok) {
                e->m = m, e->n = n, e->k = k, e->as0 = as0, e->as1 = as1, e->bs0 = bs0, e->bs1 = bs1;
                e->ldc = ldc, e->acc = acc;
                p = e->prim, *out = e;
                nprims++;
            }
        }
    }
    return p;
}

int gemm_dnnl_bf16_strided(int64_t m, int64_t n, int64_t k, const uint16_t *Ah, int64_t as0, int64_t as1,
                           const uint16_t *Bh, int64_t bs0, int64_t bs1, int acc, float *C, int64_t ldc) {
    omp_set_num_threads(1);
    const prim_entry *e = NULL;
    dnnl_primitive_t p = bf16_prim(m, n, k, as0, as1, bs0, bs1, ldc, acc, &e);
    if (!p) return 1;
    /* a stream per call, and the scratchpad from the shared pool (user-managed: oneDNN's own
     * library scratchpad is shared between threads, and concurrent panels then overwrite each
     * other's copy of the weights) */
    dnnl_stream_t stream = NULL;
    if (dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) != dnnl_success) return 1;
    int slot = -1;
    void *sp = e->scratch_bytes ? ttt_scratch_take(e->scratch_bytes, &slot) : NULL;
    dnnl_memory_t ms = NULL, mw = NULL, md = NULL, mp = NULL;
    int ok = (!e->scratch_bytes || sp) && dnnl_memory_create(&ms, &e->sd, engine, (void *)Ah) == dnnl_success &&
             dnnl_memory_create(&mw, &e->wd, engine, (void *)Bh) == dnnl_success &&
             dnnl_memory_create(&md, &e->dd, engine, C) == dnnl_success &&
             (!e->scratch_bytes || dnnl_memory_create(&mp, &e->pd, engine, sp) == dnnl_success);
    if (ok) {
        dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, ms}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_DST, md},
                                   {DNNL_ARG_SCRATCHPAD, mp}};
        ok = dnnl_primitive_execute(p, stream, mp ? 4 : 3, args) == dnnl_success &&
             dnnl_stream_wait(stream) == dnnl_success;
    }
    if (slot >= 0) ttt_scratch_give(slot);
    dnnl_stream_destroy(stream);
    if (ms) dnnl_memory_destroy(ms);
    if (mw) dnnl_memory_destroy(mw);
    if (md) dnnl_memory_destroy(md);
    if (mp) dnnl_memory_destroy(mp);
    return !ok;
}

#else /* built without oneDNN */

int gemm_dnnl_block(int ta, int tb, int64_t m, int64_t n, int64_t k, const float *A, int64_t lda,
                    const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    (void)ta, (void)tb, (void)m, (void)n, (void)k, (void)A, (void)lda, (void)B, (void)ldb, (void)beta;
    (void)C, (void)ldc;
    return 1;
}

int gemm_dnnl_bf16_strided(int64_t m, int64_t n, int64_t k, const uint16_t *Ah, int64_t as0, int64_t as1,
                           const uint16_t *Bh, int64_t bs0, int64_t bs1, int acc, float *C, int64_t ldc) {
    (void)m, (void)n, (void)k, (void)Ah, (void)as0, (void)as1, (void)Bh, (void)bs0, (void)bs1, (void)acc;
    (void)C, (void)ldc;
    return 1;
}
#endif
#endif
