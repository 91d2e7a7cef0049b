/* mamba_mixer.c: forward, backward and cached continuation of the Mamba-1 mixer (see
 * mamba_mixer.h). The selective scan runs per (sequence, block of MAMBA_CB channels); its
 * backward replays the forward recurrence inside each chunk from the state saved at the
 * chunk's start, then walks the chunk backwards in time. Memory of the backward: the states at
 * chunk boundaries [B, L/chunk, E, N] plus one chunk of states per thread, never [L, E, N].
 * Sums over channels (dB, dC) are per-block partials reduced in block order, sums over time
 * (dA) per-sequence partials reduced in sequence order: bit-identical for any thread count.
 * In float the scan's exp is a vectorisable polynomial (exp_fast) unless the reference
 * kernels are selected (then libm's, as in double). */
#include <omp.h>
#include <string.h>

#include "core/prof.h"
#include "layers/mamba_mixer.h"
#include "ops/kernels.h"
#include "ops/ops.h"

#define COLBLK 64 /* column blocks of the deterministic column sums */

void RF(mamba_w_bind)(RF(mamba_w) *w, real *base, const mamba_block_offs *o) {
#define B_(f, off) w->f = o->off >= 0 ? base + o->off : NULL
    B_(in_proj, in_proj); B_(in_proj_b, in_proj_b); B_(conv_w, conv_w); B_(conv_b, conv_b);
    B_(x_proj, x_proj); B_(dt_w, dt_w); B_(dt_b, dt_b); B_(A_log, A_log); B_(D, D);
    B_(out_proj, out_proj); B_(out_proj_b, out_proj_b);
#undef B_
}

static int64_t nchunks(int64_t L, int64_t chunk) { return (L + chunk - 1) / chunk; }
static int64_t nblocks(int64_t E) { return (E + MAMBA_CB - 1) / MAMBA_CB; }
/* per thread in the backward: the states and decays of one chunk, A of the block, the
 * running dh, the block's dA and two arrays of products, each [N][MAMBA_CB] */
static int64_t replay_elems(int64_t chunk, int64_t N) { return (2 * chunk + 5) * N * MAMBA_CB; }
/* per thread in the forward: the state and A of one block of channels */
static int64_t fwd_elems(int64_t N) { return 2 * N * MAMBA_CB; }

/* bump allocation of n reals from *p (NULL stays NULL), counting into *used */
static real *grab(real **p, int64_t *used, int64_t n) {
    real *r = *p;
    int64_t a = (n + 15) / 16 * 16;
    if (*p) *p += a;
    *used += a;
    return r;
}

int64_t RF(mamba_act_bind)(RF(mamba_act) *a, real *p, const ttt_dims *d, int64_t B, int64_t L, int train,
                           int64_t chunk) {
    int64_t M = B * L, E = d->I, N = d->N, used = 0;
    memset(a, 0, sizeof *a);
    a->u0 = grab(&p, &used, M * E);
    a->z = grab(&p, &used, M * E);
    a->uc = grab(&p, &used, M * E);
    a->dl = grab(&p, &used, M * d->R);
    a->Bm = grab(&p, &used, M * N);
    a->Cm = grab(&p, &used, M * N);
    a->dt = grab(&p, &used, M * E);
    a->s = grab(&p, &used, M * E);
    if (train) a->ckpt = grab(&p, &used, B * nchunks(L, chunk) * nblocks(E) * N * MAMBA_CB);
    return used;
}

