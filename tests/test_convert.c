/* test_convert.c: `ttt convert` (src/cli/cmd_convert.c) and the mapped safetensors reader.
 * Rounding to BF16 and F16 against a reference written here in double (round to nearest,
 * ties to even, at the format's precision and exponent range); f32 -> bf16 shards -> f32
 * gives exactly the rounded values; the golden Llama and Mamba cases converted to BF16 shards
 * give bit for bit the numbers of the same model saved as one BF16 file, within the bf16
 * rounding of the golden logits; the shard plan is huggingface_hub's (worked out by hand
 * below); the index is the hub's; metadata and names survive; bad flags and inputs are
 * refused without touching anything; and a file that shrinks under the reader's mapping is
 * an error, not a crash. */
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/half.h"
#include "io/safetensors.h"
#include "io/st_set.h"
#include "models.h"
#include "test.h"

/* x rounded to a binary format with MANT fraction bits, smallest normal exponent EMIN and
 * largest finite value MAX: nearest, ties to even (the FPU's default mode of nearbyint), in
 * double (exact: x / q only moves the exponent); past MAX the result is infinite */
static double ref_round(double x, int mant, int emin, double max) {
    if (x == 0 || !isfinite(x)) return x;
    int e;
    frexp(fabs(x), &e);
    int lead = e - 1 < emin ? emin : e - 1; /* exponent of the leading bit (subnormals: emin) */
    double q = ldexp(1.0, lead - mant);
    double r = nearbyint(x / q) * q;
    return fabs(r) > max ? copysign(INFINITY, x) : r;
}
static double ref_bf16(double x) { return ref_round(x, 7, -126, ldexp(2.0 - ldexp(1.0, -7), 127)); }
static double ref_f16(double x) { return ref_round(x, 10, -14, 65504.0); }

/* values that test the rounding: ties both ways, subnormals of both formats, near the
 * largest finite values, and random bit patterns over a wide range (finite; |x| < limit) */
static void edge_values(float *v, int n, double limit) {
    const float fixed[] = {1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, -(1.0f + 0x1p-8f), 1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-11f,
                           0x1p-130f,      0x1.8p-133f,        0x1p-24f,          0x1.8p-25f,     0x1p-25f,
                           0x1.4p-24f,     65504.0f,           65519.0f,          -65519.99f,     0.0f,
                           -0.0f,          1e-45f,             3.0e38f,           0.1f,           -2.5f};
    int k = 0;
    for (; k < n && k < (int)(sizeof fixed / sizeof fixed[0]); k++) v[k] = fixed[k];
    uint64_t s = 0x9e3779b97f4a7c15ull;
    while (k < n) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        uint32_t u = (uint32_t)(s >> 11);
        float x;
        memcpy(&x, &u, 4);
        if (isfinite(x) && fabs(x) < limit) v[k++] = x;
    }
    for (int i = 0; i < n; i++)
        if (!(fabs(v[i]) < limit)) v[i] = 1.0f; /* the fixed ones above a smaller limit */
}

static int write_cfg(const char *dir, const char *cfg) {
    char p[1024];
    snprintf(p, sizeof p, "mkdir -p '%s'", dir);
    EXPECT(system(p) == 0, "mkdir %s", dir);
    snprintf(p, sizeof p, "%s/config.json", dir);
    write_whole(p, cfg, strlen(cfg));
    return 1;
}

/* every element of tensor NAME in DIR's weights, as float (malloc'd), and its dtype */
static float *load_tensor(const char *dir, const char *name, int64_t *n, st_dtype *dt) {
    st_set s;
    if (st_set_open(&s, dir) != TTT_OK) {
        test_fail("%s: %s", dir, ttt_last_error());
        return NULL;
    }
    const st_file *f;
    const st_tensor *t = st_set_find(&s, name, &f);
    float *v = t ? malloc(sizeof(float) * (size_t)(t->numel ? t->numel : 1)) : NULL;
    if (!v || st_read_f32(f, t, v, t->numel) != TTT_OK) {
        test_fail("%s: tensor %s: %s", dir, name, t ? ttt_last_error() : "missing");
        free(v);
        v = NULL;
    } else {
        *n = t->numel;
        if (dt) *dt = t->dtype;
    }
    st_set_close(&s);
    return v;
}

