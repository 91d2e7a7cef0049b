/* test_train.c: the training loop: the golden 8-step trajectory of the authors' model under
 * torch's AdamW (tests/fixtures/golden/train, tolerances of its README), gradient
 * accumulation, bit-identical resume, thread independence, overfitting a short token file,
 * evaluation against `ttt forward`, crash safety of checkpoints (kill -9), and a checkpoint
 * read by numpy. */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/rng.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "models.h"
#include "test.h"
#include "ttt_tokenizer.h"
#include "ttt_train.h"

/* write ids as a token file */
static int write_tokens(const char *path, const int32_t *ids, int64_t n, int64_t V, int32_t bos, int32_t eos) {
    ttt_tokfile tf;
    memset(&tf, 0, sizeof tf);
    tf.version = TTT_TOKFILE_VERSION;
    tf.n_tokens = n;
    tf.n_docs = 1;
    tf.bos_id = bos;
    tf.eos_id = eos;
    tf.vocab_size = V;
    snprintf(tf.tokenizer, sizeof tf.tokenizer, "test");
    tf.ids = (int32_t *)ids;
    int64_t start = 0;
    tf.doc_start = &start;
    if (ttt_tokfile_write(path, &tf) != TTT_OK) {
        test_fail("writing %s: %s", path, ttt_last_error());
        return 0;
    }
    return 1;
}

typedef struct {
    int64_t n;
    double loss[64], lr[64], norm[64];
    int64_t start[64]; /* the progress report's start_step */
    float *step1; /* weights after update 1 */
    ttt_model *m;
    double *all; /* every step's loss (or NULL) */
} recorder;

static void record(const ttt_train_progress *p, void *ctx) {
    recorder *r = ctx;
    if (r->all) r->all[p->step - 1] = p->loss;
    if (r->n < 64) {
        r->loss[r->n] = p->loss;
        r->lr[r->n] = p->lr;
        r->norm[r->n] = p->grad_norm;
        r->start[r->n] = p->start_step;
        r->n++;
    }
    if (p->step == 1 && r->step1) {
        int64_t off = 0;
        for (int64_t i = 0; i < ttt_param_count(r->m); i++) {
            int64_t sh[8], k = 1;
            int nd = ttt_param_shape(r->m, i, sh);
            for (int q = 0; q < nd; q++) k *= sh[q];
            ttt_param_get(r->m, i, r->step1 + off);
            off += k;
        }
    }
}


/* the golden README's weight rule: per tensor at most max(1, numel/1000) elements beyond
 * 5e-5, and every element within 2·Σ lr */
static int weights_match(ttt_model *m, const float *got, st_file *tr, const char *prefix, double bound) {
    int64_t off = 0;
    int ok = 1;
    for (int64_t i = 0; i < ttt_param_count(m) && ok; i++) {
        int64_t sh[8], k = 1;
        int nd = ttt_param_shape(m, i, sh);
        for (int q = 0; q < nd; q++) k *= sh[q];
        char name[160];
        snprintf(name, sizeof name, "%s.%s", prefix, ttt_param_name(m, i));
        const st_tensor *t = st_find(tr, name);
        if (!t) {
            test_fail("trajectory has no %s", name);
            return 0;
        }
        float *e = malloc(sizeof(float) * (size_t)k);
        st_read_f32(tr, t, e, k);
        int64_t beyond = 0, allowed = k / 1000 > 1 ? k / 1000 : 1;
        for (int64_t j = 0; j < k; j++) {
            double d = fabs((double)got[off + j] - (double)e[j]);
            if (!(d <= bound)) {
                test_fail("%s[%lld]: %.8g vs expected %.8g: beyond the sanity bound %.3g", name, (long long)j,
                          got[off + j], e[j], bound);
                ok = 0;
                break;
            }
            beyond += d > 5e-5;
        }
        if (ok && beyond > allowed) {
            test_fail("%s: %lld elements differ by more than 5e-5 (at most %lld allowed)", name, (long long)beyond,
                      (long long)allowed);
            ok = 0;
        }
        free(e);
        off += k;
    }
    return ok;
}

