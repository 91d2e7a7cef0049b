/* test_robust_train.c: training runs given hostile or damaged run directories (issue 16):
 * a training state whose integers are not what the writer writes or do not agree with each
 * other, `latest` naming something outside the run, symbolic links planted under the names of
 * checkpoints and their temporary directories or as metrics.jsonl, two trainers on one run
 * directory, and a resume that has nothing left to do. Every case is an error with a message
 * (or, for planted links, a warning) and nothing outside the run is touched. */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"
#include "ttt_tokenizer.h"

#define FLAGS "--seq-len 8 --batch 2 --threads 1 --quiet"

/* a token file of n tokens for the tiny models (vocab 11) */
static const char *corpus(const char *name, int64_t n, int shift) { return tiny_tokens(name, n, 11, "test", shift); }

/* a run of `steps` steps (a checkpoint at each step when every_step) into tmp_path(run) */
static const char *make_run(const char *run, const char *tok, int steps, int every_step) {
    const char *model = tiny_model("rtrain_model", "");
    if (!model) return NULL;
    const char *dir = tmp_path(run);
    char *out;
    int rc = run_cmd(&out, "rm -rf %s && %s train --model %s --data %s --run %s --steps 100 --stop-after %d %s %s",
                     dir, test_ttt_bin, model, tok, dir, steps, every_step ? "--ckpt-every 1 --keep 100" : "", FLAGS);
    if (rc != 0) test_fail("training %s: %s", run, out);
    free(out);
    return rc == 0 ? dir : NULL;
}

static const char *copy_run(const char *from, const char *name) {
    const char *dir = tmp_path(name);
    char *out;
    int rc = run_cmd(&out, "rm -rf %s && cp -a %s %s", dir, from, dir);
    if (rc != 0) test_fail("cp: %s", out);
    free(out);
    return rc == 0 ? dir : NULL;
}

/* rewrite a safetensors header: replace the value of string metadata `key` (first
 * occurrence) by val, or, when insert is set, add "key":"val" at the start of __metadata__ */
static int edit_meta(const char *path, const char *key, const char *val, int insert) {
    size_t len;
    unsigned char *d = (unsigned char *)read_whole(path, &len);
    if (!d || len < 8) {
        test_fail("cannot read %s", path);
        free(d);
        return 0;
    }
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | d[i];
    char *h = malloc(n + 1), needle[128], *nh = malloc(n + 4096);
    memcpy(h, d + 8, n);
    h[n] = 0;
    size_t k = 0;
    if (insert) {
        const char *m = strstr(h, "\"__metadata__\":{");
        if (!m) {
            test_fail("%s: no __metadata__", path);
            return 0;
        }
        size_t at = (size_t)(m - h) + 16;
        memcpy(nh, h, at);
        k = at + (size_t)sprintf(nh + at, "\"%s\":\"%s\",", key, val);
        memcpy(nh + k, h + at, n - at);
        k += n - at;
    } else {
        snprintf(needle, sizeof needle, "\"%s\":\"", key);
        char *a = strstr(h, needle);
        if (!a) {
            test_fail("%s: no metadata %s", path, key);
            return 0;
        }
        a += strlen(needle);
        char *b = strchr(a, '"');
        memcpy(nh, h, (size_t)(a - h));
        k = (size_t)(a - h);
        k += (size_t)sprintf(nh + k, "%s", val);
        size_t rest = n - (size_t)(b - h);
        memcpy(nh + k, b, rest);
        k += rest;
    }
    while (k % 8) nh[k++] = ' ';
    size_t total = 8 + k + (len - 8 - n);
    unsigned char *o = malloc(total);
    for (int i = 0; i < 8; i++) o[i] = (unsigned char)((uint64_t)k >> (8 * i));
    memcpy(o + 8, nh, k);
    memcpy(o + 8 + k, d + 8 + n, len - 8 - n);
    write_whole(path, o, total);
    free(o), free(h), free(nh), free(d);
    return 1;
}

static const char *state_of(const char *run, const char *ckpt) {
    static char p[8][1200];
    static int r;
    r = (r + 1) % 8;
    snprintf(p[r], sizeof p[r], "%s/%s/train_state.safetensors", run, ckpt);
    return p[r];
}

