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

/* the end of a BPE study's smoke test: a rerun of the finished study (ENV before
 * experiments/STUDY.sh --smoke DIR) trains and evaluates nothing; then, with the run
 * directories gone and CHARTS (space-separated files of RES) removed, --redraw without a binary
 * writes them again and reproduces metrics.csv byte for byte */
static int rerun_and_redraw(const char *env, const char *study, const char *dir, const char *res, const char *charts) {
    char *out;
    EXPECT(run_cmd(&out, "%s TTT=%s experiments/%s.sh --smoke %s", env, test_ttt_bin, study, dir) == 0, "%s", out);
    EXPECT(!strstr(out, ": training ") && !strstr(out, "timing probe:") && strstr(out, "trained") && strstr(out, "evaluated"),
           "%s: the rerun trained or evaluated again: %s", study, out);
    free(out);
    EXPECT(run_cmd(&out, "cd %s && cp metrics.csv metrics.csv.before && rm -f %s table.md && rm -rf %s/runs", res, charts,
                   dir) == 0, "%s", out);
    free(out);
    EXPECT(run_cmd(&out, "%s TTT=/nonexistent experiments/%s.sh --smoke %s --redraw", env, study, dir) == 0, "%s", out);
    EXPECT(!strstr(out, ": training ") && !strstr(out, ": evaluating") && !strstr(out, "timing probe:"),
           "%s --redraw ran a model: %s", study, out);
    free(out);
    EXPECT(run_cmd(&out, "cd %s && ls %s table.md > /dev/null && cmp metrics.csv metrics.csv.before", res, charts) == 0,
           "%s --redraw: %s", study, out);
    free(out);
    return TEST_PASS;
}

/* experiments/lm_vocab.sh --smoke (two of the four families, for time: TTT-MLP
 * and the Transformer, whose FLOPs count attention): stage A's sweep,
 * stage B at the learning rate of the lowest stage-A bits per byte with seeds 2 and 3, stage
 * C at the large size; finite bits per byte in every evaluation's JSON; the table's mean over
 * the three seeds; the plan's expected time; a rerun repeats nothing; --redraw from the
 * results alone. Needs the BPE token files (make data-bpe; skipped without). */
