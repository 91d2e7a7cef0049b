/* test_bench_model.c: `ttt bench --model DIR` measures the model of a directory (here a tiny
 * TTT-Linear and a tiny Llama, the latter from sharded BF16 weights made by ttt convert): its
 * rows, named after the directory, in the table and the CSV, with the model's own parameter
 * count behind the decode fraction; a bad directory or a clash with the preset flags is a
 * clear error before anything is measured. Speed itself is not tested. */
#include <stdlib.h>
#include <string.h>

#include "test.h"

/* the rows of bench.csv in DIR for model NAME: every measure present, times and throughput
 * positive, fractions in (0, 10) */
static int check_rows(const char *dir, const char *name, const char *const *want, int nwant) {
    char p[1200];
    snprintf(p, sizeof p, "%s/bench.csv", dir);
    char *csv = read_whole(p, NULL);
    EXPECT(csv, "no %s", p);
    int ok = 1, rows = 0;
    for (int i = 0; i < nwant; i++) {
        char row[128];
        snprintf(row, sizeof row, "\n%s,%s", name, want[i]);
        if (!strstr(csv, row)) {
            test_fail("no row %s,%s in %s", name, want[i], csv);
            ok = 0;
        }
    }
    for (char *line = strchr(csv, '\n'); ok && line && line[1]; line = strchr(line + 1, '\n')) {
        char model[64], measure[64];
        long long B, T;
        double med, lo, hi, tps, frac;
        int n = sscanf(line + 1, "%63[^,],%63[^,],%lld,%lld,%lf,%lf,%lf,%lf,%lf", model, measure, &B, &T, &med, &lo, &hi,
                       &tps, &frac);
        if (n != 9 || strcmp(model, name) != 0 || !(med > 0 && lo <= med && med <= hi && tps > 0 && frac > 0 && frac < 10)) {
            test_fail("bad row: %.160s", line + 1);
            ok = 0;
        }
        rows++;
    }
    free(csv);
    EXPECT(rows >= nwant, "only %d rows", rows);
    return ok;
}

TEST(test_bench_model_dir) {
    const char *m = tiny_model("bench_model_ttt", "");
    EXPECT(m, "tiny model");
    const char *out = tmp_path("bench_model_out");
    char *log = NULL;
    int rc = run_cmd(&log, "%s bench --model %s/ --quick --contexts 16,32 --reps 1 --decode-steps 2 --batch 2 --train-context 16 "
                     "--threads 1 --out %s", test_ttt_bin, m, out);
    EXPECT(rc == 0, "bench --model exited with %d: %s", rc, log);
    EXPECT(strstr(log, "bench_model_ttt  prefill") || strstr(log, "bench_model_ttt prefill"), "no table row: %s", log);
    free(log);
    const char *want[] = {"prefill,1,16,", "decode,1,32,", "prefill,2,32,", "train,1,16,", "train,2,16,",
                          "prefill-bf16,1,32,", "decode-bf16,1,32,", "train-bf16,1,16,"};
    int ok = check_rows(out, "bench_model_ttt", want, 8);

    /* a Llama as BF16 shards (ttt convert): loaded like any model directory; the default
     * contexts stop at its max_position_embeddings (the tiny preset's, set small here) */
    const char *src = tmp_path("bench_model_llama_src"), *sh = tmp_path("bench_model_llama");
    rc = run_cmd(&log, "rm -rf %s %s && %s init --preset llama-tiny --max-position 100 --out %s && %s convert --model %s "
                 "--out %s --dtype bf16 --shard-size 20KB", src, sh, test_ttt_bin, src, test_ttt_bin, src, sh);
    EXPECT(rc == 0, "setup: %s", log);
    free(log);
    const char *out2 = tmp_path("bench_model_out2");
    rc = run_cmd(&log, "%s bench --model %s --quick --reps 1 --decode-steps 2 --skip train,bf16 --threads 1 --out %s",
                 test_ttt_bin, sh, out2);
    EXPECT(rc == 0, "bench --model (sharded llama) exited with %d: %s", rc, log);
    free(log);
    const char *want2[] = {"prefill,1,", "decode,1,"};
    ok &= check_rows(out2, "bench_model_llama", want2, 2);
    return ok ? TEST_PASS : TEST_FAIL;
}

TEST(test_bench_model_bad) {
    const char *out = tmp_path("bench_model_bad");
    int ok = expect_cli_error("missing-model|config.json", "bench --model %s/missing-model --out %s", test_tmpdir, out);
    ok &= expect_cli_error("config.json", "bench --model %s --out %s", test_tmpdir, out);
    const char *m = tiny_model("bench_model_bad_m", "");
    EXPECT(m, "tiny model");
    ok &= expect_cli_error("--models|--model", "bench --model %s --models llama --out %s", m, out);
    ok &= expect_cli_error("--size|--model", "bench --model %s --size 1.3b --out %s", m, out);
    /* nothing was measured or written for the refused runs */
    char p[1200];
    snprintf(p, sizeof p, "%s/bench.csv", out);
    char *csv = read_whole(p, NULL);
    EXPECT(!csv, "a refused bench wrote %s", p);
    return ok ? TEST_PASS : TEST_FAIL;
}