/* a training state whose integers are not strict decimals in range, or disagree with each
 * other or with the checkpoint's name, is refused on resume */
TEST(test_robust_train_state_integers) {
    const char *tok = corpus("rtrain_state.tok", 4000, 0);
    EXPECT(tok, "token file");
    const char *run = make_run("rtrain_state", tok, 3, 0);
    EXPECT(run, "run");
    struct {
        const char *key, *val, *needle;
    } bad[] = {
        {"windows_consumed", "-1", "windows_consumed"},   /* read before the data */
        {"windows_consumed", "abc", "windows_consumed"},  /* was 0: the data order restarted */
        {"windows_consumed", "2x", "windows_consumed"},   /* was 2 */
        {"windows_consumed", "", "windows_consumed"},
        {"windows_consumed", " 6", "windows_consumed"},
        {"windows_consumed", "+6", "windows_consumed"},
        {"windows_consumed", "99999999999999999999", "windows_consumed"},
        {"windows_consumed", "7", "inconsistent"},        /* step 3 x batch 2 = 6 */
        {"windows_consumed", "99999999999", "inconsistent"},
        {"step", "-5", "'step'"},                          /* trained until NaN */
        {"step", "0", "'step'"},
        {"step", "abc", "'step'"},
        {"step", "3.0", "'step'"},
        {"step", "1000000", "inconsistent"},               /* trained nothing */
        {"seed", "x", "'seed'"},
        {"seed", "-1", "'seed'"},
        {"ttt_train_state_version", "2", "version"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *r = copy_run(run, "rtrain_state_bad");
        EXPECT(r && edit_meta(state_of(r, "ckpt-00000003"), bad[i].key, bad[i].val, 0), "edit");
        char needles[160];
        snprintf(needles, sizeof needles, "train_state.safetensors|%s", bad[i].needle);
        EXPECT(expect_cli_error(needles, "train --resume --data %s --run %s --steps 6 %s", tok, r, FLAGS),
               "%s = '%s' was accepted", bad[i].key, bad[i].val);
    }
    /* a consistent state of another step than the checkpoint's name says */
    const char *r = copy_run(run, "rtrain_state_bad");
    EXPECT(r && edit_meta(state_of(r, "ckpt-00000003"), "step", "4", 0) &&
               edit_meta(state_of(r, "ckpt-00000003"), "windows_consumed", "8", 0), "edit");
    EXPECT(expect_cli_error("step 4|step 3", "train --resume --data %s --run %s --steps 6 %s", tok, r, FLAGS),
           "a state of step 4 in ckpt-00000003 was accepted");
    /* another training file, batch or seed */
    const char *tok2 = corpus("rtrain_state2.tok", 4000, 1);
    EXPECT(expect_cli_error("train_data|--data", "train --resume --data %s --run %s --steps 6 %s", tok2, run, FLAGS),
           "another training file");
    EXPECT(expect_cli_error("'batch'", "train --resume --data %s --run %s --steps 6 %s --batch 4", tok, run, FLAGS),
           "another batch");
    EXPECT(expect_cli_error("'seed'", "train --resume --data %s --run %s --steps 6 %s --seed 5", tok, run, FLAGS),
           "another seed");
    /* and the untouched run still resumes */
    char *out;
    EXPECT(run_cmd(&out, "%s train --resume --data %s --run %s --steps 6 %s", test_ttt_bin, tok, run, FLAGS) == 0,
           "resume: %s", out);
    free(out);
    return TEST_PASS;
}

/* checkpoints written before the state stopped repeating "seed" among the settings (the key
 * twice in its metadata) still resume */
TEST(test_robust_train_old_state_loads) {
    const char *tok = corpus("rtrain_old.tok", 4000, 0);
    EXPECT(tok, "token file");
    const char *run = make_run("rtrain_old", tok, 2, 0);
    EXPECT(run && edit_meta(state_of(run, "ckpt-00000002"), "seed", "0", 1), "run");
    char *out;
    EXPECT(run_cmd(&out, "%s train --resume --data %s --run %s --steps 4 %s", test_ttt_bin, tok, run, FLAGS) == 0,
           "an old checkpoint does not resume: %s", out);
    free(out);
    return TEST_PASS;
}

/* `latest` must name one of the run's own checkpoint directories */
TEST(test_robust_train_latest_content) {
    const char *tok = corpus("rtrain_latest.tok", 4000, 0);
    EXPECT(tok, "token file");
    const char *other = make_run("rtrain_latest_other", tok, 3, 0);
    const char *run = make_run("rtrain_latest", tok, 3, 0);
    EXPECT(other && run, "runs");
    char lnk[1200], target[1200];
    snprintf(lnk, sizeof lnk, "%s/ckpt-00000009", run);
    snprintf(target, sizeof target, "%s/ckpt-00000003", other);
    EXPECT(symlink(target, lnk) == 0, "symlink");
    snprintf(lnk, sizeof lnk, "%s/ckpt-00000010", run);
    write_whole(lnk, "x", 1);
    char rel[64];
    snprintf(rel, sizeof rel, "../rtrain_latest_other/ckpt-00000003\n");
    struct {
        const char *content;
        size_t len;
        const char *needle;
    } bad[] = {
        {rel, 0, "ckpt-<digits>"},
        {target, 0, "ckpt-<digits>"},
        {"ckpt-00000003 \n", 0, "ckpt-<digits>"},
        {"ckpt-00000003\n\n", 0, "ckpt-<digits>"},
        {"ckpt-00000003\r\n", 0, "ckpt-<digits>"},
        {" ckpt-00000003", 0, "ckpt-<digits>"},
        {"ckpt-", 0, "ckpt-<digits>"},
        {"ckpt-3x", 0, "ckpt-<digits>"},
        {"ckpt-00000003\0junk", 18, "ckpt-<digits>"},
        {"", 0, "ckpt-<digits>"},
        {"ckpt-00000009", 0, "symbolic link"},
        {"ckpt-00000010\n", 0, "not a directory"},
        {"ckpt-00000042\n", 0, "ckpt-00000042"},
    };
    char lp[1200];
    snprintf(lp, sizeof lp, "%s/latest", run);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_whole(lp, bad[i].content, bad[i].len ? bad[i].len : strlen(bad[i].content));
        char needles[160];
        snprintf(needles, sizeof needles, "latest|%s", bad[i].needle);
        EXPECT(expect_cli_error(needles, "train --resume --data %s --run %s --steps 6 %s", tok, run, FLAGS),
               "latest '%s' was accepted", bad[i].content);
    }
    /* a directory as `latest` is an error too, and the message says what it is */
    unlink(lp);
    mkdir(lp, 0777);
    EXPECT(expect_cli_error("latest|directory", "train --resume --data %s --run %s --steps 6 %s", tok, run, FLAGS),
           "latest as a directory");
    rmdir(lp);
    /* the canonical content, with or without its newline, resumes */
    write_whole(lp, "ckpt-00000003", 13);
    char *out;
    EXPECT(run_cmd(&out, "%s train --resume --data %s --run %s --steps 4 %s", test_ttt_bin, tok, run, FLAGS) == 0,
           "resume: %s", out);
    free(out);
    return TEST_PASS;
}

