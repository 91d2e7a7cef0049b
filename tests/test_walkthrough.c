/* test_walkthrough.c: scripts/hf-walkthrough.sh (the README's walk-through of a Hugging Face
 * model directory) in its quick mode, with the suite's ttt binary, in the scratch directory: a
 * tiny Llama and a tiny Mamba made in the hub's layout, then info, generate, tokenize, eval,
 * train --model, eval of the checkpoint, convert and bench --model on each. Asserted against
 * what the numbers must be independently of the tool's own report:
 *   - the hub directory is sharded as convert's index says (no model.safetensors; the index's
 *     weight_map names the two shards, which exist), and info reports that many tensors, all BF16;
 *   - a freshly initialised model (weights N(0, 0.02^2)) predicts almost uniformly, so its eval
 *     loss is ln(vocab) within 0.1 (Llama 32000, Mamba 50280);
 *   - each eval line's perplexity is exp(its mean loss) (relative 1e-6);
 *   - fine-tuning lowers the loss on the training data by at least 0.1 and on the held-out
 *     text by at least 0.05 (measured: 0.47 / 0.37 for Llama, 0.29 / 0.18 for Mamba);
 *   - generate made tokens, bench.csv holds prefill, decode and train rows of the model;
 *   - nothing appears beside the directory given; a non-empty directory that is not a
 *     walk-through's is refused and left as it was. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "test.h"

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* "perplexity P  (mean loss X over ..." of an eval output file: both numbers; 0 when absent */
static int eval_numbers(const char *path, double *ppl, double *loss) {
    char *s = read_whole(path, NULL);
    if (!s) return 0;
    const char *p = strstr(s, "perplexity ");
    int ok = p && sscanf(p, "perplexity %lf  (mean loss %lf over", ppl, loss) == 2;
    free(s);
    return ok;
}

