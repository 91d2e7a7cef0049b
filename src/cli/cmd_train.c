/* cmd_train.c: `ttt train`: train a model from a preset or a model directory on token files,
 * with a live progress line on a terminal (a plain line per interval otherwise), metrics.jsonl
 * and checkpoints in the run directory, and exact resume. Under a launcher (`mpirun -np N ttt
 * train ...`, docs/distributed.md) the N processes share every batch; rank 0 alone prints. */
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/model_flags.h"
#include "cli/model_tok.h"
#include "cli/commands.h"
#include "core/error.h"
#include "dist/dist.h"
#include "io/fsutil.h"
#include "ttt.h"
#include "ttt_tokenizer.h"
#include "ttt_train.h"

static const flag_spec own_flags[] = {
    {"model", 1},       {"data", 1},         {"val", 1},        {"run", 1},
    {"resume", 0},      {"steps", 1},       {"seq-len", 1},      {"batch", 1},      {"micro-batch", 1},
    {"batch-tokens", 1}, {"lr", 1},         {"lr-end", 1},       {"warmup", 1},     {"schedule", 1},
    {"beta1", 1},       {"beta2", 1},       {"eps", 1},          {"weight-decay", 1}, {"clip", 1},
    {"no-ttt-lr-warmup", 0}, {"seed", 1},   {"init-seed", 1},    {"ckpt-every", 1}, {"keep", 1},
    {"log-every", 1},   {"val-every", 1},   {"val-windows", 1},  {"stop-after", 1}, {"threads", 1},
    {"remat-group", 1}, {"no-bos-mask", 0}, {"quiet", 0},        {"precision", 1},  {"bf16", 0},
    {"tokenizer", 1},   {"doc-windows", 0}, {NULL, 0}};

static void help(void) {
    printf("usage: ttt train (--preset NAME | --model DIR) --data TRAIN.tok --run RUNDIR [flags]\n"
           "       ttt train --run RUNDIR --resume --data TRAIN.tok [same flags]\n\n"
           "Trains on windows of L+1 tokens of TRAIN.tok (a token file of 'ttt tokenize'), in a seeded\n"
           "shuffled order; targets equal to the model's bos_token_id are left out; the loss is the mean\n"
           "over sequences of each sequence's mean NLL (a token file with a loss mask, e.g. from 'ttt synth',\n"
           "counts exactly the targets it flags, and the loss is their mean over the whole step). AdamW\n"
           "with decoupled weight decay on every parameter, linear warm-up then cosine decay, global-norm\n"
           "clipping. Checkpoints go to\n"
           "RUNDIR/ckpt-NNNNNNNN/ (model directories other commands load; RUNDIR/model points at the\n"
           "newest), metrics to RUNDIR/metrics.jsonl.\n\n"
           "  --preset NAME | --model DIR   the model to start from (see 'ttt init --help'); a preset\n"
           "                  takes the overrides of 'ttt init' (the vocab and BOS/EOS come from the\n"
           "                  token file):\n");
    model_flags_help(stdout);
    printf("  --val FILE      validation token file (loss every --val-every steps and at the end)\n"
           "  --steps N (1000) --seq-len L (512) --batch B (8 sequences per step)\n"
           "  --batch-tokens T  sets B = T / L;  --micro-batch M  sequences per forward/backward\n"
           "                  (B/M micro-batches are accumulated)\n"
           "  --lr X (3e-3) --lr-end X (1e-5) --warmup N (10%% of steps) --schedule cosine|constant\n"
           "  --beta1 0.9 --beta2 0.95 --eps 1e-8 --weight-decay 0.1 --clip 1.0 (0: off)\n"
           "  --no-ttt-lr-warmup  TTT-MLP: no warm-up of the inner learning rate\n"
           "  --seed N (order of the windows)  --init-seed N (fresh weights)\n"
           "  --ckpt-every N (0: only at the end) --keep N (2 checkpoints kept)\n"
           "  --log-every N (10) --val-every N --val-windows N (16)\n"
           "  --stop-after N  stop after N steps of this call (with a checkpoint); resume later\n"
           "  --resume        continue RUNDIR's latest checkpoint exactly\n"
           "  --tokenizer PATH  the tokenizer of TRAIN.tok (a tokenizer.json or a directory holding one, a\n"
           "                  .tiktoken file, a Llama-2 directory), written into every checkpoint as\n"
           "                  tokenizer.json + tokenizer_config.json; it must be the token file's (name and\n"
           "                  vocabulary size) and fit the model's vocab_size. Without it, the tokenizer.json\n"
           "                  of --model DIR, or when resuming of the latest checkpoint, is carried on\n"
           "  --bf16          bf16 mixed precision: the products of the linear layers (forward, input\n"
           "                  and weight gradients) in bfloat16 with float32 accumulation; weights,\n"
           "                  gradients, AdamW, the TTT inner loop, attention, scans, norms and the\n"
           "                  loss in float32. A resume keeps it (the checkpoint records it)\n"
           "  --doc-windows   draw the windows inside documents only: each document of TRAIN.tok gives\n"
           "                  floor(tokens / (L+1)) windows from its start, so no window crosses a document\n"
           "                  boundary (shorter documents and the ends of longer ones are left out; a resume\n"
           "                  keeps it). Default: the whole stream cut every L+1 tokens\n"
           "  --no-bos-mask --threads N --remat-group N --precision f32|f64 --quiet\n\n"
           "Data parallel: mpirun -np N ttt train ... (an MPI build) splits every batch over N processes\n"
           "(batch / micro-batch must be a multiple of N; the micro-batch defaults to batch / N) and\n"
           "averages their gradients; the global batch, and so the run, do not depend on N. With the same\n"
           "--micro-batch, 1, 2, 4, ... processes give bit-identical runs. --threads defaults to the\n"
           "machine's cores divided among its processes. See docs/distributed.md.\n");
}

