/* test_synth.c: the MQAR generator (ttt synth mqar, src/data/synth.h), the token file's loss
 * mask (version 2) and how training and evaluation count it:
 *   - the generator's structure (every answer is the value paired with its query's key
 *     earlier, keys and values distinct and in their halves of the vocabulary, one query per
 *     key), a pinned hand-made instance, determinism per seed, the gap distribution against
 *     the power law computed here in double;
 *   - the mask format byte for byte, old (version 1) files read as before, corrupt masks;
 *   - ttt eval on a masked file: the mean loss and the accuracy against a loss and an argmax
 *     computed here in double from `ttt forward` logits;
 *   - ttt train on a masked file: the loss and gradient norm of a step equal the mean over the
 *     step's counted targets (oracle: one forward over the whole batch) for every
 *     micro-batch size, and with MPI for 1 and 2 processes;
 *   - refusals of bad flags and bad files;
 *   - the task is solvable: a tiny Transformer trained here reaches accuracy >= 0.95 on a
 *     held-out tiny instance, where the untrained one is below 0.2. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "data/synth.h"
#include "dist/dist.h"
#include "io/safetensors.h"
#include "test.h"
#include "ttt.h"
#include "ttt_tokenizer.h"
#include "ttt_train.h"

/* the structure every MQAR example must have; 1 if so (failures reported) */
static int check_mqar(const ttt_tokfile *tf, int64_t K, int64_t L, int64_t V, int64_t N) {
    const int64_t S = L + 1;
    if (tf->n_tokens != N * S || tf->n_docs != N || tf->vocab_size != V || !tf->mask || tf->bos_id != -1 ||
        tf->eos_id != -1 || strcmp(tf->tokenizer, "mqar") != 0) {
        test_fail("header: %lld tokens, %lld docs, vocab %lld, mask %p, tokenizer '%s'", (long long)tf->n_tokens,
                  (long long)tf->n_docs, (long long)tf->vocab_size, (void *)tf->mask, tf->tokenizer);
        return 0;
    }
    int seen[256];
    for (int64_t e = 0; e < N; e++) {
        const int32_t *x = tf->ids + e * S;
        const uint8_t *mk = tf->mask + e * S;
        if (tf->doc_start[e] != e * S) {
            test_fail("example %lld starts at %lld", (long long)e, (long long)tf->doc_start[e]);
            return 0;
        }
        for (int64_t i = 0; i < K; i++) {
            seen[i] = 0;
            if (x[2 * i] < 1 || x[2 * i] >= V / 2 || x[2 * i + 1] < V / 2 || x[2 * i + 1] >= V) {
                test_fail("example %lld pair %lld: key %d / value %d outside [1, %lld) / [%lld, %lld)", (long long)e,
                          (long long)i, x[2 * i], x[2 * i + 1], (long long)(V / 2), (long long)(V / 2), (long long)V);
                return 0;
            }
            for (int64_t j = 0; j < i; j++)
                if (x[2 * i] == x[2 * j] || x[2 * i + 1] == x[2 * j + 1]) {
                    test_fail("example %lld: pairs %lld and %lld share a key or a value", (long long)e, (long long)j,
                              (long long)i);
                    return 0;
                }
        }
        int64_t answers = 0;
        for (int64_t t = 0; t < S; t++) {
            if (x[t] < 0 || x[t] >= V) {
                test_fail("example %lld token %lld is %d", (long long)e, (long long)t, x[t]);
                return 0;
            }
            if (!mk[t]) continue;
            /* an answer: at an odd offset into the query region, after its key, before L */
            if (t < 2 * K + 1 || (t - 2 * K) % 2 != 1 || t > L - 1) {
                test_fail("example %lld: answer at position %lld", (long long)e, (long long)t);
                return 0;
            }
            int64_t i = 0;
            while (i < K && x[2 * i] != x[t - 1]) i++;
            if (i == K || seen[i] || x[t] != x[2 * i + 1]) {
                test_fail("example %lld position %lld: query %d answered %d (%s)", (long long)e, (long long)t, x[t - 1],
                          x[t], i == K ? "not a key of the example" : seen[i] ? "key queried twice" : "not its value");
                return 0;
            }
            seen[i] = 1;
            answers++;
        }
        if (answers != K) {
            test_fail("example %lld has %lld answers, expected %lld", (long long)e, (long long)answers, (long long)K);
            return 0;
        }
    }
    return 1;
}

static int files_equal(const char *a, const char *b) {
    size_t na, nb;
    char *x = read_whole(a, &na), *y = read_whole(b, &nb);
    int eq = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x), free(y);
    return eq;
}