/* --steps is the total to train to: a resume at or past it is an error, not a silent no-op */
TEST(test_robust_train_resume_past_target) {
    const char *tok = corpus("rtrain_past.tok", 4000, 0);
    EXPECT(tok, "token file");
    const char *run = make_run("rtrain_past", tok, 4, 0);
    EXPECT(run, "run");
    EXPECT(expect_cli_error("already at step 4|--steps", "train --resume --data %s --run %s --steps 1 %s", tok, run,
                            FLAGS), "--steps 1 at step 4");
    EXPECT(expect_cli_error("already at step 4", "train --resume --data %s --run %s --steps 4 %s", tok, run, FLAGS),
           "--steps 4 at step 4");
    char *out;
    EXPECT(run_cmd(&out, "%s train --resume --data %s --run %s --steps 5 %s", test_ttt_bin, tok, run, FLAGS) == 0,
           "--steps 5 at step 4: %s", out);
    free(out);
    return TEST_PASS;
}

/* a victim directory outside the run with one file */
static const char *victim(const char *name) {
    const char *v = tmp_path(name);
    char *out, f[1200];
    run_cmd(&out, "rm -rf %s && mkdir -p %s", v, v);
    free(out);
    snprintf(f, sizeof f, "%s/precious", v);
    write_whole(f, "keep me", 7);
    return v;
}

