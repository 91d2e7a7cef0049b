/* test_llama_hf.c: the Hugging Face Llama config fields beyond the paper's baseline: rope_scaling
 * (linear, dynamic NTK, llama3), a head_dim other than hidden_size / heads, attention_bias and
 * mlp_bias, tied and untied heads, and max_position_embeddings as a limit.
 *
 * Oracles: the frequencies written here in double from transformers' formulas (in the
 * torch.where form of modeling_rope_utils, not the branches of rope_half.c); a whole forward
 * pass written here naively in double (per-position bases, so that dynamic scaling's cached
 * decode is checked too); finite differences (models.c: |analytic − fd| <= 1e-7 + 1e-5·|fd|);
 * the full forward for prefill + decode; a save / reload round trip bit for bit.
 * Tolerances: frequencies 1e-15 relative; the float64 model against the double reference
 * 1e-10 + 1.2e-7·|ref| on logits of size ~1 (the logits come out as float: one rounding, at most
 * 2^-24 relative, is all the difference allowed); decode vs forward of the same model 1e-11. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "models.h"
#include "ops/rope_half.h"
#include "test.h"

#define PI 3.14159265358979323846
#define LOGIT_RTOL 1.2e-7 /* two float roundings (2^-23) */

/* ------------------------------------------------------------------------------------------ */
/* the reference                                                                               */

/* transformers' inv_freq for a given base (dynamic: the base already grown) */
static double ref_inv(const ttt_config *c, int64_t F, int64_t i, double base) {
    double inv = 1.0 / pow(base, (double)(2 * i) / (double)F);
    const ttt_rope_scaling *r = &c->rope_scaling;
    if (r->type == TTT_ROPE_LINEAR) return inv / r->factor;
    if (r->type != TTT_ROPE_LLAMA3) return inv;
    /* _compute_llama3_parameters */
    double old = (double)r->original_max_position_embeddings;
    double low_wl = old / r->low_freq_factor, high_wl = old / r->high_freq_factor;
    double wl = 2 * PI / inv;
    double inv_l = wl > low_wl ? inv / r->factor : inv;
    double smooth = (old / wl - r->low_freq_factor) / (r->high_freq_factor - r->low_freq_factor);
    double smoothed = (1 - smooth) * inv_l / r->factor + smooth * inv_l;
    int medium = !(wl < high_wl) && !(wl > low_wl);
    return medium ? smoothed : inv_l;
}

/* _compute_dynamic_ntk_parameters: seq_len = max(S, max_position_embeddings) */
static double ref_base(const ttt_config *c, int64_t F, int64_t S) {
    double base = c->rope_theta;
    if (c->rope_scaling.type != TTT_ROPE_DYNAMIC) return base;
    double M = (double)c->max_position_embeddings, s = fmax((double)S, M), f = c->rope_scaling.factor;
    return base * pow(f * s / M - (f - 1), (double)F / (double)(F - 2));
}

static int64_t hd_of(const ttt_config *c) {
    return c->head_dim ? c->head_dim : c->hidden_size / c->num_attention_heads;
}

/* a parameter in double (NULL when the model has no such tensor) */
static double *param(const ttt_model *m, const char *fmt, long long l) {
    char name[128];
    snprintf(name, sizeof name, fmt, l);
    int64_t i = ttt_param_find(m, name);
    if (i < 0) return NULL;
    int64_t sh[8], n = 1;
    int nd = ttt_param_shape(m, i, sh);
    for (int k = 0; k < nd; k++) n *= sh[k];
    float *f = malloc(sizeof(float) * (size_t)n);
    double *d = malloc(sizeof(double) * (size_t)n);
    ttt_param_get(m, i, f);
    for (int64_t j = 0; j < n; j++) d[j] = f[j];
    free(f);
    return d;
}

/* y[t, o] = Σ_i x[t, i] W[o, i] + b[o] */
static void lin(double *y, const double *x, const double *W, const double *b, int64_t T, int64_t O, int64_t In) {
    for (int64_t t = 0; t < T; t++)
        for (int64_t o = 0; o < O; o++) {
            double s = b ? b[o] : 0;
            for (int64_t i = 0; i < In; i++) s += x[t * In + i] * W[o * In + i];
            y[t * O + o] = s;
        }
}

static void rms(double *y, const double *x, const double *w, int64_t T, int64_t D, double eps) {
    for (int64_t t = 0; t < T; t++) {
        double ss = 0;
        for (int64_t i = 0; i < D; i++) ss += x[t * D + i] * x[t * D + i];
        double r = 1.0 / sqrt(ss / (double)D + eps);
        for (int64_t i = 0; i < D; i++) y[t * D + i] = x[t * D + i] * r * w[i];
    }
}

/* rotate_half RoPE of the heads of x [T, H·F], position t with the frequencies of base[t] */
static void rope(double *x, const ttt_config *c, const double *base, int64_t T, int64_t H, int64_t F) {
    int64_t P = F / 2;
    for (int64_t t = 0; t < T; t++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < P; i++) {
                double a = (double)t * ref_inv(c, F, i, base[t]), cs = cos(a), sn = sin(a);
                double *v = x + t * H * F + h * F, x1 = v[i], x2 = v[i + P];
                v[i] = x1 * cs - x2 * sn;
                v[i + P] = x2 * cs + x1 * sn;
            }
}

