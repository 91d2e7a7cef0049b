/* checkpoint.c: writing and reading training checkpoints atomically (see checkpoint.h). */
#include "train/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "io/fsutil.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "ttt_train.h"

static ttt_status rm_rf(const char *path) {
    DIR *d = opendir(path);
    if (!d) return unlink(path) == 0 || errno == ENOENT ? TTT_OK : ttt_err(TTT_ERR_IO, "%s: cannot remove", path);
    struct dirent *e;
    ttt_status s = TTT_OK;
    while ((e = readdir(d)) && s == TTT_OK) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *p = ttt_path_join(path, e->d_name);
        s = rm_rf(p);
        free(p);
    }
    closedir(d);
    if (s == TTT_OK && rmdir(path) != 0) s = ttt_err(TTT_ERR_IO, "%s: cannot remove: %s", path, strerror(errno));
    return s;
}

static void fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
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
    for (int i = 0; i < nmeta; i++) k[4 + i] = keys[i], v[4 + i] = vals[i];
    ttt_status s = st_write_meta(path, e, (int)(2 * n), k, v, nk);
    free(e), free(names), free(k), free(v);
    return s;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* delete all but the newest `keep` complete checkpoints, and stale temporary directories */
static void prune(const char *run_dir, int64_t keep) {
    DIR *d = opendir(run_dir);
    if (!d) return;
    int64_t steps[4096];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        long long k;
        char tail;
        if (sscanf(e->d_name, "ckpt-%lld%c", &k, &tail) == 1 && n < 4096) steps[n++] = k;
        if (strncmp(e->d_name, ".tmp-ckpt-", 10) == 0) {
            long pid = 0;
            const char *dash = strrchr(e->d_name, '-');
            if (dash) pid = strtol(dash + 1, NULL, 10);
            if (pid != (long)getpid()) { /* left behind by a process that died */
                char *p = ttt_path_join(run_dir, e->d_name);
                rm_rf(p);
                free(p);
            }
        }
    }
    closedir(d);
    qsort(steps, (size_t)n, sizeof steps[0], cmp_i64);
    for (int i = 0; i + keep < n; i++) {
        char name[64];
        snprintf(name, sizeof name, "ckpt-%08" PRId64, steps[i]);
        char *p = ttt_path_join(run_dir, name);
        rm_rf(p);
        free(p);
    }
}

ttt_status ckpt_write(const char *run_dir, const ttt_model *m, const train_state *st,
                      const char *const *keys, const char *const *vals, int nmeta, int64_t keep,
                      char **written) {
    char name[64], tmpname[96];
    snprintf(name, sizeof name, "ckpt-%08" PRId64, st->step);
    snprintf(tmpname, sizeof tmpname, ".tmp-%s-%ld", name, (long)getpid());
    char *fin = ttt_path_join(run_dir, name), *tmp = ttt_path_join(run_dir, tmpname);
    char *state = tmp ? ttt_path_join(tmp, "train_state.safetensors") : NULL;
    ttt_status s = (!fin || !tmp || !state) ? ttt_err(TTT_ERR_NOMEM, "out of memory") : TTT_OK;
    if (s == TTT_OK) s = rm_rf(tmp);
    if (s == TTT_OK) s = ttt_mkdir(tmp);
    /* weights in the model's own precision, so that a resume continues bit for bit */
    if (s == TTT_OK) s = ttt_model_save(m, tmp, m->elem == 8 ? TTT_DTYPE_F64 : TTT_DTYPE_F32);
    if (s == TTT_OK) s = write_state(state, m, st, keys, vals, nmeta);
    if (s == TTT_OK) {
        fsync_dir(tmp);
        rm_rf(fin); /* a stale checkpoint of the same step (an earlier run that died) */
        if (rename(tmp, fin) != 0) s = ttt_err(TTT_ERR_IO, "%s: cannot rename to %s: %s", tmp, fin, strerror(errno));
    }
    if (s == TTT_OK) {
        fsync_dir(run_dir);
        char *latest = ttt_path_join(run_dir, "latest");
        ttt_atomic_file af;
        s = ttt_atomic_open(&af, latest);
        if (s == TTT_OK) {
            s = ttt_atomic_write(&af, name, strlen(name));
            if (s == TTT_OK) s = ttt_atomic_write(&af, "\n", 1);
            s = s == TTT_OK ? ttt_atomic_commit(&af) : (ttt_atomic_abort(&af), s);
        }
        free(latest);
        /* RUNDIR/model -> the newest checkpoint (a symlink replaced atomically) */
        char *lnk = ttt_path_join(run_dir, "model"), *tl = ttt_path_join(run_dir, ".model.tmp");
        if (lnk && tl) {
            unlink(tl);
            if (symlink(name, tl) == 0 && rename(tl, lnk) != 0) unlink(tl);
        }
        free(lnk);
        free(tl);
    } else if (tmp) {
        rm_rf(tmp);
    }
    if (s == TTT_OK && keep > 0) prune(run_dir, keep);
    if (s == TTT_OK && written) *written = fin, fin = NULL;
    free(fin), free(tmp), free(state);
    return s;
}

