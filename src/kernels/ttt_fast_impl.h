/* ttt_fast_impl.h: the fused TTT kernels written once over a handful of primitives, included by
 * ttt_fast_avx512.c (intrinsics, AVX-512 target) and ttt_fast_portable.c (plain C). Before
 * including, a file defines:
 *   KFN              attributes of every function here (static, and the target)
 *   KFN_INL          the same, always inlined (scalar functions called in vectorised loops)
 *   FN(name)         the exported name of an entry point (name_avx512, name_portable)
 *   p_mm(C, ldc, A, sai, sak, B, ldb, m, N, K, acc, bias)
 *                    C[m×N] = (acc ? C : bias_i or 0) + Σ_k A(i,k)·B[k, :],  A(i,k) = A[i·sai + k·sak]
 *                    (any strides: the same kernel serves W and Wᵀ), B and C row-major
 *   p_mm2(C0, C1, A, sai, sak, B0, B1, m, K, acc, bias)
 *                    two products of one A over 16-lane blocks: C0 (+)= A·B0, C1 (+)= A·B1
 *                    (one broadcast of A feeds two vectors)
 *   p_load_t(dst, src, lds, n, cols)    dst[c·16 + i] = i < n ? src[i·lds + c] : 0
 *   p_store_t(dst, ldd, src, n, cols, acc)  dst[i·ldd + c] (= or +=) src[c·16 + i], i < n
 *   p_rows(dst, src, cols)              dst[i·cols + c] = src[c·16 + i], all 16 i
 *   p_lane_sums(dst, src, cols)         dst[c] += Σ_i src[c·16 + i] (a fixed order)
 *   p_inv_std(rs, var, f)               rs[l] = 1/sqrt(var[l]/f + eps), l < 16
 *   p_primal_pass(y, W, S, x, lr, g, q, tau, commit, rows, m)
 *                    the primal step's pass over one state matrix W [rows × m] and its sums S:
 *                    S[c] += lr·x[c]·g;  y += Σ_c q[c]·(W[c] − τ S[c]);  commit: W[c] −= τ S[c],
 *                    S[c] = 0
 *
 * Layout ("lanes"): a mini-batch's tokens i = 0..15 are the 16 lanes of a row, a block X of n
 * rows and f features is kept as Xt [f][16] (feature-major; lanes >= n hold zeros or finite
 * values that never reach an output). Per-token LayerNorm sums then run down the features, lane
 * by lane, with no horizontal reductions; products with the state are Zt = Wᵀ·Xt (A(r,c) =
 * W[c][r]) or W·Xt (A(r,c) = W[r][c]); products contracting over the tokens (the state
 * updates Kᵀ·diag(c)·G, dW += Qᵀ·dZ) take the token-major copy of one factor (p_rows).
 * The 16×16 attention-like blocks are kept as At[j][i] = k_j·q_i (key j a row, query i a lane).
 * Notation as ttt_inner.c: E[i,j] = τ_i lr_j (j <= i), c_j = τ_{n−1} lr_j. */

#define NL 16             /* lanes: tokens of a mini-batch */
#define INNER_EPS 1e-6f   /* inner LayerNorm eps (ttt.py) */
#define SQRT_2_OVER_PI_F 0.79788456080286535588f

/* ---- scalar functions written branch-free, so that loops over them vectorise ------------- */

/* e^x for −87 <= x <= 0: x = n·ln2 + r (|r| <= ln2/2), e^r by its degree-6 Taylor polynomial
 * (relative error < 2e-7), 2^n by the exponent bits */
KFN_INL float fexp_neg(float x) {
    int32_t ni = (int32_t)(x * 1.44269504088896341f - 0.5f); /* nearest: the argument is <= 0 */
    float n = (float)ni;
    float r = x - n * 0.693359375f - n * -2.12194440e-4f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.66666672e-1f + r * (4.16666679e-2f +
                                                                          r * (8.33333377e-3f + r * 1.38888892e-3f)))));
    int32_t bits = (ni + 127) << 23;
    float sc;
    memcpy(&sc, &bits, 4);
    return p * sc;
}

/* tanh: |u| < 0.25 its Taylor series to u^11 (relative error < 1e-9), else
 * (1 − e)/(1 + e), e = e^{−2|u|} (a few ulp); |u| is clamped to 43.5 (tanh = 1 in float).
 * The selects work on bit patterns (an integer mask: gcc keeps a floating-point select, or
 * one it can move work into, as a branch), so that loops over this vectorise. */
KFN_INL float ftanh(float u) {
    uint32_t ub, sign, ab;
    memcpy(&ub, &u, 4);
    sign = ub & 0x80000000u;
    ab = ub & 0x7fffffffu;
    ab = ab < 0x422e0000u ? ab : 0x422e0000u; /* 43.5f */
    float a, a2;
    memcpy(&a, &ab, 4);
    a2 = a * a;
    float ts = a * (1.0f + a2 * (-3.33333343e-1f + a2 * (1.33333340e-1f + a2 * (-5.39682545e-2f +
                                                                              a2 * (2.18694881e-2f + a2 * -8.86323582e-3f)))));
    float e = fexp_neg(-2.0f * a);
    float te = (1.0f - e) / (1.0f + e);
    uint32_t tsb, teb, tb;
    memcpy(&tsb, &ts, 4);
    memcpy(&teb, &te, 4);
    uint32_t small = 0u - (uint32_t)(ab < 0x3e800000u); /* all ones where |u| < 0.25f */
    tb = ((tsb & small) | (teb & ~small)) | sign;
    float t;
    memcpy(&t, &tb, 4);
    return t;
}

/* gelu(x) = 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))) */
KFN_INL float fgelu(float x) {
    float u = SQRT_2_OVER_PI_F * (x + 0.044715f * x * x * x);
    return 0.5f * x * (1.0f + ftanh(u));
}

/* d gelu/dx = 0.5 (1 + r) + 0.5 x (1 − r²) √(2/π) (1 + 3·0.044715 x²) */
KFN_INL float fgelu_grad(float x) {
    float u = SQRT_2_OVER_PI_F * (x + 0.044715f * x * x * x);
    float r = ftanh(u);
    return 0.5f * (1.0f + r) + 0.5f * x * (1.0f - r * r) * SQRT_2_OVER_PI_F * (1.0f + (float)(3 * 0.044715) * x * x);
}

/* ttt.py gelu_bwd: r = tanh(0.79788456 x (1 + 0.044715 x²)),
 * ff = 0.5 x (1 − r²)(0.79788456 + 0.1070322243 x²) + 0.5 (1 + r) */
KFN_INL float fgelu_bwd_ttt(float x) {
    float r = ftanh(0.79788456f * x * (1.0f + 0.044715f * x * x));
    return 0.5f * x * ((1.0f - r * r) * (0.79788456f + 0.1070322243f * x * x)) + 0.5f * (1.0f + r);
}

/* d ff/dx (ttt_inner.c's gelu_bwd_ttt_grad) */
KFN_INL float fgelu_bwd_ttt_grad(float x) {
    float r = ftanh(0.79788456f * x * (1.0f + 0.044715f * x * x));
    float q = 1.0f - r * r;
    float rp = q * 0.79788456f * (1.0f + (float)(3 * 0.044715) * x * x);
    float p = 0.79788456f + 0.1070322243f * x * x;
    return 0.5f * q * p + 0.5f * x * (-2.0f * r * rp * p + q * (float)(2 * 0.1070322243) * x) + 0.5f * rp;
}