int64_t RF(mamba_tmp_bind)(RF(mamba_tmp) *t, real *p, const ttt_dims *d, int64_t B, int64_t L, int train,
                           int64_t chunk, int nthreads) {
    int64_t M = B * L, E = d->I, N = d->N, used = 0;
    memset(t, 0, sizeof *t);
    t->chunk = chunk;
    t->nthreads = nthreads;
    t->A = grab(&p, &used, E * N);
    t->u = grab(&p, &used, M * E);
    t->g = grab(&p, &used, M * E);
    t->per_thread = train ? replay_elems(chunk, N) : fwd_elems(N);
    t->work = grab(&p, &used, nthreads * t->per_thread);
    if (train) {
        t->dg = grab(&p, &used, M * E);
        t->du = grab(&p, &used, M * E);
        t->ddt = grab(&p, &used, M * E);
        t->ddl = grab(&p, &used, M * d->R);
        t->dB = grab(&p, &used, M * N);
        t->dC = grab(&p, &used, M * N);
        t->dBp = grab(&p, &used, nblocks(E) * M * N);
        t->dCp = grab(&p, &used, nblocks(E) * M * N);
        t->dAp = grab(&p, &used, B * E * N);
    }
    return used;
}

/* ------------------------------------------------------------------------------------------ */
/* elementwise pieces                                                                          */

static real silu(real x) { return x * RF(sigmoid)(x); }
/* silu'(x) = σ(x) (1 + x (1 − σ(x))) */
static real silu_grad(real x) {
    real s = RF(sigmoid)(x);
    return s * (RC(1) + x * (RC(1) - s));
}
/* softplus(a) = log(1 + e^a), without overflow */
static real softplus(real a) { return a > 0 ? a + log1p(exp(-a)) : log1p(exp(a)); }

/* ------------------------------------------------------------------------------------------ */
/* selective scan                                                                              */

typedef struct {
    int64_t B, L, E, N;
    const real *u, *dt, *Bm, *Cm, *A; /* [M, E], [M, E], [M, N], [M, N], [E, N] */
    real *s;                          /* [M, E] */
    real *state;                      /* [B, E, N] start state in, end state out; NULL: zeros */
    real *ckpt;                       /* [B, nchunk, ncb, N, MAMBA_CB] state before each chunk */
    int64_t chunk;
    int fast;                         /* float: the vectorisable exp instead of libm's */
} RF(scan_args);

#if TTT_REAL == 32
/* e^x in float for the scan (Cephes expf: Cody–Waite reduction x = k·ln2 + r, a degree-7
 * polynomial for e^r, 2^k in the exponent bits; relative error at most 8.1e-8 over
 * [−87.3, 88.3], checked against exp() on every 17th float). Plain arithmetic, so the compiler
 * vectorises the loops that call it, unlike libm's expf. Below −87.3: 0, above 88.3: +inf. */
static inline float exp_fast(float x) {
    const float lo = -87.3f, hi = 88.3f;
    float xc = x > lo ? x : lo; /* NaN → lo: never an undefined float → int conversion */
    xc = xc < hi ? xc : hi;
    /* k = round(x / ln 2): adding and subtracting 1.5·2^23 rounds to the nearest integer in
     * plain arithmetic (floorf would not vectorise without -fno-trapping-math) */
    float k = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = xc - k * 0.693359375f - k * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    union {
        int32_t i;
        float f;
    } scale = {((int32_t)k + 127) << 23}; /* 2^k */
    float y = p * scale.f;
    y = x < lo ? 0.0f : y;
    y = x > hi ? INFINITY : y;
    return x == x ? y : x; /* NaN stays NaN */
}
#endif

static inline real scan_exp(real x, int fast) {
#if TTT_REAL == 32
    if (fast) return exp_fast(x);
#endif
    (void)fast;
    return exp(x);
}

/* A block of nc <= MAMBA_CB channels is held channel-minor, [N][MAMBA_CB] (lanes nc.. zero),
 * so the loops over channels are contiguous and vectorise without reordering any sum. */
#define CB MAMBA_CB
_Static_assert((CB & (CB - 1)) == 0, "MAMBA_CB must be a power of two (pairwise sums)");