TEST(test_synth_mqar_structure) {
    /* a pinned hand-made instance: K 2, L 16, V 12, seed 0 (keys of [1, 6), values of [6, 12)) */
    synth_mqar_opts o = {2, 16, 12, 3, 0, 0.01};
    ttt_tokfile tf;
    EXPECT(synth_mqar(&o, &tf) == TTT_OK, "%s", ttt_last_error());
    const int32_t want[3][17] = {{4, 6, 3, 8, 3, 8, 5, 2, 0, 3, 10, 11, 4, 6, 7, 6, 6},
                                 {4, 11, 3, 6, 5, 11, 6, 4, 3, 6, 10, 1, 10, 7, 4, 11, 2},
                                 {5, 8, 2, 7, 5, 8, 5, 2, 2, 7, 3, 2, 6, 7, 2, 3, 0}};
    const int answer[3][2] = {{5, 13}, {9, 15}, {5, 9}};
    int ok = check_mqar(&tf, 2, 16, 12, 3);
    for (int e = 0; ok && e < 3; e++)
        for (int t = 0; t < 17; t++) {
            int m = t == answer[e][0] || t == answer[e][1];
            if (tf.ids[e * 17 + t] != want[e][t] || tf.mask[e * 17 + t] != m) {
                test_fail("example %d position %d: id %d mask %d, pinned %d %d", e, t, tf.ids[e * 17 + t],
                          tf.mask[e * 17 + t], want[e][t], m);
                ok = 0;
                break;
            }
        }
    ttt_tokfile_free(&tf);
    EXPECT(ok, "pinned instance");

    /* the command: its file is the library's set; same seed the same bytes; a prefix of a
     * larger set; another seed another set */
    const char *a = tmp_path("mq_a.tok"), *b = tmp_path("mq_b.tok"), *c = tmp_path("mq_c.tok"),
               *d = tmp_path("mq_d.tok");
    char *out;
    const char *flags = "--pairs 8 --seq-len 64 --vocab 100";
    EXPECT(run_cmd(&out, "%s synth mqar %s --examples 40 --seed 5 --out %s", test_ttt_bin, flags, a) == 0 &&
               strstr(out, "40 MQAR examples of 65 tokens") && strstr(out, "320 answer targets"),
           "synth: %s", out);
    free(out);
    EXPECT(run_cmd(NULL, "%s synth mqar %s --examples 40 --seed 5 --out %s", test_ttt_bin, flags, b) == 0 &&
               run_cmd(NULL, "%s synth mqar %s --examples 15 --seed 5 --out %s", test_ttt_bin, flags, c) == 0 &&
               run_cmd(NULL, "%s synth mqar %s --examples 40 --seed 6 --out %s", test_ttt_bin, flags, d) == 0,
           "synth runs");
    EXPECT(files_equal(a, b), "the same seed gave different files");
    EXPECT(!files_equal(a, d), "seeds 5 and 6 gave the same file");
    ttt_tokfile fa, fc, mem;
    EXPECT(ttt_tokfile_read(a, &fa) == TTT_OK && ttt_tokfile_read(c, &fc) == TTT_OK, "%s", ttt_last_error());
    EXPECT(fa.version == 2, "version %d", fa.version);
    ok = check_mqar(&fa, 8, 64, 100, 40) && check_mqar(&fc, 8, 64, 100, 15);
    ok = ok && memcmp(fa.ids, fc.ids, sizeof(int32_t) * 15 * 65) == 0 && memcmp(fa.mask, fc.mask, 15 * 65) == 0;
    synth_mqar_opts om = {8, 64, 100, 40, 5, 0.01};
    EXPECT(synth_mqar(&om, &mem) == TTT_OK, "%s", ttt_last_error());
    ok = ok && memcmp(fa.ids, mem.ids, sizeof(int32_t) * 40 * 65) == 0 && memcmp(fa.mask, mem.mask, 40 * 65) == 0;
    ttt_tokfile_free(&fa), ttt_tokfile_free(&fc), ttt_tokfile_free(&mem);
    EXPECT(ok, "the command's file, the library's set and the 15-example prefix disagree");

    /* a wider vocabulary: 4-byte tokens */
    synth_mqar_opts ow = {4, 32, 100000, 5, 1, 0.01};
    EXPECT(synth_mqar(&ow, &mem) == TTT_OK && mem.width == 4 && check_mqar(&mem, 4, 32, 100000, 5), "vocab 100000");
    ttt_tokfile_free(&mem);
    return TEST_PASS;
}

/* The gaps: pair 0's gap g is the first draw, P = p_g; pair 1's the second draw of a sampling
 * without replacement, P = Σ_{g≠h} p_g p_h / (1 − p_g); p_g ∝ (g+1)^(a−1) (Zoology's law). */
TEST(test_synth_mqar_gap_distribution) {
    const int64_t K = 2, L = 20, N = 20000, space = (L - 2 * K) / 2;
    const double as[2] = {0.01, 1.0};
    for (int ai = 0; ai < 2; ai++) {
        synth_mqar_opts o = {K, L, 64, N, 11, as[ai]};
        ttt_tokfile tf;
        EXPECT(synth_mqar(&o, &tf) == TTT_OK, "%s", ttt_last_error());
        double p[16], z = 0, cnt[2][16] = {{0}};
        for (int64_t g = 0; g < space; g++) z += p[g] = pow((double)(g + 1), as[ai] - 1);
        for (int64_t g = 0; g < space; g++) p[g] /= z;
        for (int64_t e = 0; e < N; e++) {
            const int32_t *x = tf.ids + e * (L + 1);
            for (int64_t t = 2 * K; t < L; t += 2)
                if (tf.mask[e * (L + 1) + t + 1]) cnt[x[t] == x[0] ? 0 : 1][(t - 2 * K) / 2] += 1;
        }
        ttt_tokfile_free(&tf);
        double worst = 0;
        for (int i = 0; i < 2; i++)
            for (int64_t h = 0; h < space; h++) {
                double q = p[h];
                if (i == 1) {
                    q = 0;
                    for (int64_t g = 0; g < space; g++)
                        if (g != h) q += p[g] * p[h] / (1 - p[g]);
                }
                double sd = sqrt(N * q * (1 - q)), dev = fabs(cnt[i][h] - N * q) / sd;
                if (dev > worst) worst = dev;
                EXPECT(dev < 5, "a = %g, pair %d, gap %lld: %g of %lld, expected %.1f (%.1f standard deviations)",
                       as[ai], i, (long long)h, cnt[i][h], (long long)N, N * q, dev);
            }
        printf("      power_a %.2f: worst gap frequency %.2f standard deviations from the law\n", as[ai], worst);
    }
    return TEST_PASS;
}

