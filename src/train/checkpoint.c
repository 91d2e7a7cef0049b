/* checkpoint.c: writing and reading training checkpoints atomically (see checkpoint.h). */
#include "train/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/checked.h"
#include "core/error.h"
#include "core/parse.h"
#include "io/fsutil.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "ttt_train.h"

static void fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* bytes for a message: printable ASCII as is, anything else as \xHH, at most ~48 shown */
static const char *shown_bytes(char *buf, size_t cap, const char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n && k + 5 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i >= 48) {
            k += (size_t)snprintf(buf + k, cap - k, "...");
            break;
        }
        if (c >= 0x20 && c < 0x7f && c != '\'')
            buf[k++] = (char)c;
        else
            k += (size_t)snprintf(buf + k, cap - k, "\\x%02x", c);
    }
    buf[k < cap ? k : cap - 1] = 0;
    return buf;
}

/* "D+" (decimal digits only, at least one) for s[0..n) */
static int all_digits(const char *s, size_t n) {
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

/* the six characters mkstemp / mkdtemp put in place of XXXXXX */
static int is_mktemp_suffix(const char *x) {
    if (strlen(x) != 6) return 0;
    for (int i = 0; i < 6; i++)
        if (!((x[i] >= '0' && x[i] <= '9') || (x[i] >= 'a' && x[i] <= 'z') || (x[i] >= 'A' && x[i] <= 'Z')))
            return 0;
    return 1;
}

/* a checkpoint name exactly as ckpt_write makes it: "ckpt-%08lld" of a step >= 0 */
static int is_ckpt_name(const char *name, int64_t *step) {
    if (strncmp(name, "ckpt-", 5) != 0 || !all_digits(name + 5, strlen(name + 5))) return 0;
    int64_t k;
    if (!ttt_parse_i64_ok(name + 5, 0, INT64_MAX, &k)) return 0;
    char canon[40];
    snprintf(canon, sizeof canon, "ckpt-%08" PRId64, k);
    if (strcmp(canon, name) != 0) return 0;
    *step = k;
    return 1;
}

/* a temporary checkpoint directory of ckpt_write: ".tmp-ckpt-<step>-<pid>-XXXXXX" (mkdtemp), or
 * ".tmp-ckpt-<step>-<pid>" of earlier versions; *pid receives the writer's pid */
static int is_tmp_ckpt_name(const char *name, long *pid) {
    if (strncmp(name, ".tmp-ckpt-", 10) != 0) return 0;
    const char *p = name + 10, *d1 = strchr(p, '-');
    if (!d1 || !all_digits(p, (size_t)(d1 - p))) return 0;
    const char *q = d1 + 1, *d2 = strchr(q, '-');
    size_t nq = d2 ? (size_t)(d2 - q) : strlen(q);
    if (!all_digits(q, nq) || nq > 18) return 0;
    if (d2 && !is_mktemp_suffix(d2 + 1)) return 0;
    char num[24];
    memcpy(num, q, nq);
    num[nq] = 0;
    int64_t v;
    if (!ttt_parse_i64_ok(num, 0, INT64_MAX, &v)) return 0;
    *pid = (long)v;
    return 1;
}

/* a temporary link of update_model_link: ".model.tmp-<pid>-<n>" */
static int is_model_tmp_name(const char *name, long *pid) {
    if (strncmp(name, ".model.tmp-", 11) != 0) return 0;
    const char *p = name + 11, *d = strchr(p, '-');
    if (!d || (size_t)(d - p) > 18 || !all_digits(p, (size_t)(d - p)) || !all_digits(d + 1, strlen(d + 1)))
        return 0;
    char num[24];
    memcpy(num, p, (size_t)(d - p));
    num[d - p] = 0;
    int64_t v;
    if (!ttt_parse_i64_ok(num, 0, INT64_MAX, &v)) return 0;
    *pid = (long)v;
    return 1;
}

static ttt_status write_state(const char *path, const ttt_model *m, const train_state *st,
                              const char *const *keys, const char *const *vals, int nmeta) {
    int64_t n = m->tab.n;
    st_entry *e = calloc((size_t)(2 * n), sizeof *e);
    char(*names)[112] = calloc((size_t)(2 * n), sizeof *names);
    int nk = nmeta + 4;
    const char **k = calloc((size_t)nk, sizeof *k), **v = calloc((size_t)nk, sizeof *v);
    char sstep[32], swin[32], sseed[32];
    if (!e || !names || !k || !v) {
        free(e), free(names), free(k), free(v);
        return ttt_err(TTT_ERR_NOMEM, "out of memory");
    }
    st_dtype dt = m->elem == 8 ? ST_F64 : ST_F32;
    for (int64_t i = 0; i < n; i++) {
        const param_info *p = &m->tab.p[i];
        for (int mv = 0; mv < 2; mv++) {
            st_entry *x = &e[2 * i + mv];
            snprintf(names[2 * i + mv], sizeof names[0], "adam.%c.%s", mv ? 'v' : 'm', p->name);
            x->name = names[2 * i + mv];
            x->dtype = dt;
            x->ndim = p->ndim;
            memcpy(x->shape, p->shape, sizeof p->shape);
            x->data = (const char *)(mv ? st->v : st->m) + (size_t)p->offset * m->elem;
            x->src = ST_SRC_RAW;
        }
    }
    snprintf(sstep, sizeof sstep, "%" PRId64, st->step);
    snprintf(swin, sizeof swin, "%" PRId64, st->windows);
    snprintf(sseed, sizeof sseed, "%" PRIu64, st->seed);
    k[0] = "ttt_train_state_version", v[0] = "1";
    k[1] = "step", v[1] = sstep;
    k[2] = "windows_consumed", v[2] = swin;
    k[3] = "seed", v[3] = sseed;
    int nw = 4;
    for (int i = 0; i < nmeta; i++) {
        int dup = 0; /* the state's own keys are written once */
        for (int j = 0; j < 4; j++) dup |= strcmp(keys[i], k[j]) == 0;
        if (!dup) k[nw] = keys[i], v[nw] = vals[i], nw++;
    }
    ttt_status s = st_write_meta(path, e, (int)(2 * n), k, v, nw);
    free(e), free(names), free(k), free(v);
    return s;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Delete the checkpoints older than `current` beyond the newest keep − 1 of them (the current
 * one is always kept, newer ones are left alone), stale temporary directories of dead writers,
 * their temporary model links and temporary copies of `latest` (ttt_atomic_open's
 * .latest.tmp-XXXXXX: the caller holds the run directory's lock, so no one else is writing
 * one). Only real directories with the run's own names go; a
 * symbolic link is never followed. Failures here only warn: the checkpoint is written. */
static void prune(const char *run_dir, int64_t keep, int64_t current) {
    int dfd = open(run_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return;
    int lfd = dup(dfd);
    DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;
    if (!d) {
        if (lfd >= 0) close(lfd);
        close(dfd);
        return;
    }
    int64_t *steps = NULL;
    size_t n = 0, cap = 0;
    char **stale = NULL; /* temporary entries to remove after the listing */
    size_t ns = 0, caps = 0;
    long me = (long)getpid();
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *nm = e->d_name;
        int64_t k;
        long pid;
        int ck = is_ckpt_name(nm, &k), tc = !ck && is_tmp_ckpt_name(nm, &pid),
            ml = !ck && !tc && is_model_tmp_name(nm, &pid),
            lt = !ck && !tc && !ml && strncmp(nm, ".latest.tmp-", 12) == 0 && is_mktemp_suffix(nm + 12);
        if (!ck && !tc && !ml && !lt) continue;
        struct stat sb;
        if (fstatat(dfd, nm, &sb, AT_SYMLINK_NOFOLLOW) != 0) continue;
        if (lt) {
            if (S_ISREG(sb.st_mode)) goto add_stale;
            continue;
        }
        if (ml) {
            if (S_ISLNK(sb.st_mode) && pid != me) goto add_stale;
            continue;
        }
        if (S_ISLNK(sb.st_mode)) {
            fprintf(stderr, "ttt train: warning: %s/%s is a symbolic link, not one of this run's %s: left alone\n",
                    run_dir, nm, ck ? "checkpoints" : "temporary directories");
            continue;
        }
        if (!S_ISDIR(sb.st_mode)) continue;
        if (tc) {
            if (pid != me) goto add_stale; /* left behind by a writer that died */
            continue;
        }
        if (k >= current) continue;
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 64;
            int64_t *t = realloc(steps, nc * sizeof *t);
            if (!t) break;
            steps = t, cap = nc;
        }
        steps[n++] = k;
        continue;
    add_stale:
        if (ns == caps) {
            size_t nc = caps ? 2 * caps : 8;
            char **t = realloc(stale, nc * sizeof *t);
            if (!t) break;
            stale = t, caps = nc;
        }
        if ((stale[ns] = strdup(nm)) != NULL) ns++;
    }
    closedir(d);
    for (size_t i = 0; i < ns; i++) {
        char shown[1200];
        snprintf(shown, sizeof shown, "%.1000s/%s", run_dir, stale[i]);
        if (ttt_remove_tree_at(dfd, stale[i], shown) != TTT_OK)
            fprintf(stderr, "ttt train: warning: %s\n", ttt_last_error());
        free(stale[i]);
    }
    free(stale);
    if (n > 1) qsort(steps, n, sizeof *steps, cmp_i64);
    /* keep − 1 older ones besides the current */
    for (size_t i = 0; keep >= 1 && i + (size_t)(keep - 1) < n; i++) {
        char name[40], shown[1200];
        snprintf(name, sizeof name, "ckpt-%08" PRId64, steps[i]);
        snprintf(shown, sizeof shown, "%.1000s/%s", run_dir, name);
        struct stat sb; /* still the real directory listed above */
        if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(sb.st_mode)) continue;
        if (ttt_remove_tree_at(dfd, name, shown) != TTT_OK)
            fprintf(stderr, "ttt train: warning: %s\n", ttt_last_error());
    }
    free(steps);
    close(dfd);
}