/* LlamaForCausalLM on one sequence ids[T]; RoPE of position t with base[t]; logits [T, V] */
static void ref_forward(const ttt_model *m, const int32_t *ids, int64_t T, const double *base, double *logits) {
    const ttt_config *c = ttt_model_config(m);
    int64_t D = c->hidden_size, I = c->intermediate_size, V = c->vocab_size, nh = c->num_attention_heads;
    int64_t nkv = c->num_key_value_heads, F = hd_of(c), QD = nh * F, KD = nkv * F;
    double *E = param(m, "model.embed_tokens.weight", 0);
    double *h = malloc(sizeof(double) * (size_t)(T * D)), *x = malloc(sizeof(double) * (size_t)(T * D));
    double *q = malloc(sizeof(double) * (size_t)(T * QD)), *k = malloc(sizeof(double) * (size_t)(T * KD));
    double *v = malloc(sizeof(double) * (size_t)(T * KD)), *o = malloc(sizeof(double) * (size_t)(T * QD));
    double *y = malloc(sizeof(double) * (size_t)(T * D)), *g = malloc(sizeof(double) * (size_t)(T * I));
    double *u = malloc(sizeof(double) * (size_t)(T * I)), *p = malloc(sizeof(double) * (size_t)T);
    for (int64_t t = 0; t < T; t++) memcpy(h + t * D, E + (int64_t)ids[t] * D, sizeof(double) * (size_t)D);
    for (long long l = 0; l < c->num_hidden_layers; l++) {
        double *wi = param(m, "model.layers.%lld.input_layernorm.weight", l);
        double *wq = param(m, "model.layers.%lld.self_attn.q_proj.weight", l), *bq = param(m, "model.layers.%lld.self_attn.q_proj.bias", l);
        double *wk = param(m, "model.layers.%lld.self_attn.k_proj.weight", l), *bk = param(m, "model.layers.%lld.self_attn.k_proj.bias", l);
        double *wv = param(m, "model.layers.%lld.self_attn.v_proj.weight", l), *bv = param(m, "model.layers.%lld.self_attn.v_proj.bias", l);
        double *wo = param(m, "model.layers.%lld.self_attn.o_proj.weight", l), *bo = param(m, "model.layers.%lld.self_attn.o_proj.bias", l);
        double *wp = param(m, "model.layers.%lld.post_attention_layernorm.weight", l);
        double *wg = param(m, "model.layers.%lld.mlp.gate_proj.weight", l), *bg = param(m, "model.layers.%lld.mlp.gate_proj.bias", l);
        double *wu = param(m, "model.layers.%lld.mlp.up_proj.weight", l), *bu = param(m, "model.layers.%lld.mlp.up_proj.bias", l);
        double *wd = param(m, "model.layers.%lld.mlp.down_proj.weight", l), *bd = param(m, "model.layers.%lld.mlp.down_proj.bias", l);
        rms(x, h, wi, T, D, c->rms_norm_eps);
        lin(q, x, wq, bq, T, QD, D);
        lin(k, x, wk, bk, T, KD, D);
        lin(v, x, wv, bv, T, KD, D);
        rope(q, c, base, T, nh, F);
        rope(k, c, base, T, nkv, F);
        for (int64_t j = 0; j < nh; j++) {
            int64_t gk = j / (nh / nkv);
            for (int64_t t = 0; t < T; t++) {
                double mx = -INFINITY, z = 0;
                for (int64_t s = 0; s <= t; s++) {
                    double d = 0;
                    for (int64_t i = 0; i < F; i++) d += q[t * QD + j * F + i] * k[s * KD + gk * F + i];
                    p[s] = d / sqrt((double)F);
                    mx = fmax(mx, p[s]);
                }
                for (int64_t s = 0; s <= t; s++) z += p[s] = exp(p[s] - mx);
                for (int64_t i = 0; i < F; i++) {
                    double acc = 0;
                    for (int64_t s = 0; s <= t; s++) acc += p[s] / z * v[s * KD + gk * F + i];
                    o[t * QD + j * F + i] = acc;
                }
            }
        }
        lin(y, o, wo, bo, T, D, QD);
        for (int64_t i = 0; i < T * D; i++) h[i] += y[i];
        rms(x, h, wp, T, D, c->rms_norm_eps);
        lin(g, x, wg, bg, T, I, D);
        lin(u, x, wu, bu, T, I, D);
        for (int64_t i = 0; i < T * I; i++) g[i] = g[i] / (1 + exp(-g[i])) * u[i];
        lin(y, g, wd, bd, T, D, I);
        for (int64_t i = 0; i < T * D; i++) h[i] += y[i];
        free(wi), free(wq), free(bq), free(wk), free(bk), free(wv), free(bv), free(wo), free(bo);
        free(wp), free(wg), free(bg), free(wu), free(bu), free(wd), free(bd);
    }
    double *wn = param(m, "model.norm.weight", 0), *head = param(m, "lm_head.weight", 0);
    rms(x, h, wn, T, D, c->rms_norm_eps);
    lin(logits, x, head ? head : E, NULL, T, V, D);
    free(wn), free(head), free(E);
    free(h), free(x), free(q), free(k), free(v), free(o), free(y), free(g), free(u), free(p);
}

/* ------------------------------------------------------------------------------------------ */
/* configs                                                                                     */

/* D, heads, kv heads, head_dim (0: D / heads), I, layers, V */
static void hf_config(ttt_config *c, int64_t D, int64_t nh, int64_t nkv, int64_t hd, int64_t I, int64_t layers,
                      int64_t V, int tied, int ab, int mb) {
    ttt_config_preset("llama-tiny", c);
    c->hidden_size = D;
    c->num_attention_heads = nh;
    c->num_key_value_heads = nkv;
    c->head_dim = hd;
    c->intermediate_size = I;
    c->num_hidden_layers = layers;
    c->vocab_size = V;
    c->tie_word_embeddings = tied;
    c->attention_bias = ab;
    c->mlp_bias = mb;
}