/* one step of the block: a = exp(Δ A), h = a ⊙ h + (Δ u) B, keeping a in ea when not NULL.
 * The forward and the backward's replay both call this, so the replayed states equal the
 * forward's bit for bit. dtv, duv: Δ and Δ·u of the block's channels (zero in unused lanes).
 * The branches stay outside the loops over channels, which vectorise. */
#define STEP_LOOP(EXP, KEEP)                                                                        \
    for (int64_t n = 0; n < N; n++) {                                                               \
        real Bn = Bt[n], *restrict hn = h + n * CB, *restrict en = ea ? ea + n * CB : NULL;         \
        const real *restrict An = AT + n * CB;                                                      \
        for (int64_t c = 0; c < CB; c++) {                                                          \
            real a = EXP(dtv[c] * An[c]);                                                           \
            KEEP;                                                                                   \
            hn[c] = a * hn[c] + duv[c] * Bn;                                                        \
        }                                                                                           \
    }
static inline void scan_step(real *restrict h, real *restrict ea, const real *restrict AT,
                             const real *restrict Bt, const real *restrict dtv, const real *restrict duv,
                             int64_t N, int fast) {
#if TTT_REAL == 32
    if (fast) {
        if (ea) {
            STEP_LOOP(exp_fast, en[c] = a)
        } else {
            STEP_LOOP(exp_fast, (void)en)
        }
        return;
    }
#endif
    (void)fast;
    if (ea) {
        STEP_LOOP(exp, en[c] = a)
    } else {
        STEP_LOOP(exp, (void)en)
    }
}
#undef STEP_LOOP

/* one (t, n) of the backward for the block's lanes (see scan_backward) */
static inline void bwd_lanes(real *restrict gc, real *restrict dAc, real *restrict pb, real *restrict pc,
                             real *restrict sda, real *restrict sgB, const real *restrict dsv,
                             const real *restrict dtv, const real *restrict duv, const real *restrict An,
                             const real *restrict hi, const real *restrict hp, const real *restrict ea,
                             real Bn, real Cn) {
    for (int64_t c = 0; c < CB; c++) {
        real gv = dsv[c] * Cn + gc[c];
        real da = gv * hp[c] * ea[c]; /* dL/d(ΔA) */
        pc[c] = dsv[c] * hi[c];
        pb[c] = duv[c] * gv;
        sda[c] += da * An[c];
        dAc[c] += da * dtv[c];
        sgB[c] += gv * Bn;
        gc[c] = ea[c] * gv;
    }
}

/* Δ, Δ·u (and u) of row r for channels c0..c0+nc−1 into CB lanes, zero-padded */
static inline void load_row(real *dtv, real *duv, real *uv, const RF(scan_args) *s, int64_t r, int64_t c0,
                            int64_t nc) {
    for (int64_t c = 0; c < CB; c++) {
        real d = c < nc ? s->dt[r * s->E + c0 + c] : 0, u = c < nc ? s->u[r * s->E + c0 + c] : 0;
        dtv[c] = d;
        duv[c] = d * u;
        if (uv) uv[c] = u;
    }
}

/* AT[n][c] = A[c0 + c, n] (zero in unused lanes) */
static void load_AT(real *AT, const real *A, int64_t c0, int64_t nc, int64_t N) {
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < CB; c++) AT[n * CB + c] = c < nc ? A[(c0 + c) * N + n] : 0;
}