TEST(test_train_golden_trajectory) {
    const char *dir = fixture("golden/train/ttt_linear_const");
    char p[1024];
    snprintf(p, sizeof p, "%s/data.safetensors", dir);
    st_file d;
    EXPECT(st_open(&d, p) == TTT_OK, "%s", ttt_last_error());
    const st_tensor *tt = st_find(&d, "tokens");
    EXPECT(tt && tt->ndim == 3, "tokens");
    int64_t S = tt->shape[0], B = tt->shape[1], L = tt->shape[2] - 1, numel = tt->numel;
    int64_t *raw = malloc(sizeof(int64_t) * (size_t)numel);
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)numel);
    EXPECT(st_read_i64(&d, tt, raw, numel) == TTT_OK, "%s", ttt_last_error());
    for (int64_t i = 0; i < numel; i++) ids[i] = (int32_t)raw[i];
    st_close(&d);
    const char *tok = tmp_path("golden_train.tok");
    EXPECT(write_tokens(tok, ids, numel, 97, 1, 2), "token file");
    ttt_model *m;
    EXPECT(ttt_model_load(dir, NULL, &m) == TTT_OK, "%s", ttt_last_error());
    ttt_train_opts o;
    ttt_train_opts_default(&o);
    o.seq_len = L, o.batch = B, o.steps = S, o.lr = 0.003, o.schedule = TTT_SCHED_CONSTANT, o.warmup = 0;
    o.no_shuffle = 1, o.quiet = 0, o.log_every = 1;
    recorder r;
    memset(&r, 0, sizeof r);
    r.m = m;
    r.step1 = malloc(sizeof(float) * (size_t)ttt_param_numel_total(m));
    EXPECT(ttt_train(m, &o, tok, NULL, tmp_path("golden_run"), 0, record, &r) == TTT_OK, "%s", ttt_last_error());
    EXPECT(r.n == S, "%lld steps recorded", (long long)r.n);
    snprintf(p, sizeof p, "%s/trajectory.safetensors", dir);
    st_file tr;
    EXPECT(st_open(&tr, p) == TTT_OK, "%s", ttt_last_error());
    float el[64], eg[64], elr[64];
    EXPECT(st_read_f32(&tr, st_find(&tr, "loss"), el, S) == TTT_OK, "loss");
    EXPECT(st_read_f32(&tr, st_find(&tr, "grad_norm"), eg, S) == TTT_OK, "grad_norm");
    EXPECT(st_read_f32(&tr, st_find(&tr, "lr"), elr, S) == TTT_OK, "lr");
    double wl = 0, wg = 0;
    for (int64_t k = 0; k < S; k++) {
        wl = fmax(wl, fabs(r.loss[k] - el[k]) / 2e-5);
        wg = fmax(wg, fabs(r.norm[k] - eg[k]) / (2e-5 * eg[k]));
        EXPECT(fabs(r.loss[k] - el[k]) <= 2e-5, "step %lld: loss %.8f, expected %.8f", (long long)k + 1, r.loss[k], el[k]);
        EXPECT(fabs(r.norm[k] - eg[k]) <= 2e-5 * eg[k], "step %lld: grad norm %.8f, expected %.8f", (long long)k + 1,
               r.norm[k], eg[k]);
        EXPECT(fabs(r.lr[k] - elr[k]) <= 1e-6 * elr[k], "step %lld: lr %.8g, expected %.8g", (long long)k + 1, r.lr[k], elr[k]);
    }
    EXPECT(weights_match(m, r.step1, &tr, "step1", 2 * 0.003), "weights after step 1");
    float *fin = flat_tensors(m, 0);
    EXPECT(weights_match(m, fin, &tr, "final", 2 * 0.003 * (double)S), "weights after step %lld", (long long)S);
    printf("      worst loss error %.3f, worst grad-norm error %.3f of tolerance\n", wl, wg);
    st_close(&tr);
    free(fin), free(r.step1), free(raw), free(ids);
    ttt_model_free(m);
    return TEST_PASS;
}

/* ------------------------------------------------------------------------------------------ */

static const char *make_corpus(const char *name, int64_t n, int64_t V, int with_bos, uint64_t seed) {
    /* a learnable sequence: a noisy repeating pattern, with BOS/EOS document breaks */
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)n);
    ttt_rng r;
    ttt_rng_seed(&r, seed);
    for (int64_t i = 0; i < n; i++) {
        ids[i] = (int32_t)(3 + (i * 7 + (i / 13) % 5) % (V - 3));
        if (ttt_rng_uniform(&r) < 0.05) ids[i] = (int32_t)(3 + ttt_rng_u64(&r) % (uint64_t)(V - 3));
        if (with_bos && i % 97 == 96) ids[i] = 1;
        if (with_bos && i % 97 == 95) ids[i] = 2;
    }
    const char *p = tmp_path(name);
    write_tokens(p, ids, n, V, with_bos ? 1 : -1, with_bos ? 2 : -1);
    free(ids);
    return p;
}

