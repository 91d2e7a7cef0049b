/* test_inplace.c: float32 weights used in place (ttt_model_load without copy_weights, model.c):
 * a model.safetensors of float32 tensors only is mapped privately and the parameter table takes
 * the file's layout (tensors in name order, unpadded). Checked against the same file copied
 * into memory (copy_weights = 1) for every family: the parameters, the logits and the
 * gradients are bit for bit the same; a write to the parameters (ttt_param_set, as training
 * does) stays in the process and the file keeps its bytes; the weights checksum of state files
 * is the same; BF16 files, shards and float64 models are copied. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models.h"
#include "test.h"
#include "ttt_state.h"

static int same_floats(const float *a, const float *b, int64_t n, const char *what) {
    for (int64_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof *a) != 0) {
            test_fail("%s: element %lld differs: %.9g in place, %.9g copied", what, (long long)i, a[i], b[i]);
            return 0;
        }
    return 1;
}

static ttt_model *load(const char *dir, int copy, ttt_precision prec) {
    ttt_options o;
    ttt_options_default(&o);
    o.copy_weights = copy;
    o.precision = prec;
    ttt_model *m = NULL;
    if (ttt_model_load(dir, &o, &m) != TTT_OK) test_fail("load %s: %s", dir, ttt_last_error());
    return m;
}

/* the in-place and the copied model of DIR agree bit for bit on parameters, logits, gradients */
static int compare_family(const char *preset) {
    ttt_config c;
    EXPECT(ttt_config_preset(preset, &c) == TTT_OK, "preset %s: %s", preset, ttt_last_error());
    ttt_model *src;
    EXPECT(ttt_model_create(&c, 7, NULL, &src) == TTT_OK, "create %s: %s", preset, ttt_last_error());
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/inplace-%s", test_tmpdir, preset);
    EXPECT(ttt_model_save(src, dir, TTT_DTYPE_F32) == TTT_OK, "save: %s", ttt_last_error());
    ttt_model_free(src);
    char path[1100];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    size_t flen0 = 0;
    char *file0 = read_whole(path, &flen0);

    ttt_model *a = load(dir, 0, TTT_PREC_F32), *b = load(dir, 1, TTT_PREC_F32);
    EXPECT(a && b && file0, "%s: load", preset);
    EXPECT(ttt_model_in_place(a) && !ttt_model_in_place(b), "%s: in place %d / %d (expected 1 / 0)", preset,
           ttt_model_in_place(a), ttt_model_in_place(b));
    /* the weights' identity (state files) does not depend on their layout */
    EXPECT(ttt_weights_checksum(a) == ttt_weights_checksum(b), "%s: weights checksum %016llx in place, %016llx copied",
           preset, (unsigned long long)ttt_weights_checksum(a), (unsigned long long)ttt_weights_checksum(b));
    int64_t n = ttt_param_numel_total(a), V = c.vocab_size, B = 2, L = 40;
    float *pa = flat_tensors(a, 0), *pb = flat_tensors(b, 0);
    int ok = pa && pb && same_floats(pa, pb, n, "parameters");
    int32_t ids[2 * 40];
    random_ids(ids, B * L, V, 11);
    float *la = malloc(sizeof(float) * (size_t)(B * L * V)), *lb = malloc(sizeof(float) * (size_t)(B * L * V));
    ok = ok && la && lb && ttt_forward(a, ids, B, L, la, NULL) == TTT_OK && ttt_forward(b, ids, B, L, lb, NULL) == TTT_OK &&
         same_floats(la, lb, B * L * V, "logits");
    double lossa = 0, lossb = 0;
    ok = ok && ttt_zero_grad(a) == TTT_OK && ttt_zero_grad(b) == TTT_OK &&
         ttt_forward_backward(a, ids, NULL, B, L, 0, 1.0, &lossa) == TTT_OK &&
         ttt_forward_backward(b, ids, NULL, B, L, 0, 1.0, &lossb) == TTT_OK && lossa == lossb;
    float *ga = ok ? flat_tensors(a, 1) : NULL, *gb = ok ? flat_tensors(b, 1) : NULL;
    ok = ok && ga && gb && same_floats(ga, gb, n, "gradients");
    /* a write stays in the process: the file keeps its bytes, a fresh load sees the old values */
    int64_t sh[8];
    ttt_param_shape(a, 0, sh);
    float *t0 = flat_tensors(a, 0);
    if (ok && t0) {
        t0[0] += 1.0f;
        ttt_param_set(a, 0, t0);
    }
    size_t flen1 = 0;
    char *file1 = read_whole(path, &flen1);
    ok = ok && t0 && file1 && flen1 == flen0 && memcmp(file0, file1, flen0) == 0;
    if (!ok && file1 && t0) test_fail("%s: the weights file changed after ttt_param_set on the mapped model", preset);
    ttt_model *c2 = ok ? load(dir, 0, TTT_PREC_F32) : NULL;
    float *pc = c2 ? flat_tensors(c2, 0) : NULL;
    ok = ok && pc && same_floats(pc, pb, n, "parameters after a write elsewhere");
    free(pa), free(pb), free(la), free(lb), free(ga), free(gb), free(t0), free(pc), free(file0), free(file1);
    ttt_model_free(a), ttt_model_free(b), ttt_model_free(c2);
    if (ok) printf("      %s: %lld parameters in place, logits, loss %.6f and gradients bit for bit\n", preset,
                   (long long)n, lossa);
    return ok ? TEST_PASS : TEST_FAIL;
}