/* ---- per-token (per-lane) LayerNorm pieces, summing down the features ------------------- */
/* A row of 16 lanes is one v16 (GCC/Clang vector extension: one AVX-512 register, or four SSE
 * ones in a baseline build). Sums down the features run in 4 interleaved partial sums
 * (independent chains of adds), combined as (s0 + s1) + (s2 + s3). */
typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4), may_alias));

KFN_INL v16 ld16(const float *p) { return *(const v16u *)p; }
KFN_INL void st16(float *p, v16 v) { *(v16u *)p = v; }
KFN_INL v16 splat(float x) { return (v16){0} + x; }

/* Σ_c X[c] (rows of 16), or Σ_c X[c]·Y[c] */
KFN v16 vsum_rows(const float *restrict X, int64_t f) {
    v16 s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
    int64_t c = 0;
    for (; c + 4 <= f; c += 4) {
        s0 += ld16(X + c * NL), s1 += ld16(X + (c + 1) * NL);
        s2 += ld16(X + (c + 2) * NL), s3 += ld16(X + (c + 3) * NL);
    }
    for (; c < f; c++) s0 += ld16(X + c * NL);
    return (s0 + s1) + (s2 + s3);
}
KFN v16 vdot_rows(const float *restrict X, const float *restrict Y, int64_t f) {
    v16 s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
    int64_t c = 0;
    for (; c + 4 <= f; c += 4) {
        s0 += ld16(X + c * NL) * ld16(Y + c * NL), s1 += ld16(X + (c + 1) * NL) * ld16(Y + (c + 1) * NL);
        s2 += ld16(X + (c + 2) * NL) * ld16(Y + (c + 2) * NL), s3 += ld16(X + (c + 3) * NL) * ld16(Y + (c + 3) * NL);
    }
    for (; c < f; c++) s0 += ld16(X + c * NL) * ld16(Y + c * NL);
    return (s0 + s1) + (s2 + s3);
}

/* x̂ = (z − μ)·r, r = 1/sqrt(var(z) + eps) per lane (xh doubles as the z − μ buffer) */
KFN void ln_lanes(const float *restrict Z, int64_t f, float *restrict xh, float *restrict rs) {
    v16 mu = vsum_rows(Z, f) / (float)f;
    for (int64_t c = 0; c < f; c++) st16(xh + c * NL, ld16(Z + c * NL) - mu);
    v16 var = vdot_rows(xh, xh, f);
    float vr[NL];
    st16(vr, var);
    p_inv_std(rs, vr, f);
    v16 r = ld16(rs);
    for (int64_t c = 0; c < f; c++) st16(xh + c * NL, ld16(xh + c * NL) * r);
}

/* G = r/f · (f·h − Σh − x̂·Σ(h ⊙ x̂)),  h = (γ x̂ + β − (v − k)) ⊙ γ   (ln_fused_l2_bwd) */
KFN void lnl2_grad_lanes(float *restrict G, const float *restrict xh, const float *restrict rs,
                         const float *restrict gamma, const float *restrict beta,
                         const float *restrict Vt, const float *restrict Kt, int64_t f) {
    for (int64_t c = 0; c < f; c++) { /* h, for now */
        v16 x = ld16(xh + c * NL), t = ld16(Vt + c * NL) - ld16(Kt + c * NL);
        st16(G + c * NL, (gamma[c] * x + beta[c] - t) * gamma[c]);
    }
    v16 sh = vsum_rows(G, f), shx = vdot_rows(G, xh, f), sc = ld16(rs) / (float)f, ff = splat((float)f);
    for (int64_t c = 0; c < f; c++)
        st16(G + c * NL, (ff * ld16(G + c * NL) - sh - ld16(xh + c * NL) * shx) * sc);
}

/* out = q + γ x̂b + β */
KFN void ln_out_lanes(float *restrict O, const float *restrict Qt, const float *restrict xhb,
                      const float *restrict gamma, const float *restrict beta, int64_t f) {
    for (int64_t c = 0; c < f; c++) st16(O + c * NL, ld16(Qt + c * NL) + gamma[c] * ld16(xhb + c * NL) + beta[c]);
}

/* Backward of out = q + γ x̂b + β through the LayerNorm: dzb; dγ, dβ per lane accumulated.
 * dzb doubles as the dO ⊙ γ buffer. */
KFN void ln_out_bwd_lanes(float *restrict dzb, const float *restrict dO, const float *restrict xhb,
                          const float *restrict rsb, const float *restrict gamma,
                          float *restrict dgl, float *restrict dbl, int64_t f) {
    for (int64_t c = 0; c < f; c++) {
        v16 o = ld16(dO + c * NL);
        st16(dgl + c * NL, ld16(dgl + c * NL) + o * ld16(xhb + c * NL));
        st16(dbl + c * NL, ld16(dbl + c * NL) + o);
        st16(dzb + c * NL, o * gamma[c]);
    }
    v16 m1 = vsum_rows(dzb, f) / (float)f, m2 = vdot_rows(dzb, xhb, f) / (float)f, r = ld16(rsb);
    for (int64_t c = 0; c < f; c++) st16(dzb + c * NL, r * (ld16(dzb + c * NL) - m1 - ld16(xhb + c * NL) * m2));
}

/* Backward of G = lnl2_grad(z) (ttt_inner.c's lnl2_backward, lane by lane): dz; dv −= de and
 * dk += de (the target v − k), dγ/dβ per lane accumulated. dz doubles as the h and dx̂
 * buffers. */
KFN void lnl2_bwd_lanes(float *restrict dz, const float *restrict dG, const float *restrict G,
                        const float *restrict xh, const float *restrict rs, const float *restrict gamma,
                        const float *restrict beta, const float *restrict Vt, const float *restrict Kt,
                        float *restrict dVt, float *restrict dKt, float *restrict dgl,
                        float *restrict dbl, int64_t f) {
    for (int64_t c = 0; c < f; c++) { /* h */
        v16 x = ld16(xh + c * NL), t = ld16(Vt + c * NL) - ld16(Kt + c * NL);
        st16(dz + c * NL, (gamma[c] * x + beta[c] - t) * gamma[c]);
    }
    v16 shx = vdot_rows(dz, xh, f), sdg = vsum_rows(dG, f), sdgx = vdot_rows(dG, xh, f);
    v16 t1 = vdot_rows(dG, G, f), sc = ld16(rs) / (float)f, ff = splat((float)f);
    for (int64_t c = 0; c < f; c++) {
        float g = gamma[c];
        v16 x = ld16(xh + c * NL), dg = ld16(dG + c * NL), h = ld16(dz + c * NL);
        v16 ee = g * x + beta[c] - (ld16(Vt + c * NL) - ld16(Kt + c * NL)); /* e (h = e γ) */
        v16 dh = sc * (ff * dg - sdg - x * sdgx);
        v16 dx = -sc * (dg * shx + h * sdgx);
        v16 de = dh * g;
        st16(dgl + c * NL, ld16(dgl + c * NL) + (dh * ee + de * x));
        st16(dbl + c * NL, ld16(dbl + c * NL) + de);
        dx += de * g;
        st16(dVt + c * NL, ld16(dVt + c * NL) - de);
        st16(dKt + c * NL, ld16(dKt + c * NL) + de);
        st16(dz + c * NL, dx); /* dx̂ */
    }
    v16 m1 = vsum_rows(dz, f) / (float)f, m2 = vdot_rows(dz, xh, f) / (float)f, r = ld16(rs);
    for (int64_t c = 0; c < f; c++) {
        v16 x = ld16(xh + c * NL);
        st16(dz + c * NL, r * (ld16(dz + c * NL) - m1 - x * m2) - t1 * sc * x);
    }
}