/* s_t[c] = Σ_n h_t[c, n] C_t[n] with h_t = exp(Δ_t A) ⊙ h_{t−1} + Δ_t B_t u_t */
static void scan_forward(const RF(scan_args) *s, const RF(mamba_tmp) *tp) {
    int64_t B = s->B, L = s->L, E = s->E, N = s->N, ncb = nblocks(E), nch = nchunks(L, s->chunk);
    int fast = s->fast;
#pragma omp parallel for num_threads(tp->nthreads) schedule(static) if (TTT_PAR(B * L * E * N))
    for (int64_t task = 0; task < B * ncb; task++) {
        int64_t b = task / ncb, cb = task % ncb, c0 = cb * CB, nc = E - c0 < CB ? E - c0 : CB;
        real *h = tp->work + (int64_t)omp_get_thread_num() * tp->per_thread, *AT = h + N * CB;
        real dtv[CB], duv[CB], sv[CB];
        load_AT(AT, s->A, c0, nc, N);
        for (int64_t n = 0; n < N; n++)
            for (int64_t c = 0; c < CB; c++) h[n * CB + c] = s->state && c < nc ? s->state[(b * E + c0 + c) * N + n] : 0;
        for (int64_t t = 0; t < L; t++) {
            int64_t r = b * L + t;
            if (s->ckpt && t % s->chunk == 0)
                memcpy(s->ckpt + ((b * nch + t / s->chunk) * ncb + cb) * N * CB, h, sizeof(real) * (size_t)(N * CB));
            load_row(dtv, duv, NULL, s, r, c0, nc);
            scan_step(h, NULL, AT, s->Bm + r * N, dtv, duv, N, fast);
            const real *Ct = s->Cm + r * N;
            for (int64_t c = 0; c < CB; c++) sv[c] = 0;
            for (int64_t n = 0; n < N; n++)
                for (int64_t c = 0; c < CB; c++) sv[c] += h[n * CB + c] * Ct[n];
            for (int64_t c = 0; c < nc; c++) s->s[r * E + c0 + c] = sv[c];
        }
        if (s->state)
            for (int64_t n = 0; n < N; n++)
                for (int64_t c = 0; c < nc; c++) s->state[(b * E + c0 + c) * N + n] = h[n * CB + c];
    }
}

/* P[n][0] = Σ_c P[n][c], summed pairwise in a fixed order (vectorisable) */
static void lane_sums(real *P, int64_t N) {
    for (int64_t w = CB / 2; w >= 1; w /= 2)
        for (int64_t n = 0; n < N; n++)
            for (int64_t c = 0; c < w; c++) P[n * CB + c] += P[n * CB + c + w];
}

/* Backward of scan_forward (fresh sequences, checkpoints present). With g_t = dL/dh_t:
 *   g_t = ds_t C_t + a_{t+1} ⊙ g_{t+1}                       (reverse-time recurrence)
 *   dC_t += Σ_c ds_t[c] h_t[c, :]            dB_t += Σ_c g_t[c, :] Δ_t[c] u_t[c]
 *   dΔ_t[c] = Σ_n g_t h_{t−1} a_t A + u_t[c] Σ_n g_t B_t
 *   du_t[c] += Δ_t[c] Σ_n g_t B_t             dA += Σ_t g_t h_{t−1} a_t Δ_t
 * Sums over channels go to per-block partials dBp / dCp [ncb, M, N], sums over time to
 * dAp [B, E, N]; the caller reduces them in a fixed order. ddt is overwritten, du accumulated. */