static void set_rope(ttt_config *c, ttt_rope_type t, double factor, double lo, double hi, int64_t orig) {
    c->rope_scaling.type = t;
    c->rope_scaling.factor = factor;
    c->rope_scaling.low_freq_factor = lo;
    c->rope_scaling.high_freq_factor = hi;
    c->rope_scaling.original_max_position_embeddings = orig;
}

/* ------------------------------------------------------------------------------------------ */
/* frequencies                                                                                 */

TEST(test_llama_hf_rope_inv_freq) {
    ttt_config c;
    hf_config(&c, 32, 2, 1, 16, 24, 1, 31, 1, 0, 0);
    c.max_position_embeddings = 64;
    const int64_t F = 16, P = F / 2;
    struct {
        ttt_rope_type t;
        double f, lo, hi;
        int64_t orig, S;
        const char *what;
    } cases[] = {{TTT_ROPE_NONE, 1, 0, 0, 0, 10, "default"},
                 {TTT_ROPE_LINEAR, 4, 0, 0, 0, 10, "linear 4"},
                 {TTT_ROPE_DYNAMIC, 2, 0, 0, 0, 40, "dynamic 2, S 40 <= 64"},
                 {TTT_ROPE_DYNAMIC, 2, 0, 0, 0, 100, "dynamic 2, S 100 > 64"},
                 {TTT_ROPE_DYNAMIC, 3.5, 0, 0, 0, 1000, "dynamic 3.5, S 1000"},
                 {TTT_ROPE_LLAMA3, 8, 1, 4, 256, 10, "llama3 8, 1/4, 256"},
                 {TTT_ROPE_LLAMA3, 2, 0.5, 2, 64, 10, "llama3 2, 0.5/2, 64"}};
    int ok = 1;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        set_rope(&c, cases[k].t, cases[k].f, cases[k].lo, cases[k].hi, cases[k].orig);
        const ttt_rope_scaling *r = &c.rope_scaling;
        rope_params rp = {c.rope_theta, r->type, r->factor, r->low_freq_factor, r->high_freq_factor,
                          r->original_max_position_embeddings, c.max_position_embeddings};
        double got[8], ref[8], base = rope_base(&rp, F, cases[k].S), rb = ref_base(&c, F, cases[k].S);
        ok &= check_close(cases[k].what, &base, &rb, 1, 0, 1e-15);
        for (int64_t i = 0; i < P; i++) got[i] = rope_inv_freq(&rp, F, i, base), ref[i] = ref_inv(&c, F, i, rb);
        ok &= check_close(cases[k].what, got, ref, P, 0, 1e-15);
        /* the table: cos and sin of p · inv for p = 5 .. 5 + 3 */
        double cs[2 * 4 * 8], cref[2 * 4 * 8];
        rope_half_table_scaled_f64(cs, 5, 4, F, &rp, cases[k].S);
        for (int64_t t = 0; t < 4; t++)
            for (int64_t i = 0; i < P; i++) {
                cref[t * P + i] = cos((double)(5 + t) * ref[i]);
                cref[4 * P + t * P + i] = sin((double)(5 + t) * ref[i]);
            }
        ok &= check_close(cases[k].what, cs, cref, 8 * P, 1e-14, 0);
    }
    /* the three llama3 bands all occur in the first case: F 16, theta 10000, orig 256 */
    set_rope(&c, TTT_ROPE_LLAMA3, 8, 1, 4, 256);
    int bands[3] = {0, 0, 0};
    for (int64_t i = 0; i < P; i++) {
        double inv = pow(c.rope_theta, -(double)(2 * i) / (double)F), s = ref_inv(&c, F, i, c.rope_theta);
        bands[s == inv ? 0 : fabs(s - inv / 8) < 1e-300 ? 2 : 1]++;
    }
    if (!(bands[0] && bands[1] && bands[2]))
        ok = 0, test_fail("llama3 bands unchanged/smoothed/scaled = %d/%d/%d: one is empty", bands[0], bands[1], bands[2]);
    /* linear: position p with factor f is position p / f unscaled (a = p · inv / f) */
    set_rope(&c, TTT_ROPE_LINEAR, 4, 0, 0, 0);
    rope_params lp = {c.rope_theta, TTT_ROPE_LINEAR, 4, 0, 0, 0, 64}, np = {c.rope_theta, TTT_ROPE_NONE, 1, 0, 0, 0, 64};
    double a[2 * 8], b[2 * 8];
    rope_half_table_scaled_f64(a, 12, 1, F, &lp, 13);
    rope_half_table_scaled_f64(b, 3, 1, F, &np, 4);
    ok &= check_close("linear 4 at 12 vs unscaled at 3", a, b, 2 * P, 1e-15, 0);
    return ok ? TEST_PASS : TEST_FAIL;
}

/* ------------------------------------------------------------------------------------------ */
/* forward against the reference                                                               */