static ttt_model *tiny_ttt(ttt_precision prec) {
    ttt_config c;
    tiny_config(&c, "mamba", "mlp");
    c.num_hidden_layers = 1;
    ttt_options o;
    ttt_options_default(&o);
    o.precision = prec;
    ttt_model *m;
    if (ttt_model_create(&c, 5, &o, &m) != TTT_OK) return NULL;
    return m;
}

static void set_bf16(ttt_model *m, int on) {
    ttt_options o;
    ttt_model_get_options(m, &o);
    o.bf16_train = on;
    ttt_model_set_options(m, &o);
}

static void small_opts(ttt_train_opts *o, int64_t steps) {
    ttt_train_opts_default(o);
    o->seq_len = 20, o->batch = 4, o->steps = steps, o->lr = 3e-3, o->warmup = 2, o->log_every = 0;
    o->quiet = 1;
}

TEST(test_train_accumulation_equals_big_batch) {
    const char *tok = make_corpus("acc.tok", 3000, 53, 1, 1);
    float *w[2];
    double loss[2][8];
    for (int k = 0; k < 2; k++) {
        ttt_model *m = tiny_ttt(TTT_PREC_F64);
        EXPECT(m, "model");
        ttt_train_opts o;
        small_opts(&o, 5);
        o.micro_batch = k ? 1 : 4; /* 4 micro-batches of 1 vs one batch of 4 */
        recorder r;
        memset(&r, 0, sizeof r);
        o.quiet = 0;
        EXPECT(ttt_train(m, &o, tok, NULL, tmp_path(k ? "acc1" : "acc4"), 0, record, &r) == TTT_OK, "%s", ttt_last_error());
        memcpy(loss[k], r.loss, sizeof(double) * 5);
        w[k] = flat_tensors(m, 0);
        ttt_model_free(m);
    }
    ttt_model *m = tiny_ttt(TTT_PREC_F64);
    int64_t n = ttt_param_numel_total(m);
    ttt_model_free(m);
    EXPECT(check_close("losses, accumulated vs one batch", loss[1], loss[0], 5, 1e-12, 1e-12), "loss");
    EXPECT(check_close_f("weights after 5 steps", w[1], w[0], n, 1e-6, 1e-6), "weights");
    free(w[0]), free(w[1]);
    return TEST_PASS;
}

static int resume_case(int bf16) {
    const char *tok = make_corpus("res.tok", 3000, 53, 1, 2);
    const char *ra_dir = tmp_path(bf16 ? "res_a16" : "res_a"), *rb_dir = tmp_path(bf16 ? "res_b16" : "res_b");
    /* 8 uninterrupted steps */
    ttt_model *a = tiny_ttt(TTT_PREC_F32);
    set_bf16(a, bf16);
    ttt_train_opts o;
    small_opts(&o, 8);
    o.quiet = 0;
    recorder ra, rb;
    memset(&ra, 0, sizeof ra);
    memset(&rb, 0, sizeof rb);
    EXPECT(ttt_train(a, &o, tok, NULL, ra_dir, 0, record, &ra) == TTT_OK, "%s", ttt_last_error());
    /* 4 steps, stop; a fresh process state resumes for the other 4 */
    ttt_model *b = tiny_ttt(TTT_PREC_F32);
    set_bf16(b, bf16);
    o.stop_after = 4;
    EXPECT(ttt_train(b, &o, tok, NULL, rb_dir, 0, record, &rb) == TTT_OK, "%s", ttt_last_error());
    ttt_model_free(b);
    b = tiny_ttt(TTT_PREC_F32); /* different (fresh) weights: the checkpoint must restore them */
    set_bf16(b, bf16);
    randomize_params(b, 77);
    o.stop_after = 0;
    EXPECT(ttt_train(b, &o, tok, NULL, rb_dir, 1, record, &rb) == TTT_OK, "%s", ttt_last_error());
    EXPECT(ra.n == 8 && rb.n == 8, "steps %lld, %lld", (long long)ra.n, (long long)rb.n);
    EXPECT(check_bits("losses, resumed vs uninterrupted", rb.loss, ra.loss, sizeof(double) * 8), "loss");
    EXPECT(check_bits("gradient norms", rb.norm, ra.norm, sizeof(double) * 8), "norm");
    /* the progress reports say where each call started (the CLI's ETA counts from there) */
    EXPECT(ra.start[7] == 0 && rb.start[3] == 0 && rb.start[4] == 4 && rb.start[7] == 4,
           "start_step %lld %lld %lld %lld, expected 0 0 4 4", (long long)ra.start[7], (long long)rb.start[3],
           (long long)rb.start[4], (long long)rb.start[7]);
    float *wa = flat_tensors(a, 0), *wb = flat_tensors(b, 0);
    EXPECT(check_bits("weights after 8 steps", wa, wb, sizeof(float) * (size_t)ttt_param_numel_total(a)), "weights");
    /* resuming a run that already finished changes nothing and is an error-free no-op */
    free(wa), free(wb);
    ttt_model_free(a), ttt_model_free(b);
    return TEST_PASS;
}