char *ttt_run_latest_checkpoint(const char *run_dir) {
    char *latest = ttt_path_join(run_dir, "latest"), *txt = NULL;
    size_t len;
    if (ttt_read_file(latest, 4096, &txt, &len) != TTT_OK) {
        ttt_err(TTT_ERR_IO, "%s: no checkpoint (missing 'latest')", run_dir);
        free(latest);
        return NULL;
    }
    free(latest);
    while (len && (txt[len - 1] == '\n' || txt[len - 1] == ' ')) txt[--len] = 0;
    char *p = ttt_path_join(run_dir, txt);
    free(txt);
    return p;
}

ttt_status ckpt_read(const char *dir, ttt_model *m, train_state *st, const char *const *keys,
                     const char *const *vals, int nmeta) {
    ttt_model *c = NULL;
    ttt_options o;
    ttt_model_get_options(m, &o);
    TRY(ttt_model_load(dir, &o, &c));
    ttt_status s = TTT_OK;
    if (c->tab.total != m->tab.total || c->tab.n != m->tab.n)
        s = ttt_err(TTT_ERR_FORMAT, "%s: the checkpoint's model does not match the model being trained", dir);
    for (int64_t i = 0; s == TTT_OK && i < m->tab.n; i++)
        if (strcmp(c->tab.p[i].name, m->tab.p[i].name) != 0 || c->tab.p[i].numel != m->tab.p[i].numel)
            s = ttt_err(TTT_ERR_FORMAT, "%s: tensor %s does not match the model being trained", dir, m->tab.p[i].name);
    if (s == TTT_OK) memcpy(m->w, c->w, (size_t)m->tab.total * m->elem);
    ttt_model_free(c);
    if (s != TTT_OK) return s;
    char *path = ttt_path_join(dir, "train_state.safetensors");
    st_file f;
    s = st_open(&f, path);
    if (s != TTT_OK) {
        free(path);
        return s;
    }
    const char *ver = st_meta(&f, "ttt_train_state_version"), *sstep = st_meta(&f, "step"),
               *swin = st_meta(&f, "windows_consumed"), *sseed = st_meta(&f, "seed");
    if (!ver || strcmp(ver, "1") != 0 || !sstep || !swin || !sseed)
        s = ttt_err(TTT_ERR_FORMAT, "%s: not a training state of version 1 (metadata missing)", path);
    for (int i = 0; s == TTT_OK && i < nmeta; i++) {
        const char *got = st_meta(&f, keys[i]);
        if (!got || strcmp(got, vals[i]) != 0)
            s = ttt_err(TTT_ERR_ARG, "%s: setting '%s' was '%s' in the checkpoint, now '%s'; resume with the same setting",
                        path, keys[i], got ? got : "(absent)", vals[i]);
    }
    if (s == TTT_OK) {
        st->step = strtoll(sstep, NULL, 10);
        st->windows = strtoll(swin, NULL, 10);
        st->seed = strtoull(sseed, NULL, 10);
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
            void *dst = (char *)(mv ? st->v : st->m) + (size_t)p->offset * m->elem;
            s = m->elem == 8 ? st_read_f64(&f, t, dst, p->numel) : st_read_f32(&f, t, dst, p->numel);
        }
    }
    st_close(&f);
    free(path);
    return s;
}
