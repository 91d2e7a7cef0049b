/* sched.c: the scheduler thread of `ttt serve`, the only thread that touches the model.
 *
 * Requests wait in a bounded FIFO queue. Each iteration of the loop
 *   1. admits queued jobs while the running batch has room (--parallel sequences),
 *   2. prefills at most one admitted job (every sequence of it: one B = 1 cache each), so new
 *      requests interleave with the decode steps of running ones,
 *   3. samples the next token of every sequence whose logits are ready, exactly as ttt generate
 *      does (ttt_sample with seed + choice index, the same EOS ids, the text of
 *      [last prompt token, generated...] minus that of the last prompt token, streamed on UTF-8
 *      boundaries and cut at the first stop string),
 *   4. runs one decode step over all sequences that need one (decode_batch: the switch to the
 *      batched ttt_decode_multi of include/ttt_state.h),
 *   5. retires finished jobs: the reply JSON (or the last SSE events) goes to the job's buffer.
 * A sequence therefore joins and leaves the batch at token granularity. Output is appended to a
 * per-job buffer under the job's mutex: a slow client never blocks this thread.
 *
 * Log-probabilities: logprob(y | context) = logit_y − log Σ_v exp(logit_v), in double, over the
 * model's vocabulary (the raw distribution, before temperature, top-k and top-p). With echo, the
 * prompt's token t ≥ 1 gets logprob(ids[t] | ids[0..t)) from the full-prefill logits of position
 * t − 1; token 0 has none (null). */
#define _GNU_SOURCE /* memmem */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve/serve.h"
#include "ttt_state.h"