TEST(test_train_resume_bit_identical) { return resume_case(0); }
/* the same in bf16 mixed precision: the bf16 copy of the weights follows the restored ones,
 * and a resume without --bf16 of a bf16 run is refused by name */
TEST(test_train_resume_bit_identical_bf16) {
    if (resume_case(1) != TEST_PASS) return TEST_FAIL;
    const char *tok = tmp_path("res.tok");
    ttt_model *b = tiny_ttt(TTT_PREC_F32);
    ttt_train_opts o;
    small_opts(&o, 12);
    EXPECT(ttt_train(b, &o, tok, NULL, tmp_path("res_b16"), 1, NULL, NULL) != TTT_OK &&
               strstr(ttt_last_error(), "matmul_precision") && strstr(ttt_last_error(), "--bf16"),
           "a float32 resume of a bf16 run: %s", ttt_last_error());
    ttt_model_free(b);
    return TEST_PASS;
}

static int threads_case(int bf16) {
    const char *tok = make_corpus("thr.tok", 20000, 211, 1, 3);
    double loss[2][8];
    for (int k = 0; k < 2; k++) {
        ttt_config c;
        tiny_config(&c, "mamba", "linear");
        c.hidden_size = 128, c.num_attention_heads = 4, c.intermediate_size = 192, c.vocab_size = 211;
        ttt_model *m;
        EXPECT(ttt_model_create(&c, 3, NULL, &m) == TTT_OK, "%s", ttt_last_error());
        set_opts(m, k + 1, 4, 0);
        set_bf16(m, bf16);
        ttt_train_opts o;
        small_opts(&o, 4);
        o.seq_len = 64, o.batch = 8, o.quiet = 0;
        recorder r;
        memset(&r, 0, sizeof r);
        EXPECT(ttt_train(m, &o, tok, NULL, tmp_path(k ? (bf16 ? "thr2b" : "thr2") : (bf16 ? "thr1b" : "thr1")), 0, record, &r) == TTT_OK, "%s", ttt_last_error());
        memcpy(loss[k], r.loss, sizeof(double) * 4);
        ttt_model_free(m);
    }
    EXPECT(check_bits("losses with 1 and 2 threads", loss[0], loss[1], sizeof(double) * 4), "threads");
    return TEST_PASS;
}

TEST(test_train_threads_identical) { return threads_case(0); }
TEST(test_train_threads_identical_bf16) { return threads_case(1); }

/* bf16 mixed precision tracks float32: the same tiny TTT-MLP model, data and order, 200 steps;
 * the mean loss of every 25 steps within 2% of float32's, and the final weights within
 * 5e-2 · max|w| of float32's (measured: see the printed figures) */