static uint64_t fnv(const unsigned char *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}
static void put64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* a token file as the format defines it (2-byte ids, one document), built here byte by byte:
 * version 1, or 2 with the mask packed 8 flags a byte (token i: bit i mod 8 of byte i / 8) */
static size_t forge(unsigned char *b, const int32_t *ids, const uint8_t *mask, int64_t n, int64_t vocab) {
    memset(b, 0, 128);
    memcpy(b, "TTTTOKEN", 8);
    put32(b + 8, mask ? 2 : 1);
    put32(b + 12, 2);
    put64(b + 16, (uint64_t)n);
    put64(b + 24, 1);
    put32(b + 32, (uint32_t)-1);
    put32(b + 36, (uint32_t)-1);
    put64(b + 40, (uint64_t)vocab);
    memcpy(b + 48, "mqar", 4);
    size_t k = 128;
    for (int64_t i = 0; i < n; i++) b[k++] = (unsigned char)ids[i], b[k++] = (unsigned char)(ids[i] >> 8);
    put64(b + k, 0), k += 8;
    if (mask) {
        size_t m0 = k, mb = (size_t)(n + 7) / 8;
        memset(b + k, 0, mb);
        for (int64_t i = 0; i < n; i++) b[m0 + (size_t)i / 8] |= (unsigned char)(mask[i] << (i % 8));
        k += mb;
    }
    put64(b + 80, fnv(b + 128, k - 128));
    return k;
}

static int parse_fails(const unsigned char *b, size_t n, const char *needle) {
    ttt_tokfile tf;
    if (ttt_tokfile_parse(b, n, "x.tok", 0, &tf) == TTT_OK) {
        ttt_tokfile_free(&tf);
        test_fail("corrupt file accepted (expected '%s')", needle);
        return 0;
    }
    if (!strstr(ttt_last_error(), needle)) {
        test_fail("message '%s' lacks '%s'", ttt_last_error(), needle);
        return 0;
    }
    return 1;
}

TEST(test_synth_tokfile_mask_format) {
    enum { n = 13 };
    int32_t ids[n];
    uint8_t mask[n];
    for (int i = 0; i < n; i++) ids[i] = (i * 5 + 3) % 300, mask[i] = (uint8_t)(i % 3 == 1 || i == 12);
    int64_t start = 0;
    ttt_tokfile tf = {0};
    tf.ids = ids, tf.n_tokens = n, tf.doc_start = &start, tf.n_docs = 1, tf.bos_id = -1, tf.eos_id = -1;
    tf.vocab_size = 300;
    snprintf(tf.tokenizer, sizeof tf.tokenizer, "mqar");
    unsigned char want[256], bad[256];
    const char *p1 = tmp_path("fmt1.tok"), *p2 = tmp_path("fmt2.tok");
    /* no mask: version 1, byte for byte the format of the builds before the mask */
    EXPECT(ttt_tokfile_write(p1, &tf) == TTT_OK, "%s", ttt_last_error());
    size_t n1 = forge(want, ids, NULL, n, 300), got_n;
    char *got = read_whole(p1, &got_n);
    EXPECT(got && got_n == n1 && memcmp(got, want, n1) == 0, "version-1 bytes differ (%zu vs %zu)", got_n, n1);
    free(got);
    ttt_tokfile rd;
    EXPECT(ttt_tokfile_read(p1, &rd) == TTT_OK && rd.version == 1 && !rd.mask, "version 1 read: %s", ttt_last_error());
    ttt_tokfile_free(&rd);
    /* with the mask: version 2, 2 mask bytes after the document offset */
    tf.mask = mask;
    EXPECT(ttt_tokfile_write(p2, &tf) == TTT_OK, "%s", ttt_last_error());
    size_t n2 = forge(want, ids, mask, n, 300);
    EXPECT(n2 == 128 + 2 * n + 8 + 2, "forged size %zu", n2);
    got = read_whole(p2, &got_n);
    EXPECT(got && got_n == n2 && memcmp(got, want, n2) == 0, "version-2 bytes differ (%zu vs %zu)", got_n, n2);
    free(got);
    EXPECT(want[n2 - 2] == 0x92 && want[n2 - 1] == 0x14, "mask bytes %02x %02x", want[n2 - 2], want[n2 - 1]);
    EXPECT(ttt_tokfile_read(p2, &rd) == TTT_OK && rd.version == 2 && rd.mask && memcmp(rd.mask, mask, n) == 0 &&
               memcmp(rd.ids, ids, sizeof ids) == 0,
           "version 2 read: %s", ttt_last_error());
    ttt_tokfile_free(&rd);
    EXPECT(ttt_tokfile_read_header(p2, &rd) == TTT_OK && rd.version == 2 && !rd.mask && !rd.ids, "header only");
    /* corrupt masks, with valid checksums */
    int ok = 1;
    memcpy(bad, want, n2);
    bad[n2 - 1] |= 0x20; /* bit 5 of the last byte: token 13, past the end */
    put64(bad + 80, fnv(bad + 128, n2 - 128));
    ok &= parse_fails(bad, n2, "bits set past token 12");
    memcpy(bad, want, n2);
    put64(bad + 80, fnv(bad + 128, n2 - 129));
    ok &= parse_fails(bad, n2 - 1, "a loss mask of 2 bytes (token-file version 2)");
    memcpy(bad, want, n2);
    put32(bad + 8, 3);
    ok &= parse_fails(bad, n2, "token-file version 3; this build reads versions 1 and 2");
    memcpy(bad, want, n2);
    bad[n2 - 2] ^= 0x02; /* a flag flipped, the checksum not updated */
    ok &= parse_fails(bad, n2, "checksum mismatch");
    /* an old reader's view: a version-1 header over version-2 bytes does not pass */
    memcpy(bad, want, n2);
    put32(bad + 8, 1);
    ok &= parse_fails(bad, n2, "truncated or corrupt");
    /* the writer refuses a flag other than 0/1 */
    mask[4] = 2;
    ok &= ttt_tokfile_write(tmp_path("fmt3.tok"), &tf) == TTT_ERR_ARG && strstr(ttt_last_error(), "expected 0 or 1");
    return ok ? TEST_PASS : TEST_FAIL;
}