double srv_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void srv_buf_put(srv_buf *b, const void *data, size_t n) {
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t nc = (b->len + n + 1) * 2;
        char *p = realloc(b->p, nc);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p, b->cap = nc;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = 0;
}
void srv_buf_puts(srv_buf *b, const char *s) { srv_buf_put(b, s, strlen(s)); }
void srv_buf_free(srv_buf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

srv_job *srv_job_new(void) {
    srv_job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    j->refs = 1;
    return j;
}

void srv_job_unref(srv_job *j) {
    if (!j) return;
    pthread_mutex_lock(&j->mu);
    int last = --j->refs == 0;
    pthread_mutex_unlock(&j->mu);
    if (!last) return;
    srv_params_free(&j->p);
    srv_buf_free(&j->out);
    free(j->body);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

/* ---- one sequence ---------------------------------------------------------------------- */

enum { SEQ_NEW, SEQ_SAMPLE, SEQ_FEED, SEQ_DONE };

typedef struct {
    double lp;
    int32_t top_id[SRV_MAX_TOP_LOGPROBS];
    double top_lp[SRV_MAX_TOP_LOGPROBS];
    int32_t id;
} tok_lp;

struct srv_seq {
    srv_job *job;
    int64_t index, prompt_i;
    ttt_cache *cache;
    ttt_sampler *smp;
    float *logits;
    int state;
    int32_t feed, last_prompt, last_sampled;
    int has_sampled;
    int32_t *gen;
    int64_t ngen, nsampled;
    char *base;
    size_t baselen;
    ttt_text_stream ts;    /* text without stop handling: UTF-8 boundaries */
    size_t sent;           /* bytes of ts.text streamed */
    int stopped;
    size_t cut;            /* stopped: the text ends here */
    const char *finish;
    tok_lp *lps;           /* logprobs of the sampled tokens (logprobs >= 0) */
    int64_t lp_sent;
    tok_lp *plps;          /* echo: the prompt's tokens */
    int64_t nplps;
    int64_t prompt_tokens; /* tokens this sequence prefilled */
    srv_session *sess;
    int64_t sess_tokens;
    int role_sent;
};

static void seq_free(srv_seq *q) {
    ttt_cache_free(q->cache);
    ttt_sampler_free(q->smp);
    free(q->logits), free(q->gen), free(q->base), free(q->lps), free(q->plps);
    ttt_text_stream_free(&q->ts);
}

/* log-probabilities of a logits row: lp of id y and the k best (ties: lower id) */
static void row_logprobs(const float *row, int64_t V, int32_t y, int k, tok_lp *out) {
    double mx = -INFINITY, s = 0;
    for (int64_t v = 0; v < V; v++) mx = row[v] > mx ? row[v] : mx;
    for (int64_t v = 0; v < V; v++) s += exp((double)row[v] - mx);
    double lse = mx + log(s);
    out->id = y;
    out->lp = (double)row[y] - lse;
    int32_t *ti = out->top_id;
    for (int i = 0; i < k; i++) ti[i] = -1;
    for (int64_t v = 0; v < V && k > 0; v++) {
        int pos = k;
        while (pos > 0 && (ti[pos - 1] < 0 || row[v] > row[ti[pos - 1]])) pos--;
        if (pos >= k) continue;
        memmove(ti + pos + 1, ti + pos, sizeof *ti * (size_t)(k - pos - 1));
        ti[pos] = (int32_t)v;
    }
    for (int i = 0; i < k; i++) out->top_lp[i] = (double)row[ti[i]] - lse;
}

/* the text of one token (special tokens as their text), valid UTF-8 */
static char *token_text(srv *s, int32_t id) {
    char *t = NULL;
    size_t n = 0;
    if (ttt_tok_decode(s->tok, &id, 1, TTT_TOK_DECODE_SPECIAL, &t, &n) != TTT_OK) return strdup("");
    char *c = srv_utf8_clean(t, n);
    free(t);
    return c ? c : strdup("");
}

/* the continuation's text after a new token, stop strings applied: the earliest occurrence of
 * any stop string ends the text before it; while the text ends in the beginning of a stop
 * string, that part is held back */
static void seq_update_text(srv *s, srv_seq *q, int final) {
    srv_params *p = &q->job->p;
    char *txt = NULL;
    size_t tl = 0;
    int32_t *ctx = malloc(sizeof(int32_t) * (size_t)(q->ngen + 1));
    if (!ctx) return;
    ctx[0] = q->last_prompt;
    memcpy(ctx + 1, q->gen, sizeof(int32_t) * (size_t)q->ngen);
    ttt_status st = ttt_tok_decode(s->tok, ctx, q->ngen + 1, 0, &txt, &tl);
    free(ctx);
    if (st != TTT_OK) return;
    size_t off = tl >= q->baselen ? q->baselen : tl, len = tl - off;
    const char *t = txt + off;
    size_t ready = len;
    for (int i = 0; i < p->n_stop; i++) {
        const char *hit = memmem(t, len, p->stop[i], strlen(p->stop[i]));
        if (hit && (size_t)(hit - t) < ready) ready = (size_t)(hit - t), q->stopped = 1;
    }
    if (q->stopped) {
        final = 1;
        len = ready;
    } else if (!final) {
        for (int i = 0; i < p->n_stop; i++) {
            size_t sl = strlen(p->stop[i]);
            for (size_t k = sl - 1; k > 0; k--)
                if (len >= k && memcmp(t + len - k, p->stop[i], k) == 0) {
                    if (len - k < ready) ready = len - k;
                    break;
                }
        }
        len = ready;
    }
    size_t from;
    ttt_text_stream_update(&q->ts, t, len, final, &from);
    free(txt);
}

/* ---- output ---------------------------------------------------------------------------- */

static cJSON *lp_json_completion(srv *s, const tok_lp *l, int64_t n, int k, int first_null, size_t *offset) {
    cJSON *o = cJSON_CreateObject(), *toks = cJSON_AddArrayToObject(o, "tokens"),
          *tlp = cJSON_AddArrayToObject(o, "token_logprobs"), *top = cJSON_AddArrayToObject(o, "top_logprobs"),
          *off = cJSON_AddArrayToObject(o, "text_offset");
    for (int64_t i = 0; i < n; i++) {
        char *t = token_text(s, l[i].id), *plain = NULL;
        size_t pl = 0;
        cJSON_AddItemToArray(toks, cJSON_CreateString(t));
        cJSON_AddItemToArray(off, cJSON_CreateNumber((double)*offset));
        if (ttt_tok_decode(s->tok, &l[i].id, 1, 0, &plain, &pl) == TTT_OK) *offset += pl; /* as the text has it */
        free(plain);
        free(t);
        if (i == 0 && first_null) {
            cJSON_AddItemToArray(tlp, cJSON_CreateNull());
            cJSON_AddItemToArray(top, cJSON_CreateNull());
            continue;
        }
        cJSON_AddItemToArray(tlp, cJSON_CreateNumber(l[i].lp));
        cJSON *d = cJSON_CreateObject();
        for (int j = 0; j < k; j++) {
            char *tt = token_text(s, l[i].top_id[j]);
            if (!cJSON_GetObjectItemCaseSensitive(d, tt)) cJSON_AddNumberToObject(d, tt, l[i].top_lp[j]);
            free(tt);
        }
        cJSON_AddItemToArray(top, d);
    }
    return o;
}

static cJSON *lp_json_chat(srv *s, const tok_lp *l, int64_t n, int k) {
    cJSON *o = cJSON_CreateObject(), *c = cJSON_AddArrayToObject(o, "content");
    for (int64_t i = 0; i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        char *t = token_text(s, l[i].id);
        cJSON_AddStringToObject(e, "token", t);
        free(t);
        cJSON_AddNumberToObject(e, "logprob", l[i].lp);
        cJSON *tl = cJSON_AddArrayToObject(e, "top_logprobs");
        for (int j = 0; j < k; j++) {
            cJSON *a = cJSON_CreateObject();
            char *tt = token_text(s, l[i].top_id[j]);
            cJSON_AddStringToObject(a, "token", tt);
            free(tt);
            cJSON_AddNumberToObject(a, "logprob", l[i].top_lp[j]);
            cJSON_AddItemToArray(tl, a);
        }
        cJSON_AddItemToArray(c, e);
    }
    return o;
}

static cJSON *envelope(srv *s, srv_job *j, const char *object) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "id", j->id);
    cJSON_AddStringToObject(r, "object", object);
    cJSON_AddNumberToObject(r, "created", (double)j->created);
    cJSON_AddStringToObject(r, "model", s->o.model_name);
    return r;
}