/* the f64 model's logits for B sequences of L against ref_forward with base(L) at every position */
static int forward_vs_ref(const ttt_config *c, int64_t B, int64_t L, const char *what) {
    ttt_model *m = make_model(c, TTT_PREC_F64, 23);
    EXPECT(m, "model");
    int64_t V = c->vocab_size;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)(B * L));
    random_ids(ids, B * L, V, 9);
    float *lg = malloc(sizeof(float) * (size_t)(B * L * V));
    double *ref = malloc(sizeof(double) * (size_t)(L * V)), *got = malloc(sizeof(double) * (size_t)(L * V));
    double *base = malloc(sizeof(double) * (size_t)L);
    for (int64_t t = 0; t < L; t++) base[t] = ref_base(c, hd_of(c), L);
    int ok = ttt_forward(m, ids, B, L, lg, NULL) == TTT_OK;
    if (!ok) test_fail("%s: %s", what, ttt_last_error());
    for (int64_t b = 0; ok && b < B; b++) {
        ref_forward(m, ids + b * L, L, base, ref);
        for (int64_t i = 0; i < L * V; i++) got[i] = lg[b * L * V + i];
        ok &= check_close(what, got, ref, L * V, 1e-10, LOGIT_RTOL);
    }
    free(ids), free(lg), free(ref), free(got), free(base);
    ttt_model_free(m);
    return ok;
}

TEST(test_llama_hf_forward_reference) {
    ttt_config c;
    int ok = 1;
    /* head_dim 16 with D 24, 3 heads (q_proj [48, 24]), 1 kv head, all biases, untied, llama3 */
    hf_config(&c, 24, 3, 1, 16, 20, 2, 31, 0, 1, 1);
    c.max_position_embeddings = 64;
    set_rope(&c, TTT_ROPE_LLAMA3, 4, 1, 4, 32);
    ok &= forward_vs_ref(&c, 2, 19, "llama3 + head_dim 16 + biases, untied");
    /* tied, attention biases only, linear */
    hf_config(&c, 16, 2, 2, 12, 20, 2, 29, 1, 1, 0);
    set_rope(&c, TTT_ROPE_LINEAR, 2.5, 0, 0, 0);
    ok &= forward_vs_ref(&c, 1, 17, "linear 2.5 + head_dim 12, attention bias, tied");
    /* mlp biases only, no scaling, the default head dim */
    hf_config(&c, 16, 4, 2, 0, 20, 1, 29, 0, 0, 1);
    ok &= forward_vs_ref(&c, 1, 13, "plain, mlp bias");
    /* dynamic: within max_position (unscaled) and past it (base(L)) */
    hf_config(&c, 16, 2, 1, 8, 20, 2, 29, 1, 1, 1);
    c.max_position_embeddings = 8;
    set_rope(&c, TTT_ROPE_DYNAMIC, 2, 0, 0, 0);
    ok &= forward_vs_ref(&c, 1, 7, "dynamic 2, L 7 <= 8");
    ok &= forward_vs_ref(&c, 2, 21, "dynamic 2, L 21 > 8");
    return ok ? TEST_PASS : TEST_FAIL;
}

/* ------------------------------------------------------------------------------------------ */
/* gradients                                                                                   */

static int fd_case(const ttt_config *c, int64_t B, int64_t L, int masked, const char *what) {
    return fd_check_config(c, 41, B, L, masked, 1, what);
}

TEST(test_llama_hf_grad_fd_f64) {
    ttt_config c;
    int ok = 1;
    hf_config(&c, 16, 2, 1, 12, 20, 2, 31, 0, 1, 1);
    c.max_position_embeddings = 32;
    set_rope(&c, TTT_ROPE_LLAMA3, 4, 1, 4, 16);
    ok &= fd_case(&c, 2, 9, 0, "head_dim 12 (D 16, 2 heads), all biases, llama3, untied");
    hf_config(&c, 8, 4, 2, 6, 12, 1, 23, 1, 1, 0);
    set_rope(&c, TTT_ROPE_LINEAR, 2, 0, 0, 0);
    ok &= fd_case(&c, 1, 11, 1, "head_dim 6 (D 8, 4 heads / 2 kv), attention bias, linear, tied, masked");
    hf_config(&c, 12, 2, 2, 0, 16, 1, 19, 1, 0, 1);
    c.max_position_embeddings = 6;
    set_rope(&c, TTT_ROPE_DYNAMIC, 3, 0, 0, 0);
    ok &= fd_case(&c, 1, 10, 0, "mlp bias, dynamic past max_position");
    return ok ? TEST_PASS : TEST_FAIL;
}

/* the bias gradients point downhill: with every other tensor frozen, one small step against
 * them lowers the loss */
TEST(test_llama_hf_bias_training) {
    ttt_config c;
    hf_config(&c, 16, 2, 1, 12, 20, 2, 31, 0, 1, 1);
    ttt_model *m = make_model(&c, TTT_PREC_F64, 3);
    EXPECT(m, "model");
    int32_t ids[2 * 12];
    random_ids(ids, 24, 31, 4);
    double l0, l1;
    EXPECT(ttt_zero_grad(m) == TTT_OK && ttt_forward_backward(m, ids, NULL, 2, 12, 0, 1.0, &l0) == TTT_OK, "%s",
           ttt_last_error());
    int nb = 0;
    for (int64_t i = 0; i < ttt_param_count(m); i++) {
        if (!strstr(ttt_param_name(m, i), ".bias")) continue;
        nb++;
        int64_t sh[8];
        ttt_param_shape(m, i, sh);
        float *w = malloc(sizeof(float) * (size_t)sh[0]), *g = malloc(sizeof(float) * (size_t)sh[0]);
        ttt_param_get(m, i, w);
        ttt_grad_get(m, i, g);
        for (int64_t j = 0; j < sh[0]; j++) w[j] -= 0.05f * g[j];
        ttt_param_set(m, i, w);
        free(w), free(g);
    }
    EXPECT(nb == 2 * 7, "%d bias tensors, expected 14 (7 per layer)", nb);
    EXPECT(ttt_forward(m, ids, 2, 12, NULL, &l1) == TTT_OK, "%s", ttt_last_error());
    EXPECT(l1 < l0 - 1e-4, "a step along the bias gradients: loss %.6f -> %.6f", l0, l1);
    ttt_model_free(m);
    return TEST_PASS;
}

