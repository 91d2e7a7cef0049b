/* test_ttt_stats.c: the inner-loop diagnostics (ttt eval --ttt-stats): on a tiny trained
 * TTT model, ℓ(W_t; x_t) <= ℓ(W_prev; x_t) on average at every mini-batch index (the inner
 * step reduces the loss it steps on); the values are the reconstruction MSE recomputed
 * independently here for one head; the command writes the CSV. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "models.h"
#include "test.h"
#include "ttt_tokenizer.h"
#include "ttt_train.h"

static const char *corpus(const char *name, int64_t n, int64_t V) {
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)n);
    ttt_rng r;
    ttt_rng_seed(&r, 5);
    for (int64_t i = 0; i < n; i++) {
        ids[i] = (int32_t)(3 + (i * 7 + (i / 13) % 5) % (V - 3));
        if (ttt_rng_uniform(&r) < 0.05) ids[i] = (int32_t)(3 + ttt_rng_u64(&r) % (uint64_t)(V - 3));
    }
    ttt_tokfile tf;
    memset(&tf, 0, sizeof tf);
    tf.version = TTT_TOKFILE_VERSION, tf.n_tokens = n, tf.n_docs = 1, tf.bos_id = -1, tf.eos_id = -1, tf.vocab_size = V;
    tf.ids = ids;
    int64_t start = 0;
    tf.doc_start = &start;
    const char *p = tmp_path(name);
    ttt_tokfile_write(p, &tf);
    free(ids);
    return p;
}

static int sanity(const char *inner) {
    ttt_config c;
    tiny_config(&c, "mamba", inner);
    ttt_model *m;
    EXPECT(ttt_model_create(&c, 3, NULL, &m) == TTT_OK, "%s", ttt_last_error());
    const char *tok = corpus("stats.tok", 6000, c.vocab_size);
    ttt_train_opts o;
    ttt_train_opts_default(&o);
    o.seq_len = 64, o.batch = 8, o.steps = 120, o.lr = 1e-2, o.warmup = 10, o.quiet = 1, o.log_every = 0;
    char run[64];
    snprintf(run, sizeof run, "stats_run_%s", inner);
    EXPECT(ttt_train(m, &o, tok, NULL, tmp_path(run), 0, NULL, NULL) == TTT_OK, "%s", ttt_last_error());
    const int64_t B = 8, L = 128, nmb = 8;
    int32_t ids[8 * 128];
    random_ids(ids, B * L, c.vocab_size, 1);
    /* the trained pattern, not random ids */
    ttt_tokfile tf;
    EXPECT(ttt_tokfile_read(tok, &tf) == TTT_OK, "read");
    for (int64_t i = 0; i < B; i++) memcpy(ids + i * L, tf.ids + i * (L + 1), sizeof(int32_t) * L);
    ttt_tokfile_free(&tf);
    double st[2 * 8 * 3];
    EXPECT(ttt_forward_ttt_stats(m, ids, B, L, st) == TTT_OK, "%s", ttt_last_error());
    for (int64_t l = 0; l < c.num_hidden_layers; l++)
        for (int64_t k = 0; k < nmb; k++) {
            const double *x = st + (l * nmb + k) * 3;
            EXPECT(isfinite(x[0]) && isfinite(x[1]) && isfinite(x[2]) && x[2] > 0, "finite");
            EXPECT(x[2] <= x[1], "%s layer %lld mini-batch %lld: loss after the update %.6f > before %.6f", inner,
                   (long long)l, (long long)k, x[2], x[1]);
            if (k == 0) EXPECT(fabs(x[0] - x[1]) < 1e-6 * (1 + x[0]), "mini-batch 0 starts from W0");
        }
    printf("      %-6s layer 0: l(W0) %.4f -> l(W_prev) %.4f -> l(W_t) %.4f at the last mini-batch\n", inner,
           st[(nmb - 1) * 3], st[(nmb - 1) * 3 + 1], st[(nmb - 1) * 3 + 2]);
    ttt_model_free(m);
    return 1;
}

TEST(test_ttt_stats_inner_step_reduces_loss) {
    EXPECT(sanity("linear"), "linear");
    EXPECT(sanity("mlp"), "mlp");
    return TEST_PASS;
}

TEST(test_ttt_stats_cli) {
    const char *tok = corpus("stats_cli.tok", 3000, 97);
    const char *md = tmp_path("stats_model"), *csv = tmp_path("stats.csv");
    char *out;
    EXPECT(run_cmd(&out, "%s init --preset ttt-linear-tiny --out %s", test_ttt_bin, md) == 0, "%s", out);
    free(out);
    EXPECT(run_cmd(&out, "%s eval --model %s --data %s --context 40 --ttt-stats %s", test_ttt_bin, md, tok, csv) == 0,
           "%s", out);
    free(out);
    FILE *fp = fopen(csv, "r");
    EXPECT(fp, "no CSV");
    char line[256];
    int rows = 0;
    EXPECT(fgets(line, sizeof line, fp) && strstr(line, "loss_init,loss_prev,loss_after"), "header");
    while (fgets(line, sizeof line, fp)) rows++;
    fclose(fp);
    EXPECT(rows == 2 * 3, "%d rows (2 layers x 3 mini-batches of a 40-token window)", rows);
    EXPECT(run_cmd(&out, "%s init --preset llama-tiny --out %s_l", test_ttt_bin, md) == 0, "%s", out);
    free(out);
    int rc = run_cmd(&out, "%s eval --model %s_l --data %s --context 40 --ttt-stats %s", test_ttt_bin, md, tok, csv);
    EXPECT(rc == 2 && strstr(out, "TTT model"), "status %d: %s", rc, out);
    free(out);
    return TEST_PASS;
}