/* a value from a one-line JSON object: "key": number */
/* `ttt eval --accuracy --json` of MODEL on FILE (context L) against an oracle from `ttt forward`
 * logits (float32 on disk) in double: mean NLL = Σ (logsumexp − logit_y) / count over the
 * targets the mask counts (or, without a mask, every target but the model's BOS), and the
 * argmax count (rows whose top two logits are within 1e-5 may go either way). 1 if all agree. */
static int eval_vs_forward(const char *model, const char *file, int64_t L, int bos, const char *what) {
    ttt_tokfile tf;
    if (ttt_tokfile_read(file, &tf) != TTT_OK) {
        test_fail("%s", ttt_last_error());
        return 0;
    }
    int64_t W = tf.n_tokens / (L + 1), V = tf.vocab_size;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)(W * L));
    for (int64_t w = 0; w < W; w++) memcpy(ids + w * L, tf.ids + w * (L + 1), sizeof(int32_t) * (size_t)L);
    const char *in = tmp_path("ev_in.safetensors"), *out = tmp_path("ev_out.safetensors"), *js = tmp_path("ev.json");
    st_entry e = {.name = "input_ids", .dtype = ST_I32, .ndim = 2, .shape = {W, L}, .data = ids, .src = ST_SRC_RAW};
    char *o1 = NULL, *o2 = NULL;
    int ok = st_write(in, &e, 1) == TTT_OK &&
             run_cmd(&o1, "%s forward --model %s --input %s --output %s --precision f64", test_ttt_bin, model, in,
                     out) == 0 &&
             run_cmd(&o2, "%s eval --model %s --data %s --context %lld --batch 3 --accuracy --json %s --precision f64",
                     test_ttt_bin, model, file, (long long)L, js) == 0;
    if (!ok) test_fail("%s: forward or eval failed: %s %s", what, o1 ? o1 : "", o2 ? o2 : "");
    st_file f;
    int64_t nl = 0;
    double *lg = NULL;
    if (ok && st_open(&f, out) == TTT_OK) {
        const st_tensor *t = st_find(&f, "logits");
        nl = W * L * V;
        lg = malloc(sizeof(double) * (size_t)nl);
        ok = t && st_read_f64(&f, t, lg, nl) == TTT_OK;
        st_close(&f);
    } else {
        ok = 0;
    }
    double sum = 0;
    int64_t cnt = 0, correct = 0, unsure = 0;
    for (int64_t w = 0; ok && w < W; w++)
        for (int64_t t = 0; t < L; t++) {
            int64_t g = w * (L + 1) + t + 1;
            int32_t y = tf.ids[g];
            if (tf.mask ? !tf.mask[g] : y == bos) continue;
            const double *x = lg + (w * L + t) * V;
            double mx = x[0], lse = 0;
            int64_t am = 0;
            for (int64_t v = 1; v < V; v++)
                if (x[v] > mx) mx = x[v], am = v;
            double second = -INFINITY;
            for (int64_t v = 0; v < V; v++) {
                lse += exp(x[v] - mx);
                if (v != am && x[v] > second) second = x[v];
            }
            sum += mx + log(lse) - x[y];
            cnt++;
            if (mx - second < 1e-5) unsure++;
            else correct += am == y;
        }
    char *j = ok ? read_whole(js, NULL) : NULL;
    double ml = json_num(j, "mean_loss"), acc = json_num(j, "accuracy"), tg = json_num(j, "targets"),
           cr = json_num(j, "correct");
    if (ok) {
        printf("      %s: %lld targets, mean loss %.6f (oracle %.6f), accuracy %.4f (oracle %lld%s of them correct)\n",
               what, (long long)tg, ml, sum / (double)cnt, acc, (long long)correct, unsure ? " + near-ties" : "");
        ok = tg == (double)cnt && fabs(ml - sum / (double)cnt) <= 1e-5 && cr >= (double)correct &&
             cr <= (double)(correct + unsure) && fabs(acc - cr / tg) < 1e-12 && strstr(o2, "accuracy ");
        if (!ok)
            test_fail("%s: eval says %g targets, mean loss %.8f, %g correct (accuracy %g); the oracle %lld targets, "
                      "%.8f, %lld correct (+%lld near-ties); output: %s", what, tg, ml, cr, acc, (long long)cnt,
                      sum / (double)cnt, (long long)correct, (long long)unsure, o2);
    }
    free(j), free(o1), free(o2), free(lg), free(ids);
    ttt_tokfile_free(&tf);
    return ok;
}