/* `ttt train` of a bias model with another head_dim (init --attention-bias --mlp-bias
 * --head-dim): AdamW updates the biases (zero at initialisation) like every other tensor */
TEST(test_llama_hf_train_cli) {
    const char *tok = tiny_tokens("llama_hf_train.tok", 3000, 97, "", 0);
    EXPECT(tok, "tokens");
    const char *run = tmp_path("llama_hf_train_run");
    char *out;
    EXPECT(run_cmd(&out, "%s train --preset llama-tiny --attention-bias --mlp-bias --head-dim 24 --data %s --run %s "
                   "--steps 3 --seq-len 16 --batch 2 --quiet", test_ttt_bin, tok, run) == 0, "%s", out);
    free(out);
    char mdir[1100];
    snprintf(mdir, sizeof mdir, "%s/model", run);
    ttt_model *m;
    EXPECT(ttt_model_load(mdir, NULL, &m) == TTT_OK, "%s", ttt_last_error());
    const ttt_config *c = ttt_model_config(m);
    EXPECT(c->attention_bias && c->mlp_bias && c->head_dim == 24, "config: biases %d/%d, head_dim %lld", c->attention_bias,
           c->mlp_bias, (long long)c->head_dim);
    int nb = 0;
    for (int64_t i = 0; i < ttt_param_count(m); i++) {
        if (!strstr(ttt_param_name(m, i), ".bias")) continue;
        int64_t sh[8];
        ttt_param_shape(m, i, sh);
        float *w = malloc(sizeof(float) * (size_t)sh[0]);
        ttt_param_get(m, i, w);
        double mx = 0;
        for (int64_t j = 0; j < sh[0]; j++) mx = fmax(mx, fabs(w[j]));
        free(w);
        if (!(mx > 1e-6)) {
            test_fail("%s is still 0 after 3 AdamW steps (max |b| %.3g)", ttt_param_name(m, i), mx);
            ttt_model_free(m);
            return TEST_FAIL;
        }
        nb++;
    }
    ttt_model_free(m);
    EXPECT(nb == 14, "%d bias tensors, expected 14", nb);
    return TEST_PASS;
}

/* ------------------------------------------------------------------------------------------ */
/* decode                                                                                      */

/* prefill of P tokens (chunks of `chunk`), then single tokens, against ref (logits [B, L, V]) */
static int decode_vs(ttt_model *m, const int32_t *ids, int64_t B, int64_t L, const double *ref, int64_t P,
                     int64_t chunk, double atol, double rtol, const char *what) {
    int64_t V = ttt_model_config(m)->vocab_size;
    ttt_cache *c;
    EXPECT(ttt_cache_create(m, B, &c) == TTT_OK, "%s", ttt_last_error());
    double *got = malloc(sizeof(double) * (size_t)(B * L * V));
    float *tmp = malloc(sizeof(float) * (size_t)(B * L * V));
    int32_t *col = malloc(sizeof(int32_t) * (size_t)(B * L));
    int ok = 1;
    for (int64_t t = 0; t < L && ok;) {
        int64_t n = t < P ? (P - t < chunk ? P - t : chunk) : 1;
        for (int64_t b = 0; b < B; b++) memcpy(col + b * n, ids + b * L + t, sizeof(int32_t) * (size_t)n);
        if (ttt_prefill(m, c, col, n, tmp) != TTT_OK) {
            test_fail("%s: prefill: %s", what, ttt_last_error());
            ok = 0;
            break;
        }
        for (int64_t b = 0; b < B; b++)
            for (int64_t i = 0; i < n * V; i++) got[(b * L + t) * V + i] = tmp[b * n * V + i];
        t += n;
    }
    char w[256];
    snprintf(w, sizeof w, "%s: prefill %lld (chunks of %lld) + decode", what, (long long)P, (long long)chunk);
    if (ok) ok = check_close(w, got, ref, B * L * V, atol, rtol);
    free(got), free(tmp), free(col);
    ttt_cache_free(c);
    return ok;
}

static int decode_case(const ttt_config *c, int64_t B, int64_t L, const char *what) {
    ttt_model *m = make_model(c, TTT_PREC_F64, 5);
    EXPECT(m, "model");
    int64_t V = c->vocab_size;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)(B * L));
    random_ids(ids, B * L, V, 8);
    float *lg = malloc(sizeof(float) * (size_t)(B * L * V));
    double *ref = malloc(sizeof(double) * (size_t)(B * L * V));
    int ok = ttt_forward(m, ids, B, L, lg, NULL) == TTT_OK;
    if (!ok) test_fail("%s: %s", what, ttt_last_error());
    for (int64_t i = 0; i < B * L * V; i++) ref[i] = lg[i];
    const int64_t P[][2] = {{0, 1}, {1, 1}, {7, 7}, {L - 1, 4}, {L, L}};
    for (int k = 0; ok && k < 5; k++) ok &= decode_vs(m, ids, B, L, ref, P[k][0], P[k][1], 1e-11, 0, what);
    free(ids), free(lg), free(ref);
    ttt_model_free(m);
    return ok;
}

