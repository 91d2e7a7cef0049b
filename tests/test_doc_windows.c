/* test_doc_windows.c: `ttt train --doc-windows`, the training windows inside documents. The
 * window table of data_doc_windows against starts worked out by hand; training with it equals
 * training on the stream where every document is a whole number of windows (the same windows
 * in the same order, bit for bit) and differs where documents are cut; a resume must keep the
 * setting; a file where no document holds a window is refused with the longest document's
 * length. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"
#include "test.h"
#include "ttt_tokenizer.h"

/* a token file of documents of the given lengths: each starts with BOS (1), then ids 3.. */
static const char *doc_file(const char *name, const int64_t *lens, int64_t n_docs) {
    int64_t n = 0;
    for (int64_t d = 0; d < n_docs; d++) n += lens[d];
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)n);
    int64_t *starts = malloc(sizeof(int64_t) * (size_t)n_docs);
    int64_t at = 0;
    for (int64_t d = 0; d < n_docs; d++) {
        starts[d] = at;
        for (int64_t i = 0; i < lens[d]; i++, at++) ids[at] = i == 0 ? 1 : (int32_t)(3 + (at * 5 + d) % 8);
    }
    ttt_tokfile tf;
    memset(&tf, 0, sizeof tf);
    tf.version = TTT_TOKFILE_VERSION, tf.n_tokens = n, tf.n_docs = n_docs, tf.bos_id = 1, tf.eos_id = 2;
    tf.vocab_size = 11, tf.ids = ids, tf.doc_start = starts;
    const char *p = tmp_path(name);
    int ok = ttt_tokfile_write(p, &tf) == TTT_OK;
    if (!ok) test_fail("writing %s: %s", p, ttt_last_error());
    free(ids), free(starts);
    return ok ? p : NULL;
}

TEST(test_doc_windows_table) {
    /* documents of 5, 20, 9 and 33 tokens, windows of L+1 = 8: none in the first, 2 in the
     * second (5, 13), 1 in the third (25), 4 in the fourth (34, 42, 50, 58) */
    const int64_t want[7] = {5, 13, 25, 34, 42, 50, 58};
    int64_t starts[4] = {0, 5, 25, 34};
    ttt_tokfile tf;
    memset(&tf, 0, sizeof tf);
    tf.n_tokens = 67, tf.n_docs = 4, tf.doc_start = starts;
    int64_t *w = NULL, n = 0, longest = 0;
    EXPECT(data_doc_windows(&tf, 7, &w, &n, &longest) == TTT_OK, "%s", ttt_last_error());
    int ok = n == 7 && longest == 33;
    for (int64_t i = 0; ok && i < 7; i++) ok = w[i] == want[i];
    if (!ok) {
        test_fail("L 7: %lld windows (longest document %lld), expected 7 (33):", (long long)n, (long long)longest);
        for (int64_t i = 0; i < n; i++) printf("        window %lld starts at %lld (expected %lld)\n", (long long)i,
                                               (long long)w[i], i < 7 ? (long long)want[i] : -1LL);
    }
    free(w);
    if (!ok) return TEST_FAIL;
    /* L + 1 = 33: only the last document (33 tokens) holds one, at 34; L + 1 = 34 and 40: none */
    EXPECT(data_doc_windows(&tf, 32, &w, &n, &longest) == TTT_OK && n == 1 && w[0] == 34, "L 32: %lld windows",
           (long long)n);
    free(w);
    EXPECT(data_doc_windows(&tf, 33, &w, &n, &longest) == TTT_OK && n == 0, "L 33: %lld windows, expected none",
           (long long)n);
    free(w);
    EXPECT(data_doc_windows(&tf, 39, &w, &n, &longest) == TTT_OK && n == 0 && !w && longest == 33,
           "L 39: %lld windows, expected none", (long long)n);
    /* no document table */
    tf.n_docs = 0, tf.doc_start = NULL;
    EXPECT(data_doc_windows(&tf, 7, &w, &n, &longest) == TTT_ERR_ARG, "a file without a document table is refused");
    EXPECT(strstr(ttt_last_error(), "document table") != NULL, "message: %s", ttt_last_error());
    return TEST_PASS;
}

static int train(char **out, const char *data, const char *run, const char *extra) {
    return run_cmd(out, "rm -rf %s && %s train --preset ttt-linear-tiny --layers 1 --width 8 --heads 2 --intermediate 8 "
                   "--data %s --run %s --steps 4 --seq-len 7 --batch 2 --lr 1e-2 --seed 3 --init-seed 2 --threads 1 "
                   "--quiet %s", run, test_ttt_bin, data, run, extra);
}