/* ---- the attention-like 16×16 blocks -------------------------------------------------- */

/* M[j][i] = −E_ij (1 + A[j][i]) for j <= i < n, else 0 (rows j >= n zero too) */
KFN void attn_coef(float *restrict M, const float *restrict At, int64_t n, const float *restrict lr,
                   const float *restrict tau) {
    for (int64_t j = 0; j < NL; j++)
        for (int l = 0; l < NL; l++) {
            float e = tau[l] * lr[j];
            M[j * NL + l] = (l >= j && l < n && j < n) ? -e * (1.0f + At[j * NL + l]) : 0.0f;
        }
}

/* Backward of Z̄_i += Σ_{j<=i} −E_ij (1 + A_ij) G_j given P[j][i] = G_j·dZ̄_i:
 * dE_ij = −P (1 + A), dA_ij = −P E_ij; dτ_i += Σ_j dE lr_j, dlr_j += Σ_i dE τ_i;
 * dAt[j][i] = dA_ij and M[j][i] = −E_ij (1 + A_ij) (zero outside j <= i < n) */
KFN void attn_bwd(float *restrict dAt, float *restrict M, const float *restrict P,
                  const float *restrict At, int64_t n, const float *restrict lr,
                  const float *restrict tau, float *restrict dtau_l, float *restrict dlr_l) {
    for (int64_t j = 0; j < NL; j++) {
        float row[NL];
        for (int l = 0; l < NL; l++) {
            int valid = l >= j && l < n && j < n;
            float e = tau[l] * lr[j];
            float dP = -P[j * NL + l];
            float dE = dP * (1.0f + At[j * NL + l]);
            dAt[j * NL + l] = valid ? dP * e : 0.0f;
            M[j * NL + l] = valid ? -e * (1.0f + At[j * NL + l]) : 0.0f;
            dtau_l[l] += valid ? dE * lr[j] : 0.0f;
            row[l] = valid ? dE * tau[l] : 0.0f;
        }
        float s = 0;
        for (int l = 0; l < NL; l++) s += row[l];
        dlr_l[j] += s;
    }
}

/* ---- small helpers -------------------------------------------------------------------- */

/* bump allocation from the work space, 64-byte aligned blocks */
KFN float *take(float **p, int64_t n) {
    float *r = *p;
    *p += (n + 15) & ~(int64_t)15;
    return r;
}

KFN float *align_ws(float *s) { return (float *)(((uintptr_t)s + 63) & ~(uintptr_t)63); }

/* lanes of a row vector: x[i·ld] for i < n, 0 beyond */
KFN void load_lanes(float *restrict dst, const float *restrict x, int64_t ld, int64_t n) {
    for (int l = 0; l < NL; l++) dst[l] = l < n ? x[l * ld] : 0.0f;
}

/* Y[c][i] = X[c][i]·s[i] */
KFN void scale_lanes(float *restrict Y, const float *restrict X, const float *restrict s, int64_t rows) {
    for (int64_t c = 0; c < rows; c++)
        for (int l = 0; l < NL; l++) Y[c * NL + l] = X[c * NL + l] * s[l];
}

/* the cache keeps b lanes per row: copy [rows][16] → [rows][b] and back (zero lanes >= b) */
KFN void lanes_to_cache(float *restrict dst, const float *restrict src, int64_t rows, int64_t b) {
    for (int64_t c = 0; c < rows; c++)
        for (int64_t l = 0; l < b; l++) dst[c * b + l] = src[c * NL + l];
}
KFN void lanes_from_cache(float *restrict dst, const float *restrict src, int64_t rows, int64_t b) {
    for (int64_t c = 0; c < rows; c++)
        for (int l = 0; l < NL; l++) dst[c * NL + l] = l < b ? src[c * b + l] : 0.0f;
}

/* y[:] += Σ_{i<n} s_i·R[i][:]  (R token-major [16][cols]); s NULL: weights 1 */
KFN void rows_acc(float *restrict y, const float *restrict R, const float *restrict s, int64_t n,
                  int64_t cols) {
    for (int64_t i = 0; i < n; i++) {
        float w = s ? s[i] : 1.0f;
        for (int64_t c = 0; c < cols; c++) y[c] += w * R[i * cols + c];
    }
}

/* A cache block (feature-major, b lanes) as a 16-lane block: the cache itself when b == 16 */
KFN const float *cache_block(const float *mbc, int64_t off, int64_t rows, int64_t b, float **ws) {
    if (b == NL) return mbc + off;
    float *t = take(ws, rows * NL);
    lanes_from_cache(t, mbc + off, rows, b);
    return t;
}

/* ---- TTT-Linear: f_res(x) = x W + b ---------------------------------------------------- */

