/* ttt_inner_api.c: the public inner-loop API of include/ttt_inner_loop.h over the layer's scan
 * (layers/ttt_scan.h): shape validation with checked sizes, the work space, the backward's
 * fixed-order reduction of the per-(sequence, head) partial gradients of the shared inputs
 * (W0, τ, γ, β). The scan picks the kernel family per shape (fused float kernels for b <= 16,
 * the wide GEMM kernels for Linear with b > 16, else the reference), so float32 runs the same
 * kernels as `ttt forward` and float64 the reference the tests check against.
 * Generic over `real`: ttt_inner_forward_f32/_f64, ttt_inner_backward_f32/_f64. */
#include <omp.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"
#include "core/mem.h"
#include "layers/ttt_scan.h"
#include "ttt_inner_loop.h"

#if TTT_REAL == 32
typedef ttt_inner_inputs_f32 api_in;
typedef ttt_inner_grads_f32 api_grads;
#else
typedef ttt_inner_inputs_f64 api_in;
typedef ttt_inner_grads_f64 api_grads;
#endif

#define API_MAX_HEAD_DIM 4096   /* the kernels keep rows of f (and F = 4f) on the stack */
#define API_MAX_MINI_BATCH 4096 /* as mini_batch_size in config.json */

/* sizes derived from a validated shape (elements) */
typedef struct {
    ttt_inner_dims id;
    int64_t D, rows, nx, neta, nmb, S, M, ntask, nW1, nb1, nW2, nb2, saved, scratch;
    int nthreads;
} api_sizes;

static ttt_status shape_sizes(const ttt_inner_shape *s, api_sizes *z) {
    if (!s) return ttt_err(TTT_ERR_ARG, "ttt_inner: shape is NULL");
    memset(z, 0, sizeof *z);
    const struct { const char *name; int64_t v, max; } dims[] = {
        {"batch", s->batch, INT64_MAX}, {"seq_len", s->seq_len, INT64_MAX}, {"heads", s->heads, INT64_MAX},
        {"head_dim", s->head_dim, API_MAX_HEAD_DIM}, {"mini_batch", s->mini_batch, API_MAX_MINI_BATCH}};
    for (int i = 0; i < 5; i++)
        if (dims[i].v < 1 || dims[i].v > dims[i].max)
            return ttt_err(TTT_ERR_ARG, "ttt_inner: %s = %lld, expected 1..%lld", dims[i].name,
                           (long long)dims[i].v, (long long)dims[i].max);
    if (s->mlp != 0 && s->mlp != 1)
        return ttt_err(TTT_ERR_ARG, "ttt_inner: mlp = %d, expected 0 (TTT-Linear) or 1 (TTT-MLP)", s->mlp);
    if (s->threads < 0) return ttt_err(TTT_ERR_ARG, "ttt_inner: threads = %d, expected >= 0", s->threads);
    int64_t f = s->head_dim, F = s->mlp ? 4 * f : f, b = s->mini_batch;
    z->id = (ttt_inner_dims){f, F, b, s->mlp};
    /* every count the buffers are sized by, checked: D = H f, rows = B L, x = rows D,
     * eta = rows H, tasks = B H, saved = tasks · ceil(L/b) · M */
    TRY(ttt_i64_mul(&z->D, s->heads, f, "ttt_inner: heads × head_dim"));
    TRY(ttt_i64_mul(&z->rows, s->batch, s->seq_len, "ttt_inner: batch × seq_len"));
    TRY(ttt_i64_mul(&z->nx, z->rows, z->D, "ttt_inner: batch × seq_len × heads × head_dim"));
    TRY(ttt_i64_mul(&z->neta, z->rows, s->heads, "ttt_inner: batch × seq_len × heads"));
    TRY(ttt_i64_mul(&z->ntask, s->batch, s->heads, "ttt_inner: batch × heads"));
    z->nmb = s->seq_len / b + (s->seq_len % b != 0);
    /* f, F, b <= 16384: the per-head sizes below fit easily */
    z->S = ttt_state_size(&z->id);
    z->M = ttt_mbc_layout_of(&z->id).total;
    TRY(ttt_i64_mul(&z->nW1, s->heads, f * F, "ttt_inner: W1"));
    TRY(ttt_i64_mul(&z->nb1, s->heads, F, "ttt_inner: b1"));
    z->nW2 = s->mlp ? z->nW1 : 0;
    z->nb2 = s->mlp ? z->D : 0;
    int64_t per_task;
    TRY(ttt_i64_mul(&per_task, z->nmb, z->M, "ttt_inner: saved buffer"));
    TRY(ttt_i64_mul(&z->saved, z->ntask, per_task, "ttt_inner: saved buffer"));
    int nt = s->threads > 0 ? s->threads : omp_get_max_threads();
    z->nthreads = nt > 0 ? nt : 1;
    TRY(ttt_i64_mul(&z->scratch, z->nthreads, RF(ttt_scan_scratch_elems)(&z->id, 0), "ttt_inner: scratch"));
    /* every buffer's bytes must be a size_t */
    int64_t big[] = {z->nx, z->saved, z->scratch};
    for (int i = 0; i < 3; i++) {
        size_t by;
        TRY(ttt_size_mul(&by, big[i], 1, sizeof(real), "ttt_inner: buffer"));
    }
    int64_t st;
    TRY(ttt_i64_mul(&st, z->ntask, z->S, "ttt_inner: batch × heads × state"));
    return TTT_OK;
}