/* train on F from the stream into R1 and with --doc-windows EXTRA into R2; 1 if both ran */
static int train_both(const char *f, const char *r1, const char *r2, const char *extra) {
    char *out = NULL, fl[200];
    int ok = train(&out, f, r1, "") == 0;
    if (!ok) test_fail("train: %s", out);
    free(out);
    snprintf(fl, sizeof fl, "--doc-windows %s", extra);
    out = NULL;
    if (ok && !(ok = train(&out, f, r2, fl) == 0)) test_fail("train --doc-windows: %s", out);
    free(out);
    return ok;
}

static int same_file(const char *a, const char *b) {
    size_t la = 0, lb = 0;
    char *x = read_whole(a, &la), *y = read_whole(b, &lb);
    int same = x && y && la == lb && memcmp(x, y, la) == 0;
    free(x), free(y);
    return same;
}

TEST(test_train_doc_windows) {
    char *out = NULL, a[700], b[700];
    /* every document a whole number of windows of 8: the same windows as the stream */
    const int64_t whole[4] = {16, 8, 24, 16};
    const char *f = doc_file("dw_whole.tok", whole, 4);
    const char *r1 = tmp_path("dw_run_stream"), *r2 = tmp_path("dw_run_docs");
    if (!f || !train_both(f, r1, r2, "")) return TEST_FAIL;
    snprintf(a, sizeof a, "%s/model/model.safetensors", r1);
    snprintf(b, sizeof b, "%s/model/model.safetensors", r2);
    EXPECT(same_file(a, b), "documents of whole windows: --doc-windows trains other weights than the stream");
    /* cut documents: 7 windows per epoch (not the stream's 8), recorded in the metrics, and other weights */
    const int64_t cut[4] = {5, 20, 9, 33};
    f = doc_file("dw_cut.tok", cut, 4);
    if (!f || !train_both(f, r1, r2, "--ckpt-every 2")) return TEST_FAIL;
    snprintf(a, sizeof a, "%s/metrics.jsonl", r2);
    char *m = read_whole(a, NULL);
    int counted = m && strstr(m, "\"windows\": \"documents\", \"windows_per_epoch\": 7");
    free(m);
    EXPECT(counted, "the metrics' start event does not say 7 windows inside documents");
    snprintf(a, sizeof a, "%s/metrics.jsonl", r1);
    m = read_whole(a, NULL);
    counted = m && strstr(m, "\"windows\": \"stream\", \"windows_per_epoch\": 8");
    free(m);
    EXPECT(counted, "the metrics' start event does not say 8 windows of the stream");
    snprintf(a, sizeof a, "%s/model/model.safetensors", r1);
    snprintf(b, sizeof b, "%s/model/model.safetensors", r2);
    EXPECT(!same_file(a, b), "cut documents: --doc-windows trained the same weights as the stream");
    /* the oracle: a stream made of exactly those 7 windows (5, 13, 25, 34, 42, 50, 58, copied
     * from the file) trains the same weights as --doc-windows on the cut documents */
    ttt_tokfile x, y;
    EXPECT(ttt_tokfile_read(f, &x) == TTT_OK, "%s", ttt_last_error());
    const int64_t at[7] = {5, 13, 25, 34, 42, 50, 58};
    int32_t ids[56];
    for (int k = 0; k < 7; k++) memcpy(ids + 8 * k, x.ids + at[k], 8 * sizeof(int32_t));
    int64_t zero = 0;
    y = x, y.n_tokens = 56, y.n_docs = 1, y.ids = ids, y.doc_start = &zero, y.mask = NULL;
    const char *g = tmp_path("dw_windows.tok");
    int wrote = ttt_tokfile_write(g, &y) == TTT_OK;
    ttt_tokfile_free(&x);
    EXPECT(wrote, "%s: %s", g, ttt_last_error());
    const char *r3 = tmp_path("dw_run_oracle");
    EXPECT(train(&out, g, r3, "--ckpt-every 2") == 0, "train on the windows' stream: %s", out);
    free(out);
    snprintf(a, sizeof a, "%s/model/model.safetensors", r3);
    EXPECT(same_file(a, b), "--doc-windows on the cut documents trains other weights than the stream of its 7 windows");
    /* a resume must keep the setting */
    int ok = expect_cli_error("--doc-windows|windows", "train --run %s --resume --data %s --steps 6 --seq-len 7 --batch 2 "
                              "--lr 1e-2 --seed 3 --threads 1 --quiet", r2, f);
    /* no document holds a window of 41 */
    ok &= expect_cli_error("no document holds a window of L+1 = 41|longest of its 4 documents has 33",
                           "train --preset ttt-linear-tiny --layers 1 --width 8 --heads 2 --intermediate 8 --data %s "
                           "--run %s --steps 2 --seq-len 40 --batch 1 --doc-windows --quiet", f,
                           tmp_path("dw_run_none"));
    return ok ? TEST_PASS : TEST_FAIL;
}
