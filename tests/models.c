/* models.c: test models with interesting parameter values (see models.h). */
#include "models.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "test.h"

void tiny_config(ttt_config *c, const char *backbone, const char *inner) {
    ttt_config_preset("ttt-linear-tiny", c);
    c->hidden_size = 32;
    c->num_attention_heads = 2;
    c->intermediate_size = 48;
    c->num_hidden_layers = 2;
    c->vocab_size = 53;
    c->ttt_layer_type = strcmp(inner, "mlp") == 0 ? TTT_INNER_MLP : TTT_INNER_LINEAR;
    c->ttt_base_lr = c->ttt_layer_type == TTT_INNER_MLP ? 0.1 : 1.0;
    int mamba = strcmp(backbone, "mamba") == 0;
    c->pre_conv = c->share_qk = c->use_gate = mamba;
}

static int has(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

void randomize_params(ttt_model *m, uint64_t seed) {
    ttt_rng r;
    ttt_rng_seed(&r, seed);
    const ttt_config *c = ttt_model_config(m);
    double D = (double)c->hidden_size, f = D / (double)c->num_attention_heads;
    for (int64_t i = 0; i < ttt_param_count(m); i++) {
        const char *n = ttt_param_name(m, i);
        int64_t sh[8], numel = 1;
        int nd = ttt_param_shape(m, i, sh);
        for (int k = 0; k < nd; k++) numel *= sh[k];
        float *v = malloc(sizeof(float) * (size_t)numel);
        for (int64_t j = 0; j < numel; j++) {
            double z = ttt_rng_normal(&r), x;
            if (has(n, "embed_tokens") || has(n, "lm_head"))
                x = 1.5 / sqrt(D) * z;
            else if (has(n, "norm.weight") || has(n, "norm_weight") || has(n, "seq_norm") || has(n, "ffn_norm"))
                x = 1.0 + 0.1 * z;
            else if (has(n, "norm.bias") || has(n, "norm_bias"))
                x = 0.1 * z;
            else if (has(n, "conv") && has(n, "weight"))
                x = 0.3 * z;
            else if (has(n, "conv") && has(n, "bias"))
                x = 0.1 * z;
            else if (has(n, ".W1"))
                x = 1.2 / sqrt(f) * z;
            else if (has(n, ".W2"))
                x = 1.2 / sqrt((double)sh[1]) * z;
            else if (has(n, ".b1") || has(n, ".b2") || has(n, "learnable_ttt_lr"))
                x = 0.1 * z;
            else if (has(n, "learnable_token_idx")) {
                x = 0.05 * z; /* keep τ_i >= 0.5/(i+1): away from the clamp */
                double lo = -0.5 / (double)(j + 1);
                x = x < lo ? lo : x;
            } else if (has(n, "down_proj"))
                x = 1.5 / sqrt((double)c->intermediate_size) * z;
            else
                x = 1.5 / sqrt(D) * z;
            v[j] = (float)x;
        }
        ttt_param_set(m, i, v);
        free(v);
    }
}

ttt_model *make_model(const ttt_config *c, ttt_precision prec, uint64_t seed) {
    ttt_options o;
    ttt_options_default(&o);
    o.precision = prec;
    ttt_model *m;
    if (ttt_model_create(c, seed, &o, &m) != TTT_OK) {
        test_fail("creating a model: %s", ttt_last_error());
        return NULL;
    }
    randomize_params(m, seed + 1000);
    return m;
}

void random_ids(int32_t *ids, int64_t n, int64_t V, uint64_t seed) {
    ttt_rng r;
    ttt_rng_seed(&r, seed);
    for (int64_t i = 0; i < n; i++) ids[i] = (int32_t)(ttt_rng_u64(&r) % (uint64_t)V);
}

void set_opts(ttt_model *m, int threads, int remat, int reference) {
    ttt_options o;
    ttt_model_get_options(m, &o);
    o.threads = threads;
    o.remat_group = remat;
    o.reference_kernels = reference;
    ttt_model_set_options(m, &o);
}

void fd_inputs(int32_t *ids, int32_t *tg, int64_t n, int64_t V) {
    random_ids(ids, n, V, 8);
    if (!tg) return;
    random_ids(tg, n, V, 9);
    for (int64_t i = 0; i < n; i += 5) tg[i] = -1;
}

int fd_check_model(ttt_model *m, const int32_t *ids, const int32_t *tg, int64_t B, int64_t L, int per_seq,
                   int nonzero, const char *what) {
    const double atol = 1e-7, rtol = 1e-5, h = 1e-5;
    double loss;
    EXPECT(m->elem == 8, "%s: the finite-difference check needs a float64 model", what);
    EXPECT(ttt_zero_grad(m) == TTT_OK, "zero");
    EXPECT(ttt_forward_backward(m, ids, tg, B, L, per_seq, 1.0, &loss) == TTT_OK, "%s", ttt_last_error());
    double *w = (double *)m->w, *g = malloc(sizeof(double) * (size_t)m->tab.total);
    memcpy(g, m->g, sizeof(double) * (size_t)m->tab.total);
    ttt_rng r;
    ttt_rng_seed(&r, 99);
    int ok = 1;
    double worst = 0;
    for (int64_t i = 0; i < m->tab.n && ok; i++) {
        const param_info *p = &m->tab.p[i];
        int64_t picks[4], big = 0; /* the largest-gradient entry and 3 random ones */
        for (int64_t j = 1; j < p->numel; j++)
            if (fabs(g[p->offset + j]) > fabs(g[p->offset + big])) big = j;
        picks[0] = big;
        for (int k = 1; k < 4; k++) picks[k] = (int64_t)(ttt_rng_u64(&r) % (uint64_t)p->numel);
        if (nonzero && !(fabs(g[p->offset + big]) > 0)) {
            test_fail("%s: %s has a zero gradient", what, p->name);
            ok = 0;
        }
        for (int k = 0; k < 4 && ok; k++) {
            double *x = &w[p->offset + picks[k]], x0 = *x, lp, lm;
            *x = x0 + h;
            ttt_forward_backward(m, ids, tg, B, L, per_seq, 1.0, &lp);
            *x = x0 - h;
            ttt_forward_backward(m, ids, tg, B, L, per_seq, 1.0, &lm);
            *x = x0;
            double fd = (lp - lm) / (2 * h), an = g[p->offset + picks[k]], lim = atol + rtol * fabs(fd);
            worst = fmax(worst, fabs(an - fd) / lim);
            if (fabs(an - fd) > lim) {
                test_fail("%s: %s[%lld]: analytic %.10g, finite difference %.10g", what, p->name, (long long)picks[k],
                          an, fd);
                ok = 0;
            }
        }
    }
    printf("      %-52s worst %.3f of tolerance over %lld tensors\n", what, worst, (long long)m->tab.n);
    free(g);
    return ok;
}

float *flat_tensors(const ttt_model *m, int grads) {
    float *p = malloc(sizeof(float) * (size_t)ttt_param_numel_total(m));
    int64_t off = 0;
    for (int64_t i = 0; p && i < ttt_param_count(m); i++) {
        int64_t sh[8], k = 1;
        int nd = ttt_param_shape(m, i, sh);
        for (int q = 0; q < nd; q++) k *= sh[q];
        (grads ? ttt_grad_get : ttt_param_get)(m, i, p + off);
        off += k;
    }
    return p;
}

int fd_check_config(const ttt_config *c, uint64_t seed, int64_t B, int64_t L, int masked, int nonzero, const char *what) {
    ttt_model *m = make_model(c, TTT_PREC_F64, seed);
    if (!m) return 0;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)(B * L)), *tg = masked ? malloc(sizeof(int32_t) * (size_t)(B * L)) : NULL;
    fd_inputs(ids, tg, B * L, c->vocab_size);
    int ok = fd_check_model(m, ids, tg, B, L, masked, nonzero, what);
    free(ids), free(tg);
    ttt_model_free(m);
    return ok;
}