KFN void linear_fwd(const ttt_inner_dims *d, int64_t n, const ttt_fast_in *in, float *state,
                    float *sums, float *out, int64_t ldo, float *mbc, float *scratch) {
    int64_t f = d->f, b = d->b, S = ttt_state_size(d);
    ttt_mbc_layout L = ttt_mbc_layout_of(d);
    float *W = state, *bb = state + f * f;
    float *ws = align_ws(scratch);
    int direct = mbc && b == NL; /* intermediates straight into the cache */
    float *Qt = take(&ws, f * NL), *Kt = take(&ws, f * NL), *Vt = take(&ws, f * NL), *Zt = take(&ws, f * NL);
    float *Zq = take(&ws, f * NL);
    float *xh = direct ? mbc + L.xh : take(&ws, f * NL), *G = direct ? mbc + L.G : take(&ws, f * NL);
    float *xhb = direct ? mbc + L.xhb : take(&ws, f * NL);
    float *At = take(&ws, NL * NL), *Mt = take(&ws, NL * NL), *Ks = take(&ws, f * NL), *Gr = take(&ws, NL * f);
    float lr[NL], tau[NL], rs[NL], rsb[NL], s[NL];
    if (mbc) memcpy(mbc + L.st, state, sizeof(float) * (size_t)S);
    p_load_t(Qt, in->Q, in->ld, n, f);
    p_load_t(Kt, in->K, in->ld, n, f);
    p_load_t(Vt, in->V, in->ld, n, f);
    load_lanes(lr, in->lr, in->lr_ld, n);
    load_lanes(tau, in->tau, 1, n);
    /* Z = K W + b (and Q W + b);  G = LNgrad(Z, V − K) */
    p_mm2(Zt, Zq, W, 1, f, Kt, Qt, f, f, 0, bb);
    ln_lanes(Zt, f, xh, rs);
    lnl2_grad_lanes(G, xh, rs, in->gamma, in->beta, Vt, Kt, f);
    /* A[j][i] = k_j·q_i;  Z̄_i = q_i W + b − Σ_{j<=i} E_ij (1 + A_ij) G_j;  out_i = q_i + LN(Z̄_i) */
    p_mm(At, NL, Kt, 1, NL, Qt, NL, NL, NL, f, 0, NULL);
    attn_coef(Mt, At, n, lr, tau);
    p_mm(Zq, NL, G, NL, 1, Mt, NL, f, NL, n, 1, NULL);
    ln_lanes(Zq, f, xhb, rsb);
    ln_out_lanes(Zq, Qt, xhb, in->gamma, in->beta, f);
    p_store_t(out, ldo, Zq, n, f, 0);
    /* commit: W ← W − Σ_j c_j k_jᵀ G_j, b ← b − Σ_j c_j G_j;  partial: S = Σ_j lr_j k_jᵀ G_j, Σ_j lr_j G_j */
    for (int l = 0; l < NL; l++) s[l] = sums ? lr[l] : -(tau[n - 1] * lr[l]);
    scale_lanes(Ks, Kt, s, f);
    p_rows(Gr, G, f);
    float *tW = sums ? sums : W, *tb = sums ? sums + f * f : bb;
    if (sums) memset(tb, 0, sizeof(float) * (size_t)f);
    p_mm(tW, f, Ks, NL, 1, Gr, f, f, f, n, sums ? 0 : 1, NULL);
    rows_acc(tb, Gr, s, n, f);
    if (mbc) {
        memcpy(mbc + L.rs, rs, sizeof(float) * (size_t)b);
        memcpy(mbc + L.rsb, rsb, sizeof(float) * (size_t)b);
        if (!direct) {
            lanes_to_cache(mbc + L.xh, xh, f, b);
            lanes_to_cache(mbc + L.G, G, f, b);
            lanes_to_cache(mbc + L.xhb, xhb, f, b);
        }
    }
}

KFN void linear_bwd(const ttt_inner_dims *d, int64_t n, const ttt_fast_in *in, const float *mbc,
                    const float *dout, int64_t ldo, float *dstate, float *dQ, float *dK, float *dV,
                    float *dlr, float *dtau, float *dgamma, float *dbeta, float *scratch) {
    int64_t f = d->f, b = d->b;
    ttt_mbc_layout L = ttt_mbc_layout_of(d);
    const float *W = mbc + L.st;
    float *dW = dstate, *db = dstate + f * f; /* read as dW', db' in (a), then accumulated */
    float *ws = align_ws(scratch);
    const float *xh = cache_block(mbc, L.xh, f, b, &ws), *G = cache_block(mbc, L.G, f, b, &ws);
    const float *xhb = cache_block(mbc, L.xhb, f, b, &ws);
    float *Qt = take(&ws, f * NL), *Kt = take(&ws, f * NL), *Vt = take(&ws, f * NL), *dOt = take(&ws, f * NL);
    float *T0 = take(&ws, f * NL), *GC = take(&ws, f * NL), *dG = take(&ws, f * NL);
    float *dQt = take(&ws, f * NL), *dKt = take(&ws, f * NL), *dVt = take(&ws, f * NL);
    float *dZb = take(&ws, f * NL), *dZ = take(&ws, f * NL), *dgl = take(&ws, f * NL), *dbl = take(&ws, f * NL);
    float *At = take(&ws, NL * NL), *P = take(&ws, NL * NL), *dAt = take(&ws, NL * NL), *Mt = take(&ws, NL * NL);
    float *dAr = take(&ws, NL * NL), *Mr = take(&ws, NL * NL);
    float *R1 = take(&ws, NL * f), *R2 = take(&ws, NL * f);
    float lr[NL], tau[NL], rs[NL], rsb[NL], c[NL], dc[NL], dtau_l[NL] = {0}, dlr_l[NL] = {0};
    for (int l = 0; l < NL; l++) rs[l] = l < b ? mbc[L.rs + l] : 1.0f, rsb[l] = l < b ? mbc[L.rsb + l] : 1.0f;
    p_load_t(Qt, in->Q, in->ld, n, f);
    p_load_t(Kt, in->K, in->ld, n, f);
    p_load_t(Vt, in->V, in->ld, n, f);
    p_load_t(dOt, dout, ldo, n, f);
    load_lanes(lr, in->lr, in->lr_ld, n);
    load_lanes(tau, in->tau, 1, n);
    float tl = tau[n - 1];
    for (int l = 0; l < NL; l++) c[l] = tl * lr[l];
    memset(dgl, 0, sizeof(float) * (size_t)(f * NL));
    memset(dbl, 0, sizeof(float) * (size_t)(f * NL));
    memset(dVt, 0, sizeof(float) * (size_t)(f * NL));

    /* (a) commit W' = W − Σ c_j k_jᵀ G_j, b' = b − Σ c_j G_j:  t_j = k_j dW' + db',
     * dc_j = −t_j·G_j, dk_j −= c_j dW' G_jᵀ, dG_j = −c_j t_j */
    p_mm(T0, NL, dW, 1, f, Kt, NL, f, NL, f, 0, db);
    st16(dc, -vdot_rows(T0, G, f));
    for (int64_t q = 0; q < f; q++)
        for (int l = 0; l < NL; l++) {
            GC[q * NL + l] = -c[l] * G[q * NL + l];
            dG[q * NL + l] = -c[l] * T0[q * NL + l];
        }
    p_mm(dKt, NL, dW, f, 1, GC, NL, f, NL, f, 0, NULL);
    for (int64_t j = 0; j < n; j++) {
        dtau_l[n - 1] += dc[j] * lr[j];
        dlr_l[j] += dc[j] * tl;
    }
    /* (b) out_i = q_i + LN(Z̄_i), Z̄_i = q_i W + b − Σ_j E_ij (1 + A_ij) G_j */
    memcpy(dQt, dOt, sizeof(float) * (size_t)(f * NL));
    ln_out_bwd_lanes(dZb, dOt, xhb, rsb, in->gamma, dgl, dbl, f);
    p_mm(At, NL, Kt, 1, NL, Qt, NL, NL, NL, f, 0, NULL);             /* A[j][i] = k_j·q_i */
    p_mm(P, NL, G, 1, NL, dZb, NL, NL, NL, f, 0, NULL);              /* P[j][i] = G_j·dz̄_i */
    attn_bwd(dAt, Mt, P, At, n, lr, tau, dtau_l, dlr_l);
    p_mm(dQt, NL, Kt, NL, 1, dAt, NL, f, NL, n, 1, NULL);           /* dq_i += Σ_j dA_ij k_j */
    p_load_t(dAr, dAt, NL, NL, NL);
    p_load_t(Mr, Mt, NL, NL, NL);
    p_mm(dKt, NL, Qt, NL, 1, dAr, NL, f, NL, n, 1, NULL);           /* dk_j += Σ_i dA_ij q_i */
    p_mm(dG, NL, dZb, NL, 1, Mr, NL, f, NL, n, 1, NULL);            /* dG_j −= Σ_i E_ij (1 + A_ij) dz̄_i */
    /* (c) G = LNgrad(Z), Z = K W + b */
    lnl2_bwd_lanes(dZ, dG, G, xh, rs, in->gamma, in->beta, Vt, Kt, dVt, dKt, dgl, dbl, f);
    p_mm2(dQt, dKt, W, f, 1, dZb, dZ, f, f, 1, NULL);              /* dq_i += W dz̄_i, dk_j += W dz_j */
    /* dW += Σ_i q_iᵀ dz̄_i + Σ_j k_jᵀ dz_j,  db += Σ_i dz̄_i + Σ_j dz_j */
    p_rows(R1, dZb, f);
    p_rows(R2, dZ, f);
    p_mm(dW, f, Qt, NL, 1, R1, f, f, f, n, 1, NULL);
    p_mm(dW, f, Kt, NL, 1, R2, f, f, f, n, 1, NULL);
    rows_acc(db, R1, NULL, n, f);
    rows_acc(db, R2, NULL, n, f);
    /* the outputs */
    p_store_t(dQ, in->ld, dQt, n, f, 1);
    p_store_t(dK, in->ld, dKt, n, f, 1);
    p_store_t(dV, in->ld, dVt, n, f, 1);
    for (int64_t j = 0; j < n; j++) dlr[j * in->lr_ld] += dlr_l[j], dtau[j] += dtau_l[j];
    p_lane_sums(dgamma, dgl, f);
    p_lane_sums(dbeta, dbl, f);
}