TEST(test_synth_eval_masked_loss_accuracy) {
    /* a model whose BOS id (5) is one of the values: with a mask, answers equal to it count */
    const char *m = tiny_model("syn_eval", "--bos 5 --eos 6");
    if (!m) return TEST_FAIL;
    const char *d = tmp_path("syn_eval.tok"), *d1 = tmp_path("syn_eval_v1.tok");
    synth_mqar_opts o = {2, 16, 11, 12, 7, 0.01};
    ttt_tokfile tf;
    EXPECT(synth_mqar(&o, &tf) == TTT_OK && ttt_tokfile_write(d, &tf) == TTT_OK, "%s", ttt_last_error());
    int64_t fives = 0;
    for (int64_t i = 0; i < tf.n_tokens; i++) fives += tf.mask[i] && tf.ids[i] == 5;
    /* the same tokens as an old file without a mask: every target but BOS counts */
    uint8_t *mk = tf.mask;
    tf.mask = NULL;
    EXPECT(ttt_tokfile_write(d1, &tf) == TTT_OK, "%s", ttt_last_error());
    tf.mask = mk;
    ttt_tokfile_free(&tf);
    EXPECT(fives > 0, "no answer equals the BOS id 5 (pick another seed)");
    int ok = eval_vs_forward(m, d, 16, 5, "masked (24 answers)");
    ok &= eval_vs_forward(m, d1, 16, 5, "version 1, all targets");
    /* the unigram baseline counts the same targets: add-one counts of the training file d1 */
    char *out;
    EXPECT(run_cmd(&out, "%s eval --model %s --data %s --context 16 --unigram %s", test_ttt_bin, m, d, d1) == 0,
           "unigram: %s", out);
    ttt_tokfile a, b;
    EXPECT(ttt_tokfile_read(d1, &a) == TTT_OK && ttt_tokfile_read(d, &b) == TTT_OK, "read");
    double c[11] = {0}, s = 0;
    int64_t k = 0;
    for (int64_t i = 0; i < a.n_tokens; i++) c[a.ids[i]] += 1;
    for (int64_t i = 0; i < b.n_tokens; i++)
        if (b.mask[i] && i % 17 != 0) s += -log((c[b.ids[i]] + 1) / ((double)a.n_tokens + 11)), k++;
    double up = 0;
    const char *q = strstr(out, "unigram perplexity ");
    if (q) up = strtod(q + 19, NULL);
    ttt_tokfile_free(&a), ttt_tokfile_free(&b);
    EXPECT(k == 24 && fabs(up - exp(s / (double)k)) < 1e-4 * up, "unigram %g, oracle %g over %lld: %s", up,
           exp(s / (double)k), (long long)k, out);
    free(out);
    return ok ? TEST_PASS : TEST_FAIL;
}

typedef struct {
    double loss, grad_norm;
} step_rec;
static void on_step(const ttt_train_progress *p, void *ctx) {
    step_rec *r = ctx;
    if (p->step == 1) r->loss = p->loss, r->grad_norm = p->grad_norm;
}

/* 4 windows of 17 tokens whose masks count 1, 3, 6 and 11 targets (position 0 of a window is
 * never a target; a flag there must not count) */
static const char *uneven_masked(const char *name, int with_mask) {
    enum { W = 4, S = 17 };
    static int32_t ids[W * S];
    static uint8_t mask[W * S];
    const int counts[W] = {1, 3, 6, 11};
    ttt_rng r;
    ttt_rng_seed(&r, 3);
    for (int i = 0; i < W * S; i++) ids[i] = (int32_t)(ttt_rng_u64(&r) % 11), mask[i] = 0;
    for (int w = 0; w < W; w++) {
        mask[w * S] = 1;
        for (int c = 0, t = 16; c < counts[w]; c++, t -= w == 3 ? 1 : 2) mask[w * S + t] = 1;
    }
    int64_t start = 0;
    ttt_tokfile tf = {0};
    tf.ids = ids, tf.n_tokens = W * S, tf.doc_start = &start, tf.n_docs = 1, tf.bos_id = 1, tf.eos_id = 2;
    tf.vocab_size = 11, tf.mask = with_mask ? mask : NULL;
    const char *p = tmp_path(name);
    if (ttt_tokfile_write(p, &tf) != TTT_OK) {
        test_fail("%s", ttt_last_error());
        return NULL;
    }
    return p;
}

