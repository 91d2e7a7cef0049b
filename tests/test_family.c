/* test_family.c: the model-family registry, checked with the toy family of tests/family/
 * (a bag-of-words model that registers itself; nothing under src/ names it). In process:
 * it is registered after the built-in families, its preset and config.json round-trip, and
 * its gradients in float64 match central finite differences (fd_check_model: |analytic − fd|
 * <= 1e-7 + 1e-5·|fd|). Through the command line (build/ttt-toy, the ttt command linked
 * with the toy): init with its own flag, info, forward --grad against the in-process float64
 * gradient of the same weights (float32 output: 1e-5 relative) and --decode against the
 * full forward (the cache), train lowering the loss, resume, eval, bench and generate. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "model/family.h"
#include "models.h"
#include "test.h"
#include "ttt_tokenizer.h"

/* the toy family's id, or -1 */
static int toy_id(void) {
    for (int i = 0; i < ttt_family_count(); i++)
        if (strcmp(ttt_family_at(i)->model_type, "toy-bow") == 0) return i;
    return -1;
}

/* build/ttt-toy next to the ttt command the suite runs */
static const char *toy_bin(void) {
    static char path[4096];
    const char *sl = strrchr(test_ttt_bin, '/');
    int n = sl ? (int)(sl - test_ttt_bin + 1) : 0;
    snprintf(path, sizeof path, "%.*sttt-toy", n, test_ttt_bin);
    return path;
}

TEST(test_family_registry) {
    EXPECT(ttt_family_count() == 4, "expected the three built-in families and the toy, got %d", ttt_family_count());
    EXPECT(strcmp(ttt_family_at(TTT_ARCH_TTT)->model_type, "ttt") == 0 &&
               strcmp(ttt_family_at(TTT_ARCH_LLAMA)->model_type, "llama") == 0 &&
               strcmp(ttt_family_at(TTT_ARCH_MAMBA)->model_type, "mamba") == 0,
           "built-in families out of order");
    int id = toy_id();
    EXPECT(id == 3, "the toy family has id %d, expected 3 (after the built-in ones)", id);
    EXPECT(ttt_family_register(ttt_family_at(id)) == -1, "a model_type registered twice was accepted");
    ttt_config c, back;
    EXPECT(ttt_config_preset("toy-tiny", &c) == TTT_OK, "%s", ttt_last_error());
    EXPECT((int)c.arch == id && ttt_config_validate(&c, "toy") == TTT_OK, "preset: arch %d", (int)c.arch);
    int listed = 0;
    for (int i = 0; ttt_preset_name(i, NULL); i++) listed |= strcmp(ttt_preset_name(i, NULL), "toy-tiny") == 0;
    EXPECT(listed, "toy-tiny is not in the preset list");
    c.intermediate_size = 24;
    const char *p = tmp_path("toy_config.json");
    EXPECT(ttt_config_save(&c, p) == TTT_OK && ttt_config_load(p, &back) == TTT_OK, "%s", ttt_last_error());
    EXPECT((int)back.arch == id && back.intermediate_size == 24 && back.hidden_size == 16, "config round trip");
    c.intermediate_size = 0;
    EXPECT(ttt_config_validate(&c, "toy") != TTT_OK && strstr(ttt_last_error(), "mix_size"),
           "the family's own check did not run: %s", ttt_last_error());
    EXPECT(ttt_config_param_count(&back) == 97 * 16 + 2 * 2 * 24 * 16 + 16, "parameter count %lld",
           (long long)ttt_config_param_count(&back));
    return TEST_PASS;
}

TEST(test_family_toy_fd_f64) {
    ttt_options o;
    ttt_options_default(&o);
    o.precision = TTT_PREC_F64;
    int ok = 1;
    for (int untied = 0; untied < 2; untied++) {
        ttt_config c;
        EXPECT(ttt_config_preset("toy-tiny", &c) == TTT_OK, "preset");
        c.vocab_size = 13, c.hidden_size = 6, c.intermediate_size = 5, c.tie_word_embeddings = !untied;
        c.initializer_range = 0.5; /* away from the linear regime of tanh */
        ttt_model *m;
        EXPECT(ttt_model_create(&c, 4, &o, &m) == TTT_OK, "%s", ttt_last_error());
        int64_t B = 2, L = 7;
        int32_t ids[14], tg[14];
        fd_inputs(ids, tg, B * L, c.vocab_size);
        ok &= fd_check_model(m, ids, tg, B, L, 1, 1, untied ? "toy, untied head, masked" : "toy, tied head, masked");
        ok &= fd_check_model(m, ids, NULL, B, L, 0, 1, untied ? "toy, untied head" : "toy, tied head");
        ttt_model_free(m);
    }
    return ok ? TEST_PASS : TEST_FAIL;
}