/* got[i] == ref(src[i]) exactly for every element (NaN: NaN); prints the worst */
static int check_rounded(const char *what, const float *src, const float *got, int64_t n, double (*ref)(double)) {
    int64_t bad = 0, worst = -1;
    double wd = 0;
    for (int64_t i = 0; i < n; i++) {
        double r = ref(src[i]);
        int same = isnan(r) ? isnan(got[i]) : (double)got[i] == r && !signbit(got[i]) == !signbit(r);
        if (!same) {
            double d = fabs((double)got[i] - r);
            if (worst < 0 || d > wd || isnan(d)) wd = d, worst = i;
            bad++;
        }
    }
    if (bad)
        test_fail("%s: %lld of %lld elements differ from the reference rounding; worst at %lld: %a -> %a, expected %a",
                  what, (long long)bad, (long long)n, (long long)worst, src[worst], got[worst], ref(src[worst]));
    return bad == 0;
}

TEST(test_convert_rounding) {
    /* a directory of four F32 tensors of edge values (convert does not need a loadable
     * config), to bf16 / f16 shards of one tensor each (12 KB: a 10 KB tensor per shard), and
     * back to one f32 file */
    const char *src = tmp_path("cv_round_src");
    enum { N = 20000, NT = 4 };
    float *v = malloc(sizeof(float) * N);
    EXPECT(v && write_cfg(src, "{}"), "setup");
    const char *tn[NT] = {"w.0", "w.1", "w.2", "w.3"};
    int ok = 1;
    for (int pass = 0; pass < 2 && ok; pass++) { /* bf16 (every finite float), f16 (below 65520) */
        edge_values(v, N, pass ? 65519.99 : 3.0e38);
        st_entry e[NT];
        for (int k = 0; k < NT; k++) e[k] = (st_entry){tn[k], ST_F32, 2, {50, N / NT / 50}, v + k * (N / NT), ST_SRC_F32};
        char p[1024];
        snprintf(p, sizeof p, "%s/model.safetensors", src);
        EXPECT(st_write(p, e, NT) == TTT_OK, "%s", ttt_last_error());
        const char *mid = tmp_path("cv_round_mid"), *back = tmp_path("cv_round_back");
        char *log = NULL;
        int rc = run_cmd(&log, "rm -rf %s %s && %s convert --model %s --out %s --dtype %s --shard-size 12KB && %s convert "
                         "--model %s --out %s --dtype f32",
                         mid, back, test_ttt_bin, src, mid, pass ? "f16" : "bf16", test_ttt_bin, mid, back);
        EXPECT(rc == 0, "convert: %s", log);
        EXPECT(strstr(log, "in 4 shards") && strstr(log, "in model.safetensors\n"), "not 4 shards, then one file: %s", log);
        free(log);
        for (int k = 0; k < NT && ok; k++) {
            int64_t n1 = 0, n2 = 0;
            st_dtype d1, d2;
            float *a = load_tensor(mid, tn[k], &n1, &d1), *b = load_tensor(back, tn[k], &n2, &d2);
            EXPECT(a && b && n1 == N / NT && n2 == N / NT, "tensor sizes %lld %lld", (long long)n1, (long long)n2);
            EXPECT(d1 == (pass ? ST_F16 : ST_BF16) && d2 == ST_F32, "dtypes %s %s", st_dtype_name(d1), st_dtype_name(d2));
            ok &= check_rounded(pass ? "f32 -> f16" : "f32 -> bf16", v + k * (N / NT), a, N / NT, pass ? ref_f16 : ref_bf16);
            ok &= check_bits(pass ? "f16 shards -> f32 round trip" : "bf16 shards -> f32 round trip", a, b,
                             sizeof(float) * (N / NT));
            free(a), free(b);
        }
    }
    free(v);
    return ok ? TEST_PASS : TEST_FAIL;
}