/* ---- TTT-MLP: f_res(x) = gelu(x W1 + b1) W2 + b2 ------------------------------------- */

KFN void mlp_fwd(const ttt_inner_dims *d, int64_t n, const ttt_fast_in *in, float *state,
                 float *sums, float *out, int64_t ldo, float *mbc, float *scratch) {
    int64_t f = d->f, F = d->F, b = d->b, S = ttt_state_size(d);
    ttt_mbc_layout L = ttt_mbc_layout_of(d);
    float *W1 = state, *b1 = W1 + f * F, *W2 = b1 + F, *b2 = W2 + F * f;
    float *ws = align_ws(scratch);
    int direct = mbc && b == NL;
#define CBUF(name, rows) float *name = direct ? mbc + L.name : take(&ws, (rows) * NL)
    CBUF(xh, f);
    CBUF(G, f);
    CBUF(xhb, f);
    CBUF(Z1, F);
    CBUF(X2, F);
    CBUF(G1, F);
    CBUF(Zb1, F);
    CBUF(Xb2, F);
#undef CBUF
    float *G2 = G;
    float *Qt = take(&ws, f * NL), *Kt = take(&ws, f * NL), *Vt = take(&ws, f * NL), *Z2 = take(&ws, f * NL);
    float *gp = take(&ws, F * NL), *Ks = take(&ws, f * NL), *Xs = take(&ws, F * NL);
    float *At = take(&ws, NL * NL), *Mt = take(&ws, NL * NL);
    float *G1r = take(&ws, NL * F), *G2r = take(&ws, NL * f);
    float lr[NL], tau[NL], rs[NL], rsb[NL], s[NL];
    if (mbc) memcpy(mbc + L.st, state, sizeof(float) * (size_t)S);
    p_load_t(Qt, in->Q, in->ld, n, f);
    p_load_t(Kt, in->K, in->ld, n, f);
    p_load_t(Vt, in->V, in->ld, n, f);
    load_lanes(lr, in->lr, in->lr_ld, n);
    load_lanes(tau, in->tau, 1, n);
    /* Z1 = K W1 + b1, X2 = gelu(Z1), Z2 = X2 W2 + b2, G2 = LNgrad(Z2, V − K),
     * G1 = (G2 W2ᵀ) ⊙ gelu'(Z1) */
    p_mm2(Z1, Zb1, W1, 1, F, Kt, Qt, F, f, 0, b1); /* and Z̄1's q_i W1 + b1 */
    for (int64_t e = 0; e < F * NL; e++) X2[e] = fgelu(Z1[e]), gp[e] = fgelu_bwd_ttt(Z1[e]);
    p_mm(Z2, NL, W2, 1, f, X2, NL, f, NL, F, 0, b2);
    ln_lanes(Z2, f, xh, rs);
    lnl2_grad_lanes(G2, xh, rs, in->gamma, in->beta, Vt, Kt, f);
    p_mm(G1, NL, W2, f, 1, G2, NL, F, NL, f, 0, NULL);
    for (int64_t e = 0; e < F * NL; e++) G1[e] *= gp[e];
    /* Z̄1_i = q_i W1 + b1 − Σ_j E_ij (1 + q_i·k_j) G1_j;  X̄2 = gelu(Z̄1) */
    p_mm(At, NL, Kt, 1, NL, Qt, NL, NL, NL, f, 0, NULL);
    attn_coef(Mt, At, n, lr, tau);
    p_mm(Zb1, NL, G1, NL, 1, Mt, NL, F, NL, n, 1, NULL);
    for (int64_t e = 0; e < F * NL; e++) Xb2[e] = fgelu(Zb1[e]);
    /* Z̄2_i = X̄2_i W2 + b2 − Σ_j E_ij (1 + X̄2_i·X2_j) G2_j;  out_i = q_i + LN(Z̄2_i) */
    p_mm(At, NL, X2, 1, NL, Xb2, NL, NL, NL, F, 0, NULL);
    attn_coef(Mt, At, n, lr, tau);
    p_mm(Z2, NL, W2, 1, f, Xb2, NL, f, NL, F, 0, b2);
    p_mm(Z2, NL, G2, NL, 1, Mt, NL, f, NL, n, 1, NULL);
    ln_lanes(Z2, f, xhb, rsb);
    ln_out_lanes(Z2, Qt, xhb, in->gamma, in->beta, f);
    p_store_t(out, ldo, Z2, n, f, 0);
    /* commit: W1 −= Σ c_j k_jᵀ G1_j, b1 −= Σ c_j G1_j, W2 −= Σ c_j X2_jᵀ G2_j, b2 −= Σ c_j G2_j;
     * partial: the same sums with lr_j into `sums` */
    for (int l = 0; l < NL; l++) s[l] = sums ? lr[l] : -(tau[n - 1] * lr[l]);
    scale_lanes(Ks, Kt, s, f);
    scale_lanes(Xs, X2, s, F);
    p_rows(G1r, G1, F);
    p_rows(G2r, G2, f);
    float *tW1 = W1, *tb1 = b1, *tW2 = W2, *tb2 = b2;
    if (sums) {
        tW1 = sums, tb1 = sums + f * F, tW2 = tb1 + F, tb2 = tW2 + F * f;
        memset(tb1, 0, sizeof(float) * (size_t)F);
        memset(tb2, 0, sizeof(float) * (size_t)f);
    }
    p_mm(tW1, F, Ks, NL, 1, G1r, F, f, F, n, sums ? 0 : 1, NULL);
    rows_acc(tb1, G1r, s, n, F);
    p_mm(tW2, f, Xs, NL, 1, G2r, f, F, f, n, sums ? 0 : 1, NULL);
    rows_acc(tb2, G2r, s, n, f);
    if (mbc) {
        memcpy(mbc + L.rs, rs, sizeof(float) * (size_t)b);
        memcpy(mbc + L.rsb, rsb, sizeof(float) * (size_t)b);
        if (!direct) {
            lanes_to_cache(mbc + L.xh, xh, f, b);
            lanes_to_cache(mbc + L.G, G, f, b);
            lanes_to_cache(mbc + L.xhb, xhb, f, b);
            lanes_to_cache(mbc + L.Z1, Z1, F, b);
            lanes_to_cache(mbc + L.X2, X2, F, b);
            lanes_to_cache(mbc + L.G1, G1, F, b);
            lanes_to_cache(mbc + L.Zb1, Zb1, F, b);
            lanes_to_cache(mbc + L.Xb2, Xb2, F, b);
        }
    }
}