static void add_usage(srv_job *j, cJSON *r) {
    long long pt = 0, ct = 0;
    for (int64_t i = 0; i < j->nseq; i++) {
        if (j->seqs[i].index % j->p.n == 0) pt += j->seqs[i].prompt_tokens;
        ct += j->seqs[i].ngen;
    }
    cJSON *u = cJSON_AddObjectToObject(r, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)pt);
    cJSON_AddNumberToObject(u, "completion_tokens", (double)ct);
    cJSON_AddNumberToObject(u, "total_tokens", (double)(pt + ct));
}

static char *echo_text(srv *s, srv_seq *q) {
    const srv_params *p = &q->job->p;
    char *t = NULL;
    size_t n = 0;
    if (ttt_tok_decode(s->tok, p->prompt[q->prompt_i], p->prompt_len[q->prompt_i], 0, &t, &n) != TTT_OK) return strdup("");
    char *c = srv_utf8_clean(t, n);
    free(t);
    return c;
}

/* the non-streaming reply */
static char *reply_json(srv *s, srv_job *j) {
    int chat = j->p.kind == SRV_CHAT;
    cJSON *r = envelope(s, j, chat ? "chat.completion" : "text_completion"), *ch = cJSON_AddArrayToObject(r, "choices");
    for (int64_t i = 0; i < j->nseq; i++) {
        srv_seq *q = &j->seqs[i];
        cJSON *c = cJSON_CreateObject();
        cJSON_AddNumberToObject(c, "index", (double)q->index);
        char *txt = srv_utf8_clean(q->ts.text ? q->ts.text : "", q->ts.len);
        if (chat) {
            cJSON *m = cJSON_AddObjectToObject(c, "message");
            cJSON_AddStringToObject(m, "role", "assistant");
            cJSON_AddStringToObject(m, "content", txt ? txt : "");
            if (j->p.logprobs >= 0)
                cJSON_AddItemToObject(c, "logprobs", lp_json_chat(s, q->lps, q->nsampled, j->p.logprobs));
            else
                cJSON_AddNullToObject(c, "logprobs");
        } else {
            srv_buf t = {0};
            if (j->p.echo) {
                char *e = echo_text(s, q);
                srv_buf_puts(&t, e ? e : "");
                free(e);
            }
            srv_buf_puts(&t, txt ? txt : "");
            cJSON_AddStringToObject(c, "text", t.p ? t.p : "");
            srv_buf_free(&t);
            if (j->p.logprobs >= 0) {
                size_t off = 0;
                cJSON *lo;
                if (j->p.echo) {
                    lo = lp_json_completion(s, q->plps, q->nplps, j->p.logprobs, 1, &off);
                    cJSON *g = lp_json_completion(s, q->lps, q->nsampled, j->p.logprobs, 0, &off);
                    const char *keys[] = {"tokens", "token_logprobs", "top_logprobs", "text_offset"};
                    for (int k = 0; k < 4; k++) {
                        cJSON *dst = cJSON_GetObjectItemCaseSensitive(lo, keys[k]),
                              *src = cJSON_GetObjectItemCaseSensitive(g, keys[k]);
                        while (src->child) cJSON_AddItemToArray(dst, cJSON_DetachItemViaPointer(src, src->child));
                    }
                    cJSON_Delete(g);
                } else { /* offsets count from the prompt's start, as OpenAI's */
                    char *e = echo_text(s, q);
                    off = e ? strlen(e) : 0;
                    free(e);
                    lo = lp_json_completion(s, q->lps, q->nsampled, j->p.logprobs, 0, &off);
                }
                cJSON_AddItemToObject(c, "logprobs", lo);
            } else {
                cJSON_AddNullToObject(c, "logprobs");
            }
        }
        free(txt);
        cJSON_AddStringToObject(c, "finish_reason", q->finish ? q->finish : "stop");
        cJSON_AddItemToArray(ch, c);
    }
    add_usage(j, r);
    char *out = cJSON_PrintUnformatted(r);
    cJSON_Delete(r);
    return out;
}