TEST(test_convert_overflow_and_specials) {
    const char *src = tmp_path("cv_ovf_src");
    EXPECT(write_cfg(src, "{}"), "setup");
    float v[6] = {1.0f, INFINITY, -INFINITY, NAN, 3.0e38f, 70000.0f};
    int64_t iv[3] = {-5, 7, 1LL << 40};
    st_entry e[2] = {{"w", ST_F32, 1, {6}, v, ST_SRC_F32}, {"ids", ST_I64, 1, {3}, iv, ST_SRC_RAW}};
    char p[1024];
    snprintf(p, sizeof p, "%s/model.safetensors", src);
    EXPECT(st_write(p, e, 2) == TTT_OK, "%s", ttt_last_error());
    /* 70000 overflows f16: refused, naming the tensor and the element; nothing is left behind */
    const char *out = tmp_path("cv_ovf_out");
    int ok = expect_cli_error("'w'|element 4 (3e+38)|overflows F16", "convert --model %s --out %s --dtype f16", src, out);
    struct stat sb;
    char q[1200];
    snprintf(q, sizeof q, "ls -a %s | grep -q cv_ovf_out", test_tmpdir);
    EXPECT(stat(out, &sb) != 0 && system(q) != 0, "a failed convert left %s or its staging directory", out);
    /* bf16 keeps inf and NaN (not an error: they were not finite), rounds 3e38 and 70000, and
     * keeps the integer tensor as it was */
    char *log = NULL;
    int rc = run_cmd(&log, "%s convert --model %s --out %s --dtype bf16", test_ttt_bin, src, out);
    EXPECT(rc == 0, "%s", log);
    free(log);
    int64_t n;
    st_dtype dt;
    float *w = load_tensor(out, "w", &n, &dt);
    EXPECT(w && n == 6 && dt == ST_BF16, "w");
    for (int i = 0; i < 6; i++)
        if (!(isnan(v[i]) ? isnan(w[i]) : (double)w[i] == ref_bf16(v[i]))) {
            test_fail("element %d: %g -> %g, expected %g", i, v[i], w[i], ref_bf16(v[i]));
            ok = 0;
        }
    free(w);
    st_set s;
    EXPECT(st_set_open(&s, out) == TTT_OK, "%s", ttt_last_error());
    const st_file *f;
    const st_tensor *t = st_set_find(&s, "ids", &f);
    int64_t got[3] = {0};
    EXPECT(t && t->dtype == ST_I64 && st_read_i64(f, t, got, 3) == TTT_OK, "ids: %s", ttt_last_error());
    EXPECT(memcmp(got, iv, sizeof iv) == 0, "ids changed: %lld %lld %lld", (long long)got[0], (long long)got[1],
           (long long)got[2]);
    st_set_close(&s);
    return ok ? TEST_PASS : TEST_FAIL;
}

/* DIR's tensor NAME lives in the shard file FILE (a plain name) */
static int in_shard(const st_set *s, const char *name, const char *file) {
    const st_file *f;
    const st_tensor *t = st_set_find(s, name, &f);
    const char *b = f ? strrchr(f->path, '/') : NULL;
    if (!t || strcmp(b ? b + 1 : f->path, file) != 0) {
        test_fail("tensor %s: in %s, expected %s", name, t ? f->path : "(missing)", file);
        return 0;
    }
    return 1;
}