typedef struct {
    int tty;
    int64_t log_every;
} prog_ctx;

static void fmt_time(char *buf, size_t n, double s) {
    if (!(s >= 0) || s > 1e7) {
        snprintf(buf, n, "--:--");
        return;
    }
    long t = (long)s;
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, n, "%02ld:%02ld", t / 60, t % 60);
}

static void on_progress(const ttt_train_progress *p, void *ctx_) {
    prog_ctx *c = ctx_;
    char el[32], eta[32];
    fmt_time(el, sizeof el, p->elapsed_s);
    /* elapsed_s counts from the start of this call, which may have resumed at start_step */
    fmt_time(eta, sizeof eta, p->elapsed_s / (double)(p->step - p->start_step) * (double)(p->steps - p->step));
    char val[48] = "";
    if (!isnan(p->val_loss)) snprintf(val, sizeof val, " | val %.4f (ppl %.1f)", p->val_loss, exp(p->val_loss));
    if (c->tty) {
        fprintf(stderr, "\r\033[Kstep %lld/%lld | loss %.4f | lr %.2e | grad %.3f | %.0f tok/s | %s, ETA %s%s",
                (long long)p->step, (long long)p->steps, p->loss, p->lr, p->grad_norm, p->tokens_per_s, el, eta, val);
        if (p->step == p->steps || val[0]) fputc('\n', stderr);
    } else if (p->step == 1 || p->step == p->steps || (c->log_every > 0 && p->step % c->log_every == 0) || val[0]) {
        fprintf(stderr, "step %lld/%lld loss %.4f lr %.2e grad_norm %.3f tokens/s %.0f elapsed %s eta %s%s\n",
                (long long)p->step, (long long)p->steps, p->loss, p->lr, p->grad_norm, p->tokens_per_s, el, eta, val);
    }
    fflush(stderr);
}

/* An error: rank 0 prints every error, another rank only one that happened there. */
static int train_fail(void) {
    if (dist_rank() == 0) return cli_fail("train");
    if (!dist_remote_error()) fprintf(stderr, "ttt train: rank %d: %s\n", dist_rank(), ttt_last_error());
    return 1;
}

/* When the launcher stops the job (a rank died, or the job was cancelled), rank 0 says what
 * became of the run before it goes. Only async-signal-safe calls: the text is made in advance. */
static char term_msg[1400];
static void on_term(int sig) {
    ssize_t w = write(2, term_msg, strlen(term_msg));
    (void)w;
    signal(sig, SIG_DFL);
    raise(sig);
}

/* threads per process when --threads is not given: the cores this process may use, shared
 * with the other processes of the job on this machine */
static int default_threads(void) {
    int t = omp_get_num_procs() / dist_local_size();
    return t > 0 ? t : 1;
}