TEST(test_experiments_lm_vocab) {
    if (!exists("data/tokens/bpe4096/train.tok") || !exists("data/tokens/bpe4096/eval.tok") ||
        !exists("data/tok/bpe4096/tokenizer.json"))
        return test_skip("data/tokens/bpe4096 is absent (make data-bpe)");
    const char *dir = tmp_path("lm_vocab");
    const char *env = "LM_VOCAB_FAMILIES='ttt-mlp transformer'";
    char *out;
    EXPECT(run_cmd(&out, "%s TTT=%s experiments/lm_vocab.sh --smoke %s", env, test_ttt_bin, dir) == 0, "%s", out);
    EXPECT(strstr(out, "expected machine time of the whole study: ") != NULL, "no expected time: %s", out);
    free(out);
    char res[1200];
    snprintf(res, sizeof res, "%s/results/lm_vocab", dir);
    const char *files[] = {"metrics.csv", "metrics.json", "table.md", "bits_per_byte.png", "training_curves.png",
                           "plan.json", "commands.txt"};
    for (int i = 0; i < 7; i++) {
        char p[1300];
        snprintf(p, sizeof p, "%s/%s", res, files[i]);
        EXPECT(exists(p), "no %s", p);
    }
    /* the numbers: every evaluation has a finite bits per byte; stage B and C use the stage-A
     * learning rate of the lowest bits per byte; stage B's mean is over seeds 1-3 and is in
     * table.md; 12 runs planned at a positive expected time */
    EXPECT(run_cmd(&out,
                   "cd %s && /usr/bin/python3 -c \"\n"
                   "import glob, json, math\n"
                   "ev = {f[5:-10]: json.load(open(f)) for f in glob.glob('eval_*_sotu.json')}\n"
                   "assert len(ev) == 12, sorted(ev)\n"
                   "assert all(math.isfinite(e['bits_per_byte']) and e['bits_per_byte'] > 0 for e in ev.values())\n"
                   "m = json.load(open('metrics.json'))\n"
                   "table = open('table.md').read()\n"
                   "assert len(m['models']) == 12 and len(m['stage_b_over_seeds']) == 2\n"
                   "for f in ('ttt-mlp', 'transformer'):\n"
                   "    a = {lr: ev[f + '-small-lr' + lr + '-s1']['bits_per_byte'] for lr in ('1e-3', '3e-3', '1e-2')}\n"
                   "    best = min(a, key=a.get)\n"
                   "    b = [ev[f + '-small-lr' + best + '-s' + s]['bits_per_byte'] for s in '123']\n"
                   "    assert f + '-large-lr' + best + '-s1' in ev, (f, best)\n"
                   "    s = [x for x in m['stage_b_over_seeds'] if x['family'] == f][0]\n"
                   "    assert s['lr'] == float(best) and s['seeds'] == [1, 2, 3], s\n"
                   "    mean = sum(b) / 3\n"
                   "    assert abs(s['bits_per_byte']['mean'] - mean) < 1e-12, (s, b)\n"
                   "    assert ('%%.4f \\u00b1 ' %% mean) in table, (f, mean)\n"
                   "    assert all(r['lr'] == float(best) for r in m['models'] if r['family'] == f and r['stage'] != 'A')\n"
                   "for r in m['models']:\n"
                   "    assert r['tokens'] == 3 * 2 * 64 and r['non_embedding_parameters'] > 0, r\n"
                   "    assert r['embedding_parameters'] == 4096 * 64, r\n"
                   "    att = 6 * r['layers'] * 64 * 64 if r['family'] == 'transformer' else 0\n"
                   "    assert r['flops_per_token'] == 6 * r['non_embedding_parameters'] + 6 * 64 * 4096 + att, r\n"
                   "    assert r['layers'] == (1 if r['size'] == 'small' else 2), r\n"
                   "p = json.load(open('plan.json'))\n"
                   "assert len(p['runs']) == 12 and p['expected_s'] > 0, p\n"
                   "print('ok')\n\"",
                   res) == 0 &&
               strstr(out, "ok"),
           "%s", out);
    free(out);
    return rerun_and_redraw(env, "lm_vocab", dir, res, "bits_per_byte.png");
}

/* experiments/long_docs.sh --smoke (TTT-Linear and Mamba, the two of the paper's claim, for
 * time): every run trains on windows inside documents of long_train.tok; a run's loss over a
 * range of positions is the three books' buckets pooled by targets (recomputed here from the
 * CSVs); the over-seeds mean of the longer training length is the mean of its two seeds, and
 * TTT-Linear's gap to Mamba the difference of the two means; a rerun repeats nothing; --redraw
 * from the results alone. Needs make data-bpe data-long. */