/* RUNDIR/model -> name, replaced atomically through a temporary link of a unique name
 * (symlinkat fails rather than reuse an existing entry). Only warns: the link is a convenience. */
static void update_model_link(const char *run_dir, const char *name) {
    int dfd = open(run_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return;
    static unsigned long counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    for (int attempt = 0; attempt < 64; attempt++) {
        char tl[64];
        snprintf(tl, sizeof tl, ".model.tmp-%ld-%lu", (long)getpid(),
                 (unsigned long)ts.tv_nsec * 64ul + counter++);
        if (symlinkat(name, dfd, tl) == 0) {
            if (renameat(dfd, tl, dfd, "model") != 0) {
                fprintf(stderr, "ttt train: warning: %s/model not updated (%s); the checkpoint is %s/%s\n", run_dir,
                        strerror(errno), run_dir, name);
                unlinkat(dfd, tl, 0);
            }
            break;
        }
        if (errno != EEXIST) {
            fprintf(stderr, "ttt train: warning: %s/model not updated: %s\n", run_dir, strerror(errno));
            break;
        }
    }
    close(dfd);
}

static mode_t process_umask(void) {
    mode_t u = umask(022);
    umask(u);
    return u;
}

ttt_status ckpt_tokenizer_make(const ttt_tok *t, ckpt_tokenizer *out) {
    memset(out, 0, sizeof *out);
    const char *base = getenv("TMPDIR");
    char *dir = ttt_path_join(base && base[0] ? base : "/tmp", "ttt-tokenizer-XXXXXX");
    if (!dir) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    if (!mkdtemp(dir)) {
        ttt_status e = ttt_err(TTT_ERR_IO, "%s: cannot create a scratch directory for the tokenizer files: %s", dir,
                               strerror(errno));
        free(dir);
        return e;
    }
    char *jp = ttt_path_join(dir, "tokenizer.json"), *cp = ttt_path_join(dir, "tokenizer_config.json");
    ttt_status s = jp && cp ? ttt_tok_save(t, dir) : ttt_err(TTT_ERR_NOMEM, "out of memory");
    if (s == TTT_OK) s = ttt_read_file(jp, (size_t)1 << 30, &out->json, &out->json_len);
    struct stat sb;
    if (s == TTT_OK && lstat(cp, &sb) == 0) s = ttt_read_file(cp, (size_t)1 << 30, &out->config, &out->config_len);
    (void)ttt_remove_tree(dir);
    free(jp), free(cp), free(dir);
    if (s != TTT_OK) ckpt_tokenizer_free(out);
    return s;
}

ttt_status ckpt_generation_read(const char *path, ckpt_tokenizer *ct) {
    free(ct->gen);
    ct->gen = NULL;
    return ttt_read_file(path, (size_t)16 << 20, &ct->gen, &ct->gen_len);
}

void ckpt_tokenizer_free(ckpt_tokenizer *ct) {
    free(ct->json), free(ct->config), free(ct->gen);
    memset(ct, 0, sizeof *ct);
}

/* the tokenizer (and generation) files into checkpoint directory dir */
static ttt_status write_tokenizer(const char *dir, const ckpt_tokenizer *tok) {
    const char *names[3] = {"tokenizer.json", "tokenizer_config.json", "generation_config.json"};
    const char *data[3] = {tok->json, tok->config, tok->gen};
    size_t len[3] = {tok->json_len, tok->config_len, tok->gen_len};
    for (int i = 0; i < 3; i++) {
        if (!data[i]) continue;
        char *p = ttt_path_join(dir, names[i]);
        ttt_status s = p ? ttt_atomic_write_file(p, data[i], len[i]) : ttt_err(TTT_ERR_NOMEM, "out of memory");
        free(p);
        TRY(s);
    }
    return TTT_OK;
}

ttt_status ckpt_write(const char *run_dir, const ttt_model *m, const ckpt_tokenizer *tok, const train_state *st,
                      const char *const *keys, const char *const *vals, int nmeta, int64_t keep,
                      char **written) {
    if (st->step < 0) return ttt_err(TTT_ERR_ARG, "checkpoint of a negative step %lld", (long long)st->step);
    char name[40], tmpname[96];
    snprintf(name, sizeof name, "ckpt-%08" PRId64, st->step);
    snprintf(tmpname, sizeof tmpname, ".tmp-%s-%ld-XXXXXX", name, (long)getpid());
    char *fin = ttt_path_join(run_dir, name), *tmp = ttt_path_join(run_dir, tmpname), *state = NULL;
    ttt_status s = (!fin || !tmp) ? ttt_err(TTT_ERR_NOMEM, "out of memory") : TTT_OK;
    int made = 0;
    if (s == TTT_OK) {
        if (!mkdtemp(tmp))
            s = ttt_err(TTT_ERR_IO, "%s: cannot create a temporary checkpoint directory: %s", run_dir, strerror(errno));
        else
            made = 1;
    }
    /* mkdtemp makes it 0700; a checkpoint gets the permissions of a plain mkdir */
    if (s == TTT_OK && chmod(tmp, 0777 & ~process_umask()) != 0)
        s = ttt_err(TTT_ERR_IO, "%s: cannot set permissions: %s", tmp, strerror(errno));
    if (s == TTT_OK && !(state = ttt_path_join(tmp, "train_state.safetensors"))) s = ttt_err(TTT_ERR_NOMEM, "out of memory");
    /* weights in the model's own precision, so that a resume continues bit for bit */
    if (s == TTT_OK) s = ttt_model_save(m, tmp, m->elem == 8 ? TTT_DTYPE_F64 : TTT_DTYPE_F32);
    if (s == TTT_OK) s = write_state(state, m, st, keys, vals, nmeta);
    if (s == TTT_OK && tok && tok->json) s = write_tokenizer(tmp, tok);
    if (s == TTT_OK) {
        fsync_dir(tmp);
        /* a stale checkpoint of the same step (an earlier run that died before `latest` named
         * it); something else of that name is removed itself, never followed */
        struct stat sb;
        if (lstat(fin, &sb) == 0) {
            if (S_ISLNK(sb.st_mode))
                fprintf(stderr, "ttt train: warning: %s is a symbolic link; replacing the link (not its target) with "
                        "the checkpoint\n", fin);
            s = ttt_remove_tree(fin);
        }
        if (s == TTT_OK && rename(tmp, fin) != 0)
            s = ttt_err(TTT_ERR_IO, "%s: cannot rename to %s: %s", tmp, fin, strerror(errno));
        if (s == TTT_OK) made = 0;
    }
    if (s == TTT_OK) {
        fsync_dir(run_dir);
        char *latest = ttt_path_join(run_dir, "latest");
        char line[48];
        int nl = snprintf(line, sizeof line, "%s\n", name);
        s = latest ? ttt_atomic_write_file(latest, line, (size_t)nl) : ttt_err(TTT_ERR_NOMEM, "out of memory");
        free(latest);
        if (s == TTT_OK) update_model_link(run_dir, name);
    }
    if (made) {
        ttt_status keep_err = s;
        (void)ttt_remove_tree(tmp);
        s = keep_err;
    }
    if (s == TTT_OK && keep > 0) prune(run_dir, keep, st->step);
    if (s == TTT_OK && written) *written = fin, fin = NULL;
    free(fin), free(tmp), free(state);
    return s;
}

ttt_status ckpt_parse_latest(const char *txt, size_t len, const char *shown, char name[32], int64_t *step) {
    size_t n = len;
    if (n && txt[n - 1] == '\n') n--;
    int ok = n >= 6 && n <= 5 + 19 && memcmp(txt, "ckpt-", 5) == 0 && all_digits(txt + 5, n - 5);
    if (ok) {
        memcpy(name, txt, n);
        name[n] = 0;
        ok = ttt_parse_i64_ok(name + 5, 0, INT64_MAX, step);
    }
    if (!ok) {
        char buf[256];
        name[0] = 0;
        return ttt_err(TTT_ERR_FORMAT, "%s: must hold the name of one of this run's checkpoints, ckpt-<digits> "
                       "(e.g. ckpt-00000100), and nothing else; got '%s'", shown, shown_bytes(buf, sizeof buf, txt, len));
    }
    return TTT_OK;
}

ttt_status ckpt_latest(const char *run_dir, char **path, int64_t *step) {
    *path = NULL;
    char *lp = ttt_path_join(run_dir, "latest"), *txt = NULL;
    if (!lp) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    struct stat sb;
    if (lstat(lp, &sb) != 0 && errno == ENOENT) {
        free(lp);
        return ttt_err(TTT_ERR_IO, "%s: no checkpoint (missing 'latest')", run_dir);
    }
    size_t len;
    ttt_status s = ttt_read_file(lp, 4096, &txt, &len);
    char name[32];
    int64_t k = 0;
    if (s == TTT_OK) s = ckpt_parse_latest(txt, len, lp, name, &k);
    free(txt);
    char *p = NULL;
    if (s == TTT_OK && !(p = ttt_path_join(run_dir, name))) s = ttt_err(TTT_ERR_NOMEM, "out of memory");
    if (s == TTT_OK) {
        if (lstat(p, &sb) != 0)
            s = ttt_err(TTT_ERR_IO, "%s names %s, which cannot be read: %s", lp, p, strerror(errno));
        else if (S_ISLNK(sb.st_mode))
            s = ttt_err(TTT_ERR_IO, "%s names %s, which is a symbolic link; a run's checkpoints are real "
                        "directories inside it", lp, p);
        else if (!S_ISDIR(sb.st_mode))
            s = ttt_err(TTT_ERR_IO, "%s names %s, which is not a directory", lp, p);
    }
    free(lp);
    if (s != TTT_OK) {
        free(p);
        return s;
    }
    *path = p;
    if (step) *step = k;
    return TTT_OK;
}

char *ttt_run_latest_checkpoint(const char *run_dir) {
    char *p;
    return ckpt_latest(run_dir, &p, NULL) == TTT_OK ? p : NULL;
}

static int same_shape(const int64_t *a, int na, const int64_t *b, int nb) {
    if (na != nb) return 0;
    for (int i = 0; i < na; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

ttt_status ckpt_read_state(const char *path, const ttt_model *m, train_state *st, const ckpt_expect *ex) {
    st_file f;
    TRY(st_open(&f, path));
    ttt_status s = TTT_OK;
    const char *ver = st_meta(&f, "ttt_train_state_version");
    const char *need[3] = {"step", "windows_consumed", "seed"}, *got[3];
    for (int i = 0; i < 3; i++) got[i] = st_meta(&f, need[i]);
    if (!ver)
        s = ttt_err(TTT_ERR_FORMAT, "%s: not a training state (its metadata has no ttt_train_state_version)", path);
    else if (strcmp(ver, "1") != 0)
        s = ttt_err(TTT_ERR_FORMAT, "%s: training state version '%.32s' is not supported (this build reads "
                    "version 1)", path, ver);
    for (int i = 0; s == TTT_OK && i < 3; i++)
        if (!got[i]) s = ttt_err(TTT_ERR_FORMAT, "%s: metadata '%s' is missing", path, need[i]);
    char what[1100];
    int64_t step = 0, win = 0;
    uint64_t seed = 0;
    if (s == TTT_OK) {
        snprintf(what, sizeof what, "%.1000s: metadata 'step'", path);
        s = ttt_parse_i64(got[0], 1, INT64_MAX, &step, what);
    }
    if (s == TTT_OK) {
        snprintf(what, sizeof what, "%.1000s: metadata 'windows_consumed'", path);
        s = ttt_parse_i64(got[1], 0, INT64_MAX, &win, what);
    }
    if (s == TTT_OK) {
        snprintf(what, sizeof what, "%.1000s: metadata 'seed'", path);
        s = ttt_parse_u64(got[2], &seed, what);
    }
    for (int i = 0; s == TTT_OK && i < ex->nmeta; i++) {
        const char *g = st_meta(&f, ex->keys[i]);
        if (!g && ex->absent) g = ex->absent[i];
        if (!g || strcmp(g, ex->vals[i]) != 0)
            s = ttt_err(TTT_ERR_ARG, "%s: setting '%s' was '%.200s' in the checkpoint, now '%s'; resume with the same %s",
                        path, ex->keys[i], g ? g : "(absent)", ex->vals[i],
                        ex->hint && ex->hint[i] ? ex->hint[i] : "setting");
    }
    if (s == TTT_OK && seed != ex->seed)
        s = ttt_err(TTT_ERR_ARG, "%s: setting 'seed' was '%" PRIu64 "' in the checkpoint, now '%" PRIu64 "'; resume "
                    "with the same setting", path, seed, ex->seed);
    /* the loop advances the data position by exactly one batch per step */
    int64_t expect_win = 0;
    if (s == TTT_OK && ex->batch > 0) {
        char want[48];
        int fits = ttt_i64_mul_ok(step, ex->batch, &expect_win);
        if (fits)
            snprintf(want, sizeof want, "%lld", (long long)expect_win);
        else
            snprintf(want, sizeof want, "more than 2^63");
        if (!fits || expect_win != win)
            s = ttt_err(TTT_ERR_FORMAT, "%s: the training state is inconsistent: windows_consumed is %lld, but step %lld "
                        "with a batch of %lld means %s windows consumed", path, (long long)win, (long long)step,
                        (long long)ex->batch, want);
    }
    for (int64_t i = 0; s == TTT_OK && i < m->tab.n; i++) {
        const param_info *p = &m->tab.p[i];
        for (int mv = 0; mv < 2 && s == TTT_OK; mv++) {
            char nm[128];
            snprintf(nm, sizeof nm, "adam.%c.%s", mv ? 'v' : 'm', p->name);
            const st_tensor *t = st_find(&f, nm);
            if (!t) {
                s = ttt_err(TTT_ERR_FORMAT, "%s: tensor '%s' is missing", path, nm);
                break;
            }
            if (!same_shape(t->shape, t->ndim, p->shape, p->ndim)) {
                char a[96], b[96];
                s = ttt_err(TTT_ERR_FORMAT, "%s: tensor '%s' has shape %s, expected %s (the model's)", path, nm,
                            st_shape_str(t->shape, t->ndim, a, sizeof a), st_shape_str(p->shape, p->ndim, b, sizeof b));
                break;
            }
            void *dst = (char *)(mv ? st->v : st->m) + (size_t)p->offset * m->elem;
            s = m->elem == 8 ? st_read_f64(&f, t, dst, p->numel) : st_read_f32(&f, t, dst, p->numel);
            /* AdamW's moments are finite, the second one >= 0: anything else would make the
             * resumed run's first step nan (or take the square root of a negative number) */
            for (int64_t j = 0; s == TTT_OK && j < p->numel; j++) {
                double x = m->elem == 8 ? ((const double *)dst)[j] : (double)((const float *)dst)[j];
                if (!isfinite(x) || (mv && x < 0))
                    s = ttt_err(TTT_ERR_NUMERIC,
                                "%s: tensor '%s' has %s value %g at flat index %lld (AdamW's moments are finite%s)",
                                path, nm, isfinite(x) ? "a negative" : "a non-finite", x, (long long)j,
                                mv ? " and the second one is >= 0" : "");
            }
        }
    }
    if (s == TTT_OK) st->step = step, st->windows = win, st->seed = seed;
    st_close(&f);
    return s;
}

ttt_status ckpt_read(const char *dir, ttt_model *m, train_state *st, const ckpt_expect *ex) {
    ttt_model *c = NULL;
    ttt_options o;
    ttt_model_get_options(m, &o);
    TRY(ttt_model_load(dir, &o, &c));
    ttt_status s = TTT_OK;
    /* the same tensors; their places may differ (a float32 checkpoint is used in place, in the
     * file's layout: model.c), so the weights are copied tensor by tensor */
    if (c->tab.n != m->tab.n || c->elem != m->elem)
        s = ttt_err(TTT_ERR_FORMAT, "%s: the checkpoint's model does not match the model being trained", dir);
    for (int64_t i = 0; s == TTT_OK && i < m->tab.n; i++)
        if (strcmp(c->tab.p[i].name, m->tab.p[i].name) != 0 ||
            !same_shape(c->tab.p[i].shape, c->tab.p[i].ndim, m->tab.p[i].shape, m->tab.p[i].ndim))
            s = ttt_err(TTT_ERR_FORMAT, "%s: tensor %s does not match the model being trained", dir, m->tab.p[i].name);
    char *path = s == TTT_OK ? ttt_path_join(dir, "train_state.safetensors") : NULL;
    if (s == TTT_OK && !path) s = ttt_err(TTT_ERR_NOMEM, "out of memory");
    /* the state first: the weights change only when the whole checkpoint is good */
    if (s == TTT_OK) s = ckpt_read_state(path, m, st, ex);
    for (int64_t i = 0; s == TTT_OK && i < m->tab.n; i++) {
        const param_info *p = &m->tab.p[i], *q = &c->tab.p[i];
        memcpy((char *)m->w + (size_t)p->offset * m->elem, (const char *)c->w + (size_t)q->offset * m->elem,
               (size_t)p->numel * m->elem);
    }
    if (s == TTT_OK) m->w_bf16_stale = 1;
    free(path);
    ttt_model_free(c);
    return s;
}