/* Why tokenizer mt cannot go with the token file (header th) and the model, into msg; 0: it can */
static int tokenizer_mismatch(const model_tok *mt, const char *what, const char *data, const ttt_tokfile *th,
                              const ttt_config *cfg, char *msg, size_t cap) {
    char d[1200];
    model_tok_describe(mt, d, sizeof d);
    int64_t V = ttt_tok_vocab_size(mt->tok);
    if ((th->tokenizer[0] && !model_tok_is(mt, th->tokenizer)) || th->vocab_size != V)
        snprintf(msg, cap, "%s was made with tokenizer '%s' (%lld ids), but %s is %s: give the tokenizer the token "
                 "file was made with", data, th->tokenizer[0] ? th->tokenizer : "(unnamed)", (long long)th->vocab_size,
                 what, d);
    else if (V > cfg->vocab_size)
        snprintf(msg, cap, "%s is %s, more ids than the model's vocab_size %lld", what, d, (long long)cfg->vocab_size);
    else if (cfg->tokenizer[0] && !model_tok_is(mt, cfg->tokenizer))
        snprintf(msg, cap, "the model was trained with tokenizer '%s', but %s is %s", cfg->tokenizer, what, d);
    else
        return 0;
    return 1;
}

/* The tokenizer the checkpoints carry (rank 0): --tokenizer (a mismatch is an error), else the
 * tokenizer.json of the latest checkpoint (--resume) or of --model DIR (a mismatch or a file
 * this build cannot read only drops it, with a note). mt->tok stays NULL when there is none. */
static ttt_status setup_tokenizer(const args *a, int resume, const ttt_tokfile *th, const ttt_config *cfg,
                                  int quiet, model_tok *mt) {
    const char *given = args_str(a, "tokenizer", NULL), *data = args_str(a, "data", "");
    char what[1300], msg[4000];
    memset(mt, 0, sizeof *mt);
    /* data that does not fit the model is refused by the training itself, with its message */
    if (ttt_tokfile_check_model(th, cfg, data) != TTT_OK) {
        ttt_clear_error();
        return TTT_OK;
    }
    if (given) {
        snprintf(what, sizeof what, "--tokenizer %.1200s", given);
        ttt_status ls = model_tok_load(given, mt);
        if (ls != TTT_OK) {
            snprintf(msg, sizeof msg, "%s", ttt_last_error());
            return ttt_err(ls, "--tokenizer: %s", msg);
        }
        if (tokenizer_mismatch(mt, what, data, th, cfg, msg, sizeof msg)) {
            model_tok_free(mt);
            return ttt_err(TTT_ERR_ARG, "%s", msg);
        }
        return TTT_OK;
    }
    char *dir = resume ? ttt_run_latest_checkpoint(args_str(a, "run", ""))
                       : args_has(a, "model") ? strdup(args_str(a, "model", "")) : NULL;
    ttt_clear_error();
    if (dir && model_tok_in_dir(dir)) {
        snprintf(what, sizeof what, "%.1200s/tokenizer.json", dir);
        if (model_tok_load(dir, mt) != TTT_OK)
            snprintf(msg, sizeof msg, "%s", ttt_last_error());
        else if (!tokenizer_mismatch(mt, what, data, th, cfg, msg, sizeof msg)) {
            free(dir);
            return TTT_OK;
        }
        model_tok_free(mt);
        ttt_clear_error();
        fprintf(stderr, "ttt train: note: %s; the checkpoints get no tokenizer files (give --tokenizer PATH to "
                "write one)\n", msg);
    } else if (!quiet) {
        fprintf(stderr, "ttt train: note: the checkpoints get no tokenizer files; give --tokenizer PATH (the "
                "tokenizer of %s%s%s%s) to make each one a self-contained model directory\n", data,
                th->tokenizer[0] ? ", '" : "", th->tokenizer, th->tokenizer[0] ? "'" : "");
    }
    free(dir);
    return TTT_OK;
}