/* the entries of directory DIR, one per line, sorted (malloc'd) */
static char *listing(const char *dir) {
    char *out = NULL;
    if (run_cmd(&out, "ls -A '%s' | sort", dir) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

/* the checks of one model NAME (llama, mamba) of walk-through directory W */
static int check_model(const char *w, const char *out, const char *name, double vocab) {
    char p[1400], q[1400];
    int ok = 1;
    /* the hub layout: shards + index, no single file */
    snprintf(p, sizeof p, "%s/hub/%s/model.safetensors", w, name);
    EXPECT(!exists(p), "%s: a model.safetensors in the hub directory", name);
    snprintf(p, sizeof p, "%s/hub/%s/model.safetensors.index.json", w, name);
    char *idx = read_whole(p, NULL);
    EXPECT(idx, "%s: no %s", name, p);
    int mapped = 0, in1 = 0, in2 = 0;
    for (const char *s = strstr(idx, "\"weight_map\""); s && (s = strstr(s, ": \"model-0000")); s++) {
        mapped++;
        in1 += strncmp(s, ": \"model-00001-of-00002.safetensors\"", 36) == 0;
        in2 += strncmp(s, ": \"model-00002-of-00002.safetensors\"", 36) == 0;
    }
    free(idx);
    EXPECT(mapped > 0 && in1 > 0 && in2 > 0 && in1 + in2 == mapped, "%s: index maps %d tensors (%d, %d in the shards)", name,
           mapped, in1, in2);
    for (int k = 1; k <= 2; k++) {
        snprintf(q, sizeof q, "%s/hub/%s/model-0000%d-of-00002.safetensors", w, name, k);
        EXPECT(exists(q), "%s: no %s", name, q);
    }
    /* info on the hub directory: that many tensors, all BF16 */
    snprintf(p, sizeof p, "weights:      model.safetensors.index.json + 2 shards (model-00001-of-00002.safetensors .. "
             "model-00002-of-00002.safetensors), %d tensors: %d BF16, ", mapped, mapped);
    snprintf(q, sizeof q, "$ ttt info --model hub/%s\n", name);
    const char *info = strstr(out, q);
    EXPECT(info && strstr(info, p), "%s: info does not show '%s'", name, p);
    /* eval before and after fine-tuning */
    static const char *const which[] = {"eval-before", "evaltrain-before", "eval-after", "evaltrain-after"};
    double ppl[4], loss[4];
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s-%s.txt", w, name, which[i]);
        EXPECT(eval_numbers(p, &ppl[i], &loss[i]), "%s: no eval line in %s", name, p);
        if (!(isfinite(loss[i]) && loss[i] > 0 && fabs(ppl[i] - exp(loss[i])) <= 1e-6 * exp(loss[i]))) {
            test_fail("%s %s: perplexity %.6f, mean loss %.6f (exp: %.6f)", name, which[i], ppl[i], loss[i], exp(loss[i]));
            ok = 0;
        }
    }
    for (int i = 0; i < 2; i++)
        if (fabs(loss[i] - log(vocab)) > 0.1) {
            test_fail("%s %s: fresh model's loss %.6f, ln(%g) = %.6f", name, which[i], loss[i], vocab, log(vocab));
            ok = 0;
        }
    if (!(loss[3] < loss[1] - 0.1 && loss[2] < loss[0] - 0.05)) {
        test_fail("%s: fine-tuning: training-data loss %.6f -> %.6f, held-out %.6f -> %.6f", name, loss[1], loss[3], loss[0],
                  loss[2]);
        ok = 0;
    }
    /* the fine-tuned checkpoint back in the hub layout, the bench rows */
    snprintf(p, sizeof p, "%s/hub/%s-ft/model.safetensors.index.json", w, name);
    EXPECT(exists(p), "%s: no %s", name, p);
    snprintf(p, sizeof p, "%s/bench/%s/bench.csv", w, name);
    char *csv = read_whole(p, NULL);
    EXPECT(csv, "%s: no %s", name, p);
    static const char *const rows[] = {"prefill,1,32,", "decode,1,32,", "prefill,2,64,", "train,1,32,"};
    for (int i = 0; i < 4; i++) {
        snprintf(q, sizeof q, "\n%s,%s", name, rows[i]);
        if (!strstr(csv, q)) {
            test_fail("%s: no row %s in %s", name, q + 1, p);
            ok = 0;
        }
    }
    free(csv);
    return ok;
}

TEST(test_hf_walkthrough_quick) {
    const char *need[] = {"data/tok/hf/llama2/tokenizer.json", "data/tok/hf/gpt2/tokenizer.json", "data/splits/train.list",
                          "data/splits/eval.list"};
    for (int i = 0; i < 4; i++)
        if (!exists(need[i])) return test_skip("%s is absent (make data)", need[i]);
    /* the script runs in a directory of its own under the scratch directory */
    const char *box = tmp_path("walkthrough_box");
    char *out = NULL;
    EXPECT(run_cmd(&out, "rm -rf '%s' && mkdir -p '%s/keep'", box, box) == 0, "setup: %s", out);
    free(out);
    char w[1200];
    snprintf(w, sizeof w, "%s/walk", box);
    int had_default = exists("runs/hf-walkthrough");
    char *log = NULL;
    int rc = run_cmd(&log, "WALK_QUICK=1 TTT='%s' scripts/hf-walkthrough.sh '%s'", test_ttt_bin, w);
    EXPECT(rc == 0, "hf-walkthrough.sh exited with %d:\n%s", rc, log ? log : "");
    int ok = check_model(w, log, "llama", 32000) && check_model(w, log, "mamba", 50280);
    int gens = 0;
    for (const char *s = log; (s = strstr(s, "generated 8 tokens in 1 sequence")); s++) gens++;
    if (gens != 4) {
        test_fail("%d of the 4 generate commands made their 8 tokens:\n%s", gens, log);
        ok = 0;
    }
    free(log);
    /* nothing outside W: its parent holds W and what was there, and the default directory
     * runs/hf-walkthrough of the working directory (the repository) was not made */
    char *box_after = listing(box);
    if (!box_after || strcmp(box_after, "keep\nwalk\n") != 0) {
        test_fail("the scratch box holds:\n%s", box_after ? box_after : "?");
        ok = 0;
    }
    free(box_after);
    if (!had_default && exists("runs/hf-walkthrough")) {
        test_fail("runs/hf-walkthrough was made, outside the directory given");
        ok = 0;
    }
    char want[1400];
    /* a non-empty directory that is not a walk-through's is refused, untouched */
    char *msg = NULL;
    snprintf(want, sizeof want, "%s/keep/precious", box);
    write_whole(want, "x", 1);
    rc = run_cmd(&msg, "WALK_QUICK=1 TTT='%s' scripts/hf-walkthrough.sh '%s/keep'", test_ttt_bin, box);
    if (rc == 0 || !msg || !strstr(msg, "not a walk-through directory") || !exists(want)) {
        test_fail("a foreign directory: exit %d, %s", rc, msg ? msg : "");
        ok = 0;
    }
    free(msg);
    return ok ? TEST_PASS : TEST_FAIL;
}
