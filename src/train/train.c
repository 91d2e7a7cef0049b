/* train.c: the training loop (design.md 5; tests/fixtures/golden/train/README.md states one
 * step exactly):
 *   windows of L+1 tokens (inputs = first L, targets = last L, targets equal to BOS left out),
 *   taken in a seeded shuffled order (a new permutation every epoch);
 *   loss = mean over micro-batches of (mean over sequences of each sequence's mean NLL);
 *   a token file with a loss mask (version 2) instead counts exactly the targets its mask
 *   flags (the BOS rule does not apply), and the loss is their mean over the whole step:
 *     loss = Σ_a Σ_(counted t in a) NLL_t / C,  C = Σ_a c_a  (c_a counted targets of micro-batch a),
 *   i.e. micro-batch a contributes (c_a / C)·(its own mean NLL), so the value does not depend
 *   on the micro-batch size or the number of processes;
 *   global-norm clipping c = min(1, clip / (‖g‖ + 1e-6)); learning rate from the schedule
 *   (updates counted from 1); AdamW with decoupled weight decay on every parameter.
 * Checkpoints (checkpoint.h) make a resumed run continue bit for bit; with o.tokenizer each one
 * also carries the tokenizer's files.
 *
 * Data parallelism (docs/distributed.md, src/dist/dist.h): a step of A micro-batches is shared
 * by N ranks, rank r taking the contiguous micro-batches [r·A/N, (r+1)·A/N). The step's
 * gradient is a fixed sum over micro-batches, whoever computes them:
 *   g = T(0, A),  T(i, 1) = g_i = (1/A)·∇ loss of micro-batch i (computed into a zeroed buffer;
 *                 with a loss mask (c_i / C)·∇ of its mean NLL over its counted targets)
 *                 T(i, n) = T(i, n/2) + T(i + n/2, n/2)       n even
 *                 T(i, n) = T(i, n−1) + g_(i+n−1)             n odd
 * Each rank computes T over its own slice; for N a power of two the ranks' slices are subtrees
 * of T and dist_allreduce_sum adds them up the rest of the tree, so 1, 2, 4, ... processes give
 * bit-identical gradients, losses and weights for the same batch and micro-batch. Losses of
 * the micro-batches are exchanged and averaged in micro-batch order. Every rank then takes the
 * same optimizer step; rank 0 alone validates, prints, writes metrics and checkpoints. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/checked.h"
#include "core/error.h"
#include "core/half.h"
#include "core/rng.h"
#include "data/dataset.h"
#include "dist/dist.h"
#include "io/fsutil.h"
#include "model/family.h"
#include "ops/optim.h"
#include "py/ffi.h"
#include "train/checkpoint.h"
#include "ttt_tokenizer.h"
#include "ttt_train.h"

void ttt_train_opts_default(ttt_train_opts *o) {
    memset(o, 0, sizeof *o);
    o->seq_len = 512;
    o->batch = 8;
    o->micro_batch = 0; /* = batch */
    o->steps = 1000;
    o->lr = 3e-3;
    o->lr_end = 1e-5;
    o->warmup = -1; /* 10% of the steps */
    o->schedule = TTT_SCHED_COSINE;
    o->beta1 = 0.9;
    o->beta2 = 0.95;
    o->eps = 1e-8;
    o->weight_decay = 0.1;
    o->clip = 1.0;
    o->ttt_mlp_lr_warmup = 1;
    o->keep_ckpts = 2;
    o->log_every = 10;
    o->val_windows = 16;
    o->mask_bos = 1;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* lr of update c (1-based): linear warm-up to the peak at update W, then cosine to lr_end at
 * update T (optax warmup_cosine_decay_schedule evaluated at count c) */
static double schedule_lr(const ttt_train_opts *o, int64_t c, int64_t W) {
    if (o->schedule == TTT_SCHED_CONSTANT) return o->lr;
    if (c < W) return o->lr * (double)c / (double)W;
    if (o->steps <= W) return o->lr_end;
    double x = (double)(c - W < o->steps - W ? c - W : o->steps - W) / (double)(o->steps - W);
    return o->lr_end + (o->lr - o->lr_end) * 0.5 * (1.0 + cos(3.14159265358979323846 * x));
}

/* TTT-MLP inner η_base multiplier at update k (design.md 2.4): (0.01 + min(1, (k−1)/W)·0.09)/0.1,
 * rounded to bfloat16 as the JAX code does */