static int train_job(const args *a, ttt_train_opts *o, ttt_options *mo, int resume, ttt_config *cfg,
                     uint64_t init_seed) {
    const int N = dist_size(), R = dist_rank();
    const char *data = args_str(a, "data", ""), *run = args_str(a, "run", "");
    if (N > 1 && !args_has(a, "threads")) mo->threads = default_threads();
    ttt_tokfile th;
    ttt_model *m = NULL;
    ttt_status s = ttt_tokfile_read_header(data, &th);
    /* another trainer on this run directory: say so (with its pid) before reading a checkpoint
     * it may be replacing; ttt_train holds the lock for the whole training */
    if (s == TTT_OK && resume && R == 0 && access(run, F_OK) == 0) {
        int fd;
        s = ttt_dir_lock(run, &fd);
        if (s == TTT_OK) ttt_dir_unlock(fd);
    }
    if (s == TTT_OK && resume) {
        char *ck = ttt_run_latest_checkpoint(run);
        s = ck ? ttt_model_load(ck, mo, &m) : TTT_ERR_IO;
        free(ck);
    } else if (s == TTT_OK && args_has(a, "model")) {
        s = ttt_model_load(args_str(a, "model", ""), mo, &m);
    } else if (s == TTT_OK) {
        /* the token file decides the vocabulary and the BOS/EOS ids */
        cfg->vocab_size = th.vocab_size;
        cfg->bos_token_id = th.bos_id;
        cfg->eos_token_id = th.eos_id;
        snprintf(cfg->tokenizer, sizeof cfg->tokenizer, "%s", th.tokenizer);
        s = ttt_model_create(cfg, init_seed, mo, &m);
    }
    model_tok mt = {0};
    if (s == TTT_OK && R == 0) s = setup_tokenizer(a, resume, &th, ttt_model_config(m), o->quiet, &mt);
    o->tokenizer = mt.tok;
    /* the generation_config.json of the model the run starts from (or resumes) goes on too */
    char *gen = NULL;
    if (s == TTT_OK && R == 0) {
        char *src = resume ? ttt_run_latest_checkpoint(run) : args_has(a, "model") ? strdup(args_str(a, "model", "")) : NULL;
        gen = src ? ttt_path_join(src, "generation_config.json") : NULL;
        struct stat gsb;
        if (gen && lstat(gen, &gsb) != 0) free(gen), gen = NULL;
        free(src);
        ttt_clear_error();
    }
    o->generation_config = gen;
    /* every process has its model, or all stop */
    if (dist_any_failed(s != TTT_OK)) {
        free(gen);
        model_tok_free(&mt);
        ttt_model_free(m);
        if (s != TTT_OK) return train_fail();
        if (R == 0) fprintf(stderr, "ttt train: another process could not set up the model (its message is above)\n");
        return 1;
    }
    prog_ctx pc = {isatty(2), o->log_every};
    if (!o->quiet && R == 0) {
        fprintf(stderr, "ttt train: %lld parameters, %lld steps of %lld x %lld tokens%s, run %s%s\n",
                (long long)ttt_param_numel_total(m), (long long)o->steps, (long long)o->batch, (long long)o->seq_len,
                mo->bf16_train ? ", bf16 mixed precision" : "", run, resume ? " (resumed)" : "");
        if (N > 1) {
            int64_t mb = o->micro_batch > 0 ? o->micro_batch : o->batch % N == 0 && o->batch >= N ? o->batch / N : o->batch;
            double mbytes = (double)ttt_param_numel_total(m) * (mo->precision == TTT_PREC_F64 ? 8 : 4) / 1e6;
            fprintf(stderr, "ttt train: %d processes, %s, %d thread%s each; %lld sequences per process and step in "
                    "micro-batches of %lld; gradient all-reduce of %.1f MB per step (%s)\n",
                    N, dist_library(), mo->threads, mo->threads == 1 ? "" : "s", (long long)(o->batch / N),
                    (long long)mb, mbytes, dist_sum_is_tree() ? "fixed tree: the same bits as one process with this micro-batch"
                                                              : "MPI_Allreduce: one process's result up to rounding");
        }
    }
    if (N > 1 && R == 0) {
        snprintf(term_msg, sizeof term_msg, "ttt train: stopped by the launcher (a process of the job ended or the "
                 "job was cancelled); the latest checkpoint of %.1024s stays complete: continue with --resume, with "
                 "any number of processes\n", run);
        signal(SIGTERM, on_term);
    }
    s = ttt_train(m, o, data, args_str(a, "val", NULL), run, resume, on_progress, &pc);
    ttt_model_free(m);
    o->tokenizer = NULL;
    o->generation_config = NULL;
    free(gen);
    model_tok_free(&mt);
    if (s != TTT_OK) return train_fail();
    if (R == 0) {
        char *ck = ttt_run_latest_checkpoint(run);
        if (!o->quiet && ck) fprintf(stderr, "ttt train: checkpoint %s (also %s/model)\n", ck, run);
        free(ck);
    }
    return 0;
}