static ttt_status check_inputs(const ttt_inner_shape *s, const api_in *in) {
    if (!in) return ttt_err(TTT_ERR_ARG, "ttt_inner: inputs are NULL");
    const struct { const char *name; const real *p; } req[] = {
        {"xq", in->xq}, {"xk", in->xk}, {"xv", in->xv}, {"eta", in->eta}, {"token_scale", in->token_scale},
        {"ln_weight", in->ln_weight}, {"ln_bias", in->ln_bias}, {"W1", in->W1}, {"b1", in->b1}};
    for (int i = 0; i < 9; i++)
        if (!req[i].p) return ttt_err(TTT_ERR_ARG, "ttt_inner: input %s is NULL", req[i].name);
    if (s->mlp && (!in->W2 || !in->b2))
        return ttt_err(TTT_ERR_ARG, "ttt_inner: TTT-MLP needs W2 [heads, 4·head_dim, head_dim] and b2 [heads, head_dim] (%s is NULL)",
                       in->W2 ? "b2" : "W2");
    if (!s->mlp && (in->W2 || in->b2))
        return ttt_err(TTT_ERR_ARG, "ttt_inner: TTT-Linear has no W2/b2 (pass NULL, or set mlp = 1 for TTT-MLP)");
    return TTT_OK;
}

int64_t RF(ttt_inner_state_elems_impl)(const ttt_inner_shape *s);
int64_t RF(ttt_inner_saved_elems_impl)(const ttt_inner_shape *s);
int64_t RF(ttt_inner_state_elems_impl)(const ttt_inner_shape *s) {
    api_sizes z;
    return shape_sizes(s, &z) == TTT_OK ? z.S : -1;
}
int64_t RF(ttt_inner_saved_elems_impl)(const ttt_inner_shape *s) {
    api_sizes z;
    return shape_sizes(s, &z) == TTT_OK ? z.saved : -1;
}
#if TTT_ONCE
/* the sizes do not depend on the precision */
int64_t ttt_inner_state_elems(const ttt_inner_shape *s) { return ttt_inner_state_elems_impl_f32(s); }
int64_t ttt_inner_saved_elems(const ttt_inner_shape *s) { return ttt_inner_saved_elems_impl_f32(s); }
#endif

static RF(ttt_scan_args) scan_args(const ttt_inner_shape *s, const api_sizes *z, const api_in *in) {
    RF(ttt_scan_args) a;
    memset(&a, 0, sizeof a);
    a.id = z->id;
    a.B = s->batch, a.L = s->seq_len, a.nh = s->heads, a.D = z->D, a.pos0 = 0;
    a.Q = in->xq, a.K = in->xk, a.V = in->xv, a.lr = in->eta, a.tau = in->token_scale;
    a.ln_w = in->ln_weight, a.ln_b = in->ln_bias;
    a.W1 = in->W1, a.b1 = in->b1, a.W2 = in->W2, a.b2 = in->b2;
    a.group = 0;
    a.scratch_elems = RF(ttt_scan_scratch_elems)(&z->id, 0);
    a.nthreads = z->nthreads;
    return a;
}