/* append one SSE event (the job's mutex held by the caller) */
static void sse(srv_job *j, cJSON *r) {
    char *t = cJSON_PrintUnformatted(r);
    cJSON_Delete(r);
    if (!t) return;
    srv_buf_puts(&j->out, "data: ");
    srv_buf_puts(&j->out, t);
    srv_buf_puts(&j->out, "\n\n");
    free(t);
}

/* streaming: the new text (and its tokens' logprobs) of each sequence; finishing ones get their
 * finish_reason */
static void stream_progress(srv *s, srv_job *j) {
    int chat = j->p.kind == SRV_CHAT;
    pthread_mutex_lock(&j->mu);
    for (int64_t i = 0; i < j->nseq; i++) {
        srv_seq *q = &j->seqs[i];
        size_t upto = q->ts.emitted;
        int fin = q->state == SEQ_DONE && q->finish;
        if (upto <= q->sent && !fin && !(chat && !q->role_sent) && !(j->p.echo && q->sent == 0 && !q->role_sent))
            continue;
        cJSON *r = envelope(s, j, chat ? "chat.completion.chunk" : "text_completion"),
              *ch = cJSON_AddArrayToObject(r, "choices"), *c = cJSON_CreateObject();
        cJSON_AddItemToArray(ch, c);
        cJSON_AddNumberToObject(c, "index", (double)q->index);
        srv_buf t = {0};
        if (!chat && j->p.echo && !q->role_sent) {
            char *e = echo_text(s, q);
            srv_buf_puts(&t, e ? e : "");
            free(e);
        }
        if (upto > q->sent) {
            char *d = srv_utf8_clean(q->ts.text + q->sent, upto - q->sent);
            srv_buf_puts(&t, d ? d : "");
            free(d);
        }
        q->sent = upto > q->sent ? upto : q->sent;
        int64_t nlp = q->nsampled - q->lp_sent;
        if (chat) {
            cJSON *d = cJSON_AddObjectToObject(c, "delta");
            if (!q->role_sent) cJSON_AddStringToObject(d, "role", "assistant");
            if (t.p || !q->role_sent) cJSON_AddStringToObject(d, "content", t.p ? t.p : "");
            if (j->p.logprobs >= 0 && nlp > 0)
                cJSON_AddItemToObject(c, "logprobs", lp_json_chat(s, q->lps + q->lp_sent, nlp, j->p.logprobs));
            else
                cJSON_AddNullToObject(c, "logprobs");
        } else {
            cJSON_AddStringToObject(c, "text", t.p ? t.p : "");
            if (j->p.logprobs >= 0 && nlp > 0) {
                size_t off = 0;
                cJSON_AddItemToObject(c, "logprobs",
                                      lp_json_completion(s, q->lps + q->lp_sent, nlp, j->p.logprobs, 0, &off));
            } else {
                cJSON_AddNullToObject(c, "logprobs");
            }
        }
        q->lp_sent = q->nsampled;
        q->role_sent = 1;
        srv_buf_free(&t);
        if (fin) {
            cJSON_AddStringToObject(c, "finish_reason", q->finish);
            q->finish = NULL; /* sent */
            q->state = SEQ_DONE;
        } else {
            cJSON_AddNullToObject(c, "finish_reason");
        }
        sse(j, r);
    }
    pthread_mutex_unlock(&j->mu);
    pthread_cond_broadcast(&j->cv);
}

/* ---- jobs ------------------------------------------------------------------------------ */

static void release_session(srv *s, srv_seq *q, int keep) {
    if (!q->job->p.session[0]) return;
    int32_t pending = -1;
    if (q->state == SEQ_FEED) pending = q->feed;
    else if (q->state == SEQ_DONE && q->has_sampled) pending = q->last_sampled;
    int32_t last = pending >= 0 ? pending : q->last_prompt;
    srv_session_release(s, q->job->p.session, q->sess, keep ? q->cache : NULL, pending, last,
                        q->sess_tokens + q->prompt_tokens + q->ngen);
    if (keep) q->cache = NULL;
    q->sess = NULL;
}