TEST(test_llama_hf_decode_equals_forward) {
    ttt_config c;
    int ok = 1;
    hf_config(&c, 24, 3, 1, 16, 20, 2, 31, 0, 1, 1);
    c.max_position_embeddings = 64;
    set_rope(&c, TTT_ROPE_LLAMA3, 4, 1, 4, 32);
    ok &= decode_case(&c, 2, 23, "llama3 + head_dim 16 + biases");
    hf_config(&c, 16, 2, 2, 12, 20, 2, 29, 1, 1, 0);
    set_rope(&c, TTT_ROPE_LINEAR, 2.5, 0, 0, 0);
    ok &= decode_case(&c, 1, 17, "linear + head_dim 12 + attention bias");
    /* dynamic within max_position: unscaled, decode == forward */
    hf_config(&c, 16, 2, 1, 8, 20, 2, 29, 1, 1, 1);
    c.max_position_embeddings = 32;
    set_rope(&c, TTT_ROPE_DYNAMIC, 2, 0, 0, 0);
    ok &= decode_case(&c, 1, 30, "dynamic within max_position");
    return ok ? TEST_PASS : TEST_FAIL;
}

/* dynamic scaling past max_position_embeddings with a cache: as in transformers, each call
 * rotates its new queries and keys with the base of its own total length, and cached keys keep
 * the rotation they were made with. Token by token from the start, position t therefore uses
 * base(t + 1); one prefill of L tokens uses base(L) everywhere (= the full forward). */
TEST(test_llama_hf_dynamic_decode) {
    ttt_config c;
    hf_config(&c, 16, 2, 1, 8, 20, 2, 29, 1, 1, 0);
    c.max_position_embeddings = 6;
    set_rope(&c, TTT_ROPE_DYNAMIC, 2, 0, 0, 0);
    ttt_model *m = make_model(&c, TTT_PREC_F64, 12);
    EXPECT(m, "model");
    enum { L = 17 };
    const int64_t V = c.vocab_size;
    int32_t ids[L];
    random_ids(ids, L, V, 2);
    double ref[L * 29], base[L];
    for (int64_t t = 0; t < L; t++) base[t] = ref_base(&c, 8, t + 1);
    ref_forward(m, ids, L, base, ref);
    int ok = decode_vs(m, ids, 1, L, ref, 0, 1, 1e-10, LOGIT_RTOL, "dynamic, token by token vs per-position bases");
    /* prefill of 10 (base(10) for positions 0..9) then tokens (base(t+1)) */
    for (int64_t t = 0; t < 10; t++) base[t] = ref_base(&c, 8, 10);
    double ref2[L * 29];
    ref_forward(m, ids, L, base, ref2);
    ok &= decode_vs(m, ids, 1, L, ref2, 10, 10, 1e-10, LOGIT_RTOL, "dynamic, prefill 10 then tokens");
    ttt_model_free(m);
    return ok ? TEST_PASS : TEST_FAIL;
}

/* ------------------------------------------------------------------------------------------ */
/* limits                                                                                      */

TEST(test_llama_hf_max_position) {
    ttt_config c;
    hf_config(&c, 16, 2, 1, 0, 20, 1, 29, 1, 0, 0);
    c.max_position_embeddings = 12;
    ttt_model *m = make_model(&c, TTT_PREC_F32, 1);
    EXPECT(m, "model");
    int32_t ids[2 * 13];
    random_ids(ids, 26, 29, 1);
    EXPECT(ttt_forward(m, ids, 2, 12, NULL, NULL) == TTT_OK, "L = max_position: %s", ttt_last_error());
    EXPECT(ttt_forward(m, ids, 2, 13, NULL, NULL) == TTT_ERR_ARG && strstr(ttt_last_error(), "max_position_embeddings 12") &&
               strstr(ttt_last_error(), "positions 0 .. 12"),
           "forward of 13: %s", ttt_last_error());
    EXPECT(ttt_zero_grad(m) == TTT_OK && ttt_forward_backward(m, ids, NULL, 1, 13, 0, 1, NULL) == TTT_ERR_ARG &&
               strstr(ttt_last_error(), "max_position_embeddings"),
           "forward_backward of 13: %s", ttt_last_error());
    ttt_cache *cc;
    EXPECT(ttt_cache_create(m, 1, &cc) == TTT_OK, "%s", ttt_last_error());
    EXPECT(ttt_prefill(m, cc, ids, 11, NULL) == TTT_OK && ttt_decode_step(m, cc, ids, NULL) == TTT_OK, "%s",
           ttt_last_error());
    EXPECT(ttt_decode_step(m, cc, ids, NULL) == TTT_ERR_ARG && strstr(ttt_last_error(), "decode") &&
               strstr(ttt_last_error(), "max_position_embeddings"),
           "decode at position 12: %s", ttt_last_error());
    EXPECT(ttt_cache_position(cc) == 12, "a refused step moved the cache to %lld", (long long)ttt_cache_position(cc));
    ttt_cache_reset(cc);
    EXPECT(ttt_prefill(m, cc, ids, 13, NULL) == TTT_ERR_ARG && strstr(ttt_last_error(), "prefill"), "prefill of 13: %s",
           ttt_last_error());
    ttt_cache_free(cc);
    EXPECT(ttt_config_max_context(&c) == 12, "max context %lld", (long long)ttt_config_max_context(&c));
    ttt_model_free(m);
    /* dynamic scaling: no limit */
    set_rope(&c, TTT_ROPE_DYNAMIC, 2, 0, 0, 0);
    m = make_model(&c, TTT_PREC_F32, 1);
    EXPECT(m, "model");
    EXPECT(ttt_forward(m, ids, 2, 13, NULL, NULL) == TTT_OK, "dynamic, 13 > 12: %s", ttt_last_error());
    EXPECT(ttt_config_max_context(&c) == 0, "dynamic: max context %lld", (long long)ttt_config_max_context(&c));
    ttt_model_free(m);
    return TEST_PASS;
}