TEST(test_train_bf16_tracks_f32) {
    const char *tok = make_corpus("trk.tok", 20000, 211, 1, 7);
    enum { STEPS = 200 };
    double loss[2][STEPS];
    float *w[2];
    int64_t np = 0;
    for (int k = 0; k < 2; k++) {
        ttt_config c;
        tiny_config(&c, "mamba", "mlp");
        c.vocab_size = 211;
        ttt_model *m;
        EXPECT(ttt_model_create(&c, 5, NULL, &m) == TTT_OK, "%s", ttt_last_error());
        set_bf16(m, k);
        ttt_train_opts o;
        small_opts(&o, STEPS);
        o.seq_len = 32, o.batch = 4, o.lr = 1e-2, o.warmup = 20, o.quiet = 0;
        recorder r;
        memset(&r, 0, sizeof r);
        r.all = loss[k];
        EXPECT(ttt_train(m, &o, tok, NULL, tmp_path(k ? "trk16" : "trk32"), 0, record, &r) == TTT_OK, "%s",
               ttt_last_error());
        w[k] = flat_tensors(m, 0);
        np = ttt_param_numel_total(m);
        ttt_model_free(m);
    }
    double worst = 0;
    for (int b = 0; b < STEPS / 25; b++) {
        double a = 0, c = 0;
        for (int i = 0; i < 25; i++) a += loss[0][b * 25 + i], c += loss[1][b * 25 + i];
        worst = fmax(worst, fabs(c - a) / a);
    }
    double mw = 0, dw = 0;
    for (int64_t i = 0; i < np; i++) mw = fmax(mw, fabs(w[0][i])), dw = fmax(dw, fabs((double)w[1][i] - w[0][i]));
    printf("      loss %.4f -> %.4f (float32), %.4f -> %.4f (bf16); worst 25-step mean %.3g%% apart; final weights "
           "max|Δ| %.3g of max|w|\n",
           loss[0][0], loss[0][STEPS - 1], loss[1][0], loss[1][STEPS - 1], 100 * worst, dw / mw);
    EXPECT(loss[0][STEPS - 1] < 0.6 * loss[0][0], "float32 did not learn: %.4f -> %.4f", loss[0][0], loss[0][STEPS - 1]);
    EXPECT(worst <= 0.02, "bf16 loss strays %.3g%% from float32 (bound 2%%)", 100 * worst);
    EXPECT(dw <= 5e-2 * mw, "bf16 final weights max|Δ| %.3g > 5e-2 · %.3g", dw, mw);
    EXPECT(dw > 0, "bf16 training gave the float32 weights bit for bit: bf16 was not used");
    free(w[0]), free(w[1]);
    return TEST_PASS;
}

/* a tiny model learns a short repeating token file */
static int overfit(ttt_model *m, const char *name, double below, int64_t steps) {
    const char *tok = make_corpus("fit.tok", 2000, ttt_model_config(m)->vocab_size, 0, 4);
    ttt_train_opts o;
    small_opts(&o, steps);
    o.seq_len = 32, o.batch = 8, o.lr = 1e-2, o.warmup = 10, o.quiet = 0;
    recorder r;
    memset(&r, 0, sizeof r);
    char run[64];
    snprintf(run, sizeof run, "fit_%s", name);
    EXPECT(ttt_train(m, &o, tok, NULL, tmp_path(run), 0, record, &r) == TTT_OK, "%s", ttt_last_error());
    double last = r.n ? r.loss[r.n < 64 ? r.n - 1 : 63] : NAN;
    printf("      %-10s loss %.3f -> %.3f after %lld steps (threshold %.2f)\n", name, r.loss[0], last, (long long)steps, below);
    EXPECT(last < below, "%s: loss %.4f after %lld steps, expected below %.2f", name, last, (long long)steps, below);
    return 1;
}

TEST(test_train_overfits_tiny_ttt) {
    const char *kinds[][2] = {{"mamba", "linear"}, {"tf", "mlp"}};
    for (int i = 0; i < 2; i++) {
        ttt_config c;
        tiny_config(&c, kinds[i][0], kinds[i][1]);
        ttt_model *m;
        EXPECT(ttt_model_create(&c, 9, NULL, &m) == TTT_OK, "%s", ttt_last_error());
        char name[32];
        snprintf(name, sizeof name, "ttt-%s", kinds[i][1]);
        /* ln(53) = 3.97 for a uniform guess; the pattern is predictable up to 5% noise */
        EXPECT(overfit(m, name, 1.5, 150), "%s", name);
        ttt_model_free(m);
    }
    return TEST_PASS;
}