KFN void mlp_bwd(const ttt_inner_dims *d, int64_t n, const ttt_fast_in *in, const float *mbc,
                 const float *dout, int64_t ldo, float *dstate, float *dQ, float *dK, float *dV,
                 float *dlr, float *dtau, float *dgamma, float *dbeta, float *scratch) {
    int64_t f = d->f, F = d->F, b = d->b;
    ttt_mbc_layout L = ttt_mbc_layout_of(d);
    const float *W1 = mbc + L.st, *W2 = W1 + f * F + F;
    float *dW1 = dstate, *db1 = dW1 + f * F, *dW2 = db1 + F, *db2 = dW2 + F * f;
    float *ws = align_ws(scratch);
    const float *xh = cache_block(mbc, L.xh, f, b, &ws), *G2 = cache_block(mbc, L.G, f, b, &ws);
    const float *xhb = cache_block(mbc, L.xhb, f, b, &ws);
    const float *Z1 = cache_block(mbc, L.Z1, F, b, &ws), *X2 = cache_block(mbc, L.X2, F, b, &ws);
    const float *G1 = cache_block(mbc, L.G1, F, b, &ws), *Zb1 = cache_block(mbc, L.Zb1, F, b, &ws);
    const float *Xb2 = cache_block(mbc, L.Xb2, F, b, &ws);
    float *Qt = take(&ws, f * NL), *Kt = take(&ws, f * NL), *Vt = take(&ws, f * NL), *dOt = take(&ws, f * NL);
    float *T1 = take(&ws, f * NL), *GC = take(&ws, f * NL), *dG2 = take(&ws, f * NL);
    float *dQt = take(&ws, f * NL), *dKt = take(&ws, f * NL), *dVt = take(&ws, f * NL);
    float *dZb2 = take(&ws, f * NL), *dZ2 = take(&ws, f * NL), *dgl = take(&ws, f * NL), *dbl = take(&ws, f * NL);
    float *T0 = take(&ws, F * NL), *G1C = take(&ws, F * NL), *dG1 = take(&ws, F * NL), *dX2 = take(&ws, F * NL);
    float *dXb2 = take(&ws, F * NL), *dZb1 = take(&ws, F * NL), *H = take(&ws, F * NL), *dH = take(&ws, F * NL);
    float *dZ1 = take(&ws, F * NL);
    float *At = take(&ws, NL * NL), *P = take(&ws, NL * NL), *dAt = take(&ws, NL * NL), *Mt = take(&ws, NL * NL);
    float *dAr = take(&ws, NL * NL), *Mr = take(&ws, NL * NL);
    float *Rf = take(&ws, NL * f), *RF1 = take(&ws, NL * F);
    float lr[NL], tau[NL], rs[NL], rsb[NL], c[NL], dc[NL], dtau_l[NL] = {0}, dlr_l[NL] = {0};
    for (int l = 0; l < NL; l++) rs[l] = l < b ? mbc[L.rs + l] : 1.0f, rsb[l] = l < b ? mbc[L.rsb + l] : 1.0f;
    p_load_t(Qt, in->Q, in->ld, n, f);
    p_load_t(Kt, in->K, in->ld, n, f);
    p_load_t(Vt, in->V, in->ld, n, f);
    p_load_t(dOt, dout, ldo, n, f);
    load_lanes(lr, in->lr, in->lr_ld, n);
    load_lanes(tau, in->tau, 1, n);
    float tl = tau[n - 1];
    for (int l = 0; l < NL; l++) c[l] = tl * lr[l];
    memset(dgl, 0, sizeof(float) * (size_t)(f * NL));
    memset(dbl, 0, sizeof(float) * (size_t)(f * NL));
    memset(dVt, 0, sizeof(float) * (size_t)(f * NL));

    /* (a) commit: W1' = W1 − Σ c_j k_jᵀ G1_j, b1' = b1 − Σ c_j G1_j,
     *             W2' = W2 − Σ c_j X2_jᵀ G2_j, b2' = b2 − Σ c_j G2_j */
    p_mm(T0, NL, dW1, 1, F, Kt, NL, F, NL, f, 0, db1);              /* t_j = k_j dW1' + db1' */
    v16 dc1 = vdot_rows(T0, G1, F);
    for (int64_t r = 0; r < F; r++)
        for (int l = 0; l < NL; l++) {
            G1C[r * NL + l] = -c[l] * G1[r * NL + l];
            dG1[r * NL + l] = -c[l] * T0[r * NL + l];
        }
    p_mm(dKt, NL, dW1, F, 1, G1C, NL, f, NL, F, 0, NULL);           /* dk_j = −c_j dW1' G1_jᵀ */
    p_mm(T1, NL, dW2, 1, f, X2, NL, f, NL, F, 0, db2);              /* u_j = X2_j dW2' + db2' */
    st16(dc, -dc1 - vdot_rows(T1, G2, f));
    for (int64_t r = 0; r < f; r++)
        for (int l = 0; l < NL; l++) {
            GC[r * NL + l] = -c[l] * G2[r * NL + l];
            dG2[r * NL + l] = -c[l] * T1[r * NL + l];
        }
    p_mm(dX2, NL, dW2, f, 1, GC, NL, F, NL, f, 0, NULL);            /* dX2_j = −c_j dW2' G2_jᵀ */
    for (int64_t j = 0; j < n; j++) {
        dtau_l[n - 1] += dc[j] * lr[j];
        dlr_l[j] += dc[j] * tl;
    }
    /* (b) the output path: out_i = q_i + LN(Z̄2_i) */
    memcpy(dQt, dOt, sizeof(float) * (size_t)(f * NL));
    ln_out_bwd_lanes(dZb2, dOt, xhb, rsb, in->gamma, dgl, dbl, f);
    /* Z̄2 = X̄2 W2 + b2 − Σ_j E_ij (1 + X̄2_i·X2_j) G2_j */
    p_mm2(dXb2, H, W2, f, 1, dZb2, G2, F, f, 0, NULL);             /* dX̄2_i = W2 dz̄2_i; H (c) */
    p_mm(At, NL, X2, 1, NL, Xb2, NL, NL, NL, F, 0, NULL);
    p_mm(P, NL, G2, 1, NL, dZb2, NL, NL, NL, f, 0, NULL);
    attn_bwd(dAt, Mt, P, At, n, lr, tau, dtau_l, dlr_l);
    p_mm(dXb2, NL, X2, NL, 1, dAt, NL, F, NL, n, 1, NULL);          /* dX̄2_i += Σ_j dA_ij X2_j */
    p_load_t(dAr, dAt, NL, NL, NL);
    p_load_t(Mr, Mt, NL, NL, NL);
    p_mm(dX2, NL, Xb2, NL, 1, dAr, NL, F, NL, n, 1, NULL);          /* dX2_j += Σ_i dA_ij X̄2_i */
    p_mm(dG2, NL, dZb2, NL, 1, Mr, NL, f, NL, n, 1, NULL);          /* dG2_j −= Σ_i E_ij (1 + A_ij) dz̄2_i */
    /* X̄2 = gelu(Z̄1) */
    for (int64_t e = 0; e < F * NL; e++) dZb1[e] = dXb2[e] * fgelu_grad(Zb1[e]);
    /* Z̄1 = q W1 + b1 − Σ_j E_ij (1 + q_i·k_j) G1_j */
    p_mm(At, NL, Kt, 1, NL, Qt, NL, NL, NL, f, 0, NULL);
    p_mm(P, NL, G1, 1, NL, dZb1, NL, NL, NL, F, 0, NULL);
    attn_bwd(dAt, Mt, P, At, n, lr, tau, dtau_l, dlr_l);
    p_mm(dQt, NL, Kt, NL, 1, dAt, NL, f, NL, n, 1, NULL);
    p_load_t(dAr, dAt, NL, NL, NL);
    p_load_t(Mr, Mt, NL, NL, NL);
    p_mm(dKt, NL, Qt, NL, 1, dAr, NL, f, NL, n, 1, NULL);
    p_mm(dG1, NL, dZb1, NL, 1, Mr, NL, F, NL, n, 1, NULL);
    /* dW2 += Σ_i X̄2_iᵀ dz̄2_i, db2 += Σ_i dz̄2_i;  dW1 += Σ_i q_iᵀ dz̄1_i, db1 += Σ_i dz̄1_i */
    p_rows(Rf, dZb2, f);
    p_mm(dW2, f, Xb2, NL, 1, Rf, f, F, f, n, 1, NULL);
    rows_acc(db2, Rf, NULL, n, f);
    p_rows(RF1, dZb1, F);
    p_mm(dW1, F, Qt, NL, 1, RF1, F, f, F, n, 1, NULL);
    rows_acc(db1, RF1, NULL, n, F);
    /* (c) the reconstruction path. G1 = H ⊙ gelu'(Z1), H = G2 W2ᵀ:
     * dH = dG1 ⊙ gelu'(Z1), dZ1 = dG1 ⊙ H ⊙ gelu''(Z1), dG2 += dH W2, dW2 += dHᵀ G2 */
    for (int64_t e = 0; e < F * NL; e++) {
        dH[e] = dG1[e] * fgelu_bwd_ttt(Z1[e]);
        dZ1[e] = dG1[e] * H[e] * fgelu_bwd_ttt_grad(Z1[e]);
    }
    p_mm(dG2, NL, W2, 1, f, dH, NL, f, NL, F, 1, NULL);
    p_rows(Rf, G2, f);
    p_mm(dW2, f, dH, NL, 1, Rf, f, F, f, n, 1, NULL);
    /* G2 = LNgrad(Z2, V − K) */
    lnl2_bwd_lanes(dZ2, dG2, G2, xh, rs, in->gamma, in->beta, Vt, Kt, dVt, dKt, dgl, dbl, f);
    /* Z2 = X2 W2 + b2 */
    p_mm(dX2, NL, W2, f, 1, dZ2, NL, F, NL, f, 1, NULL);
    p_rows(Rf, dZ2, f);
    p_mm(dW2, f, X2, NL, 1, Rf, f, F, f, n, 1, NULL);
    rows_acc(db2, Rf, NULL, n, f);
    /* X2 = gelu(Z1), Z1 = k W1 + b1 */
    for (int64_t e = 0; e < F * NL; e++) dZ1[e] += dX2[e] * fgelu_grad(Z1[e]);
    p_mm2(dQt, dKt, W1, F, 1, dZb1, dZ1, f, F, 1, NULL);          /* dq_i += W1 dz̄1_i, dk_j += W1 dz1_j */
    p_rows(RF1, dZ1, F);
    p_mm(dW1, F, Kt, NL, 1, RF1, F, f, F, n, 1, NULL);
    rows_acc(db1, RF1, NULL, n, F);
    /* the outputs */
    p_store_t(dQ, in->ld, dQt, n, f, 1);
    p_store_t(dK, in->ld, dKt, n, f, 1);
    p_store_t(dV, in->ld, dVt, n, f, 1);
    for (int64_t j = 0; j < n; j++) dlr[j * in->lr_ld] += dlr_l[j], dtau[j] += dtau_l[j];
    p_lane_sums(dgamma, dgl, f);
    p_lane_sums(dbeta, dbl, f);
}