TEST(test_experiments_long_docs) {
    if (!exists("data/tokens/bpe4096/long_train.tok") || !exists("data/tokens/bpe4096/long_emma.tok") ||
        !exists("data/tok/bpe4096/tokenizer.json"))
        return test_skip("data/tokens/bpe4096/long_train.tok is absent (make data-bpe data-long)");
    const char *dir = tmp_path("long_docs");
    const char *env = "LONG_DOCS_FAMILIES='ttt-linear mamba'";
    char *out;
    EXPECT(run_cmd(&out, "%s TTT=%s experiments/long_docs.sh --smoke %s", env, test_ttt_bin, dir) == 0, "%s", out);
    EXPECT(strstr(out, "expected machine time of the whole study: ") != NULL, "no expected time: %s", out);
    free(out);
    char res[1200];
    snprintf(res, sizeof res, "%s/results/long_docs", dir);
    const char *files[] = {"metrics.csv", "metrics.json", "table.md", "loss_by_position.png", "training_curves.png",
                           "plan.json", "commands.txt"};
    for (int i = 0; i < 7; i++) {
        char p[1300];
        snprintf(p, sizeof p, "%s/%s", res, files[i]);
        EXPECT(exists(p), "no %s", p);
    }
    EXPECT(run_cmd(&out,
                   "cd %s && /usr/bin/python3 -c \"\n"
                   "import csv, json, math\n"
                   "m = json.load(open('metrics.json'))\n"
                   "keys = sorted(r['key'] for r in m['models'])\n"
                   "assert keys == sorted(f + s for f in ('ttt-linear', 'mamba') for s in ('-64-s1', '-128-s1', '-128-s2')), keys\n"
                   "for r in m['models']:\n"
                   "    start = json.loads(open('../../runs/long_docs/' + r['key'] + '/metrics.jsonl').readline())\n"
                   "    assert start['windows'] == 'documents' and r['windows'] == 'documents', start\n"
                   "    assert r['tokens'] == 3 * 128 and r['seq_len'] == r['context'], r\n"
                   "    assert r['lr'] == 3e-3 and math.isfinite(r['bits_per_byte']), r\n"
                   "    n = s = 0.0\n"
                   "    for b in ('moby_dick', 'emma', 'persuasion'):\n"
                   "        for x in csv.DictReader(open('bypos_' + r['key'] + '_' + b + '.csv')):\n"
                   "            if int(x['position_end']) <= 64:\n"
                   "                s += float(x['mean_loss']) * int(x['targets']); n += int(x['targets'])\n"
                   "    assert n > 0 and abs(r['loss_1-64'] - s / n) < 1e-6, (n, r['loss_1-64'], s / n)\n"
                   "for f in ('ttt-linear', 'mamba'):\n"
                   "    o = [x for x in m['over_seeds'] if x['family'] == f and x['context'] == 128][0]\n"
                   "    b = [r['bits_per_byte'] for r in m['models'] if r['family'] == f and r['context'] == 128]\n"
                   "    assert o['seeds'] == [1, 2] and abs(o['bits_per_byte']['mean'] - sum(b) / 2) < 1e-12, (o, b)\n"
                   "    d = [r['loss_65-512'] - r['loss_1-64'] for r in m['models'] if r['family'] == f and r['context'] == 128]\n"
                   "    assert abs(o['changes']['65-512 minus 1-64']['mean'] - sum(d) / 2) < 1e-9, (o, d)\n"
                   "g = [x for x in m['minus_mamba'] if x['family'] == 'ttt-linear' and x['context'] == 128][0]['gap']\n"
                   "loss = lambda f: sum(r['loss_1-64'] for r in m['models'] if r['family'] == f and r['context'] == 128) / 2\n"
                   "assert abs(g['1-64'] - (loss('ttt-linear') - loss('mamba'))) < 1e-9, (g, loss('ttt-linear'), loss('mamba'))\n"
                   "assert not [x for x in m['minus_mamba'] if x['family'] == 'mamba'], m['minus_mamba']\n"
                   "print('ok')\n\"",
                   res) == 0 &&
               strstr(out, "ok"),
           "%s", out);
    free(out);
    /* a rerun, then --redraw from the results alone, which also writes the over-seeds table
     * between the study's markers of docs/results.md (here the smoke directory's), leaving the
     * rest of the page */
    EXPECT(run_cmd(&out, "mkdir -p %s/docs && printf 'before\n<!-- long_docs-table: begin (written by experiments/long_docs.sh"
                   " from results/long_docs/; do not edit) -->\nstale\n<!-- long_docs-table: end -->\nafter\n' > %s/docs/results.md",
                   dir, dir) == 0, "%s", out);
    free(out);
    if (rerun_and_redraw(env, "long_docs", dir, res, "loss_by_position.png") != TEST_PASS) return TEST_FAIL;
    EXPECT(run_cmd(&out, "cd %s/docs && head -1 results.md && tail -1 results.md && grep -c stale results.md;"
                   " grep -c '^| Mamba | 128 | 2 | ' results.md", dir) == 0 &&
               strcmp(out, "before\nafter\n0\n2\n") == 0,
           "docs/results.md after --redraw: %s", out);
    free(out);
    return TEST_PASS;
}