TEST(test_train_overfits_tiny_baselines) {
    const char *presets[] = {"llama-tiny", "mamba-tiny"};
    for (int i = 0; i < 2; i++) {
        ttt_config c;
        EXPECT(ttt_config_preset(presets[i], &c) == TTT_OK, "%s", ttt_last_error());
        c.vocab_size = 53;
        c.bos_token_id = 1, c.eos_token_id = 2;
        ttt_model *m;
        EXPECT(ttt_model_create(&c, 9, NULL, &m) == TTT_OK, "%s", ttt_last_error());
        EXPECT(overfit(m, presets[i], 1.5, 150), "%s", presets[i]);
        ttt_model_free(m);
    }
    return TEST_PASS;
}

/* ------------------------------------------------------------------------------------------ */

/* on windows without BOS targets, eval's perplexity = exp(forward's mean loss) */
TEST(test_eval_matches_forward) {
    const int64_t L = 24, W = 5, V = 53;
    const char *tok = make_corpus("ev.tok", W * (L + 1) + 3, V, 0, 6);
    ttt_config c;
    tiny_config(&c, "mamba", "linear");
    ttt_model *m = make_model(&c, TTT_PREC_F64, 8);
    EXPECT(m, "model");
    ttt_eval_result r;
    double byp[24];
    int64_t cnt[24];
    EXPECT(ttt_evaluate(m, tok, L, 0, 2, 1, byp, cnt, &r) == TTT_OK, "%s", ttt_last_error());
    EXPECT(r.windows == W && r.count == W * L, "windows %lld, targets %lld", (long long)r.windows, (long long)r.count);
    ttt_tokfile tf;
    EXPECT(ttt_tokfile_read(tok, &tf) == TTT_OK, "read");
    double loss;
    EXPECT(ttt_forward(m, tf.ids, W, L + 1, NULL, &loss) == TTT_OK, "%s", ttt_last_error());
    EXPECT(fabs(log(r.ppl) - loss) < 1e-12, "eval log-perplexity %.12f vs forward loss %.12f", log(r.ppl), loss);
    double mean = 0;
    for (int64_t t = 0; t < L; t++) mean += byp[t] * (double)cnt[t];
    EXPECT(fabs(mean / (double)r.count - loss) < 1e-12, "by-position means do not add up");
    ttt_tokfile_free(&tf);
    ttt_model_free(m);
    return TEST_PASS;
}

/* the eval command end to end, with the by-position CSV and the unigram baseline */
TEST(test_eval_cli) {
    const char *tok = make_corpus("evc.tok", 4000, 97, 1, 7);
    char *out;
    const char *mdir = tmp_path("evc_model");
    EXPECT(run_cmd(&out, "%s init --preset ttt-linear-tiny --out %s", test_ttt_bin, mdir) == 0, "%s", out);
    free(out);
    const char *csv = tmp_path("evc.csv");
    EXPECT(run_cmd(&out, "%s eval --model %s --data %s --context 64 --by-position %s --buckets 8 --unigram %s",
                   test_ttt_bin, mdir, tok, csv, tok) == 0, "%s", out);
    EXPECT(strstr(out, "perplexity") && strstr(out, "unigram perplexity"), "%s", out);
    free(out);
    FILE *fp = fopen(csv, "r");
    EXPECT(fp, "no CSV");
    char line[256];
    int rows = 0;
    EXPECT(fgets(line, sizeof line, fp) && strstr(line, "position_start"), "header");
    while (fgets(line, sizeof line, fp)) rows++;
    fclose(fp);
    EXPECT(rows >= 4 && rows <= 8, "%d rows", rows);
    return TEST_PASS;
}

/* ------------------------------------------------------------------------------------------ */

/* kill -9 the training process at random moments (checkpoints every step): the latest
 * checkpoint always loads and the run resumes */