static void scan_backward(const RF(scan_args) *s, const RF(mamba_tmp) *tp, const real *ds, real *du,
                          real *ddt, real *dBp, real *dCp, real *dAp) {
    int64_t B = s->B, L = s->L, E = s->E, N = s->N, T = s->chunk, M = B * L, NC = N * CB;
    int64_t ncb = nblocks(E), nch = nchunks(L, T);
    int fast = s->fast;
#pragma omp parallel for num_threads(tp->nthreads) schedule(static) if (TTT_PAR(B * L * E * N))
    for (int64_t task = 0; task < B * ncb; task++) {
        int64_t b = task / ncb, cb = task % ncb, c0 = cb * CB, nc = E - c0 < CB ? E - c0 : CB;
        real *H = tp->work + (int64_t)omp_get_thread_num() * tp->per_thread; /* [T][N][CB] h_t */
        real *EA = H + T * NC;     /* [T][N][CB] a_t */
        real *AT = EA + T * NC;    /* [N][CB] */
        real *gn = AT + NC;        /* [N][CB] a_{t+1} ⊙ g_{t+1} */
        real *dAl = gn + NC;       /* [N][CB] this task's dA */
        real *PB = dAl + NC, *PC = PB + NC; /* [N][CB] products summed over the lanes */
        real dtv[CB], duv[CB], uv[CB], dsv[CB], sda[CB], sgB[CB];
        load_AT(AT, s->A, c0, nc, N);
        memset(gn, 0, sizeof(real) * (size_t)(2 * NC));
        for (int64_t k = nch - 1; k >= 0; k--) {
            int64_t t0 = k * T, t1 = t0 + T < L ? t0 + T : L;
            const real *h0 = s->ckpt + ((b * nch + k) * ncb + cb) * NC;
            /* replay the chunk from its saved start state */
            for (int64_t t = t0; t < t1; t++) {
                int64_t r = b * L + t, i = t - t0;
                memcpy(H + i * NC, i ? H + (i - 1) * NC : h0, sizeof(real) * (size_t)NC);
                load_row(dtv, duv, NULL, s, r, c0, nc);
                scan_step(H + i * NC, EA + i * NC, AT, s->Bm + r * N, dtv, duv, N, fast);
            }
            /* walk it backwards */
            for (int64_t t = t1 - 1; t >= t0; t--) {
                int64_t r = b * L + t, i = t - t0;
                const real *Bt = s->Bm + r * N, *Ct = s->Cm + r * N;
                const real *Hi = H + i * NC, *Hp = i ? Hi - NC : h0, *Ei = EA + i * NC;
                load_row(dtv, duv, uv, s, r, c0, nc);
                for (int64_t c = 0; c < CB; c++) {
                    dsv[c] = c < nc ? ds[r * E + c0 + c] : 0;
                    sda[c] = sgB[c] = 0;
                }
                for (int64_t n = 0; n < N; n++)
                    bwd_lanes(gn + n * CB, dAl + n * CB, PB + n * CB, PC + n * CB, sda, sgB, dsv, dtv, duv,
                              AT + n * CB, Hi + n * CB, Hp + n * CB, Ei + n * CB, Bt[n], Ct[n]);
                for (int64_t c = 0; c < nc; c++) {
                    ddt[r * E + c0 + c] = sda[c] + sgB[c] * uv[c];
                    du[r * E + c0 + c] += dtv[c] * sgB[c];
                }
                lane_sums(PB, N);
                lane_sums(PC, N);
                for (int64_t n = 0; n < N; n++) {
                    dBp[(cb * M + r) * N + n] = PB[n * CB];
                    dCp[(cb * M + r) * N + n] = PC[n * CB];
                }
            }
        }
        for (int64_t c = 0; c < nc; c++)
            for (int64_t n = 0; n < N; n++) dAp[(b * E + c0 + c) * N + n] = dAl[n * CB + c];
    }
}

/* ------------------------------------------------------------------------------------------ */

static RF(scan_args) make_scan(const ttt_dims *d, const RF(mamba_act) *a, RF(mamba_tmp) *t, int64_t B,
                               int64_t L) {
    RF(scan_args) s = {B, L, d->I, d->N, t->u, a->dt, a->Bm, a->Cm, t->A, a->s, NULL, a->ckpt, t->chunk,
                       !ttt_reference_kernels};
    return s;
}

/* A = −exp(A_log) */
static void make_A(real *A, const real *A_log, int64_t n) {
    for (int64_t i = 0; i < n; i++) A[i] = -exp(A_log[i]);
}

/* The mixer over the B × L rows of x. The sequences continue either one cache of B sequences
 * (cache; NULL and rows NULL: fresh sequences) or, L = 1, B caches of one sequence each (rows:
 * row i continues rows[i]; the convolution and the scan run per row). */