/* ---- the primal step (one token, vectors along the features) ---------------------------- */

/* Σ_c x[c] in 16 partial sums combined in a fixed order */
KFN float vsum(const float *restrict x, int64_t n) {
    float p[NL] = {0};
    int64_t c = 0;
    for (; c + NL <= n; c += NL)
        for (int l = 0; l < NL; l++) p[l] += x[c + l];
    for (int l = 0; c + l < n; l++) p[l] += x[c + l];
    float s = 0;
    for (int l = 0; l < NL; l++) s += p[l];
    return s;
}

KFN float vdot(const float *restrict x, const float *restrict y, int64_t n) {
    float p[NL] = {0};
    int64_t c = 0;
    for (; c + NL <= n; c += NL)
        for (int l = 0; l < NL; l++) p[l] += x[c + l] * y[c + l];
    for (int l = 0; c + l < n; l++) p[l] += x[c + l] * y[c + l];
    float s = 0;
    for (int l = 0; l < NL; l++) s += p[l];
    return s;
}

/* LayerNorm of one row: x̂ = (z − μ)·r; returns r */
KFN float ln_row(const float *restrict z, int64_t f, float *restrict xh) {
    float mu = vsum(z, f) / (float)f;
    for (int64_t c = 0; c < f; c++) xh[c] = z[c] - mu;
    float r = 1.0f / __builtin_sqrtf(vdot(xh, xh, f) / (float)f + INNER_EPS);
    for (int64_t c = 0; c < f; c++) xh[c] *= r;
    return r;
}

/* G = LNgrad(z) for one row (G doubles as h's buffer) */
KFN void lnl2_grad_row(float *restrict G, const float *restrict xh, float r, const float *restrict gamma,
                       const float *restrict beta, const float *restrict v, const float *restrict k,
                       int64_t f) {
    for (int64_t c = 0; c < f; c++) G[c] = (gamma[c] * xh[c] + beta[c] - (v[c] - k[c])) * gamma[c];
    float sh = vsum(G, f), shx = vdot(G, xh, f), s = r / (float)f;
    for (int64_t c = 0; c < f; c++) G[c] = ((float)f * G[c] - sh - xh[c] * shx) * s;
}