TEST(test_synth_train_masked_mean) {
    const char *md = tiny_model("syn_train", "");
    const char *data = uneven_masked("uneven.tok", 1), *data1 = uneven_masked("uneven_v1.tok", 0);
    if (!md || !data || !data1) return TEST_FAIL;
    ttt_options mo;
    ttt_options_default(&mo);
    mo.precision = TTT_PREC_F64;
    ttt_model *m;
    EXPECT(ttt_model_load(md, &mo, &m) == TTT_OK, "%s", ttt_last_error());
    /* the oracle: the batch's 4 windows in one forward; the loss the mean over all counted
     * targets (NLL per row, summed here), the gradient that of the same mean */
    ttt_tokfile tf;
    EXPECT(ttt_tokfile_read(data, &tf) == TTT_OK, "read");
    int32_t in[4 * 16], tg[4 * 16], tg1[4 * 16];
    double nll[4 * 16];
    int32_t bos = (int32_t)ttt_model_config(m)->bos_token_id;
    for (int w = 0; w < 4; w++)
        for (int t = 0; t < 16; t++) {
            int32_t y = tf.ids[w * 17 + t + 1];
            in[w * 16 + t] = tf.ids[w * 17 + t];
            tg[w * 16 + t] = tf.mask[w * 17 + t + 1] ? y : -1;
            tg1[w * 16 + t] = y == bos ? -1 : y;
        }
    ttt_tokfile_free(&tf);
    EXPECT(ttt_forward_nll(m, in, tg, 4, 16, nll) == TTT_OK, "%s", ttt_last_error());
    double sum = 0, per_seq = 0;
    int64_t cnt = 0;
    for (int w = 0; w < 4; w++) {
        double sw = 0;
        int64_t cw = 0;
        for (int t = 0; t < 16; t++)
            if (tg[w * 16 + t] >= 0) sw += nll[w * 16 + t], cw++;
        sum += sw, cnt += cw, per_seq += sw / (double)cw / 4;
    }
    double oracle = sum / (double)cnt, loss_fb;
    EXPECT(cnt == 21, "%lld counted targets, expected 1 + 3 + 6 + 11", (long long)cnt);
    EXPECT(fabs(oracle - per_seq) > 1e-2, "the global mean %.6f and the per-sequence mean %.6f are too close to tell "
           "apart", oracle, per_seq);
    EXPECT(ttt_zero_grad(m) == TTT_OK && ttt_forward_backward(m, in, tg, 4, 16, 0, 1.0, &loss_fb) == TTT_OK, "fb");
    int64_t P = ttt_param_numel_total(m);
    float *g = malloc(sizeof(float) * (size_t)P);
    double gn = 0;
    int64_t off = 0;
    for (int64_t i = 0; i < ttt_param_count(m); i++) {
        int64_t sh[8], nel = 1;
        int nd = ttt_param_shape(m, i, sh);
        for (int k = 0; k < nd; k++) nel *= sh[k];
        ttt_grad_get(m, i, g + off);
        off += nel;
    }
    for (int64_t i = 0; i < P; i++) gn += (double)g[i] * g[i];
    gn = sqrt(gn);
    free(g);
    /* the old file: the per-sequence mean of every target but BOS, as before */
    double old_oracle = 0;
    EXPECT(ttt_forward_nll(m, in, tg1, 4, 16, nll) == TTT_OK, "nll");
    for (int w = 0; w < 4; w++) {
        double sw = 0;
        int64_t cw = 0;
        for (int t = 0; t < 16; t++)
            if (tg1[w * 16 + t] >= 0) sw += nll[w * 16 + t], cw++;
        old_oracle += sw / (double)cw / 4;
    }
    ttt_model_free(m);
    int ok = fabs(loss_fb - oracle) < 1e-12;
    if (!ok) test_fail("forward_backward's mean %.12f vs the NLL rows' %.12f", loss_fb, oracle);
    const int64_t mbs[3] = {1, 2, 4};
    for (int k = 0; k < 6; k++) {
        int masked = k < 3;
        EXPECT(ttt_model_load(md, &mo, &m) == TTT_OK, "%s", ttt_last_error());
        ttt_train_opts o;
        ttt_train_opts_default(&o);
        o.seq_len = 16, o.batch = 4, o.micro_batch = mbs[k % 3], o.steps = 1, o.no_shuffle = 1; /* not quiet: the callback is ours */
        char run[64];
        snprintf(run, sizeof run, "syn_run%d", k);
        step_rec r = {NAN, NAN};
        ttt_status s = ttt_train(m, &o, masked ? data : data1, NULL, tmp_path(run), 0, on_step, &r);
        ttt_model_free(m);
        EXPECT(s == TTT_OK, "train: %s", ttt_last_error());
        double want = masked ? oracle : old_oracle;
        printf("      %s, micro-batch %lld: loss %.10f (oracle %.10f)%s grad norm %.10f (oracle %.10f)\n",
               masked ? "masked" : "version 1", (long long)o.micro_batch, r.loss, want, masked ? "," : "",
               masked ? r.grad_norm : NAN, masked ? gn : NAN);
        if (!(fabs(r.loss - want) <= 1e-10) || (masked && !(fabs(r.grad_norm - gn) <= 1e-6 * gn))) {
            test_fail("micro-batch %lld (%s): loss %.12f grad norm %.9f; expected %.12f and %.9f",
                      (long long)o.micro_batch, masked ? "masked" : "version 1", r.loss, r.grad_norm, want, gn);
            ok = 0;
        }
    }
    return ok ? TEST_PASS : TEST_FAIL;
}

/* with MPI: 1 and 2 processes give the same bits for a masked file, and step 1's loss (over
 * all 4 windows of the file, whatever their order) is the oracle's mean */
TEST(test_synth_train_masked_mpi) {
    if (!dist_have_mpi()) return test_skip("this build has no MPI");
    if (run_cmd(NULL, "command -v mpirun") != 0) return test_skip("mpirun is not installed");
    const char *md = tiny_model("syn_mpi", "");
    const char *data = uneven_masked("uneven_mpi.tok", 1);
    if (!md || !data) return TEST_FAIL;
    const char *flags = "--steps 3 --seq-len 16 --batch 4 --micro-batch 1 --threads 1 --log-every 1 --lr 1e-2 "
                        "--warmup 1 --quiet --precision f64";
    const char *r1 = tmp_path("syn_mpi1"), *r2 = tmp_path("syn_mpi2");
    char *o1, *o2;
    EXPECT(run_cmd(&o1, "rm -rf %s && %s train --model %s --data %s --run %s %s", r1, test_ttt_bin, md, data, r1,
                   flags) == 0,
           "1 process: %s", o1);
    EXPECT(run_cmd(&o2, "rm -rf %s && mpirun --oversubscribe --allow-run-as-root --bind-to none -x "
                   "ASAN_OPTIONS=detect_leaks=0 -np 2 %s train --model %s --data %s --run %s %s",
                   r2, test_ttt_bin, md, data, r2, flags) == 0,
           "2 processes: %s", o2);
    free(o1), free(o2);
    char p1[1100], p2[1100];
    snprintf(p1, sizeof p1, "%s/metrics.jsonl", r1);
    snprintf(p2, sizeof p2, "%s/metrics.jsonl", r2);
    char *a = read_whole(p1, NULL), *b = read_whole(p2, NULL);
    EXPECT(a && b, "metrics");
    /* the loss and gradient norm of every step, up to "tokens_per_s" */
    int ok = 1, steps = 0;
    for (char *x = a, *y = b; (x = strstr(x, "{\"step\": ")) && (y = strstr(y, "{\"step\": ")); x++, y++) {
        char *ex = strstr(x, ", \"tokens_per_s\""), *ey = strstr(y, ", \"tokens_per_s\"");
        if (!ex || !ey || ex - x != ey - y || strncmp(x, y, (size_t)(ex - x)) != 0) {
            test_fail("1 and 2 processes differ: %.120s vs %.120s", x, y);
            ok = 0;
            break;
        }
        steps++;
    }
    double l1 = json_num(a, "loss");
    free(a), free(b);
    EXPECT(ok && steps == 3, "%d steps compared", steps);
    ttt_options mo;
    ttt_options_default(&mo);
    mo.precision = TTT_PREC_F64;
    ttt_model *m;
    ttt_tokfile tf;
    EXPECT(ttt_model_load(md, &mo, &m) == TTT_OK && ttt_tokfile_read(data, &tf) == TTT_OK, "load");
    int32_t in[64], tg[64];
    for (int w = 0; w < 4; w++)
        for (int t = 0; t < 16; t++)
            in[w * 16 + t] = tf.ids[w * 17 + t], tg[w * 16 + t] = tf.mask[w * 17 + t + 1] ? tf.ids[w * 17 + t + 1] : -1;
    ttt_tokfile_free(&tf);
    double loss;
    EXPECT(ttt_zero_grad(m) == TTT_OK && ttt_forward_backward(m, in, tg, 4, 16, 0, 1.0, &loss) == TTT_OK, "fb");
    ttt_model_free(m);
    EXPECT(fabs(l1 - loss) <= 2e-6, "step 1's loss %.6f, the mean over the counted targets %.6f", l1, loss);
    return TEST_PASS;
}