TEST(test_convert_shard_plan) {
    /* sizes (F32) in natural name order: a.0 100 B, a.1 300, a.2 52, a.10 80, big 1000, c 12.
     * huggingface_hub at 400 B: a.0 + a.1 = 400 fits; a.2 would pass 400, so shard {a.0, a.1}
     * closes; big > 400 is a shard of its own, numbered at once; a.2, a.10, c fill the last. */
    const char *src = tmp_path("cv_plan_src");
    EXPECT(write_cfg(src, "{\"note\": \"not a model\"}"), "setup");
    static float z[1000];
    const char *nm[] = {"a.0", "a.1", "a.2", "a.10", "big", "c"};
    int64_t len[] = {25, 75, 13, 20, 250, 3};
    st_entry e[6];
    for (int i = 0; i < 6; i++) e[i] = (st_entry){nm[i], ST_F32, 1, {len[i]}, z, ST_SRC_F32};
    const char *mk[] = {"producer", "quote"}, *mv[] = {"test \"convert\"", "back\\slash"};
    char p[1024];
    snprintf(p, sizeof p, "%s/model.safetensors", src);
    EXPECT(st_write_meta(p, e, 6, mk, mv, 2) == TTT_OK, "%s", ttt_last_error());
    snprintf(p, sizeof p, "%s/tokenizer.json", src);
    write_whole(p, "{\"model\": {}}", 13);
    const char *out = tmp_path("cv_plan_out");
    char *log = NULL;
    int rc = run_cmd(&log, "rm -rf %s && %s convert --model %s --out %s --shard-size 400B", out, test_ttt_bin, src, out);
    EXPECT(rc == 0, "%s", log);
    EXPECT(strstr(log, "3 shards") && strstr(log, "tokenizer.json"), "summary: %s", log);
    free(log);
    st_set s;
    EXPECT(st_set_open(&s, out) == TTT_OK, "%s", ttt_last_error());
    int ok = s.nfiles == 3 && s.n == 6;
    if (!ok) test_fail("%d files, %d tensors", s.nfiles, s.n);
    const char *S1 = "model-00001-of-00003.safetensors", *S2 = "model-00002-of-00003.safetensors",
               *S3 = "model-00003-of-00003.safetensors";
    ok &= in_shard(&s, "a.0", S1) && in_shard(&s, "a.1", S1) && in_shard(&s, "big", S2) && in_shard(&s, "a.2", S3) &&
          in_shard(&s, "a.10", S3) && in_shard(&s, "c", S3);
    /* the metadata of the source, escapes and all, in every shard */
    for (int f = 0; f < s.nfiles; f++) {
        const char *a = st_meta(&s.files[f], "producer"), *b = st_meta(&s.files[f], "quote"),
                   *c = st_meta(&s.files[f], "format");
        if (!a || strcmp(a, mv[0]) || !b || strcmp(b, mv[1]) || !c || strcmp(c, "pt")) {
            test_fail("%s: metadata lost: %s / %s / %s", s.files[f].path, a ? a : "-", b ? b : "-", c ? c : "-");
            ok = 0;
        }
    }
    st_set_close(&s);
    /* the index: metadata.total_size = the tensors' bytes, a weight_map of every tensor */
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", out);
    char *js = read_whole(p, NULL);
    cJSON *ix = js ? cJSON_Parse(js) : NULL;
    const cJSON *ts = cJSON_GetObjectItem(cJSON_GetObjectItem(ix, "metadata"), "total_size"),
                *wm = cJSON_GetObjectItem(ix, "weight_map");
    EXPECT(cJSON_IsNumber(ts) && ts->valuedouble == 4 * (25 + 75 + 13 + 20 + 250 + 3), "total_size: %s", js);
    EXPECT(cJSON_GetArraySize(wm) == 6 && strcmp(cJSON_GetObjectItem(wm, "big")->valuestring, S2) == 0, "weight_map: %s",
           js);
    const char *hub = "{\n  \"metadata\": {\n    \"total_size\": 1544\n  },\n  \"weight_map\": {\n    \"a.0\": "
                      "\"model-00001-of-00003.safetensors\",\n    \"a.1\": ";
    EXPECT(strncmp(js, hub, strlen(hub)) == 0, "not the hub's layout (json.dumps(indent=2, sort_keys=True)): %.200s", js);
    cJSON_Delete(ix);
    free(js);
    /* the small files came along */
    snprintf(p, sizeof p, "%s/tokenizer.json", out);
    char *tj = read_whole(p, NULL);
    EXPECT(tj && strcmp(tj, "{\"model\": {}}") == 0, "tokenizer.json not copied");
    free(tj);
    /* back to one file (--shard-size none): the same tensors, no index */
    const char *one = tmp_path("cv_plan_one");
    rc = run_cmd(&log, "rm -rf %s && %s convert --model %s --out %s --shard-size none && test ! -e %s/model.safetensors.index.json",
                 one, test_ttt_bin, out, one, one);
    EXPECT(rc == 0, "%s", log);
    free(log);
    EXPECT(st_set_open(&s, one) == TTT_OK && s.nfiles == 1 && s.n == 6, "one file: %s", ttt_last_error());
    st_set_close(&s);
    return ok ? TEST_PASS : TEST_FAIL;
}