int golden_same_outputs(const char *src, const char *one, const char *other, const char *what) {
    char out[2][1200], p[1200], *log = NULL;
    const char *dir[2] = {one, other};
    for (int k = 0; k < 2; k++) {
        snprintf(out[k], sizeof out[k], "%s.forward.st", dir[k]);
        int rc = run_cmd(&log, "%s forward --model %s --input %s/expected.safetensors --output %s --grad --decode",
                         test_ttt_bin, dir[k], src, out[k]);
        if (rc != 0) test_fail("%s: ttt forward on %s: %s", what, dir[k], log);
        free(log);
        if (rc != 0) return 0;
    }
    st_file a, b, g;
    snprintf(p, sizeof p, "%s/expected.safetensors", src);
    if (st_open(&a, out[0]) != TTT_OK || st_open(&b, out[1]) != TTT_OK || st_open(&g, p) != TTT_OK) {
        test_fail("%s: %s", what, ttt_last_error());
        return 0;
    }
    int ok = a.n == b.n && a.n > 10;
    if (!ok) test_fail("%s: %d and %d tensors", what, a.n, b.n);
    for (int i = 0; i < a.n && ok; i++) {
        const st_tensor *ta = &a.t[i], *tb = st_find(&b, ta->name);
        float *x = malloc(sizeof(float) * (size_t)ta->numel), *y = malloc(sizeof(float) * (size_t)ta->numel);
        ok = tb && tb->numel == ta->numel && st_read_f32(&a, ta, x, ta->numel) == TTT_OK &&
             st_read_f32(&b, tb, y, tb->numel) == TTT_OK;
        if (ok) ok = check_bits(ta->name, x, y, sizeof(float) * (size_t)ta->numel);
        const st_tensor *tg = strcmp(ta->name, "logits") == 0 ? st_find(&g, "logits") : NULL;
        if (ok && tg) {
            float *r = malloc(sizeof(float) * (size_t)tg->numel);
            ok = st_read_f32(&g, tg, r, tg->numel) == TTT_OK && check_rel_max(what, y, r, tg->numel, 5e-2);
            free(r);
        }
        free(x), free(y);
    }
    st_close(&a), st_close(&b), st_close(&g);
    return ok;
}