static real *alloc_elems(int64_t n, const char *what) {
    return ttt_malloc(sizeof(real) * (size_t)(n > 0 ? n : 1), what);
}

/* W0 of head h into (sequence, head) state `st`: [W1 | b1 | W2 | b2] */
static void load_w0(const api_sizes *z, const api_in *in, int64_t h, real *st) {
    int64_t f = z->id.f, F = z->id.F;
    memcpy(st, in->W1 + h * f * F, sizeof(real) * (size_t)(f * F));
    memcpy(st + f * F, in->b1 + h * F, sizeof(real) * (size_t)F);
    if (z->id.mlp) {
        memcpy(st + f * F + F, in->W2 + h * F * f, sizeof(real) * (size_t)(F * f));
        memcpy(st + f * F + F + F * f, in->b2 + h * f, sizeof(real) * (size_t)f);
    }
}

ttt_status RF(ttt_inner_forward)(const ttt_inner_shape *s, const api_in *in, real *zout, real *state_out,
                                 real *sums_out, real *saved, int64_t saved_elems) {
    api_sizes z;
    TRY(shape_sizes(s, &z));
    TRY(check_inputs(s, in));
    if (!zout) return ttt_err(TTT_ERR_ARG, "ttt_inner_forward: output z is NULL");
    if (saved && saved_elems != z.saved)
        return ttt_err(TTT_ERR_ARG, "ttt_inner_forward: saved has %lld elements, expected %lld (ttt_inner_saved_elems)",
                       (long long)saved_elems, (long long)z.saved);
    RF(ttt_scan_args) a = scan_args(s, &z, in);
    real *scratch = alloc_elems(z.scratch, "ttt_inner_forward: scratch");
    real *state = NULL, *sums = NULL, *own_state = NULL, *own_sums = NULL;
    ttt_status st = scratch ? TTT_OK : TTT_ERR_NOMEM;
    if (st == TTT_OK && (state_out || sums_out)) {
        /* the cached-prefill form of the scan: a trailing partial mini-batch keeps its start
         * state and leaves its gradient sums */
        state = state_out ? state_out : (own_state = alloc_elems(z.ntask * z.S, "ttt_inner_forward: state"));
        sums = sums_out ? sums_out : (own_sums = alloc_elems(z.ntask * z.S, "ttt_inner_forward: sums"));
        if (!state || !sums) st = TTT_ERR_NOMEM;
        else {
            for (int64_t t = 0; t < z.ntask; t++) load_w0(&z, in, t % s->heads, state + t * z.S);
            memset(sums, 0, sizeof(real) * (size_t)(z.ntask * z.S));
        }
    }
    if (st == TTT_OK) {
        a.Z = zout, a.mbc = saved, a.state = state, a.sums = sums;
        a.scratch = scratch;
        RF(ttt_scan_forward)(&a);
    }
    ttt_free(own_state);
    ttt_free(own_sums);
    ttt_free(scratch);
    return st;
}