/* experiments/ladder.sh --smoke (two of the seven variants and the base, two seeds): each variant's
 * difference from the base is the mean of its per-seed differences (recomputed here from the
 * evaluations' JSON); the verdict rule on hand-made spreads (lower / higher only when every seed
 * agrees in sign and the mean exceeds two standard errors); a rerun repeats nothing; --redraw
 * from the results alone. Needs make data-bpe. */
TEST(test_experiments_ladder) {
    char *out;
    EXPECT(run_cmd(&out,
                   "cd experiments && /usr/bin/python3 -c \"\n"
                   "from long_docs import verdict\n"
                   "s = lambda mean, std, lo, hi, n=3: dict(mean=mean, std=std, min=lo, max=hi, n=n)\n"
                   "assert verdict(s(-0.02, 0.005, -0.025, -0.015)) == 'lower'\n"
                   "assert verdict(s(0.02, 0.001, 0.019, 0.021)) == 'higher'\n"
                   "assert verdict(s(-0.02, 0.03, -0.05, 0.01)) == 'within the spread'\n"
                   "assert verdict(s(-0.02, 0.03, -0.06, -0.001)) == 'within the spread'\n"
                   "assert verdict(s(-0.01, 0.0, -0.01, -0.01, 1)) == 'lower (single run)'\n"
                   "print('ok')\n\"") == 0 &&
               strstr(out, "ok"),
           "%s", out);
    free(out);
    if (!exists("data/tokens/bpe4096/train.tok") || !exists("data/tok/bpe4096/tokenizer.json"))
        return test_skip("data/tokens/bpe4096 is absent (make data-bpe)");
    const char *dir = tmp_path("ladder");
    EXPECT(run_cmd(&out, "TTT=%s experiments/ladder.sh --smoke %s", test_ttt_bin, dir) == 0, "%s", out);
    EXPECT(strstr(out, "expected machine time of the whole study: ") != NULL, "no expected time: %s", out);
    free(out);
    char res[1200];
    snprintf(res, sizeof res, "%s/results/ladder", dir);
    EXPECT(run_cmd(&out,
                   "cd %s && test -f ladder.png && test -f table.md && test -f plan.json && /usr/bin/python3 -c \"\n"
                   "import json, math\n"
                   "m = json.load(open('metrics.json'))\n"
                   "assert len(m['models']) == 6, [r['key'] for r in m['models']]\n"
                   "ev = lambda k: json.load(open('eval_' + k + '_sotu.json'))['bits_per_byte']\n"
                   "for s in m['over_seeds']:\n"
                   "    if s['variant'] == 'base':\n"
                   "        assert 'minus_base' not in s; continue\n"
                   "    d = [ev(s['variant'] + '-s%%d' %% i) - ev('base-s%%d' %% i) for i in (1, 2)]\n"
                   "    assert abs(s['minus_base']['mean'] - sum(d) / 2) < 1e-12, (s, d)\n"
                   "    assert s['minus_base']['verdict'] in ('lower', 'higher', 'within the spread'), s\n"
                   "mb = {r['key']: r['mini_batch'] for r in m['models']}\n"
                   "assert mb['base-s1'] == 16 and mb['minibatch-1-s2'] == 1 and mb['transformer-backbone-s1'] is None, mb\n"
                   "print('ok')\n\"",
                   res) == 0 &&
               strstr(out, "ok"),
           "%s", out);
    free(out);
    return rerun_and_redraw("", "ladder", dir, res, "ladder.png");
}