static int victim_intact(const char *v) {
    char f[1200];
    snprintf(f, sizeof f, "%s/precious", v);
    char *t = read_whole(f, NULL);
    int ok = t && strcmp(t, "keep me") == 0;
    free(t);
    return ok;
}

/* pruning never follows a symbolic link named like a checkpoint or a temporary directory */
TEST(test_robust_train_prune_symlinks) {
    const char *tok = corpus("rtrain_prune.tok", 4000, 0);
    EXPECT(tok, "token file");
    const char *model = tiny_model("rtrain_prune_model", "");
    EXPECT(model, "model");
    const char *v1 = victim("rtrain_victim1"), *v2 = victim("rtrain_victim2"), *v3 = victim("rtrain_victim3"),
               *v4 = victim("rtrain_victim4");
    const char *run = tmp_path("rtrain_prune");
    char *out;
    run_cmd(&out, "rm -rf %s && mkdir -p %s && ln -s %s %s/ckpt-00000000 && ln -s %s %s/.tmp-ckpt-00000001-1 && "
            "ln -s %s %s/.tmp-ckpt-00000002-1-abcdef && ln -s %s %s/ckpt-00000002", run, run, v1, run, v2, run, v3, run, v4,
            run);
    free(out);
    /* and what a writer killed with -9 leaves behind, which does go */
    run_cmd(&out, "mkdir -p %s/.tmp-ckpt-00000005-1-Zz09aB && echo x > %s/.tmp-ckpt-00000005-1-Zz09aB/model.safetensors "
            "&& echo x > %s/.latest.tmp-Ab12Cd && ln -s ckpt-00000005 %s/.model.tmp-1-77", run, run, run, run);
    free(out);
    int rc = run_cmd(&out, "%s train --model %s --data %s --run %s --steps 3 --ckpt-every 1 --keep 1 %s", test_ttt_bin,
                     model, tok, run, FLAGS);
    EXPECT(rc == 0, "training: %s", out);
    EXPECT(strstr(out, "warning") && strstr(out, "symbolic link"), "no warning about the planted links: %s", out);
    free(out);
    EXPECT(victim_intact(v1) && victim_intact(v2) && victim_intact(v3) && victim_intact(v4), "a directory outside the run was emptied");
    char p[1200];
    struct stat sb;
    snprintf(p, sizeof p, "%s/ckpt-00000000", run);
    EXPECT(lstat(p, &sb) == 0 && S_ISLNK(sb.st_mode), "the planted link was deleted (it is not the run's)");
    const char *stale[] = {".tmp-ckpt-00000005-1-Zz09aB", ".latest.tmp-Ab12Cd", ".model.tmp-1-77"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", run, stale[i]);
        EXPECT(lstat(p, &sb) != 0, "the stale %s is still there", stale[i]);
    }
    /* --keep 1: only the newest of the run's own checkpoints is left */
    snprintf(p, sizeof p, "%s/ckpt-00000002", run);
    EXPECT(lstat(p, &sb) != 0, "ckpt-00000002 was not pruned");
    snprintf(p, sizeof p, "%s/ckpt-00000003", run);
    EXPECT(lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode), "ckpt-00000003 is missing");
    return TEST_PASS;
}

/* the temporary checkpoint directory's name is not predictable: a link planted under the name
 * the writer used to choose (.tmp-ckpt-<step>-<pid>) is neither followed nor emptied */