/* the golden case NAME as BF16 shards from convert == the model saved as one BF16 file (bit
 * for bit, forward with gradients and decode), near the golden logits */
static int golden_converted(const char *name) {
    char src[512];
    snprintf(src, sizeof src, "%s/golden/%s", test_fixtures, name);
    ttt_model *m = NULL;
    EXPECT(ttt_model_load(src, NULL, &m) == TTT_OK, "%s", ttt_last_error());
    char one[600], sh[600];
    snprintf(one, sizeof one, "%s", tmp_path("cv_gold_one"));
    snprintf(sh, sizeof sh, "%s", tmp_path("cv_gold_sh"));
    EXPECT(ttt_model_save(m, one, TTT_DTYPE_BF16) == TTT_OK, "%s", ttt_last_error());
    int64_t bytes = 2 * ttt_param_numel_total(m);
    ttt_model_free(m);
    char *log = NULL;
    /* a shard size of a third of the model: three or more shards */
    int rc = run_cmd(&log, "rm -rf %s && %s convert --model %s --out %s --dtype bf16 --shard-size %lld && %s info --model %s",
                     sh, test_ttt_bin, src, sh, (long long)(bytes / 3), test_ttt_bin, sh);
    EXPECT(rc == 0, "%s: %s", name, log);
    free(log);
    st_set s;
    EXPECT(st_set_open(&s, sh) == TTT_OK && s.nfiles >= 3, "%s: %d shards", name, s.nfiles);
    st_set_close(&s);
    return golden_same_outputs(src, one, sh, "converted bf16 shards vs one bf16 file, and vs the golden logits");
}

TEST(test_convert_golden_llama) { return golden_converted("llama_lm") ? TEST_PASS : TEST_FAIL; }
TEST(test_convert_golden_mamba) { return golden_converted("mamba_lm") ? TEST_PASS : TEST_FAIL; }