TEST(test_train_crash_safety) {
    const char *tok = make_corpus("crash.tok", 8000, 97, 1, 8);
    const char *run = tmp_path("crash_run");
    ttt_rng r;
    ttt_rng_seed(&r, 12);
    int crashes = 0;
    for (int trial = 0; trial < 6; trial++) {
        pid_t pid = fork();
        if (pid == 0) {
            char cmd[2048];
            snprintf(cmd, sizeof cmd, "exec %s train %s --preset ttt-linear-tiny --data %s --run %s --steps 100000 "
                     "--seq-len 16 --batch 2 --ckpt-every 1 --keep 2 --quiet --threads 1 >/dev/null 2>&1",
                     test_ttt_bin, trial ? "--resume" : "", tok, run);
            execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
            _exit(127);
        }
        /* let it write a few checkpoints, then kill at a random moment */
        struct timespec ts = {0, (long)(300e6 + 700e6 * ttt_rng_uniform(&r))};
        if (trial == 0) ts.tv_sec = 1;
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        crashes += WIFSIGNALED(st);
        char *ck = ttt_run_latest_checkpoint(run);
        EXPECT(ck, "trial %d: no checkpoint after the kill: %s", trial, ttt_last_error());
        ttt_model *m;
        EXPECT(ttt_model_load(ck, NULL, &m) == TTT_OK, "trial %d: checkpoint %s does not load: %s", trial, ck, ttt_last_error());
        ttt_model_free(m);
        free(ck);
    }
    EXPECT(crashes >= 5, "only %d of 6 runs were killed while running", crashes);
    /* and it resumes to completion from there */
    char *out;
    EXPECT(run_cmd(&out, "%s train --resume --data %s --run %s --steps 100000 --seq-len 16 --batch 2 --stop-after 2 "
                   "--quiet", test_ttt_bin, tok, run) == 0, "resume after crashes: %s", out);
    free(out);
    return TEST_PASS;
}

/* a checkpoint is a standard safetensors file: numpy reads it */
TEST(test_checkpoint_numpy) {
    char *out;
    if (run_cmd(&out, "/usr/bin/python3 -c 'import numpy'") != 0) {
        free(out);
        return test_skip("python3-numpy is not installed (scripts/install-deps.sh installs it)");
    }
    free(out);
    const char *tok = make_corpus("np.tok", 2000, 97, 1, 9);
    const char *run = tmp_path("np_run");
    EXPECT(run_cmd(&out, "%s train --preset ttt-linear-tiny --data %s --run %s --steps 2 --seq-len 16 --batch 2 --quiet",
                   test_ttt_bin, tok, run) == 0, "%s", out);
    free(out);
    ttt_model *m;
    char mdir[1100];
    snprintf(mdir, sizeof mdir, "%s/model", run);
    EXPECT(ttt_model_load(mdir, NULL, &m) == TTT_OK, "%s", ttt_last_error());
    int64_t i = ttt_param_find(m, "model.layers.1.seq_modeling_block.W1");
    EXPECT(i >= 0, "W1");
    float w1[4 * 16 * 16];
    ttt_param_get(m, i, w1);
    const char *py = tmp_path("read.py");
    FILE *fp = fopen(py, "w");
    fprintf(fp,
            "import json, struct, sys, numpy as np\n"
            "b = open(sys.argv[1], 'rb').read()\n"
            "n = struct.unpack('<Q', b[:8])[0]\n"
            "h = json.loads(b[8:8 + n])\n"
            "e = h['model.layers.1.seq_modeling_block.W1']\n"
            "s, t = e['data_offsets']\n"
            "a = np.frombuffer(b[8 + n + s:8 + n + t], dtype=np.float32).reshape(e['shape'])\n"
            "assert e['dtype'] == 'F32' and list(a.shape) == [4, 16, 16]\n"
            "assert h['model.embed_tokens.weight']['shape'] == [97, 64]\n"
            "assert 'lm_head.weight' not in h\n"
            "print('%%.9g %%.9g %%.9g' %% (a[0, 0, 0], a[1, 2, 3], a[3, 15, 15]))\n");
    fclose(fp);
    EXPECT(run_cmd(&out, "/usr/bin/python3 %s %s/model.safetensors", py, mdir) == 0, "numpy: %s", out);
    double a0, a1, a2;
    EXPECT(sscanf(out, "%lf %lf %lf", &a0, &a1, &a2) == 3, "numpy output: %s", out);
    free(out);
    /* 9 significant digits identify a float exactly */
    EXPECT((float)a0 == w1[0] && (float)a1 == w1[1 * 256 + 2 * 16 + 3] && (float)a2 == w1[3 * 256 + 15 * 16 + 15],
           "numpy read %.9g %.9g %.9g, the library %.9g %.9g %.9g", a0, a1, a2, w1[0], w1[1 * 256 + 2 * 16 + 3],
           w1[3 * 256 + 15 * 16 + 15]);
    ttt_model_free(m);
    return TEST_PASS;
}