static void mixer_forward(const ttt_dims *d, const RF(mamba_w) *w, RF(mamba_act) *a, RF(mamba_tmp) *t,
                          const real *x, real *y, int64_t B, int64_t L, RF(mamba_cache) *cache,
                          RF(mamba_cache) *rows) {
    int64_t M = B * L, D = d->D, E = d->I, N = d->N, R = d->R, K = d->K;
    /* [u⁰; z] = x · in_projᵀ + bias */
    RF(mm_nt)(a->u0, x, w->in_proj, M, E, D, 0);
    RF(mm_nt)(a->z, x, w->in_proj + E * D, M, E, D, 0);
    if (w->in_proj_b) {
        RF(bias_add)(a->u0, w->in_proj_b, M, E);
        RF(bias_add)(a->z, w->in_proj_b + E, M, E);
    }
    /* u = silu(conv(u⁰)), the conv continuing the cached history */
    if (rows) {
        for (int64_t i = 0; i < B; i++) {
            RF(dwconv_fwd)(a->uc + i * E, a->u0 + i * E, rows[i].conv_hist, w->conv_w, w->conv_b, 1, 1, E, K);
            RF(dwconv_hist_update)(rows[i].conv_hist, a->u0 + i * E, 1, 1, E, K);
        }
    } else {
        RF(dwconv_fwd)(a->uc, a->u0, cache ? cache->conv_hist : NULL, w->conv_w, w->conv_b, B, L, E, K);
        if (cache) RF(dwconv_hist_update)(cache->conv_hist, a->u0, B, L, E, K);
    }
#pragma omp parallel for schedule(static) if (TTT_PAR(M * E))
    for (int64_t i = 0; i < M * E; i++) t->u[i] = silu(a->uc[i]);
    /* [δ; B; C] = u · x_projᵀ */
    RF(mm_nt)(a->dl, t->u, w->x_proj, M, R, E, 0);
    RF(mm_nt)(a->Bm, t->u, w->x_proj + R * E, M, N, E, 0);
    RF(mm_nt)(a->Cm, t->u, w->x_proj + (R + N) * E, M, N, E, 0);
    /* Δ = softplus(δ · dt_wᵀ + dt_b) */
    RF(mm_nt)(a->dt, a->dl, w->dt_w, M, E, R, 0);
#pragma omp parallel for schedule(static) if (TTT_PAR(M * E))
    for (int64_t m = 0; m < M; m++)
        for (int64_t c = 0; c < E; c++) a->dt[m * E + c] = softplus(a->dt[m * E + c] + w->dt_b[c]);
    /* s = scan(Δ, A, B, C, u) */
    make_A(t->A, w->A_log, E * N);
    if (rows) {
        for (int64_t i = 0; i < B; i++) {
            RF(scan_args) s = make_scan(d, a, t, 1, 1);
            s.u += i * E, s.dt += i * E, s.Bm += i * N, s.Cm += i * N, s.s += i * E;
            s.state = rows[i].state;
            scan_forward(&s, t);
        }
    } else {
        RF(scan_args) s = make_scan(d, a, t, B, L);
        if (cache) s.state = cache->state;
        scan_forward(&s, t);
    }
    /* g = (s + D ⊙ u) ⊙ silu(z);  y = g · out_projᵀ + bias */
#pragma omp parallel for schedule(static) if (TTT_PAR(M * E))
    for (int64_t m = 0; m < M; m++)
        for (int64_t c = 0; c < E; c++) {
            int64_t i = m * E + c;
            t->g[i] = (a->s[i] + w->D[c] * t->u[i]) * silu(a->z[i]);
        }
    RF(mm_nt)(y, t->g, w->out_proj, M, D, E, 0);
    if (w->out_proj_b) RF(bias_add)(y, w->out_proj_b, M, D);
}