TEST(test_synth_refusals) {
    int ok = 1;
    const char *o = tmp_path("ref.tok");
#define BAD(needle, ...) ok &= expect_cli_error(needle, __VA_ARGS__)
    BAD("--pairs must be an integer in [1", "synth mqar --pairs 0 --seq-len 16 --vocab 64 --examples 2 --out %s", o);
    BAD("--seq-len must be a positive even number", "synth mqar --pairs 2 --seq-len 15 --vocab 64 --examples 2 --out %s", o);
    BAD("--pairs 5 needs --seq-len >= 4 x 5 = 20", "synth mqar --pairs 5 --seq-len 16 --vocab 64 --examples 2 --out %s", o);
    BAD("too few for --pairs 8 distinct keys|--vocab >= 18", "synth mqar --pairs 8 --seq-len 64 --vocab 16 --examples 2 --out %s", o);
    BAD("--vocab must be an integer in [4", "synth mqar --pairs 1 --seq-len 4 --vocab 3 --examples 2 --out %s", o);
    BAD("--vocab must be an integer", "synth mqar --pairs 1 --seq-len 4 --vocab 4294967296 --examples 2 --out %s", o);
    BAD("--examples must be an integer in [1", "synth mqar --pairs 2 --seq-len 16 --vocab 64 --examples 0 --out %s", o);
    BAD("one file holds at most", "synth mqar --pairs 2 --seq-len 16 --vocab 64 --examples 1000000000 --out %s", o);
    BAD("one file holds at most", "synth mqar --pairs 1 --seq-len 1099511627776 --vocab 64 --examples 1099511627776 --out %s", o);
    BAD("--power-a must be a finite number > 0", "synth mqar --pairs 2 --seq-len 16 --vocab 64 --examples 2 --power-a 0 --out %s", o);
    BAD("--power-a must be a finite number", "synth mqar --pairs 2 --seq-len 16 --vocab 64 --examples 2 --power-a nan --out %s", o);
    BAD("missing required flag --out", "synth mqar --pairs 2 --seq-len 16 --vocab 64 --examples 2");
    BAD("--out needs a file name", "synth mqar --pairs 2 --seq-len 16 --vocab 64 --examples 2 --out ''");
    BAD("unknown flag '--keys'", "synth mqar --keys 2 --seq-len 16 --vocab 64 --examples 2 --out %s", o);
    BAD("unknown task 'ar'", "synth ar --pairs 2");
    BAD("No such file", "synth mqar --pairs 2 --seq-len 16 --vocab 64 --examples 2 --out /nonexistent/dir/x.tok");
    /* bad files for train and eval */
    const char *m = tiny_model("syn_ref", "");
    if (!m) return TEST_FAIL;
    int32_t ids[40];
    uint8_t mask[40] = {0};
    for (int i = 0; i < 40; i++) ids[i] = 3 + i % 7;
    int64_t start = 0;
    ttt_tokfile tf = {0};
    tf.ids = ids, tf.n_tokens = 40, tf.doc_start = &start, tf.n_docs = 1, tf.bos_id = -1, tf.eos_id = -1;
    tf.vocab_size = 11, tf.mask = mask;
    const char *z = tmp_path("zero_mask.tok");
    EXPECT(ttt_tokfile_write(z, &tf) == TTT_OK, "%s", ttt_last_error());
    BAD("its loss mask counts no target in the 4 windows", "eval --model %s --data %s --context 9", m, z);
    BAD("its loss mask counts no target in its 4 windows", "train --model %s --data %s --run %s --steps 1 --seq-len 9 "
        "--batch 1 --quiet", m, z, tmp_path("zrun"));
    mask[19] = 1; /* window 1's target 8: counted in training windows of 10, not in validation window 0 */
    const char *z2 = tmp_path("val_mask.tok");
    EXPECT(ttt_tokfile_write(z2, &tf) == TTT_OK, "%s", ttt_last_error());
    BAD("counts no target in the 1 validation windows", "train --model %s --data %s --val %s --val-windows 1 --run %s "
        "--steps 1 --seq-len 9 --batch 1 --quiet", m, z2, z, tmp_path("zrun2"));
    /* a truncated version-2 file through the command */
    size_t n;
    char *b = read_whole(z2, &n);
    const char *tr = tmp_path("trunc_mask.tok");
    write_whole(tr, b, n - 1);
    free(b);
    BAD("loss mask of 5 bytes (token-file version 2)", "eval --model %s --data %s --context 9 --accuracy", m, tr);
    BAD("--json needs a file name", "eval --model %s --data %s --context 9 --json ''", m, z2);
    BAD("is a directory", "eval --model %s --data %s --context 9 --json %s", m, z2, test_tmpdir);
#undef BAD
    /* --json - prints the object on standard output */
    char *out;
    EXPECT(run_cmd(&out, "%s eval --model %s --data %s --context 9 --accuracy --json -", test_ttt_bin, m, z2) == 0 &&
               strstr(out, "{\"perplexity\": ") && strstr(out, "\"targets\": 1,") && strstr(out, "\"accuracy\": "),
           "eval --json -: %s", out);
    free(out);
    return ok ? TEST_PASS : TEST_FAIL;
}