/* finish a job: ok → its reply; otherwise the error (status, message) */
static void job_finish(srv *s, srv_job *j, const srv_error *err) {
    char *body = NULL;
    int keep = err == NULL;
    for (int64_t i = 0; i < j->nseq; i++) {
        srv_seq *q = &j->seqs[i];
        if (q->state != SEQ_DONE) q->state = SEQ_DONE;
        if (q->sess || (j->p.session[0] && q->cache)) release_session(s, q, keep && q->cache != NULL);
    }
    if (!err && !j->p.stream) body = reply_json(s, j);
    if (!err && j->p.stream) stream_progress(s, j);
    pthread_mutex_lock(&j->mu);
    if (j->p.stream) {
        if (err) {
            char *e = srv_error_json(err);
            srv_buf_puts(&j->out, "data: ");
            srv_buf_puts(&j->out, e ? e : "{}");
            srv_buf_puts(&j->out, "\n\n");
            free(e);
        } else if (j->p.include_usage) {
            cJSON *r = envelope(s, j, j->p.kind == SRV_CHAT ? "chat.completion.chunk" : "text_completion");
            cJSON_AddArrayToObject(r, "choices");
            add_usage(j, r);
            char *t = cJSON_PrintUnformatted(r);
            cJSON_Delete(r);
            srv_buf_puts(&j->out, "data: ");
            srv_buf_puts(&j->out, t ? t : "{}");
            srv_buf_puts(&j->out, "\n\n");
            free(t);
        }
        srv_buf_puts(&j->out, "data: [DONE]\n\n");
        j->status = 200;
    } else if (err) {
        j->status = err->status;
        j->body = srv_error_json(err);
        free(body);
    } else {
        j->status = body ? 200 : 500;
        j->body = body ? body : strdup("{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,\"code\":null}}");
    }
    j->done = 1;
    pthread_mutex_unlock(&j->mu);
    pthread_cond_broadcast(&j->cv);
    long long gen = 0;
    for (int64_t i = 0; i < j->nseq; i++) gen += j->seqs[i].ngen, seq_free(&j->seqs[i]);
    free(j->seqs);
    j->seqs = NULL;
    j->nseq = 0;
    srv_metrics_response(s->metrics, j->status);
}

/* remove a job from the active list and drop the scheduler's reference */
static void job_retire(srv *s, srv_job *j) {
    pthread_mutex_lock(&s->mu);
    for (srv_job **pp = &s->active; *pp; pp = &(*pp)->next)
        if (*pp == j) {
            *pp = j->next;
            break;
        }
    s->active_seqs -= j->p.n * j->p.n_prompts;
    s->metrics->running_seqs = s->active_seqs;
    pthread_mutex_unlock(&s->mu);
    srv_job_unref(j);
}

static void job_fail(srv *s, srv_job *j, int status, const char *type, const char *msg) {
    srv_error e;
    srv_set_error(&e, status, type, NULL, NULL, "%s", msg);
    job_finish(s, j, &e);
    job_retire(s, j);
}

/* one decode step over n single-sequence caches, each at its own position: the batched
 * ttt_decode_multi of include/ttt_state.h (equal to ttt_decode_step on each cache alone) */
static ttt_status decode_batch(srv *s, ttt_cache **caches, int64_t n, const int32_t *ids, float *logits) {
    return ttt_decode_multi(s->m, caches, n, ids, logits);
}