TEST(test_convert_bad_input) {
    const char *src = tiny_model("cv_bad_src", "");
    EXPECT(src, "tiny model");
    const char *out = tmp_path("cv_bad_out");
    char cmd[1500];
    snprintf(cmd, sizeof cmd, "rm -rf %s", out);
    EXPECT(system(cmd) == 0, "rm");
    int ok = 1;
    ok &= expect_cli_error("--out", "convert --model %s", src);
    ok &= expect_cli_error("--model", "convert --out %s", out);
    ok &= expect_cli_error("--dtype|bf16, f16 or f32|f64", "convert --model %s --out %s --dtype f64", src, out);
    ok &= expect_cli_error("--shard-size|12XB", "convert --model %s --out %s --shard-size 12XB", src, out);
    ok &= expect_cli_error("--shard-size|'0'", "convert --model %s --out %s --shard-size 0", src, out);
    ok &= expect_cli_error("--shard-size|-5MB", "convert --model %s --out %s --shard-size -5MB", src, out);
    ok &= expect_cli_error("--shard-size|99999999999999999999", "convert --model %s --out %s --shard-size 99999999999999999999",
                           src, out);
    ok &= expect_cli_error("unknown flag|--shards", "convert --model %s --out %s --shards 3", src, out);
    ok &= expect_cli_error("model directory itself", "convert --model %s --out %s/", src, src);
    ok &= expect_cli_error("missing-dir|model.safetensors", "convert --model %s/missing-dir --out %s", test_tmpdir, out);
    { /* more shards than the reader takes */
        const char *many = tmp_path("cv_bad_many");
        EXPECT(write_cfg(many, "{}"), "setup");
        enum { NT = 10001 };
        st_entry *me = calloc(NT, sizeof *me);
        char(*names)[16] = calloc(NT, 16);
        static float one = 1;
        EXPECT(me && names, "memory");
        for (int i = 0; i < NT; i++) {
            snprintf(names[i], 16, "t%d", i);
            me[i] = (st_entry){names[i], ST_F32, 1, {1}, &one, ST_SRC_F32};
        }
        snprintf(cmd, sizeof cmd, "%s/model.safetensors", many);
        EXPECT(st_write(cmd, me, NT) == TTT_OK, "%s", ttt_last_error());
        free(me), free(names);
        ok &= expect_cli_error("10001 shards|at most 10000", "convert --model %s --out %s --shard-size 1B", many, out);
    }
    /* a file as --out; a missing parent; a non-empty directory without --force (left as it was) */
    snprintf(cmd, sizeof cmd, "%s/model.safetensors", src);
    ok &= expect_cli_error("not a directory", "convert --model %s --out %s", src, cmd);
    ok &= expect_cli_error("staging directory|parent directory", "convert --model %s --out %s/no/such/dir", src, test_tmpdir);
    snprintf(cmd, sizeof cmd, "mkdir -p %s && echo mine > %s/notes.txt && echo old > %s/config.json", out, out, out);
    EXPECT(system(cmd) == 0, "setup");
    ok &= expect_cli_error("not empty|--force", "convert --model %s --out %s", src, out);
    /* a broken source: refused before anything is written */
    const char *bad = tmp_path("cv_bad_trunc"), *bout = tmp_path("cv_bad_trunc_out");
    snprintf(cmd, sizeof cmd, "rm -rf %s %s && cp -r %s %s && truncate -s -4 %s/model.safetensors", bad, bout, src, bad, bad);
    EXPECT(system(cmd) == 0, "setup");
    ok &= expect_cli_error("model.safetensors|truncated", "convert --model %s --out %s", bad, bout);
    struct stat sb;
    EXPECT(stat(bout, &sb) != 0, "a refused convert created %s", bout);
    snprintf(cmd, sizeof cmd, "rm %s/config.json", bad);
    EXPECT(system(cmd) == 0, "setup");
    snprintf(cmd, sizeof cmd, "cp %s/model.safetensors %s/", src, bad);
    EXPECT(system(cmd) == 0, "setup");
    ok &= expect_cli_error("config.json", "convert --model %s --out %s", bad, bout);
    /* --force writes into it, replacing config.json, keeping notes.txt */
    char *log = NULL;
    int rc = run_cmd(&log, "%s convert --model %s --out %s --force --dtype bf16 && %s info --model %s && grep -q mine %s/notes.txt",
                     test_ttt_bin, src, out, test_ttt_bin, out, out);
    EXPECT(rc == 0, "--force: %s", log);
    free(log);
    /* a model.safetensors in the way of new shards is never hidden behind them */
    ok &= expect_cli_error("would be loaded instead", "convert --model %s --out %s --force --shard-size 100B", src, out);
    /* the converted directory passes ttt info (an existing empty --out is replaced) */
    rc = run_cmd(&log, "rm -rf %s && mkdir %s && %s convert --model %s --out %s --shard-size 100B --dtype f16 && %s info --model %s", out,
                 out, test_ttt_bin, src, out, test_ttt_bin, out);
    EXPECT(rc == 0 && strstr(log, "model.safetensors.index.json") && strstr(log, "parameters:"), "%s", log);
    free(log);
    return ok ? TEST_PASS : TEST_FAIL;
}