int cmd_train(int argc, char **argv) {
    args a;
    flag_spec spec[96];
    if (args_parse(&a, "train", model_flags_spec(spec, 96, own_flags), argc, argv)) return 2;
    if (a.help) {
        help();
        return 0;
    }
    if (args_require(&a, "data") || args_require(&a, "run")) return 2;
    int resume = args_has(&a, "resume");
    if (!resume && !args_has(&a, "preset") && !args_has(&a, "model")) {
        fprintf(stderr, "ttt train: give --preset NAME or --model DIR (or --resume)\n");
        return 2;
    }
    const char *mf = model_flag_given(&a);
    if (mf && (resume || args_has(&a, "model"))) {
        fprintf(stderr, "ttt train: --%s configures a fresh model from --preset; %s uses the model's own "
                "config.json\n", mf, resume ? "--resume" : "--model");
        return 2;
    }
    ttt_train_opts o;
    ttt_train_opts_default(&o);
    int64_t v, bt;
    const int64_t BIG = (int64_t)1 << 40;
#define I64(flag, field, lo) \
    if (args_int(&a, flag, o.field, lo, BIG, &v)) return 2; \
    o.field = v;
    I64("steps", steps, 1)
    I64("seq-len", seq_len, 1)
    I64("batch", batch, 1)
    I64("micro-batch", micro_batch, 0)
    I64("warmup", warmup, -1)
    I64("ckpt-every", ckpt_every, 0)
    I64("keep", keep_ckpts, 1)
    I64("log-every", log_every, 0)
    I64("val-every", val_every, 0)
    I64("val-windows", val_windows, 1)
    I64("stop-after", stop_after, 0)
#undef I64
    if (args_int(&a, "batch-tokens", 0, 0, BIG, &bt)) return 2;
    if (bt > 0) {
        if (bt % o.seq_len != 0 || bt < o.seq_len) {
            fprintf(stderr, "ttt train: --batch-tokens %lld is not a multiple of --seq-len %lld\n", (long long)bt,
                    (long long)o.seq_len);
            return 2;
        }
        o.batch = bt / o.seq_len;
    }
    if (args_int(&a, "seed", 0, 0, BIG, &v)) return 2;
    o.seed = (uint64_t)v;
    if (args_double(&a, "lr", o.lr, &o.lr) || args_double(&a, "lr-end", o.lr_end, &o.lr_end) ||
        args_double(&a, "beta1", o.beta1, &o.beta1) || args_double(&a, "beta2", o.beta2, &o.beta2) ||
        args_double(&a, "eps", o.eps, &o.eps) || args_double(&a, "weight-decay", o.weight_decay, &o.weight_decay) ||
        args_double(&a, "clip", o.clip, &o.clip))
        return 2;
    const char *sch = args_str(&a, "schedule", "cosine");
    if (strcmp(sch, "cosine") && strcmp(sch, "constant")) {
        fprintf(stderr, "ttt train: --schedule must be cosine or constant, got '%s'\n", sch);
        return 2;
    }
    o.schedule = strcmp(sch, "constant") == 0 ? TTT_SCHED_CONSTANT : TTT_SCHED_COSINE;
    o.ttt_mlp_lr_warmup = !args_has(&a, "no-ttt-lr-warmup");
    o.mask_bos = !args_has(&a, "no-bos-mask");
    o.doc_windows = args_has(&a, "doc-windows");
    o.quiet = args_has(&a, "quiet");

    ttt_options mo;
    ttt_options_default(&mo);
    if (args_int(&a, "threads", 0, 0, 4096, &v)) return 2;
    mo.threads = (int)v;
    if (args_int(&a, "remat-group", 4, 0, 1 << 20, &v)) return 2;
    mo.remat_group = (int)v;
    const char *prec = args_str(&a, "precision", "f32");
    if (strcmp(prec, "f32") && strcmp(prec, "f64")) {
        fprintf(stderr, "ttt train: --precision must be f32 or f64\n");
        return 2;
    }
    mo.precision = strcmp(prec, "f64") == 0 ? TTT_PREC_F64 : TTT_PREC_F32;
    mo.bf16_train = args_has(&a, "bf16");
    if (mo.bf16_train && mo.precision != TTT_PREC_F32) {
        fprintf(stderr, "ttt train: --bf16 needs --precision f32\n");
        return 2;
    }

    /* a fresh model's configuration (the token file adds vocabulary and BOS/EOS later) */
    ttt_config cfg;
    uint64_t init_seed = 0;
    if ((resume || args_has(&a, "model")) && args_has(&a, "init-seed")) {
        fprintf(stderr, "ttt train: --init-seed seeds fresh weights from a preset; it does not apply with %s\n",
                resume ? "--resume" : "--model");
        return 2;
    }
    if (!resume && !args_has(&a, "model")) {
        int rc = model_config_from_flags(&a, "train", &cfg);
        if (rc) return rc;
        if (args_int(&a, "init-seed", 0, 0, BIG, &v)) return 2;
        init_seed = (uint64_t)v;
    }

    /* the flags are read alike by every process; from here on a job of several processes
     * (mpirun -np N ttt train ...) works together */
    if (dist_init() != TTT_OK) return cli_fail("train");
    int rc = train_job(&a, &o, &mo, resume, &cfg, init_seed);
    dist_finalize();
    return rc;
}