ttt_status RF(ttt_inner_backward)(const ttt_inner_shape *s, const api_in *in, const real *dz, const real *saved,
                                  int64_t saved_elems, const api_grads *g) {
    api_sizes z;
    TRY(shape_sizes(s, &z));
    TRY(check_inputs(s, in));
    if (!dz) return ttt_err(TTT_ERR_ARG, "ttt_inner_backward: dz is NULL");
    if (!g) return ttt_err(TTT_ERR_ARG, "ttt_inner_backward: grads is NULL (pass a struct with NULL members for none)");
    if (saved && saved_elems != z.saved)
        return ttt_err(TTT_ERR_ARG, "ttt_inner_backward: saved has %lld elements, expected %lld (ttt_inner_saved_elems)",
                       (long long)saved_elems, (long long)z.saved);
    if (!s->mlp && (g->dW2 || g->db2))
        return ttt_err(TTT_ERR_ARG, "ttt_inner_backward: TTT-Linear has no W2/b2 gradient (pass NULL)");
    int64_t f = z.id.f, F = z.id.F, b = z.id.b, H = s->heads, S = z.S;
    RF(ttt_scan_args) a = scan_args(s, &z, in);
    /* temporaries: scratch, the parts, the gradients not wanted, and a recomputed cache */
    real *scratch = alloc_elems(z.scratch, "ttt_inner_backward: scratch");
    real *dtau_part = alloc_elems(z.ntask * b, "ttt_inner_backward: dtau");
    real *dln_part = alloc_elems(z.ntask * 2 * f, "ttt_inner_backward: dln");
    real *dW0_part = alloc_elems(z.ntask * S, "ttt_inner_backward: dW0");
    real *own_q = g->dxq ? NULL : alloc_elems(z.nx, "ttt_inner_backward: dxq");
    real *own_k = g->dxk ? NULL : alloc_elems(z.nx, "ttt_inner_backward: dxk");
    real *own_v = g->dxv ? NULL : alloc_elems(z.nx, "ttt_inner_backward: dxv");
    real *own_eta = g->deta ? NULL : alloc_elems(z.neta, "ttt_inner_backward: deta");
    real *own_saved = saved ? NULL : alloc_elems(z.saved, "ttt_inner_backward: saved");
    real *own_z = saved ? NULL : alloc_elems(z.nx, "ttt_inner_backward: z");
    real *dq = g->dxq ? g->dxq : own_q, *dk = g->dxk ? g->dxk : own_k, *dv = g->dxv ? g->dxv : own_v;
    real *deta = g->deta ? g->deta : own_eta;
    ttt_status st = TTT_OK;
    if (!scratch || !dtau_part || !dln_part || !dW0_part || !dq || !dk || !dv || !deta ||
        (!saved && (!own_saved || !own_z)))
        st = TTT_ERR_NOMEM;
    if (st == TTT_OK) {
        a.scratch = scratch;
        if (!saved) { /* recompute the forward's cache */
            a.Z = own_z, a.mbc = own_saved;
            RF(ttt_scan_forward)(&a);
        }
        a.Z = NULL, a.mbc = (real *)(saved ? saved : own_saved);
        /* the scan accumulates into dQ/dK/dV/dlr */
        memset(dq, 0, sizeof(real) * (size_t)z.nx);
        memset(dk, 0, sizeof(real) * (size_t)z.nx);
        memset(dv, 0, sizeof(real) * (size_t)z.nx);
        memset(deta, 0, sizeof(real) * (size_t)z.neta);
        RF(ttt_scan_backward)(&a, dz, dq, dk, dv, deta, dtau_part, dln_part, dW0_part);
        /* the shared inputs: Σ over the B sequences of each head's parts, in sequence order
         *   dW0_h = Σ_bi dW0[bi, h],  dγ_h, dβ_h likewise,  dτ_i = Σ_{bi, h} dτ[bi, h, i] */
        for (int64_t h = 0; h < H; h++) {
            for (int64_t bi = 0; bi < s->batch; bi++) {
                const real *p = dW0_part + (bi * H + h) * S, *pl = dln_part + (bi * H + h) * 2 * f;
                int first = bi == 0;
#define RED(dst, src, n) \
    do { \
        if (dst) \
            for (int64_t i_ = 0; i_ < (n); i_++) (dst)[i_] = (first ? 0 : (dst)[i_]) + (src)[i_]; \
    } while (0)
                RED(g->dW1 ? g->dW1 + h * f * F : NULL, p, f * F);
                RED(g->db1 ? g->db1 + h * F : NULL, p + f * F, F);
                if (s->mlp) {
                    RED(g->dW2 ? g->dW2 + h * F * f : NULL, p + f * F + F, F * f);
                    RED(g->db2 ? g->db2 + h * f : NULL, p + f * F + F + F * f, f);
                }
                RED(g->dln_weight ? g->dln_weight + h * f : NULL, pl, f);
                RED(g->dln_bias ? g->dln_bias + h * f : NULL, pl + f, f);
#undef RED
            }
        }
        if (g->dtoken_scale)
            for (int64_t i = 0; i < b; i++) {
                real acc = 0;
                for (int64_t t = 0; t < z.ntask; t++) acc += dtau_part[t * b + i];
                g->dtoken_scale[i] = acc;
            }
    }
    ttt_free(scratch);
    ttt_free(dtau_part);
    ttt_free(dln_part);
    ttt_free(dW0_part);
    ttt_free(own_q);
    ttt_free(own_k);
    ttt_free(own_v);
    ttt_free(own_eta);
    ttt_free(own_saved);
    ttt_free(own_z);
    return st;
}