void RF(mamba_mixer_forward)(const ttt_dims *d, const RF(mamba_w) *w, RF(mamba_act) *a, RF(mamba_tmp) *t,
                             const real *x, real *y, int64_t B, int64_t L, RF(mamba_cache) *cache) {
    TTT_PROF_SCOPE(TTT_PROF_MAMBA_FWD, 0);
    mixer_forward(d, w, a, t, x, y, B, L, cache, NULL);
}

void RF(mamba_mixer_forward_rows)(const ttt_dims *d, const RF(mamba_w) *w, RF(mamba_act) *a, RF(mamba_tmp) *t,
                                  const real *x, real *y, int64_t n, RF(mamba_cache) *caches) {
    TTT_PROF_SCOPE(TTT_PROF_MAMBA_FWD, 0);
    mixer_forward(d, w, a, t, x, y, n, 1, NULL, caches);
}

void RF(mamba_mixer_backward)(const ttt_dims *d, const RF(mamba_w) *w, const RF(mamba_w) *gw,
                              const RF(mamba_act) *a, RF(mamba_tmp) *t, const real *x, const real *dy,
                              real *dx, int64_t B, int64_t L) {
    TTT_PROF_SCOPE(TTT_PROF_MAMBA_BWD, 0);
    int64_t M = B * L, D = d->D, E = d->I, N = d->N, R = d->R, K = d->K, ncb = nblocks(E);
    size_t ME = sizeof(real) * (size_t)(M * E);
    /* recompute u = silu(uc), A = −exp(A_log), g = (s + D ⊙ u) ⊙ silu(z) */
    make_A(t->A, w->A_log, E * N);
#pragma omp parallel for schedule(static) if (TTT_PAR(M * E))
    for (int64_t m = 0; m < M; m++)
        for (int64_t c = 0; c < E; c++) {
            int64_t i = m * E + c;
            t->u[i] = silu(a->uc[i]);
            t->g[i] = (a->s[i] + w->D[c] * t->u[i]) * silu(a->z[i]);
        }
    /* y = g · out_projᵀ + bias:  dg = dy · out_proj,  d out_proj += dyᵀ g,  d bias += Σ dy */
    RF(mm_nn)(t->dg, dy, w->out_proj, M, E, D, 0);
    RF(mm_tn)(gw->out_proj, dy, t->g, D, E, M, 1);
    if (gw->out_proj_b) RF(bias_grad)(gw->out_proj_b, dy, M, D);
    /* g = y' ⊙ silu(z), y' = s + D ⊙ u:  dy' = dg ⊙ silu(z) (into dg), dz = dg ⊙ y' ⊙ silu'(z)
     * (into g), du = D ⊙ dy' */
    real *dyp = t->dg, *dz = t->g;
#pragma omp parallel for schedule(static) if (TTT_PAR(M * E))
    for (int64_t m = 0; m < M; m++)
        for (int64_t c = 0; c < E; c++) {
            int64_t i = m * E + c;
            real yp = a->s[i] + w->D[c] * t->u[i], gi = t->dg[i];
            dz[i] = gi * yp * silu_grad(a->z[i]);
            dyp[i] = gi * silu(a->z[i]);
            t->du[i] = w->D[c] * dyp[i];
        }
    /* dD[c] += Σ_m dy'[m, c] u[m, c] (column blocks, rows in order) */
    {
        int64_t nb = (E + COLBLK - 1) / COLBLK;
#pragma omp parallel for schedule(static) if (TTT_PAR(M * E))
        for (int64_t bi = 0; bi < nb; bi++) {
            int64_t c0 = bi * COLBLK, c1 = c0 + COLBLK < E ? c0 + COLBLK : E;
            real acc[COLBLK] = {0};
            for (int64_t m = 0; m < M; m++)
                for (int64_t c = c0; c < c1; c++) acc[c - c0] += dyp[m * E + c] * t->u[m * E + c];
            for (int64_t c = c0; c < c1; c++) gw->D[c] += acc[c - c0];
        }
    }
    /* the scan, ds = dy': du += ..., dΔ, dB, dC (partials), dA (partials) */
    RF(scan_args) s = make_scan(d, a, t, B, L);
    scan_backward(&s, t, dyp, t->du, t->ddt, t->dBp, t->dCp, t->dAp);
    /* reduce the partials in a fixed order: dB, dC over channel blocks, dA over sequences;
     * A = −exp(A_log):  dA_log = dA ⊙ A */
#pragma omp parallel for schedule(static) if (TTT_PAR(M * N * ncb))
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            real sb = 0, sc = 0;
            for (int64_t cb = 0; cb < ncb; cb++) {
                sb += t->dBp[(cb * M + m) * N + n];
                sc += t->dCp[(cb * M + m) * N + n];
            }
            t->dB[m * N + n] = sb;
            t->dC[m * N + n] = sc;
        }
    for (int64_t i = 0; i < E * N; i++) {
        real sa = 0;
        for (int64_t b = 0; b < B; b++) sa += t->dAp[b * E * N + i];
        gw->A_log[i] += sa * t->A[i];
    }
    /* Δ = softplus(p), p = δ · dt_wᵀ + dt_b:  dp = dΔ ⊙ σ(p) = dΔ ⊙ (1 − e^{−Δ}) (into ddt) */
    real *dp = t->ddt;