TEST(test_inplace_weights_families) {
    static const char *const presets[] = {"ttt-linear-tiny", "ttt-mlp-tiny-tf", "llama-tiny", "mamba-tiny"};
    for (int i = 0; i < 4; i++)
        if (compare_family(presets[i]) != TEST_PASS) return TEST_FAIL;
    return TEST_PASS;
}

/* only a single float32 file, for a float32 model, is used in place */
TEST(test_inplace_weights_when) {
    ttt_config c;
    EXPECT(ttt_config_preset("ttt-linear-tiny", &c) == TTT_OK, "preset: %s", ttt_last_error());
    ttt_model *src;
    EXPECT(ttt_model_create(&c, 3, NULL, &src) == TTT_OK, "create: %s", ttt_last_error());
    char f32[1024], bf16[1024];
    snprintf(f32, sizeof f32, "%s/inplace-when-f32", test_tmpdir);
    snprintf(bf16, sizeof bf16, "%s/inplace-when-bf16", test_tmpdir);
    EXPECT(ttt_model_save(src, f32, TTT_DTYPE_F32) == TTT_OK && ttt_model_save(src, bf16, TTT_DTYPE_BF16) == TTT_OK,
           "save: %s", ttt_last_error());
    ttt_model_free(src);
    ttt_model *m = load(bf16, 0, TTT_PREC_F32);
    EXPECT(m && !ttt_model_in_place(m), "a BF16 file was used in place");
    ttt_model_free(m);
    m = load(f32, 0, TTT_PREC_F64);
    EXPECT(m && !ttt_model_in_place(m), "a float64 model used the float32 file in place");
    ttt_model_free(m);
    m = load(f32, 0, TTT_PREC_F32);
    EXPECT(m && ttt_model_in_place(m), "a float32 file was not used in place");
    ttt_model_free(m);
    /* ttt info says which */
    char *out = NULL;
    int rc = run_cmd(&out, "'%s' info --model '%s' 2>&1 && '%s' info --model '%s' 2>&1", test_ttt_bin, f32, test_ttt_bin,
                     bf16);
    EXPECT(rc == 0 && out && strstr(out, "used in place (mapped)") && strstr(out, "copied into memory"),
           "ttt info: rc %d, output:\n%s", rc, out ? out : "");
    free(out);
    return TEST_PASS;
}