static double inner_lr_mult(int64_t k, int64_t W) {
    double frac = W > 0 ? fmin(1.0, (double)(k - 1) / (double)W) : 1.0;
    return (double)bf16_to_f32(f32_to_bf16((float)((0.01 + frac * 0.09) / 0.1)));
}

/* the windows of one epoch in a seeded order (Fisher-Yates) */
static void permutation(int64_t *perm, int64_t W, uint64_t seed, int64_t epoch, int shuffle) {
    for (int64_t i = 0; i < W; i++) perm[i] = i;
    if (!shuffle) return;
    ttt_rng r;
    ttt_rng_seed(&r, seed * 0x9e3779b97f4a7c15ull + (uint64_t)epoch + 1);
    for (int64_t i = W - 1; i > 0; i--) {
        int64_t j = (int64_t)(ttt_rng_u64(&r) % (uint64_t)(i + 1));
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

/* the first token of window w: w(L+1) in the stream, or its entry of the table of windows
 * inside documents (--doc-windows) */
static int64_t window_start(const int64_t *wstart, int64_t w, int64_t L) { return wstart ? wstart[w] : w * (L + 1); }

/* inputs and targets of the window at token offset off (targets equal to bos → −1; with a loss
 * mask, the targets whose mask flag is 0 → −1 instead) */
static void fill_window(const ttt_tokfile *tf, int64_t off, int64_t L, int32_t bos, int32_t *in, int32_t *tg) {
    const int32_t *src = tf->ids + off;
    const uint8_t *mk = tf->mask ? tf->mask + off : NULL;
    for (int64_t t = 0; t < L; t++) {
        in[t] = src[t];
        if (mk) tg[t] = mk[t + 1] ? src[t + 1] : -1;
        else tg[t] = bos >= 0 && src[t + 1] == bos ? -1 : src[t + 1];
    }
}

/* the targets the loss mask counts in each of the W windows of L+1 tokens; their total */
static int64_t *window_counts(const ttt_tokfile *tf, int64_t W, int64_t L, const int64_t *wstart, int64_t *total) {
    int64_t *c = malloc(sizeof(int64_t) * (size_t)(W > 0 ? W : 1));
    *total = 0;
    for (int64_t w = 0; c && w < W; w++) {
        c[w] = 0;
        for (int64_t t = 1; t <= L; t++) c[w] += tf->mask[window_start(wstart, w, L) + t];
        *total += c[w];
    }
    return c;
}

typedef struct {
    FILE *metrics;
    const char *run_dir;
} run_files;

static void metrics_line(run_files *rf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void metrics_line(run_files *rf, const char *fmt, ...) {
    if (!rf->metrics) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(rf->metrics, fmt, ap);
    va_end(ap);
    fputc('\n', rf->metrics);
    fflush(rf->metrics);
}

/* mean NLL over the unmasked targets of the first n windows of tf */
static ttt_status validate(ttt_model *m, const ttt_tokfile *tf, int64_t L, int64_t n, int64_t mb,
                           int32_t bos, double *out) {
    int64_t W = tf->n_tokens / (L + 1);
    n = n < W ? n : W;
    int32_t *in = malloc(sizeof(int32_t) * (size_t)(mb * L)), *tg = malloc(sizeof(int32_t) * (size_t)(mb * L));
    double *nll = malloc(sizeof(double) * (size_t)(mb * L));
    double sum = 0;
    int64_t cnt = 0;
    ttt_status s = (!in || !tg || !nll) ? ttt_err(TTT_ERR_NOMEM, "out of memory") : TTT_OK;
    for (int64_t w0 = 0; w0 < n && s == TTT_OK; w0 += mb) {
        int64_t b = n - w0 < mb ? n - w0 : mb;
        for (int64_t i = 0; i < b; i++) fill_window(tf, (w0 + i) * (L + 1), L, bos, in + i * L, tg + i * L);
        s = ttt_forward_nll(m, in, tg, b, L, nll);
        for (int64_t r = 0; s == TTT_OK && r < b * L; r++)
            if (tg[r] >= 0) sum += nll[r], cnt++;
    }
    free(in), free(tg), free(nll);
    *out = cnt ? sum / (double)cnt : NAN;
    return s;
}

/* The gradient of one step on this rank: T over its micro-batches (file comment). */
typedef struct {
    ttt_model *m;
    const ttt_tokfile *tf;
    int64_t *perm, cur_epoch, W, L, mb;
    const int64_t *wstart; /* --doc-windows: the windows' first tokens; NULL: w(L+1) */
    int64_t A;          /* micro-batches per step, all ranks together */
    int64_t base;       /* windows consumed before this step */
    int64_t first;      /* this rank's first micro-batch */
    int32_t bos, *in, *tg;
    int shuffle;
    uint64_t seed;
    double *loss;       /* loss of each of this rank's micro-batches */
    void *tmp[64];      /* gradient-sized buffers of the tree, by depth (allocated on first use) */
    /* with a loss mask: the counted targets of every window, of each of the step's A
     * micro-batches (all ranks'), and of the whole step */
    const int64_t *wcount;
    int64_t *mb_count, step_count;
} step_grad;

/* the window that global position g (windows consumed since the start) takes */
static int64_t window_at(step_grad *c, int64_t g) {
    int64_t epoch = g / c->W;
    if (epoch != c->cur_epoch) {
        permutation(c->perm, c->W, c->seed, epoch, c->shuffle);
        c->cur_epoch = epoch;
    }
    return c->perm[g % c->W];
}

/* with a loss mask: c_a for the step's micro-batches a < A and C = Σ c_a (every rank alike) */
static void count_step(step_grad *c) {
    c->step_count = 0;
    for (int64_t a = 0; a < c->A; a++) {
        c->mb_count[a] = 0;
        for (int64_t i = 0; i < c->mb; i++) c->mb_count[a] += c->wcount[window_at(c, c->base + a * c->mb + i)];
        c->step_count += c->mb_count[a];
    }
}

/* out = g_a = (1/A)·∇ (loss of micro-batch a): windows base + a·mb + i, i < mb; with a loss
 * mask g_a = (c_a / C)·∇ (mean NLL over its c_a counted targets) */
static ttt_status grad_leaf(step_grad *c, int64_t a, void *out) {
    for (int64_t i = 0; i < c->mb; i++)
        fill_window(c->tf, window_start(c->wstart, window_at(c, c->base + a * c->mb + i), c->L), c->L, c->bos,
                    c->in + i * c->L, c->tg + i * c->L);
    ttt_model *m = c->m;
    void *g0 = m->g; /* the model accumulates into m->g: point it at `out` for this call */
    m->g = out;
    memset(out, 0, (size_t)m->tab.total * m->elem);
    int per_seq = 1;
    double scale = 1.0 / (double)c->A;
    if (c->wcount) {
        per_seq = 0;
        scale = c->step_count ? (double)c->mb_count[a] / (double)c->step_count : 0.0;
    }
    ttt_status s = ttt_forward_backward(m, c->in, c->tg, c->mb, c->L, per_seq, scale, &c->loss[a - c->first]);
    m->g = g0;
    return s;
}

/* out = T(i, n) */
static ttt_status grad_tree(step_grad *c, int64_t i, int64_t n, void *out, int depth) {
    if (n == 1) return grad_leaf(c, i, out);
    int64_t nl = n % 2 == 0 ? n / 2 : n - 1;
    TRY(grad_tree(c, i, nl, out, depth));
    if (!c->tmp[depth]) {
        c->tmp[depth] = ttt_malloc((size_t)c->m->tab.total * c->m->elem, "gradient accumulation buffer");
        if (!c->tmp[depth]) return TTT_ERR_NOMEM;
    }
    TRY(grad_tree(c, i + nl, n - nl, c->tmp[depth], depth + 1));
    int64_t P = c->m->tab.total;
    if (c->m->elem == 8) {
        double *o = out;
        const double *t = c->tmp[depth];
        for (int64_t k = 0; k < P; k++) o[k] += t[k];
    } else {
        float *o = out;
        const float *t = c->tmp[depth];
        for (int64_t k = 0; k < P; k++) o[k] += t[k];
    }
    return TTT_OK;
}

/* Errors in a job of several ranks: every rank's status is exchanged (a collective), so that all
 * stop together. Returns the first failing rank (−1: none); a rank that is itself fine gets
 * the failing rank's code with a message `what` and leaves printing to that rank (rank 0
 * prints in any case). */
static int agree_status(ttt_status *s, const char *what) {
    int N = dist_size();
    if (N == 1) return *s == TTT_OK ? -1 : 0;
    double mine = (double)*s, *all = malloc(sizeof(double) * (size_t)N);
    if (!all) dist_abort(1, "out of memory");
    dist_allgather_f64(&mine, 1, all);
    int bad = -1;
    for (int r = 0; r < N && bad < 0; r++)
        if (all[r] != 0) bad = r;
    if (bad >= 0 && *s == TTT_OK) {
        *s = ttt_err((ttt_status)all[bad], "%s: rank %d failed (its message is above)", what, bad);
        dist_set_remote_error(1);
    }
    free(all);
    return bad;
}

static ttt_status stop_not_finite(const char *run_dir, int64_t k, const char *what) {
    char *lc = ttt_run_latest_checkpoint(run_dir);
    ttt_clear_error();
    ttt_status s = ttt_err(TTT_ERR_NUMERIC, "training stopped at step %lld: the %s is not finite; the last "
                           "checkpoint is %s (resume from it with --resume, perhaps with a lower learning rate)",
                           (long long)k, what, lc ? lc : "(none yet)");
    free(lc);
    return s;
}

/* an error every rank finds alike (settings): rank 0 alone prints it */
static ttt_status everywhere(ttt_status s) {
    dist_set_remote_error(dist_rank() != 0);
    return s;
}

ttt_status ttt_train(ttt_model *m, const ttt_train_opts *o_in, const char *train_path,
                     const char *val_path, const char *run_dir, int resume, ttt_progress_fn progress,
                     void *ctx) {
    ttt_train_opts o = *o_in;
    const int N = dist_size(), R = dist_rank();
    /* by default every rank makes one forward/backward of its share of the batch */
    if (o.micro_batch <= 0) o.micro_batch = o.batch % N == 0 && o.batch >= N ? o.batch / N : o.batch;
    if (o.warmup < 0) o.warmup = o.steps / 10;
    if (o.seq_len < 1 || o.batch < 1 || o.steps < 1)
        return everywhere(ttt_err(TTT_ERR_ARG, "train: seq_len, batch and steps must be >= 1"));
    if (o.batch % o.micro_batch != 0)
        return everywhere(ttt_err(TTT_ERR_ARG, "train: the batch (%lld sequences) is not a multiple of the "
                                  "micro-batch (%lld)", (long long)o.batch, (long long)o.micro_batch));
    if ((o.batch / o.micro_batch) % N != 0)
        return everywhere(ttt_err(TTT_ERR_ARG, "train: a step of %lld micro-batches (batch %lld / micro-batch %lld) "
                                  "cannot be shared by %d processes: batch / micro-batch must be a multiple of "
                                  "the number of processes", (long long)(o.batch / o.micro_batch),
                                  (long long)o.batch, (long long)o.micro_batch, N));
    if (!(o.lr >= 0) || !(o.lr_end >= 0) || !(o.beta1 >= 0 && o.beta1 < 1) || !(o.beta2 >= 0 && o.beta2 < 1) ||
        !(o.eps > 0) || !(o.weight_decay >= 0) || !(o.clip >= 0))
        return everywhere(ttt_err(TTT_ERR_ARG, "train: learning rates, weight decay and the clipping norm must "
                                  "be >= 0, betas in [0, 1), eps > 0 (got lr %g, lr_end %g, beta1 %g, beta2 %g, "
                                  "eps %g, weight decay %g, clip %g)", o.lr, o.lr_end, o.beta1, o.beta2, o.eps,
                                  o.weight_decay, o.clip));
    int64_t total_windows; /* the data position after the last step: an int64 */
    if (!ttt_i64_mul_ok(o.steps, o.batch, &total_windows))
        return everywhere(ttt_err(TTT_ERR_ARG, "train: %lld steps of %lld sequences is too many windows to count",
                                  (long long)o.steps, (long long)o.batch));
    const int64_t L = o.seq_len, A = o.batch / o.micro_batch, mb = o.micro_batch, Al = A / N;
    const int32_t bos = o.mask_bos ? (int32_t)m->cfg.bos_token_id : -1;

    /* set-up: every rank reads the training data; rank 0 alone the validation data, the run
     * directory and the checkpoint; then all agree that it worked */
    ttt_tokfile tf, vf;
    memset(&tf, 0, sizeof tf);
    memset(&vf, 0, sizeof vf);
    ttt_status s = ttt_tokfile_read(train_path, &tf);
    if (s == TTT_OK) s = ttt_tokfile_check_model(&tf, &m->cfg, train_path);
    int64_t W = tf.n_tokens / (L + 1), *wstart = NULL, longest = 0;
    if (s == TTT_OK && o.doc_windows) {
        s = data_doc_windows(&tf, L, &wstart, &W, &longest);
        if (s != TTT_OK) {
            char why[300];
            snprintf(why, sizeof why, "%s", ttt_last_error());
            s = ttt_err(s, "%s: --doc-windows: %s", train_path, why);
        } else if (W < 1)
            s = ttt_err(TTT_ERR_ARG, "%s: --doc-windows: no document holds a window of L+1 = %lld tokens (the longest "
                        "of its %lld documents has %lld)", train_path, (long long)(L + 1), (long long)tf.n_docs,
                        (long long)longest);
    }
    if (s == TTT_OK && W < 1)
        s = ttt_err(TTT_ERR_ARG, "%s: %lld tokens do not make one window of L+1 = %lld tokens", train_path,
                    (long long)tf.n_tokens, (long long)(L + 1));
    /* a loss mask must count something in the windows used */
    int64_t *wcount = NULL, mask_total = 0;
    if (s == TTT_OK && tf.mask) {
        wcount = window_counts(&tf, W, L, wstart, &mask_total);
        if (!wcount) s = ttt_err(TTT_ERR_NOMEM, "out of memory");
        else if (mask_total == 0)
            s = ttt_err(TTT_ERR_ARG, "%s: its loss mask counts no target in its %lld windows of L+1 = %lld tokens "
                        "(nothing to train on)", train_path, (long long)W, (long long)(L + 1));
    }
    if (s == TTT_OK && val_path && R == 0) {
        s = ttt_tokfile_read(val_path, &vf);
        if (s == TTT_OK) s = ttt_tokfile_check_model(&vf, &m->cfg, val_path);
        if (s == TTT_OK && vf.n_tokens < L + 1)
            s = ttt_err(TTT_ERR_ARG, "%s: fewer tokens (%lld) than one window of %lld", val_path,
                        (long long)vf.n_tokens, (long long)(L + 1));
        if (s == TTT_OK && vf.mask) {
            int64_t Wv = vf.n_tokens / (L + 1), vt = 0;
            if (Wv > o.val_windows) Wv = o.val_windows;
            int64_t *vc = window_counts(&vf, Wv, L, NULL, &vt);
            if (!vc) s = ttt_err(TTT_ERR_NOMEM, "out of memory");
            else if (vt == 0)
                s = ttt_err(TTT_ERR_ARG, "%s: its loss mask counts no target in the %lld validation windows of L+1 = "
                            "%lld tokens", val_path, (long long)Wv, (long long)(L + 1));
            free(vc);
        }
    }

    /* settings a resume must keep (they fix which windows each step sees) */
    /* (the seed is the state's own "seed"; train_data identifies the training file by its token
     * count and the FNV-1a checksum of its whole payload, which ttt_tokfile_read verifies) */
    char s_L[32], s_B[32], s_data[96];
    snprintf(s_L, sizeof s_L, "%lld", (long long)L);
    snprintf(s_B, sizeof s_B, "%lld", (long long)o.batch);
    snprintf(s_data, sizeof s_data, "%lld tokens, checksum %016" PRIx64, (long long)tf.n_tokens, tf.checksum);
    /* (matmul_precision: bf16 mixed precision or float32 products; a resume stays bitwise only
     * with the same; checkpoints from before the key are float32) */
    /* (windows: the stream cut every L+1 tokens, or --doc-windows; checkpoints from before the key
     * are the stream's) */
    const char *keys[] = {"seq_len", "batch", "train_data", "shuffle", "matmul_precision", "windows"};
    const char *vals[] = {s_L, s_B, s_data, o.no_shuffle ? "0" : "1", m->opt.bf16_train ? "bf16" : "f32",
                          o.doc_windows ? "documents" : "stream"};
    const char *absent[] = {NULL, NULL, NULL, NULL, "f32", "stream"};
    const char *hint[] = {NULL, NULL, "training token file (--data)", NULL, "setting (--bf16 for bf16)",
                          "setting (--doc-windows for windows inside documents)"};
    const int nkeys = 6;
    const ckpt_expect expect = {o.batch, o.seed, keys, vals, nkeys, absent, hint};

    size_t pbytes = (size_t)m->tab.total * m->elem;
    train_state st = {0, 0, o.seed, ttt_calloc(pbytes, "AdamW m"), ttt_calloc(pbytes, "AdamW v")};
    int32_t *in = malloc(sizeof(int32_t) * (size_t)(mb * L)), *tg = malloc(sizeof(int32_t) * (size_t)(mb * L));
    int64_t *perm = malloc(sizeof(int64_t) * (size_t)(W > 0 ? W : 1));
    double *mb_loss = malloc(sizeof(double) * (size_t)(Al + 1)), *all_loss = malloc(sizeof(double) * (size_t)(N * (Al + 1)));
    int64_t *mb_count = malloc(sizeof(int64_t) * (size_t)A);
    if (s == TTT_OK && (!st.m || !st.v || !in || !tg || !perm || !mb_loss || !all_loss || !mb_count))
        s = ttt_err(TTT_ERR_NOMEM, "out of memory for the optimizer state");
    if (s == TTT_OK) s = ttt_zero_grad(m);
    char *latest = NULL;
    ckpt_tokenizer ctok = {0};
    run_files rf = {NULL, run_dir};
    int lock_fd = -1; /* rank 0 holds the run directory for the whole training */
    /* the tokenizer every checkpoint carries: its files made once (rank 0 writes checkpoints) */
    if (s == TTT_OK && R == 0 && o.tokenizer) {
        if (ttt_tok_vocab_size(o.tokenizer) > m->cfg.vocab_size)
            s = ttt_err(TTT_ERR_ARG, "train: the tokenizer '%s' has %lld ids but the model's vocab_size is %lld",
                        ttt_tok_name(o.tokenizer), (long long)ttt_tok_vocab_size(o.tokenizer),
                        (long long)m->cfg.vocab_size);
        else
            s = ckpt_tokenizer_make(o.tokenizer, &ctok);
    }
    if (s == TTT_OK && R == 0 && o.generation_config) s = ckpt_generation_read(o.generation_config, &ctok);
    if (s == TTT_OK && R == 0) {
        s = ttt_mkdir(run_dir);
        if (s == TTT_OK) s = ttt_dir_lock(run_dir, &lock_fd);
        if (s == TTT_OK) {
            char *lp = ttt_path_join(run_dir, "latest");
            struct stat sb;
            int has = lp && lstat(lp, &sb) == 0;
            free(lp);
            if (resume && !has)
                s = ttt_err(TTT_ERR_ARG, "%s: nothing to resume (no checkpoint in this run directory)", run_dir);
            else if (!resume && has)
                s = ttt_err(TTT_ERR_ARG, "%s: the run directory already has checkpoints; resume it (--resume) or "
                            "use another directory", run_dir);
            else if (resume) {
                int64_t named = 0;
                s = ckpt_latest(run_dir, &latest, &named);
                if (s == TTT_OK) s = ckpt_read(latest, m, &st, &expect);
                if (s == TTT_OK && st.step != named)
                    s = ttt_err(TTT_ERR_FORMAT, "%s: the checkpoint's training state is at step %lld, but its name "
                                "says step %lld", latest, (long long)st.step, (long long)named);
                if (s == TTT_OK && st.step >= o.steps)
                    s = ttt_err(TTT_ERR_ARG, "%s: the run is already at step %lld and --steps %lld is the total "
                                "number of steps to train to: nothing to do (give a --steps above %lld to train "
                                "further)", run_dir, (long long)st.step, (long long)o.steps, (long long)st.step);
            }
        }
        if (s == TTT_OK) {
            /* appended to, never through a symbolic link, and only a regular file */
            char *mp = ttt_path_join(run_dir, "metrics.jsonl");
            int fd = mp ? open(mp, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0666) : -1;
            struct stat sb;
            if (fd < 0)
                s = ttt_err(TTT_ERR_IO, "%s: cannot write: %s", mp ? mp : "metrics.jsonl",
                            errno == ELOOP ? "it is a symbolic link; expected a regular file" : strerror(errno));
            else if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
                s = ttt_err(TTT_ERR_IO, "%s: is not a regular file", mp);
            else if (!(rf.metrics = fdopen(fd, "a")))
                s = ttt_err(TTT_ERR_IO, "%s: cannot write: %s", mp, strerror(errno));
            if (s != TTT_OK && fd >= 0 && !rf.metrics) close(fd);
            if (rf.metrics) {
                int fl = fcntl(fd, F_GETFL);
                if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
            }
            free(mp);
        }
    }
    if (N > 1) {
        /* every rank must train on the same token file */
        uint64_t d0[2] = {(uint64_t)tf.n_tokens, tf.checksum};
        dist_bcast(d0, sizeof d0, 0);
        if (s == TTT_OK && (d0[0] != (uint64_t)tf.n_tokens || d0[1] != tf.checksum))
            s = ttt_err(TTT_ERR_ARG, "%s: this rank's copy (%lld tokens, checksum %016" PRIx64 ") differs from rank 0's "
                        "(%lld tokens, checksum %016" PRIx64 ")", train_path, (long long)tf.n_tokens, tf.checksum,
                        (long long)d0[0], d0[1]);
        agree_status(&s, "train: set-up");
        if (s == TTT_OK) {
            /* rank 0's weights and optimizer state (fresh or from the checkpoint) on every rank */
            int64_t pos[2] = {st.step, st.windows};
            dist_bcast(pos, sizeof pos, 0);
            st.step = pos[0], st.windows = pos[1];
            dist_bcast(m->w, pbytes, 0);
            if (resume) {
                dist_bcast(st.m, pbytes, 0);
                dist_bcast(st.v, pbytes, 0);
            }
        }
    }
    if (s == TTT_OK && !resume)
        metrics_line(&rf, "{\"event\": \"start\", \"steps\": %lld, \"seq_len\": %lld, \"batch\": %lld, \"lr\": %g, "
                     "\"parameters\": %lld, \"train_tokens\": %lld, \"micro_batch\": %lld, \"ranks\": %d, "
                     "\"allreduce_bytes\": %zu, \"windows\": \"%s\", \"windows_per_epoch\": %lld}",
                     (long long)o.steps, (long long)L, (long long)o.batch, o.lr, (long long)ttt_param_numel_total(m),
                     (long long)tf.n_tokens, (long long)mb, N, N > 1 ? pbytes : (size_t)0,
                     o.doc_windows ? "documents" : "stream", (long long)W);
    if (s == TTT_OK && !resume && tf.mask)
        metrics_line(&rf, "{\"event\": \"loss_mask\", \"counted_targets\": %lld, \"windows\": %lld}",
                     (long long)mask_total, (long long)W);
    if (s == TTT_OK && resume)
        metrics_line(&rf, "{\"event\": \"resume\", \"step\": %lld, \"ranks\": %d}", (long long)st.step, N);
    const ttt_family *fam = ttt_family_of(&m->cfg);
    int mlp_warm = o.ttt_mlp_lr_warmup && fam->inner_lr_warmup && fam->inner_lr_warmup(&m->cfg);
    int64_t start_step = st.step; /* this call's steps: st.step − start_step */
    double t_start = now_s();
    char *ckpt_path = NULL;
    step_grad sg;
    memset(&sg, 0, sizeof sg);
    sg.wstart = wstart;
    sg.m = m, sg.tf = &tf, sg.perm = perm, sg.cur_epoch = -1, sg.W = W, sg.L = L, sg.mb = mb, sg.A = A;
    sg.first = R * Al, sg.bos = bos, sg.in = in, sg.tg = tg, sg.shuffle = !o.no_shuffle, sg.seed = o.seed;
    sg.loss = mb_loss;
    sg.wcount = wcount, sg.mb_count = mb_count;
    (void)ttt_train_stop_pending(); /* a request left from an earlier run does not count */
    while (s == TTT_OK && st.step < o.steps) {
        double t0 = now_s();
        int64_t k = st.step + 1; /* this update, counted from 1 */
        if (mlp_warm) ttt_model_set_inner_lr_mult(m, inner_lr_mult(k, o.warmup));
        /* this rank's micro-batches, then every rank's status and losses (one exchange) */
        sg.base = st.windows;
        if (sg.wcount) count_step(&sg);
        s = grad_tree(&sg, sg.first, Al, m->g, 0);
        if (mlp_warm) ttt_model_set_inner_lr_mult(m, 1.0);
        if (s == TTT_ERR_NUMERIC) s = stop_not_finite(run_dir, k, "loss");
        mb_loss[Al] = (double)s;
        dist_allgather_f64(mb_loss, Al + 1, all_loss);
        int bad = -1;
        for (int r = 0; r < N && bad < 0; r++)
            if (all_loss[r * (Al + 1) + Al] != 0) bad = r;
        if (bad >= 0) {
            ttt_status code = (ttt_status)all_loss[bad * (Al + 1) + Al];
            /* a non-finite loss gets the same message on every rank (rank 0 prints it); another
             * error is printed by its rank, and rank 0 names that rank */
            if (code == TTT_ERR_NUMERIC) {
                if (s == TTT_OK) s = stop_not_finite(run_dir, k, "loss");
                dist_set_remote_error(R != 0);
            } else if (s == TTT_OK) {
                s = ttt_err(code, "training stopped at step %lld: rank %d failed (its message is above)",
                            (long long)k, bad);
                dist_set_remote_error(1);
            }
        }
        if (s != TTT_OK) break;
        double loss = 0;
        for (int64_t a = 0; a < A; a++) {
            double la = all_loss[(a / Al) * (Al + 1) + a % Al];
            /* with a loss mask, (c_a / C)·(micro-batch a's mean) sums to the step's mean */
            loss += sg.wcount ? (sg.step_count ? la * (double)mb_count[a] / (double)sg.step_count : 0.0) : la / (double)A;
        }
        /* the rest of the tree over the ranks' gradients */
        dist_allreduce_sum(m->g, m->tab.total, m->elem);
        double sq = m->elem == 8 ? sumsq_f64(m->g, m->tab.total) : sumsq_f32(m->g, m->tab.total);
        double norm = sqrt(sq);
        if (!isfinite(norm)) {
            s = everywhere(stop_not_finite(run_dir, k, "gradient norm"));
            break;
        }
        double c = o.clip > 0 ? fmin(1.0, o.clip / (norm + 1e-6)) : 1.0;
        double lr = schedule_lr(&o, k, o.warmup);
        if (m->elem == 8)
            adamw_step_f64(m->w, m->g, st.m, st.v, m->tab.total, lr, o.beta1, o.beta2, o.eps, o.weight_decay, k, c);
        else
            adamw_step_f32(m->w, m->g, st.m, st.v, m->tab.total, lr, o.beta1, o.beta2, o.eps, o.weight_decay, k, c);
        st.step = k;
        st.windows += o.batch;
        double dt = now_s() - t0;
        ttt_train_progress p = {k, o.steps, loss, lr, norm, (double)(o.batch * L) / dt, now_s() - t_start, NAN,
                                start_step};
        int last = st.step == o.steps || (o.stop_after > 0 && st.step - start_step >= o.stop_after);
        int val_due = val_path && ((o.val_every > 0 && k % o.val_every == 0) || last);
        int ckpt_due = (o.ckpt_every > 0 && k % o.ckpt_every == 0) || last;
        if (R == 0) {
            if (val_due) {
                s = validate(m, &vf, L, o.val_windows, mb, bos, &p.val_loss);
                if (s == TTT_OK)
                    metrics_line(&rf, "{\"step\": %lld, \"val_loss\": %.6f, \"val_ppl\": %.4f}", (long long)k,
                                 p.val_loss, exp(p.val_loss));
            }
            if (s == TTT_OK && o.log_every > 0 && (k % o.log_every == 0 || last || k == 1))
                metrics_line(&rf, "{\"step\": %lld, \"loss\": %.6f, \"lr\": %.6g, \"grad_norm\": %.6f, "
                             "\"tokens_per_s\": %.1f, \"elapsed_s\": %.2f}",
                             (long long)k, loss, lr, norm, p.tokens_per_s, p.elapsed_s);
            if (s == TTT_OK && progress && !o.quiet) progress(&p, ctx);
            if (s == TTT_OK && ttt_train_stop_pending())
                s = ttt_err(TTT_ERR_ARG, "training stopped at step %lld by the progress callback", (long long)k);
            if (s == TTT_OK && ckpt_due) {
                free(ckpt_path);
                ckpt_path = NULL;
                s = ckpt_write(run_dir, m, o.tokenizer || ctok.gen ? &ctok : NULL, &st, keys, vals, nkeys, o.keep_ckpts, &ckpt_path);
            }
        }
        /* rank 0's validation and checkpoint worked (the others wait here for the checkpoint) */
        if (N > 1 && (val_due || ckpt_due)) agree_status(&s, "training stopped");
        if (last) break;
    }
    if (rf.metrics) fclose(rf.metrics);
    ttt_dir_unlock(lock_fd);
    for (int d = 0; d < 64; d++) ttt_free(sg.tmp[d]);
    free(ckpt_path);
    free(latest);
    ckpt_tokenizer_free(&ctok);
    free(in), free(tg), free(perm), free(mb_loss), free(all_loss), free(mb_count), free(wcount), free(wstart);
    ttt_free(st.m), ttt_free(st.v);
    ttt_tokfile_free(&tf);
    ttt_tokfile_free(&vf);
    return s;
}