/* prefill one sequence: the prompt (after a session's pending token), then its first logits */
static int seq_prefill(srv *s, srv_job *j, srv_seq *q, srv_error *e) {
    srv_params *p = &j->p;
    const int32_t *pids = p->prompt[q->prompt_i];
    int64_t P = p->prompt_len[q->prompt_i];
    int32_t *feed = NULL;
    int64_t nf = 0;
    if (p->session[0]) {
        int r = srv_session_acquire(s, p->session, &q->sess);
        if (r == 409) {
            srv_set_error(e, 409, "invalid_request_error", "session", "session_busy",
                          "session '%s' is in use by another request", p->session);
            return -1;
        }
        if (r == 500) {
            srv_set_error(e, 500, "server_error", "session", "session_unreadable",
                          "session '%s' cannot be read back from --state-dir: %s", p->session, s->session_error);
            return -1;
        }
    }
    if (q->sess) { /* continue: the pending token, then the prompt without its BOS */
        q->cache = q->sess->held;
        q->sess_tokens = q->sess->tokens;
        feed = malloc(sizeof(int32_t) * (size_t)(P + 1));
        if (!feed) goto nomem;
        if (q->sess->pending >= 0) feed[nf++] = q->sess->pending;
        int64_t skip = p->prompt_is_text || p->kind == SRV_CHAT ? (P > 1 && pids[0] == ttt_tok_bos(s->tok)) : 0;
        memcpy(feed + nf, pids + skip, sizeof(int32_t) * (size_t)(P - skip));
        nf += P - skip;
    } else {
        if (ttt_cache_create(s->m, 1, &q->cache) != TTT_OK) goto fail;
        feed = malloc(sizeof(int32_t) * (size_t)P);
        if (!feed) goto nomem;
        memcpy(feed, pids, sizeof(int32_t) * (size_t)P);
        nf = P;
    }
    if (s->max_context > 0 && ttt_cache_position(q->cache) + nf + p->max_tokens > s->max_context) {
        srv_set_error(e, 400, "invalid_request_error", "max_tokens", "context_length_exceeded",
                      "the session's %lld tokens, the prompt's %lld and max_tokens %lld exceed the model's context of "
                      "%lld tokens", (long long)ttt_cache_position(q->cache), (long long)nf, (long long)p->max_tokens,
                      (long long)s->max_context);
        free(feed);
        return -1;
    }
    q->prompt_tokens = nf;
    q->last_prompt = feed[nf - 1];
    if (ttt_tok_decode(s->tok, &q->last_prompt, 1, 0, &q->base, &q->baselen) != TTT_OK) q->base = NULL, q->baselen = 0;
    q->logits = malloc(sizeof(float) * (size_t)s->rows);
    if (!q->logits) goto nomem;
    if (p->logprobs >= 0 && (p->max_tokens > 0 || p->echo)) {
        q->lps = calloc((size_t)(p->max_tokens + 1), sizeof(tok_lp));
        if (!q->lps) goto nomem;
    }
    q->gen = malloc(sizeof(int32_t) * (size_t)(p->max_tokens + 1));
    if (!q->gen) goto nomem;
    double t0 = srv_now();
    if (p->echo && p->logprobs >= 0) { /* every position's logits, in chunks of whole mini-batches */
        int64_t C = ((int64_t)64 << 20) / (s->rows * 4);
        C = C < 16 ? 16 : C / 16 * 16;
        float *lg = malloc(sizeof(float) * (size_t)((C < nf ? C : nf) * s->rows));
        q->plps = calloc((size_t)nf, sizeof(tok_lp));
        if (!lg || !q->plps) {
            free(lg);
            goto nomem;
        }
        q->plps[0].id = feed[0];
        q->nplps = nf;
        for (int64_t a = 0; a < nf; a += C) {
            int64_t L = nf - a < C ? nf - a : C;
            if (ttt_prefill(s->m, q->cache, feed + a, L, lg) != TTT_OK) {
                free(lg);
                goto fail;
            }
            for (int64_t t = 0; t < L; t++) {
                if (a + t + 1 < nf) row_logprobs(lg + t * s->rows, s->V, feed[a + t + 1], p->logprobs, &q->plps[a + t + 1]);
            }
            if (a + L == nf) memcpy(q->logits, lg + (L - 1) * s->rows, sizeof(float) * (size_t)s->rows);
        }
        free(lg);
    } else if (ttt_prefill_last(s->m, q->cache, feed, nf, q->logits) != TTT_OK) {
        goto fail;
    }
    double t1 = srv_now();
    pthread_mutex_lock(&s->metrics->mu);
    s->metrics->prompt_tokens += nf;
    s->metrics->prefill_seconds += t1 - t0;
    pthread_mutex_unlock(&s->metrics->mu);
    free(feed);
    if (ttt_sampler_create(s->V, p->seed + (uint64_t)(q->index % p->n), &q->smp) != TTT_OK) goto fail;
    ttt_text_stream_init(&q->ts, NULL);
    q->state = p->max_tokens > 0 ? SEQ_SAMPLE : SEQ_DONE;
    if (q->state == SEQ_DONE) q->finish = "length";
    return 0;
nomem:
    free(feed);
    srv_set_error(e, 500, "server_error", NULL, NULL, "out of memory");
    return -1;
fail:
    free(feed);
    srv_set_error(e, 500, "server_error", NULL, NULL, "%s", ttt_last_error());
    return -1;
}

static int job_prefill(srv *s, srv_job *j) {
    srv_error e = {0};
    for (int64_t i = 0; i < j->nseq; i++)
        if (seq_prefill(s, j, &j->seqs[i], &e)) {
            job_finish(s, j, &e);
            job_retire(s, j);
            return -1;
        }
    j->prefilled = 1;
    return 0;
}