/* y[0..m) = bias + Σ_c x[c] W[c, 0..m): one row of the tiled product */
KFN void vecmat_row(float *restrict y, const float *restrict x, const float *restrict W,
                    const float *restrict bias, int64_t rows, int64_t m) {
    memcpy(y, bias, sizeof(float) * (size_t)m);
    p_mm(y, m, x, 0, 1, W, m, 1, m, rows, 1, NULL);
}

/* h[a] = Σ_r W[a][r]·g[r] for the F rows of W [F × f]: 16 partial sums per row (vectors along
 * r), then summed across by p_lane_sums (transposed 16 rows at a time) */
KFN void matvec_rows(float *restrict h, const float *restrict W, const float *restrict g,
                     int64_t F, int64_t f, float *restrict part) {
    int64_t f16 = f & ~(int64_t)(NL - 1);
    for (int64_t a = 0; a < F; a++) {
        float p[NL] = {0};
        const float *w = W + a * f;
        for (int64_t c = 0; c < f16; c += NL)
            for (int l = 0; l < NL; l++) p[l] += w[c + l] * g[c + l];
        for (int64_t c = f16; c < f; c++) p[c - f16] += w[c] * g[c];
        memcpy(part + a * NL, p, sizeof p);
    }
    memset(h, 0, sizeof(float) * (size_t)F);
    p_lane_sums(h, part, F);
}

/* the bias: sb += lr·g; y += b − τ sb; commit: b −= τ sb, sb = 0 */
KFN void primal_bias(float *restrict y, float *restrict bb, float *restrict sb, float lr,
                     const float *restrict g, float tau, int commit, int64_t m) {
    for (int64_t j = 0; j < m; j++) {
        float sj = sb[j] + lr * g[j];
        y[j] += bb[j] - tau * sj;
        if (commit) {
            bb[j] -= tau * sj;
            sj = 0;
        }
        sb[j] = sj;
    }
}

KFN void primal(const ttt_inner_dims *d, const float *q, const float *k, const float *v, float lr,
                float tau, const float *gamma, const float *beta, float *state, float *sums,
                int commit, float *out, float *scratch) {
    int64_t f = d->f, F = d->F;
    float *ws = align_ws(scratch);
    float *z = take(&ws, f), *xh = take(&ws, f), *G = take(&ws, f), *y = take(&ws, f);
    if (!d->mlp) {
        float *W = state, *bb = W + f * f, *SW = sums, *Sb = sums + f * f;
        /* G = LNgrad(k W + b);  S += lr kᵀ G;  z̄ = q (W − τ S_W) + b − τ S_b */
        vecmat_row(z, k, W, bb, f, f);
        float r = ln_row(z, f, xh);
        lnl2_grad_row(G, xh, r, gamma, beta, v, k, f);
        memset(y, 0, sizeof(float) * (size_t)f);
        p_primal_pass(y, W, SW, k, lr, G, q, tau, commit, f, f);
        primal_bias(y, bb, Sb, lr, G, tau, commit, f);
    } else {
        float *W1 = state, *b1 = W1 + f * F, *W2 = b1 + F, *b2 = W2 + F * f;
        float *SW1 = sums, *Sb1 = SW1 + f * F, *SW2 = Sb1 + F, *Sb2 = SW2 + F * f;
        float *Z1 = take(&ws, F), *X2 = take(&ws, F), *G1 = take(&ws, F), *Zb1 = take(&ws, F);
        float *part = take(&ws, F * NL);
        /* Z1 = k W1 + b1, X2 = gelu(Z1), G2 = LNgrad(X2 W2 + b2), G1 = (G2 W2ᵀ) ⊙ gelu'(Z1) */
        vecmat_row(Z1, k, W1, b1, f, F);
        for (int64_t a = 0; a < F; a++) X2[a] = fgelu(Z1[a]);
        vecmat_row(z, X2, W2, b2, F, f);
        float r = ln_row(z, f, xh);
        lnl2_grad_row(G, xh, r, gamma, beta, v, k, f);
        matvec_rows(G1, W2, G, F, f, part);
        for (int64_t a = 0; a < F; a++) G1[a] *= fgelu_bwd_ttt(Z1[a]);
        /* S1 += lr kᵀ G1; Z̄1 = q (W1 − τ S_W1) + b1 − τ S_b1; X̄2 = gelu(Z̄1) */
        memset(Zb1, 0, sizeof(float) * (size_t)F);
        p_primal_pass(Zb1, W1, SW1, k, lr, G1, q, tau, commit, f, F);
        primal_bias(Zb1, b1, Sb1, lr, G1, tau, commit, F);
        for (int64_t a = 0; a < F; a++) Zb1[a] = fgelu(Zb1[a]);
        /* S2 += lr X2ᵀ G2;  z̄ = X̄2 (W2 − τ S_W2) + b2 − τ S_b2 */
        memset(y, 0, sizeof(float) * (size_t)f);
        p_primal_pass(y, W2, SW2, X2, lr, G, Zb1, tau, commit, F, f);
        primal_bias(y, b2, Sb2, lr, G, tau, commit, f);
    }
    /* out = q + LN(z̄) */
    ln_row(y, f, xh);
    for (int64_t c = 0; c < f; c++) out[c] = q[c] + gamma[c] * xh[c] + beta[c];
}

/* ---- entry points ----------------------------------------------------------------------- */

KFN_EXPORT void FN(ttt_fast_mb_forward)(const ttt_inner_dims *d, int64_t n, const ttt_fast_in *in,
                                        float *state, float *sums, float *out, int64_t ldo,
                                        float *mbc, float *scratch) {
    if (n == 1 && sums && !mbc) {
        /* one token starting a mini-batch (decoding): the dual form's products would cost a
         * whole mini-batch in the lane layout; the primal step from zero sums is the same */
        memset(sums, 0, sizeof(float) * (size_t)ttt_state_size(d));
        primal(d, in->Q, in->K, in->V, in->lr[0], in->tau[0], in->gamma, in->beta, state, sums, 0, out,
               scratch);
        return;
    }
    if (d->mlp)
        mlp_fwd(d, n, in, state, sums, out, ldo, mbc, scratch);
    else
        linear_fwd(d, n, in, state, sums, out, ldo, mbc, scratch);
}

KFN_EXPORT void FN(ttt_fast_mb_backward)(const ttt_inner_dims *d, int64_t n, const ttt_fast_in *in,
                                         const float *mbc, const float *dout, int64_t ldo,
                                         float *dstate, float *dQ, float *dK, float *dV, float *dlr,
                                         float *dtau, float *dgamma, float *dbeta, float *scratch) {
    if (d->mlp)
        mlp_bwd(d, n, in, mbc, dout, ldo, dstate, dQ, dK, dV, dlr, dtau, dgamma, dbeta, scratch);
    else
        linear_bwd(d, n, in, mbc, dout, ldo, dstate, dQ, dK, dV, dlr, dtau, dgamma, dbeta, scratch);
}

KFN_EXPORT void FN(ttt_fast_primal_step)(const ttt_inner_dims *d, const float *q, const float *k,
                                         const float *v, float lr, float tau, const float *gamma,
                                         const float *beta, float *state, float *sums, int commit,
                                         float *out, float *scratch) {
    primal(d, q, k, v, lr, tau, gamma, beta, state, sums, commit, out, scratch);
}
