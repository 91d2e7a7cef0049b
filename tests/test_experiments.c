/* test_experiments.c: smoke versions of every study of experiments/ (tiny models, a few
 * steps) so the runner cannot rot: metrics and charts are written, an interrupted sitting
 * resumes from its checkpoint in the next, and rerunning a finished study repeats no
 * training. Needs the Llama-2 token files (make data; skipped without). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "test.h"

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

TEST(test_experiments_smoke) {
    if (!exists("data/tokens/llama2/train.tok") || !exists("data/tokens/llama2/long_persuasion.tok"))
        return test_skip("data/tokens/llama2 is absent (make data && ttt data --tokenizer data/tok/llama2)");
    const char *dir = tmp_path("studies");
    const char *studies[] = {"short_context", "long_context", "ablations", "diagnostics"};
    const char *charts[] = {"training_curves.png", "loss_by_position.png", "training_curves.png",
                            "ttt_inner_losses.png"};
    char *out;
    for (int i = 0; i < 4; i++) {
        EXPECT(run_cmd(&out, "TTT=%s experiments/%s.sh --smoke %s", test_ttt_bin, studies[i], dir) == 0, "%s: %s",
               studies[i], out);
        free(out);
        char p[1200];
        snprintf(p, sizeof p, "%s/results/%s/metrics.csv", dir, studies[i]);
        EXPECT(exists(p), "%s: no metrics.csv", studies[i]);
        snprintf(p, sizeof p, "%s/results/%s/metrics.json", dir, studies[i]);
        EXPECT(exists(p), "%s: no metrics.json", studies[i]);
        snprintf(p, sizeof p, "%s/results/%s/%s", dir, studies[i], charts[i]);
        EXPECT(exists(p), "%s: no %s", studies[i], charts[i]);
    }
    char rp[1200];
    snprintf(rp, sizeof rp, "%s/results/long_context/loss_by_position_ranges.csv", dir);
    EXPECT(exists(rp), "long_context: no loss_by_position_ranges.csv");
    /* an interrupted sitting (training stopped after 2 of 3 steps) resumes in the next one */
    const char *dir2 = tmp_path("studies-resume");
    EXPECT(run_cmd(&out, "TTT_STUDY_STOP_AFTER=2 TTT=%s experiments/short_context.sh --smoke %s", test_ttt_bin,
                   dir2) == 0, "%s", out);
    EXPECT(strstr(out, "stopped at step 2 of 3") != NULL, "no interrupted sitting: %s", out);
    free(out);
    EXPECT(run_cmd(&out, "TTT=%s experiments/short_context.sh --smoke %s", test_ttt_bin, dir2) == 0, "%s", out);
    EXPECT(strstr(out, "resuming at step 2 of 3") != NULL, "the second sitting did not resume: %s", out);
    free(out);
    char mp[1200];
    snprintf(mp, sizeof mp, "%s/results/short_context/metrics.csv", dir2);
    EXPECT(run_cmd(&out, "awk -F, 'NR > 1 && $4 == 3' %s | wc -l", mp) == 0 && atoi(out) == 4,
           "not every model reached step 3 (%s): %s", mp, out);
    free(out);
    /* a finished study only redraws */
    EXPECT(run_cmd(&out, "TTT=%s experiments/short_context.sh --smoke %s", test_ttt_bin, dir) == 0, "%s", out);
    EXPECT(!strstr(out, "training ") && strstr(out, "trained") && strstr(out, "evaluated"),
           "the rerun trained or evaluated again: %s", out);
    free(out);
    /* --redraw: the tables and charts again from the results directory alone (no runs, no
     * binary), as a clean checkout does from the committed files */
    for (int i = 0; i < 4; i++) {
        EXPECT(run_cmd(&out, "cd %s/results/%s && cp metrics.csv metrics.csv.before && rm -f %s", dir, studies[i],
                       charts[i]) == 0, "%s", out);
        free(out);
    }
    EXPECT(run_cmd(&out, "rm -rf %s/runs", dir) == 0, "%s", out);
    free(out);
    for (int i = 0; i < 4; i++) {
        EXPECT(run_cmd(&out, "TTT=/nonexistent experiments/%s.sh --smoke %s --redraw", studies[i], dir) == 0,
               "%s --redraw: %s", studies[i], out);
        EXPECT(!strstr(out, "training ") && !strstr(out, "evaluating") && !strstr(out, "diagnostics on"),
               "%s --redraw ran a model: %s", studies[i], out);
        free(out);
        char p[1200];
        snprintf(p, sizeof p, "%s/results/%s/%s", dir, studies[i], charts[i]);
        EXPECT(exists(p), "%s --redraw: no %s", studies[i], charts[i]);
        EXPECT(run_cmd(&out, "cd %s/results/%s && cmp metrics.csv metrics.csv.before", dir, studies[i]) == 0,
               "%s --redraw changed metrics.csv: %s", studies[i], out);
        free(out);
    }
    return TEST_PASS;
}