/* sample the next token of a sequence whose logits are ready */
static int seq_sample(srv *s, srv_seq *q) {
    srv_params *p = &q->job->p;
    const float *row = q->logits;
    for (int64_t v = 0; v < s->V; v++)
        if (!isfinite(row[v])) return -1;
    int32_t y = ttt_sample(q->smp, row, s->V, &p->sp);
    q->last_sampled = y;
    q->has_sampled = 1;
    int is_eos = 0;
    for (int e = 0; e < s->n_eos; e++) is_eos |= y == s->eos[e];
    if (is_eos) { /* the EOS token is not part of the text (nor of its logprobs) */
        seq_update_text(s, q, 1);
        q->state = SEQ_DONE, q->finish = "stop";
        return 0;
    }
    if (q->lps) row_logprobs(row, s->V, y, p->logprobs, &q->lps[q->nsampled]);
    q->nsampled++;
    q->gen[q->ngen++] = y;
    seq_update_text(s, q, 0);
    if (q->stopped) {
        q->state = SEQ_DONE, q->finish = "stop";
    } else if (q->ngen >= p->max_tokens) {
        seq_update_text(s, q, 1);
        q->state = SEQ_DONE, q->finish = "length";
    } else {
        q->state = SEQ_FEED, q->feed = y;
    }
    return 0;
}

/* ---- the loop -------------------------------------------------------------------------- */

static int job_all_done(srv_job *j) {
    for (int64_t i = 0; i < j->nseq; i++)
        if (j->seqs[i].state != SEQ_DONE) return 0;
    return 1;
}