#pragma omp parallel for schedule(static) if (TTT_PAR(M * E))
    for (int64_t i = 0; i < M * E; i++) dp[i] *= -expm1(-a->dt[i]);
    RF(bias_grad)(gw->dt_b, dp, M, E);
    RF(mm_tn)(gw->dt_w, dp, a->dl, E, R, M, 1);
    RF(mm_nn)(t->ddl, dp, w->dt_w, M, R, E, 0);
    /* [δ; B; C] = u · x_projᵀ:  du += [dδ dB dC] · x_proj,  d x_proj += [dδ dB dC]ᵀ u */
    RF(mm_nn)(t->du, t->ddl, w->x_proj, M, E, R, 1);
    RF(mm_nn)(t->du, t->dB, w->x_proj + R * E, M, E, N, 1);
    RF(mm_nn)(t->du, t->dC, w->x_proj + (R + N) * E, M, E, N, 1);
    RF(mm_tn)(gw->x_proj, t->ddl, t->u, R, E, M, 1);
    RF(mm_tn)(gw->x_proj + R * E, t->dB, t->u, N, E, M, 1);
    RF(mm_tn)(gw->x_proj + (R + N) * E, t->dC, t->u, N, E, M, 1);
    /* u = silu(uc):  duc = du ⊙ silu'(uc) (in place) */
#pragma omp parallel for schedule(static) if (TTT_PAR(M * E))
    for (int64_t i = 0; i < M * E; i++) t->du[i] *= silu_grad(a->uc[i]);
    /* uc = conv(u⁰):  du⁰ (into ddt), d conv_w, d conv_b */
    real *du0 = t->ddt;
    memset(du0, 0, ME);
    RF(dwconv_bwd)(du0, gw->conv_w, gw->conv_b, t->du, a->u0, w->conv_w, B, L, E, K);
    /* [u⁰; z] = x · in_projᵀ + bias:  dx = du⁰ · W_u + dz · W_z,  dW += [du⁰ dz]ᵀ x */
    RF(mm_nn)(dx, du0, w->in_proj, M, D, E, 0);
    RF(mm_nn)(dx, dz, w->in_proj + E * D, M, D, E, 1);
    RF(mm_tn)(gw->in_proj, du0, x, E, D, M, 1);
    RF(mm_tn)(gw->in_proj + E * D, dz, x, E, D, M, 1);
    if (gw->in_proj_b) {
        RF(bias_grad)(gw->in_proj_b, du0, M, E);
        RF(bias_grad)(gw->in_proj_b + E, dz, M, E);
    }
}
