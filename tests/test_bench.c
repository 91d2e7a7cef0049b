/* test_bench.c: `ttt bench` runs end to end on tiny models (--quick) and writes its table, CSV
 * and JSON with every measure, the bf16 rows with their speed-up over float32; bad flags get a
 * clear error. Speed itself is not tested. */
#include <stdlib.h>
#include <string.h>

#include "test.h"

TEST(test_bench_quick) {
    const char *dir = tmp_path("bench");
    char *out;
    int rc = run_cmd(&out, "%s bench --quick --models ttt-linear,llama --contexts 32,64 --reps 1 --decode-steps 2 "
                     "--batch 2 --out %s", test_ttt_bin, dir);
    EXPECT(rc == 0, "ttt bench --quick exited with %d: %s", rc, out);
    EXPECT(strstr(out, "ceilings: fp32 FMA") && strstr(out, "stream triad"), "no ceilings line: %s", out);
    free(out);
    char p[1200];
    snprintf(p, sizeof p, "%s/bench.csv", dir);
    char *csv = read_whole(p, NULL);
    EXPECT(csv != NULL, "no %s", p);
    /* every model has prefill and decode rows at both contexts and batch sizes, and a train row */
    const char *want[] = {"ttt-linear,prefill,1,32,", "ttt-linear,decode,1,64,", "ttt-linear,prefill,2,64,",
                          "ttt-linear,decode,2,32,", "ttt-linear,train,1,", "ttt-linear,train,2,",
                          "llama,prefill,1,64,", "llama,decode,2,64,", "llama,train,2,"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) EXPECT(strstr(csv, want[i]), "no row %s in %s", want[i], csv);
    /* every row: positive time and throughput, a fraction in (0, 10) */
    int rows = 0;
    for (char *line = strchr(csv, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
        char model[64], measure[64];
        long long B, T;
        double med, lo, hi, tps, frac;
        int n = sscanf(line + 1, "%63[^,],%63[^,],%lld,%lld,%lf,%lf,%lf,%lf,%lf", model, measure, &B, &T, &med, &lo, &hi,
                       &tps, &frac);
        EXPECT(n == 9, "bad CSV row: %.80s", line + 1);
        EXPECT(med > 0 && lo <= med && med <= hi && tps > 0 && frac > 0 && frac < 10, "implausible row: %.120s",
               line + 1);
        rows++;
    }
    EXPECT(rows >= 18, "only %d rows", rows);
    /* the bf16 rows (prefill, decode, a mixed-precision training step) end with their speed-up
     * over the float32 row of the same shape; the float32 rows leave that column empty */
    EXPECT(strstr(csv, ",fraction_of,speedup_vs_fp32\n"), "no speed-up column in the header: %.200s", csv);
    const char *bf[] = {"ttt-linear,prefill-bf16,1,64,", "ttt-linear,decode-bf16,1,64,", "ttt-linear,train-bf16,1,",
                        "llama,train-bf16,1,"};
    for (size_t i = 0; i < sizeof bf / sizeof bf[0]; i++) {
        const char *r = strstr(csv, bf[i]), *e = r ? strchr(r, '\n') : NULL, *c = e ? e : r;
        while (r && c > r && c[-1] != ',') c--;
        EXPECT(r && e && atof(c) > 0, "bf16 row %s without a positive speed-up: %.160s", bf[i], r ? r : csv);
    }
    const char *f = strstr(csv, "ttt-linear,train,1,"), *fe = f ? strchr(f, '\n') : NULL;
    EXPECT(f && fe && fe[-1] == ',', "a float32 row has a speed-up: %.160s", f ? f : csv);
    free(csv);
    snprintf(p, sizeof p, "%s/bench.json", dir);
    char *json = read_whole(p, NULL);
    EXPECT(json && strstr(json, "\"ceilings\"") && strstr(json, "\"commit\"") && strstr(json, "\"peak_memory_mib\""),
           "bench.json incomplete");
    free(json);
    return TEST_PASS;
}

TEST(test_bench_bad_flags) {
    int ok = expect_cli_error("--size|125m", "bench --size 7b --out %s", tmp_path("bench_bad"));
    ok &= expect_cli_error("--contexts", "bench --contexts 512,x --out %s", tmp_path("bench_bad"));
    ok &= expect_cli_error("--reps", "bench --reps 0 --out %s", tmp_path("bench_bad"));
    return ok ? TEST_PASS : TEST_FAIL;
}