/* ------------------------------------------------------------------------------------------ */
/* files                                                                                       */

/* a bias model with head_dim and llama3 scaling, saved and loaded: config fields, tensor
 * names and values, logits bit for bit; tied and untied */
TEST(test_llama_hf_save_reload) {
    for (int tied = 0; tied < 2; tied++) {
        ttt_config c;
        hf_config(&c, 16, 2, 1, 12, 20, 2, 31, tied, 1, 1);
        set_rope(&c, TTT_ROPE_LLAMA3, 8, 1, 4, 1024);
        ttt_model *m = make_model(&c, TTT_PREC_F32, 77);
        EXPECT(m, "model");
        const char *dir = tmp_path(tied ? "llama_hf_tied" : "llama_hf_untied");
        EXPECT(ttt_model_save(m, dir, TTT_DTYPE_F32) == TTT_OK, "save: %s", ttt_last_error());
        ttt_options o;
        ttt_options_default(&o);
        ttt_model *r;
        EXPECT(ttt_model_load(dir, &o, &r) == TTT_OK, "load: %s", ttt_last_error());
        const ttt_config *rc = ttt_model_config(r);
        EXPECT(rc->head_dim == 12 && rc->attention_bias && rc->mlp_bias && rc->tie_word_embeddings == tied &&
                   rc->rope_scaling.type == TTT_ROPE_LLAMA3 && rc->rope_scaling.factor == 8 &&
                   rc->rope_scaling.low_freq_factor == 1 && rc->rope_scaling.high_freq_factor == 4 &&
                   rc->rope_scaling.original_max_position_embeddings == 1024,
               "config after reload: head_dim %lld, biases %d/%d, tied %d, rope type %d factor %g",
               (long long)rc->head_dim, rc->attention_bias, rc->mlp_bias, rc->tie_word_embeddings,
               (int)rc->rope_scaling.type, rc->rope_scaling.factor);
        static const char *names[] = {"model.layers.1.self_attn.q_proj.bias", "model.layers.1.self_attn.k_proj.bias",
                                      "model.layers.1.self_attn.v_proj.bias", "model.layers.1.self_attn.o_proj.bias",
                                      "model.layers.1.mlp.gate_proj.bias",    "model.layers.1.mlp.up_proj.bias",
                                      "model.layers.1.mlp.down_proj.bias"};
        static const int64_t len[] = {24, 12, 12, 16, 20, 20, 16};
        for (int k = 0; k < 7; k++) {
            int64_t i = ttt_param_find(r, names[k]), sh[8];
            EXPECT(i >= 0 && ttt_param_shape(r, i, sh) == 1 && sh[0] == len[k], "%s: index %lld", names[k], (long long)i);
        }
        int64_t qi = ttt_param_find(r, "model.layers.0.self_attn.q_proj.weight"), sh[8];
        EXPECT(ttt_param_shape(r, qi, sh) == 2 && sh[0] == 24 && sh[1] == 16, "q_proj [%lld, %lld]", (long long)sh[0],
               (long long)sh[1]);
        int64_t oi = ttt_param_find(r, "model.layers.0.self_attn.o_proj.weight");
        EXPECT(ttt_param_shape(r, oi, sh) == 2 && sh[0] == 16 && sh[1] == 24, "o_proj [%lld, %lld]", (long long)sh[0],
               (long long)sh[1]);
        EXPECT((ttt_param_find(r, "lm_head.weight") < 0) == tied, "lm_head present: %d, tied %d",
               ttt_param_find(r, "lm_head.weight") >= 0, tied);
        EXPECT(ttt_param_numel_total(r) == ttt_param_numel_total(m), "parameter counts %lld vs %lld",
               (long long)ttt_param_numel_total(r), (long long)ttt_param_numel_total(m));
        EXPECT(ttt_config_param_count(&c) == ttt_param_numel_total(m), "config_param_count %lld vs %lld",
               (long long)ttt_config_param_count(&c), (long long)ttt_param_numel_total(m));
        float *a = flat_tensors(m, 0), *b = flat_tensors(r, 0);
        int ok = check_bits("parameters after reload", a, b, sizeof(float) * (size_t)ttt_param_numel_total(m));
        free(a), free(b);
        int32_t ids[20];
        random_ids(ids, 20, 31, 6);
        float la[20 * 31], lb[20 * 31];
        EXPECT(ttt_forward(m, ids, 1, 20, la, NULL) == TTT_OK && ttt_forward(r, ids, 1, 20, lb, NULL) == TTT_OK, "%s",
               ttt_last_error());
        ok &= check_bits("logits after reload", la, lb, sizeof la);
        ttt_model_free(m);
        ttt_model_free(r);
        if (!ok) return TEST_FAIL;
    }
    return TEST_PASS;
}

/* a minimal config.json with `extra` fields (JSON text after the required ones) */
static ttt_status load_cfg(const char *extra, ttt_config *out) {
    char text[2048];
    snprintf(text, sizeof text,
             "{\"model_type\": \"llama\", \"vocab_size\": 31, \"hidden_size\": 16, \"intermediate_size\": 20, "
             "\"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"num_key_value_heads\": 1, "
             "\"max_position_embeddings\": 64%s%s}",
             extra[0] ? ", " : "", extra);
    const char *p = tmp_path("llama_hf_cfg.json");
    write_whole(p, text, strlen(text));
    return ttt_config_load(p, out);
}