/* ------------------------------------------------------------------------------------------ */
/* the mapped reader: a file that shrinks after st_open */

TEST(test_safetensors_mmap_shrunk) {
    const char *p = tmp_path("cv_shrink.safetensors");
    enum { BIG = 1 << 20 };
    float *v = malloc(sizeof(float) * BIG), small[16];
    EXPECT(v, "memory");
    for (int i = 0; i < BIG; i++) v[i] = (float)i;
    for (int i = 0; i < 16; i++) small[i] = (float)-i;
    /* sorted by name: "a" (16 floats) first, then "big" (4 MiB), then "z" (16 floats) at the end */
    st_entry e[3] = {{"a", ST_F32, 1, {16}, small, ST_SRC_RAW}, {"big", ST_F32, 1, {BIG}, v, ST_SRC_RAW},
                     {"z", ST_F32, 1, {16}, small, ST_SRC_RAW}};
    int ok = 1;
    for (int k = 0; k < 3; k++) {
        EXPECT(st_write(p, e, 3) == TTT_OK, "%s", ttt_last_error());
        st_file f;
        EXPECT(st_open(&f, p) == TTT_OK, "%s", ttt_last_error());
        EXPECT(f.map != NULL, "the reader did not map the file");
        float got[16];
        EXPECT(st_read_f32(&f, st_find(&f, "a"), got, 16) == TTT_OK, "%s", ttt_last_error());
        /* k 0: cut inside "big" (its pages past the end fault: SIGBUS); k 1: drop the last 8
         * bytes of "z" (the same page: reads zeros, no fault); k 2: grow the file */
        off_t size = (off_t)f.file_size, cut = k == 0 ? (off_t)(f.data_start + 64 + 4 * BIG / 2) : size - 8;
        EXPECT(truncate(p, k == 2 ? size + 4096 : cut) == 0, "truncate");
        const st_tensor *t = st_find(&f, k == 0 ? "big" : "z");
        ttt_status s = k == 0 ? st_read_f32(&f, t, v, BIG) : st_read_f32(&f, t, got, 16);
        if (s == TTT_OK || !strstr(ttt_last_error(), "changed size") || !strstr(ttt_last_error(), t->name)) {
            test_fail("case %d: a read after the file changed size: %s", k, s == TTT_OK ? "succeeded" : ttt_last_error());
            ok = 0;
        }
        st_close(&f);
        for (int i = 0; i < BIG; i++) v[i] = (float)i;
    }
    free(v);
    /* the guard passes a SIGBUS that is not a fault in a mapping on: to the handler before it,
     * else to the default action (a child process each) */
    for (int k = 0; k < 2; k++) {
        pid_t pid = fork();
        EXPECT(pid >= 0, "fork");
        if (pid == 0) {
            if (k == 0) signal(SIGBUS, _exit); /* _exit(SIGBUS): status 7 */
            st_file f;
            float got[16];
            if (st_write(p, e, 1) != TTT_OK || st_open(&f, p) != TTT_OK || st_read_f32(&f, &f.t[0], got, 16) != TTT_OK)
                _exit(99);
            int nul = open("/dev/null", O_WRONLY); /* (a sanitizer's report of it is not news) */
            if (nul >= 0) dup2(nul, 2);
            raise(SIGBUS);
            _exit(0);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        int good = k == 0 ? WIFEXITED(status) && WEXITSTATUS(status) == SIGBUS
                          : (WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS) ||
                                (WIFEXITED(status) && WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 99);
        if (!good) {
            test_fail("child %d: status %#x (expected %s)", k, status, k ? "death by SIGBUS" : "the earlier handler's exit");
            ok = 0;
        }
    }
    return ok ? TEST_PASS : TEST_FAIL;
}