/* The task itself (issue 20): a tiny Transformer must solve a tiny instance, so that a failure
 * of the task cannot hide behind "the model is too small". K 2, L 16, V 64; 16,000 training
 * examples (seed 1; 500 steps of 32 see each once) and 500 held-out ones (seed 2, 1000
 * answers); llama-tiny (2 layers x 64) with 2 heads of 32 (4 heads of 16 learn it later),
 * init seed 1; lr 3e-3 after a 250-step warm-up (after a 30- or 50-step warm-up to 3e-3 it
 * stalled for 600-1,500 steps near accuracy 0.5, presumably one of the example's two values
 * rather than the bound one).
 * Measured (this configuration, data/held-out/init seeds 1/2/1, 3/4/2, 5/6/3, 7/8/4, 9/10/5,
 * 11/12/6, 1/2/7, 1/2/8): held-out accuracy 0.991-0.999, loss 0.009-0.032; the untrained model
 * 0.000, loss 4.18-4.22 (ln 64 = 4.16). The same numbers for 1 and 2 threads and in both builds;
 * one thread here because 2 threads of such small products slow down 5-15 times when the
 * cores are shared (about 4 s of training in the release build, 15 s under the sanitizers). */
TEST(test_synth_mqar_solved) {
    const char *tr = tmp_path("mqs_train.tok"), *te = tmp_path("mqs_test.tok"), *m0 = tmp_path("mqs_init"),
               *run = tmp_path("mqs_run"), *j0 = tmp_path("mqs_init.json"), *j1 = tmp_path("mqs_trained.json");
    const char *task = "--pairs 2 --seq-len 16 --vocab 64";
    char *out = NULL;
    EXPECT(run_cmd(&out, "%s synth mqar %s --examples 16000 --seed 1 --out %s && %s synth mqar %s --examples 500 "
                   "--seed 2 --out %s", test_ttt_bin, task, tr, test_ttt_bin, task, te) == 0,
           "synth: %s", out);
    free(out);
    EXPECT(run_cmd(&out, "rm -rf %s %s && %s init --preset llama-tiny --vocab 64 --heads 2 --kv-heads 2 --seed 1 "
                   "--out %s", m0, run, test_ttt_bin, m0) == 0,
           "init: %s", out);
    free(out);
    /* the control: the untrained model on the held-out set */
    EXPECT(run_cmd(&out, "%s eval --model %s --data %s --context 16 --accuracy --json %s --threads 1", test_ttt_bin,
                   m0, te, j0) == 0,
           "eval of the untrained model: %s", out);
    free(out);
    EXPECT(run_cmd(&out, "%s train --model %s --data %s --run %s --steps 500 --warmup 250 --seq-len 16 --batch 32 "
                   "--lr 3e-3 --seed 1 --threads 1 --quiet", test_ttt_bin, m0, tr, run) == 0,
           "train: %s", out);
    free(out);
    char model[1100];
    snprintf(model, sizeof model, "%s/model", run);
    EXPECT(run_cmd(&out, "%s eval --model %s --data %s --context 16 --accuracy --json %s --threads 1", test_ttt_bin,
                   model, te, j1) == 0,
           "eval of the trained model: %s", out);
    free(out);
    char *a = read_whole(j0, NULL), *b = read_whole(j1, NULL);
    double acc0 = json_num(a, "accuracy"), loss0 = json_num(a, "mean_loss"), acc = json_num(b, "accuracy"),
           loss = json_num(b, "mean_loss"), n0 = json_num(a, "targets"), n = json_num(b, "targets");
    free(a), free(b);
    /* the training's last logged step, for a failure message */
    snprintf(model, sizeof model, "%s/metrics.jsonl", run);
    char *mj = read_whole(model, NULL), *last = mj;
    for (char *p = mj; p && (p = strstr(p, "{\"step\": ")); p++) last = p;
    if (last) last[strcspn(last, "\n")] = 0;
    printf("      held-out MQAR (K 2, L 16, V 64; 1000 answers): untrained accuracy %.4f (loss %.4f), after 500 "
           "steps %.4f (loss %.4f)\n", acc0, loss0, acc, loss);
    int ok = 1;
    if (!(n0 == 1000 && n == 1000)) test_fail("the held-out set counts %g and %g targets, expected 1000", n0, n), ok = 0;
    if (!(acc0 < 0.2))
        test_fail("the untrained model answers %.4f of the held-out set (loss %.4f): the check could not fail", acc0,
                  loss0), ok = 0;
    if (!(acc >= 0.95))
        test_fail("a tiny Transformer did not solve tiny MQAR: held-out accuracy %.4f, loss %.4f (untrained %.4f, "
                  "%.4f); last logged step: %s", acc, loss, acc0, loss0, last ? last : "(no metrics)"), ok = 0;
    free(mj);
    return ok ? TEST_PASS : TEST_FAIL;
}