/* `ttt train --preset P FLAGS` builds the model `ttt init --preset P FLAGS` builds (the flags are
 * parsed by one function, cli/model_flags.c); model flags with --model or --resume are errors */
TEST(test_train_cli_model_flags) {
    const char *tok = make_corpus("mf.tok", 2000, 97, 1, 11);
    const char *cases[][2] = {
        {"llama-tiny", "--layers 1 --heads 2 --kv-heads 1 --max-position 4096 --rope-theta 500000 --untied"},
        {"ttt-linear-tiny", "--width 32 --backbone transformer --mini-batch 8 --ttt-type mlp --base-lr 0.3 "
                            "--fixed-lr-gate --unit-token-scale"},
        {"mamba-tiny", "--layers 3 --width 48 --conv-kernel 3"}};
    char *out;
    for (int c = 0; c < 3; c++) {
        const char *init_dir = tmp_path("mf_init"), *run = tmp_path("mf_run");
        EXPECT(run_cmd(&out, "rm -rf %s %s && %s init --preset %s %s --out %s", init_dir, run, test_ttt_bin,
                       cases[c][0], cases[c][1], init_dir) == 0, "init %s: %s", cases[c][0], out);
        free(out);
        EXPECT(run_cmd(&out, "%s train --preset %s %s --data %s --run %s --steps 1 --seq-len 16 --batch 1 --quiet",
                       test_ttt_bin, cases[c][0], cases[c][1], tok, run) == 0, "train %s: %s", cases[c][0], out);
        free(out);
        char p[1200];
        ttt_config a, b;
        snprintf(p, sizeof p, "%s/config.json", init_dir);
        EXPECT(ttt_config_load(p, &a) == TTT_OK, "%s", ttt_last_error());
        snprintf(p, sizeof p, "%s/model/config.json", run);
        EXPECT(ttt_config_load(p, &b) == TTT_OK, "%s", ttt_last_error());
        EXPECT(a.arch == b.arch && a.num_hidden_layers == b.num_hidden_layers && a.hidden_size == b.hidden_size &&
               a.num_attention_heads == b.num_attention_heads && a.num_key_value_heads == b.num_key_value_heads &&
               a.intermediate_size == b.intermediate_size && a.max_position_embeddings == b.max_position_embeddings &&
               a.rope_theta == b.rope_theta && a.tie_word_embeddings == b.tie_word_embeddings &&
               a.conv_kernel == b.conv_kernel && a.ttt_layer_type == b.ttt_layer_type &&
               a.ttt_base_lr == b.ttt_base_lr && a.mini_batch_size == b.mini_batch_size && a.pre_conv == b.pre_conv &&
               a.share_qk == b.share_qk && a.use_gate == b.use_gate && a.ttt_fixed_lr_gate == b.ttt_fixed_lr_gate &&
               a.ttt_unit_token_scale == b.ttt_unit_token_scale && a.time_step_rank == b.time_step_rank,
               "%s %s: ttt init and ttt train --preset configure different models", cases[c][0], cases[c][1]);
        /* the flags took effect */
        if (c == 0) EXPECT(b.max_position_embeddings == 4096 && b.num_key_value_heads == 1 && !b.tie_word_embeddings, "llama");
        if (c == 1)
            EXPECT(b.hidden_size == 32 && !b.pre_conv && b.mini_batch_size == 8 && b.ttt_layer_type == TTT_INNER_MLP &&
                   b.ttt_base_lr == 0.3 && b.ttt_fixed_lr_gate && b.ttt_unit_token_scale, "ttt");
        if (c == 2) EXPECT(b.num_hidden_layers == 3 && b.intermediate_size == 96 && b.conv_kernel == 3, "mamba");
        if (c == 2) {
            EXPECT(run_cmd(&out, "%s train --run %s --resume --data %s --steps 2 --width 64 --quiet", test_ttt_bin, run,
                           tok) == 2 && strstr(out, "--width configures a fresh model") && strstr(out, "--resume"),
                   "model flag with --resume: %s", out);
            free(out);
            EXPECT(run_cmd(&out, "%s train --model %s --data %s --run %s_2 --steps 1 --mini-batch 4 --quiet", test_ttt_bin,
                           init_dir, tok, run) == 2 && strstr(out, "--mini-batch configures a fresh model"),
                   "model flag with --model: %s", out);
            free(out);
        }
    }
    return TEST_PASS;
}