/* the float tensor `name` of a safetensors file (malloc'd), n its numel */
static float *read_tensor(const char *path, const char *name, int64_t *n) {
    st_file f;
    if (st_open(&f, path) != TTT_OK) return NULL;
    const st_tensor *t = st_find(&f, name);
    float *v = t ? malloc(sizeof(float) * (size_t)(t->numel ? t->numel : 1)) : NULL;
    double *d = t ? malloc(sizeof(double) * (size_t)(t->numel ? t->numel : 1)) : NULL;
    if (v && d && st_read_f64(&f, t, d, t->numel) == TTT_OK) {
        for (int64_t i = 0; i < t->numel; i++) v[i] = (float)d[i];
        *n = t->numel;
    } else {
        free(v);
        v = NULL;
    }
    free(d);
    st_close(&f);
    return v;
}

TEST(test_family_toy_cli) {
    const char *T = toy_bin(), *md = tmp_path("toy_model"), *in = tmp_path("toy_in.safetensors"),
               *out = tmp_path("toy_out.safetensors");
    char *o;
    EXPECT(run_cmd(&o, "rm -rf %s && %s init --preset toy-tiny --mix 12 --untied --seed 5 --out %s", md, T, md) == 0,
           "init: %s", o);
    free(o);
    EXPECT(run_cmd(&o, "%s info --model %s --tensors", T, md) == 0 && strstr(o, "toy bag-of-words") &&
               strstr(o, "mix:          12") && strstr(o, "layers.1.mix_out.weight") && strstr(o, "lm_head.weight"),
           "info: %s", o);
    free(o);
    /* forward --grad in float64 against the library's float64 gradient of the same weights,
     * which finite differences check */
    enum { B = 2, L = 9 };
    int32_t ids[B * L];
    for (int i = 0; i < B * L; i++) ids[i] = (i * 37 + 11) % 97;
    st_entry e = {.name = "input_ids", .dtype = ST_I32, .ndim = 2, .shape = {B, L}, .data = ids, .src = ST_SRC_RAW};
    EXPECT(st_write(in, &e, 1) == TTT_OK, "%s", ttt_last_error());
    EXPECT(run_cmd(&o, "%s forward --model %s --input %s --output %s --grad --decode --precision f64", T, md, in, out) == 0,
           "forward: %s", o);
    free(o);
    ttt_options opt;
    ttt_options_default(&opt);
    opt.precision = TTT_PREC_F64;
    ttt_model *m;
    EXPECT(ttt_model_load(md, &opt, &m) == TTT_OK, "%s", ttt_last_error());
    int ok = fd_check_model(m, ids, NULL, B, L, 0, 1, "toy model of ttt-toy init");
    double loss;
    ok &= ttt_zero_grad(m) == TTT_OK && ttt_forward_backward(m, ids, NULL, B, L, 0, 1.0, &loss) == TTT_OK;
    for (int64_t i = 0; ok && i < ttt_param_count(m); i++) {
        char name[160];
        snprintf(name, sizeof name, "grad.%s", ttt_param_name(m, i));
        int64_t n = 0;
        float *g = read_tensor(out, name, &n), *want = malloc(sizeof(float) * (size_t)(n ? n : 1));
        ok &= g != NULL;
        if (g) {
            ttt_grad_get(m, i, want);
            ok &= check_rel_max(name, g, want, n, 1e-5);
        } else {
            test_fail("%s is missing from %s", name, out);
        }
        free(g), free(want);
    }
    int64_t nl = 0, nd = 0;
    float *lg = read_tensor(out, "logits", &nl), *dl = read_tensor(out, "decode_logits", &nd);
    ok &= lg && dl && nl == nd && nl == B * L * 97 && check_rel_max("decode_logits vs logits", dl, lg, nl, 1e-6);
    free(lg), free(dl);
    ttt_model_free(m);
    EXPECT(ok, "forward --grad / --decode of ttt-toy");

    /* train: the loss on the training windows falls; a resumed run continues */
    const char *tk = tiny_tokens("toy.tok", 6000, 97, "", 0), *run = tmp_path("toy_run");
    EXPECT(tk, "token file");
    EXPECT(run_cmd(&o, "rm -rf %s && %s train --preset toy-tiny --data %s --run %s --steps 40 --seq-len 32 --batch 4 "
                   "--lr 1e-2 --stop-after 20 --quiet", run, T, tk, run) == 0, "train: %s", o);
    free(o);
    EXPECT(run_cmd(&o, "%s train --run %s --resume --data %s --steps 40 --seq-len 32 --batch 4 --lr 1e-2 --quiet", T,
                   run, tk) == 0, "resume: %s", o);
    free(o);
    char e0[4200], e1[9000];
    char *init0 = NULL;
    const char *m0 = tmp_path("toy_init0");
    EXPECT(run_cmd(&init0, "rm -rf %s && %s init --preset toy-tiny --out %s", m0, T, m0) == 0, "init: %s", init0);
    free(init0);
    snprintf(e0, sizeof e0, "%s/model", run);
    ttt_model *a, *b;
    EXPECT(ttt_model_load(m0, NULL, &a) == TTT_OK && ttt_model_load(e0, NULL, &b) == TTT_OK, "%s", ttt_last_error());
    ttt_tokfile tf;
    EXPECT(ttt_tokfile_read(tk, &tf) == TTT_OK && tf.n_tokens >= 4 * 33, "token file");
    double la, lb;
    ok = ttt_forward(a, tf.ids, 4, 33, NULL, &la) == TTT_OK && ttt_forward(b, tf.ids, 4, 33, NULL, &lb) == TTT_OK;
    ttt_tokfile_free(&tf);
    ttt_model_free(a), ttt_model_free(b);
    EXPECT(ok && lb < 0.8 * la, "training did not lower the loss: %.4f at init, %.4f after 40 steps", la, lb);
    printf("      toy training: loss %.4f at init, %.4f after 40 steps\n", la, lb);
    snprintf(e1, sizeof e1, "%s eval --model %s --data %s --context 32", T, e0, tk);
    EXPECT(run_cmd(&o, "%s", e1) == 0 && strstr(o, "loss"), "eval: %s", o);
    free(o);

    /* bench: the toy's own entry, measured against its FLOP count */
    const char *bd = tmp_path("toy_bench");
    EXPECT(run_cmd(&o, "%s bench --models toy --quick --skip bf16 --out %s", T, bd) == 0 && strstr(o, "toy") &&
               strstr(o, "of FMA"), "bench: %s", o);
    free(o);
    snprintf(e1, sizeof e1, "%s/bench.csv", bd);
    char *csv = read_whole(e1, NULL);
    EXPECT(csv && strstr(csv, "\ntoy,prefill,") && strstr(csv, "\ntoy,decode,") && strstr(csv, "\ntoy,train"),
           "bench.csv: %s", csv ? csv : "(missing)");
    free(csv);

    /* generate with a real tokenizer: greedy is deterministic and stops at --max-tokens */
    static const char *tok = "data/tok/r50k_base.tiktoken";
    FILE *fp = fopen(tok, "rb");
    if (!fp) return test_skip("%s is absent (make data fetches it); the rest passed", tok);
    fclose(fp);
    const char *gm = tmp_path("toy_gen");
    EXPECT(run_cmd(&o, "rm -rf %s && %s init --preset toy-tiny --vocab 50257 --bos 50256 --eos 50256 --out %s", gm, T,
                   gm) == 0, "init: %s", o);
    free(o);
    char *g1, *g2;
    const char *g = "%s generate --model %s --tokenizer %s --prompt 'Hello world' --max-tokens 8 --temperature 0 --quiet";
    EXPECT(run_cmd(&g1, g, T, gm, tok) == 0 && run_cmd(&g2, g, T, gm, tok) == 0, "generate: %s", g1);
    EXPECT(strcmp(g1, g2) == 0 && strlen(g1) > 1, "greedy runs differ: '%s' vs '%s'", g1, g2);
    free(g1), free(g2);
    EXPECT(run_cmd(&o, "%s generate --model %s --tokenizer %s --prompt 'Hello' --max-tokens 5 --seed 3", T, gm, tok) == 0,
           "sampling: %s", o);
    free(o);
    return TEST_PASS;
}