static void *sched_main(void *arg) {
    srv *s = arg;
    ttt_cache **caches = NULL;
    int32_t *ids = NULL;
    float *logits = NULL;
    srv_seq **who = NULL;
    int64_t cap = 0;
    double last_tick = srv_now();
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->queue_head && !s->active && !s->stopping) {
            struct timespec ts; /* wake up now and then to spill idle sessions */
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&s->cv, &s->mu, &ts);
            if (srv_now() - last_tick > 1) break;
        }
        if (s->stopping && !s->queue_head && !s->active) {
            pthread_mutex_unlock(&s->mu);
            break;
        }
        double tnow = srv_now();
        if (tnow - last_tick > 1) {
            pthread_mutex_unlock(&s->mu);
            srv_sessions_tick(s);
            pthread_mutex_lock(&s->mu);
            last_tick = tnow;
        }
        /* admit: FIFO, while the batch has room (a job larger than the batch runs alone) */
        while (s->queue_head) {
            srv_job *j = s->queue_head;
            int64_t need = j->p.n * j->p.n_prompts;
            if (s->active && s->active_seqs + need > s->o.parallel) break;
            s->queue_head = j->next;
            if (!s->queue_head) s->queue_tail = NULL;
            s->queued--;
            j->next = s->active;
            s->active = j;
            s->active_seqs += need;
        }
        s->metrics->queue_len = s->queued;
        s->metrics->running_seqs = s->active_seqs;
        /* a snapshot of the active jobs */
        int64_t nj = 0;
        for (srv_job *j = s->active; j; j = j->next) nj++;
        srv_job **jobs = malloc(sizeof *jobs * (size_t)(nj ? nj : 1));
        nj = 0;
        for (srv_job *j = s->active; jobs && j; j = j->next) jobs[nj++] = j;
        pthread_mutex_unlock(&s->mu);
        if (!jobs) continue;
        /* oldest first (the list is newest first) */
        for (int64_t a = 0, b = nj - 1; a < b; a++, b--) {
            srv_job *t = jobs[a];
            jobs[a] = jobs[b], jobs[b] = t;
        }
        double now = srv_now();
        int prefilled_one = 0;
        for (int64_t k = 0; k < nj; k++) {
            srv_job *j = jobs[k];
            pthread_mutex_lock(&j->mu);
            int cancelled = j->cancelled;
            pthread_mutex_unlock(&j->mu);
            if (cancelled) {
                job_fail(s, j, 499, "cancelled", "the client closed the connection");
                jobs[k] = NULL;
                continue;
            }
            if (now > j->deadline) {
                char msg[128];
                snprintf(msg, sizeof msg, "the request took longer than this server's limit of %g s (--timeout)",
                         s->o.timeout_s);
                job_fail(s, j, 504, "timeout", msg);
                jobs[k] = NULL;
                continue;
            }
            if (!j->prefilled) { /* one prefill per iteration; the others wait for later ones */
                if (prefilled_one) {
                    jobs[k] = NULL;
                    continue;
                }
                prefilled_one = 1;
                if (job_prefill(s, j)) jobs[k] = NULL;
            }
        }
        /* sample every ready sequence */
        int64_t nfeed = 0;
        for (int64_t k = 0; k < nj; k++) {
            srv_job *j = jobs[k];
            if (!j) continue;
            int bad = 0;
            for (int64_t i = 0; i < j->nseq && !bad; i++)
                if (j->seqs[i].state == SEQ_SAMPLE) bad = seq_sample(s, &j->seqs[i]);
            if (bad) {
                job_fail(s, j, 500, "server_error",
                         "the model's logits are not finite (its activations overflow: check the weights)");
                jobs[k] = NULL;
                continue;
            }
            if (j->p.stream) stream_progress(s, j);
            if (job_all_done(j)) {
                job_finish(s, j, NULL);
                job_retire(s, j);
                jobs[k] = NULL;
                continue;
            }
            for (int64_t i = 0; i < j->nseq; i++) nfeed += j->seqs[i].state == SEQ_FEED;
        }
        /* one decode step over every sequence that needs one */
        if (nfeed > cap) {
            cap = nfeed * 2;
            free(caches), free(ids), free(logits), free(who);
            caches = malloc(sizeof *caches * (size_t)cap);
            ids = malloc(sizeof *ids * (size_t)cap);
            logits = malloc(sizeof *logits * (size_t)(cap * s->rows));
            who = malloc(sizeof *who * (size_t)cap);
            if (!caches || !ids || !logits || !who) {
                fprintf(stderr, "ttt serve: out of memory for a batch of %lld sequences\n", (long long)cap);
                cap = 0;
                nfeed = 0;
            }
        }
        int64_t n = 0;
        for (int64_t k = 0; k < nj && nfeed; k++)
            for (int64_t i = 0; jobs[k] && i < jobs[k]->nseq; i++) {
                srv_seq *q = &jobs[k]->seqs[i];
                if (q->state != SEQ_FEED) continue;
                caches[n] = q->cache, ids[n] = q->feed, who[n++] = q;
            }
        if (n) {
            double t0 = srv_now();
            ttt_status st = decode_batch(s, caches, n, ids, logits);
            double t1 = srv_now();
            pthread_mutex_lock(&s->metrics->mu);
            s->metrics->decode_steps++;
            s->metrics->decode_seq_steps += n;
            s->metrics->generated_tokens += n;
            s->metrics->decode_seconds += t1 - t0;
            pthread_mutex_unlock(&s->metrics->mu);
            for (int64_t i = 0; i < n; i++) {
                memcpy(who[i]->logits, logits + i * s->rows, sizeof(float) * (size_t)s->rows);
                who[i]->state = SEQ_SAMPLE;
            }
            if (st != TTT_OK) {
                char msg[600];
                snprintf(msg, sizeof msg, "decode failed: %s", ttt_last_error());
                for (int64_t k = 0; k < nj; k++)
                    if (jobs[k]) job_fail(s, jobs[k], 500, "server_error", msg);
            }
        }
        free(jobs);
    }
    free(caches), free(ids), free(logits), free(who);
    return NULL;
}

int srv_sched_start(srv *s) {
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (pthread_create(&s->thread, NULL, sched_main, s)) return -1;
    s->running = 1;
    return 0;
}

int srv_submit(srv *s, srv_job *j) {
    j->nseq = j->p.n * j->p.n_prompts;
    j->seqs = calloc((size_t)j->nseq, sizeof *j->seqs);
    if (!j->seqs) return 503;
    for (int64_t i = 0; i < j->nseq; i++) {
        j->seqs[i].job = j;
        j->seqs[i].index = i;
        j->seqs[i].prompt_i = i / j->p.n;
    }
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    if (s->stopping) rc = 503;
    else if (s->queued >= s->o.queue_max) rc = 429;
    if (rc) {
        pthread_mutex_unlock(&s->mu);
        free(j->seqs);
        j->seqs = NULL;
        j->nseq = 0;
        if (rc == 429) {
            pthread_mutex_lock(&s->metrics->mu);
            s->metrics->rejected_queue_full++;
            pthread_mutex_unlock(&s->metrics->mu);
        }
        return rc;
    }
    pthread_mutex_lock(&j->mu);
    j->refs++;
    pthread_mutex_unlock(&j->mu);
    j->next = NULL;
    if (s->queue_tail) s->queue_tail->next = j;
    else s->queue_head = j;
    s->queue_tail = j;
    s->queued++;
    s->metrics->queue_len = s->queued;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

void srv_sched_drain(srv *s) {
    if (!s->running) return;
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    s->running = 0;
}