TEST(test_robust_train_tmp_dir_unpredictable) {
    const char *tok = corpus("rtrain_tmp.tok", 4000, 0);
    EXPECT(tok, "token file");
    const char *model = tiny_model("rtrain_tmp_model", "");
    EXPECT(model, "model");
    const char *v = victim("rtrain_tmp_victim"), *run = tmp_path("rtrain_tmp");
    char *out;
    run_cmd(&out, "rm -rf %s && mkdir -p %s", run, run);
    free(out);
    int go[2];
    EXPECT(pipe(go) == 0, "pipe");
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        close(go[1]);
        if (read(go[0], &c, 1) != 1) _exit(126);
        char cmd[4096];
        snprintf(cmd, sizeof cmd, "exec %s train --model %s --data %s --run %s --steps 2 --ckpt-every 1 %s >%s/out.txt 2>&1",
                 test_ttt_bin, model, tok, run, FLAGS, v);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(go[0]);
    /* the pid stays the same through sh's exec */
    char lnk[1200];
    for (int step = 1; step <= 2; step++) {
        snprintf(lnk, sizeof lnk, "%s/.tmp-ckpt-%08d-%ld", run, step, (long)pid);
        EXPECT(symlink(v, lnk) == 0, "symlink");
    }
    EXPECT(write(go[1], "g", 1) == 1, "pipe write");
    close(go[1]);
    int st;
    waitpid(pid, &st, 0);
    char f[1200];
    snprintf(f, sizeof f, "%s/out.txt", v);
    char *log = read_whole(f, NULL);
    unlink(f);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0, "training failed: %s", log ? log : "");
    free(log);
    EXPECT(victim_intact(v), "the directory behind the planted link was emptied");
    snprintf(f, sizeof f, "%s/model.safetensors", v);
    EXPECT(access(f, F_OK) != 0, "the checkpoint was written through the planted link");
    return TEST_PASS;
}

/* metrics.jsonl is never written through a symbolic link */
TEST(test_robust_train_metrics_symlink) {
    const char *tok = corpus("rtrain_metrics.tok", 4000, 0);
    EXPECT(tok, "token file");
    const char *model = tiny_model("rtrain_metrics_model", "");
    EXPECT(model, "model");
    const char *run = tmp_path("rtrain_metrics"), *outside = tmp_path("rtrain_metrics_outside.txt");
    write_whole(outside, "mine\n", 5);
    char *out;
    run_cmd(&out, "rm -rf %s && mkdir -p %s && ln -s %s %s/metrics.jsonl", run, run, outside, run);
    free(out);
    EXPECT(expect_cli_error("metrics.jsonl|symbolic link", "train --model %s --data %s --run %s --steps 2 %s", model,
                            tok, run, FLAGS), "metrics.jsonl as a link");
    char *t = read_whole(outside, NULL);
    EXPECT(t && strcmp(t, "mine\n") == 0, "the file behind the link was written: %s", t ? t : "(gone)");
    free(t);
    return TEST_PASS;
}

/* wait until path exists (at most ~30 s) */
static int wait_for(const char *path) {
    for (int i = 0; i < 3000; i++) {
        if (access(path, F_OK) == 0) return 1;
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

/* two trainers on one run directory: the second stops at once, naming the first's pid */
TEST(test_robust_train_lock_concurrent) {
    const char *tok = corpus("rtrain_lock.tok", 4000, 0);
    EXPECT(tok, "token file");
    const char *model = tiny_model("rtrain_lock_model", "");
    EXPECT(model, "model");
    const char *run = tmp_path("rtrain_lock");
    char *out;
    run_cmd(&out, "rm -rf %s", run);
    free(out);
    pid_t pid = fork();
    if (pid == 0) {
        char cmd[4096];
        snprintf(cmd, sizeof cmd, "exec %s train --model %s --data %s --run %s --steps 1000000 --ckpt-every 1 "
                 "--keep 1000000 %s >/dev/null 2>&1", test_ttt_bin, model, tok, run, FLAGS);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    char lp[1200];
    snprintf(lp, sizeof lp, "%s/latest", run);
    int up = wait_for(lp); /* the first has its lock and a checkpoint */
    char pidtxt[64];
    snprintf(pidtxt, sizeof pidtxt, "pid %ld", (long)pid);
    int fresh = up && expect_cli_error(pidtxt, "train --model %s --data %s --run %s --steps 2 %s", model, tok, run, FLAGS);
    int resumed =
        up && expect_cli_error(pidtxt, "train --resume --data %s --run %s --steps 1000000 --stop-after 1 %s", tok, run,
                               FLAGS);
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    EXPECT(up, "the first trainer wrote no checkpoint");
    EXPECT(fresh, "a second fresh trainer on the same run directory was not refused");
    EXPECT(resumed, "a second resuming trainer on the same run directory was not refused");
    /* once the first is gone, the run resumes */
    EXPECT(run_cmd(&out, "%s train --resume --data %s --run %s --steps 1000000 --stop-after 1 %s", test_ttt_bin, tok,
                   run, FLAGS) == 0, "resume after the first trainer ended: %s", out);
    free(out);
    return TEST_PASS;
}