TEST(test_llama_hf_config_fields) {
    ttt_config c;
    /* accepted forms */
    EXPECT(load_cfg("\"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}", &c) == TTT_OK &&
               c.rope_scaling.type == TTT_ROPE_LINEAR && c.rope_scaling.factor == 2.0,
           "linear (old \"type\" key): %s", ttt_last_error());
    EXPECT(load_cfg("\"rope_scaling\": {\"rope_type\": \"dynamic\", \"factor\": 3}", &c) == TTT_OK &&
               c.rope_scaling.type == TTT_ROPE_DYNAMIC && c.rope_scaling.factor == 3.0,
           "dynamic: %s", ttt_last_error());
    EXPECT(load_cfg("\"rope_scaling\": {\"factor\": 8.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, "
                    "\"original_max_position_embeddings\": 8192, \"rope_type\": \"llama3\"}, \"head_dim\": 12, "
                    "\"attention_bias\": true, \"mlp_bias\": false, \"tie_word_embeddings\": true",
                    &c) == TTT_OK &&
               c.rope_scaling.type == TTT_ROPE_LLAMA3 && c.rope_scaling.factor == 8 && c.rope_scaling.low_freq_factor == 1 &&
               c.rope_scaling.high_freq_factor == 4 && c.rope_scaling.original_max_position_embeddings == 8192 &&
               c.head_dim == 12 && c.attention_bias == 1 && c.mlp_bias == 0 && c.tie_word_embeddings == 1,
           "llama3 (Llama 3.1's block): %s", ttt_last_error());
    EXPECT(load_cfg("\"rope_scaling\": {\"rope_type\": \"default\"}, \"head_dim\": null", &c) == TTT_OK &&
               c.rope_scaling.type == TTT_ROPE_NONE && c.head_dim == 0,
           "default: %s", ttt_last_error());
    EXPECT(load_cfg("\"rope_scaling\": null", &c) == TTT_OK && c.rope_scaling.type == TTT_ROPE_NONE && !c.tie_word_embeddings,
           "null: %s", ttt_last_error());
    /* refused, each with its message */
    static const struct {
        const char *extra, *needle;
    } bad[] = {
        {"\"rope_scaling\": 5", "\"rope_scaling\" must be null or an object"},
        {"\"rope_scaling\": {}", "has no \"rope_type\""},
        {"\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 2}", "\"yarn\" is not supported"},
        {"\"rope_scaling\": {\"rope_type\": 3}", "\"rope_type\" must be a string"},
        {"\"rope_scaling\": {\"rope_type\": \"linear\", \"type\": \"dynamic\", \"factor\": 2}", "the same one"},
        {"\"rope_scaling\": {\"rope_type\": \"linear\"}", "needs \"factor\""},
        {"\"rope_scaling\": {\"rope_type\": \"linear\", \"factor\": \"2\"}", "\"rope_scaling.factor\" must be a finite number"},
        {"\"rope_scaling\": {\"rope_type\": \"linear\", \"factor\": 0.5}", "\"rope_scaling.factor\" is 0.5, expected a number in [1"},
        {"\"rope_scaling\": {\"rope_type\": \"dynamic\", \"factor\": 2, \"low_freq_factor\": 1}", "the key \"low_freq_factor\""},
        {"\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8, \"low_freq_factor\": 1, \"high_freq_factor\": 4}",
         "needs \"original_max_position_embeddings\""},
        {"\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8, \"low_freq_factor\": 4, \"high_freq_factor\": 4, "
         "\"original_max_position_embeddings\": 8}", "\"rope_scaling.high_freq_factor\" 4 must be larger"},
        {"\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8, \"low_freq_factor\": 0, \"high_freq_factor\": 4, "
         "\"original_max_position_embeddings\": 8}", "\"rope_scaling.low_freq_factor\" is 0"},
        {"\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8, \"low_freq_factor\": 1, \"high_freq_factor\": 4, "
         "\"original_max_position_embeddings\": 8.5}", "\"rope_scaling.original_max_position_embeddings\" must be an integer"},
        {"\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8, \"low_freq_factor\": 1, \"high_freq_factor\": 4, "
         "\"original_max_position_embeddings\": 0}", "\"rope_scaling.original_max_position_embeddings\" is 0"},
        {"\"rope_scaling\": {\"rope_type\": \"dynamic\", \"factor\": 2}, \"head_dim\": 2", "head dim > 2"},
        {"\"head_dim\": 7", "\"head_dim\" is 7, expected an even size"},
        {"\"head_dim\": 0", "\"head_dim\" is 0, expected a positive even size"},
        {"\"head_dim\": \"8\"", "field \"head_dim\" must be an integer"},
        {"\"attention_bias\": \"yes\"", "field \"attention_bias\" must be true or false"},
        {"\"mlp_bias\": 1", "field \"mlp_bias\" must be true or false"},
        {"\"tie_word_embeddings\": null", "field \"tie_word_embeddings\" must be true or false"},
    };
    int ok = 1;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ttt_status s = load_cfg(bad[i].extra, &c);
        if (s != TTT_ERR_CONFIG || !strstr(ttt_last_error(), bad[i].needle) || !strstr(ttt_last_error(), "llama_hf_cfg.json")) {
            test_fail("%s: status %d, message \"%s\" (expected it to name the file and say \"%s\")", bad[i].extra, (int)s,
                      ttt_last_error(), bad[i].needle);
            ok = 0;
        }
    }
    return ok ? TEST_PASS : TEST_FAIL;
}
