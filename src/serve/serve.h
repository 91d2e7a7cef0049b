/* serve.h: `ttt serve`, an OpenAI-compatible HTTP server (docs: the serve notes). The pieces:
 *   http.c     the HTTP layer on libmicrohttpd: routing, bearer key, body cap, SSE streaming
 *   request.c  request bodies (libcjson) into srv_params, validated; OpenAI-shaped responses
 *              and error bodies {"error": {"message", "type", "param", "code"}}
 *   sched.c    the scheduler thread that owns the model: a bounded queue, a running batch that
 *              requests join and leave at token granularity, one B = 1 cache per sequence
 *   session.c  sequences kept after their reply (the `session` field), in RAM with limits
 *   metrics.c  counters for GET /metrics (Prometheus text format)
 *   web.c      the static page at /
 * Threads: libmicrohttpd runs one thread per connection; the scheduler is the only thread that
 * touches the model and the caches. A job (one HTTP request) is shared by both: the scheduler
 * appends its output under the job's mutex, the connection thread reads it, so a slow client
 * never stalls the batch. */
#ifndef TTT_SERVE_SERVE_H
#define TTT_SERVE_SERVE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "ttt.h"
#include "ttt_generate.h"
#include "ttt_tokenizer.h"

#define SRV_MAX_STOP 4        /* stop strings of a request (OpenAI: up to 4) */
#define SRV_MAX_TOP_LOGPROBS 5 /* OpenAI's limit for completions' logprobs */
#define SRV_MAX_EOS 32

/* a growing byte buffer */
typedef struct {
    char *p;
    size_t len, cap;
    int failed; /* an allocation failed: the content is incomplete */
} srv_buf;
void srv_buf_put(srv_buf *b, const void *data, size_t n);
void srv_buf_puts(srv_buf *b, const char *s);
void srv_buf_free(srv_buf *b);

/* the server's settings (flags of ttt serve) */
typedef struct {
    const char *model_dir, *host, *api_key, *state_dir;
    char model_name[256];
    int port;
    int64_t parallel;        /* sequences in the running batch */
    int64_t queue_max;       /* requests waiting beyond the batch: more get 429 */
    int64_t max_tokens_cap;  /* max_tokens above it: 400 */
    int64_t max_prompt;      /* prompt tokens above it: 400 */
    int64_t max_n;           /* n above it: 400 */
    size_t max_body;         /* request bytes above it: 413 */
    double timeout_s;        /* per request, from arrival to the last token */
    double body_timeout_s;   /* the whole body must arrive within this (408) */
    int64_t max_sessions;    /* sessions kept */
    size_t session_bytes;    /* bytes of the kept sessions' caches in RAM */
    double session_idle_s;   /* idle sessions spilled to --state-dir after this */
    int64_t default_max_tokens;
    int quiet;
} srv_opts;

/* one request, validated */
enum { SRV_COMPLETION = 0, SRV_CHAT = 1 };
typedef struct {
    int kind;
    int stream, include_usage;
    int64_t max_tokens;
    int given;                /* TTT_GIVEN_* bits of the fields the request set */
    ttt_sampling sp;
    uint64_t seed;
    char *stop[SRV_MAX_STOP];
    int n_stop;
    int64_t n;                /* choices per prompt */
    int logprobs;             /* -1: none; else the number of top alternatives (0..5) */
    int echo;
    char session[72];         /* "" when none */
    int64_t n_prompts;
    int32_t **prompt;         /* [n_prompts] token ids */
    int64_t *prompt_len;
    int prompt_is_text;       /* prompts given as text (BOS added like ttt generate) */
} srv_params;
void srv_params_free(srv_params *p);

/* one sequence (a choice) of a job, owned by the scheduler thread */
typedef struct srv_seq srv_seq;

/* one HTTP request being served */
typedef struct srv_job {
    srv_params p;
    char id[48];
    long long created;
    double t_arrival, deadline;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* under mu */
    srv_buf out;              /* streaming: SSE bytes ready to send */
    int done;                 /* the scheduler finished with it */
    int status;               /* HTTP status of a non-streaming reply */
    char *body;               /* non-streaming reply (JSON) */
    int cancelled;            /* the client went away */
    int refs;                 /* the connection and the scheduler */
    /* scheduler side */
    srv_seq *seqs;
    int64_t nseq, nfinished;
    int prefilled;
    struct srv_job *next;
} srv_job;

srv_job *srv_job_new(void);
void srv_job_unref(srv_job *j);

/* the whole server */
typedef struct srv srv;
struct srv {
    srv_opts o;
    ttt_model *m;
    const ttt_tok *tok;
    int64_t V, rows, max_context;
    ttt_sampling def_sp;      /* the defaults of ttt generate for this model */
    int64_t def_max_tokens;
    int32_t eos[SRV_MAX_EOS];
    int n_eos;
    char chat_error[512];     /* why chat is refused ("" when the model has a chat template) */
    char session_error[600];  /* why a spilled session could not be reloaded (scheduler thread) */
    /* scheduler */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    srv_job *queue_head, *queue_tail;
    int64_t queued;
    srv_job *active;          /* admitted jobs */
    int64_t active_seqs;
    int stopping;             /* no new requests; drain and exit */
    int running;
    struct srv_sessions *sessions;
    struct srv_metrics *metrics;
};

/* request.c */
typedef struct {
    int status;
    char message[512];
    const char *type, *param, *code;
} srv_error;
/* Parse and validate a request body of kind SRV_COMPLETION / SRV_CHAT. 0, or fills *e. */
int srv_parse_request(srv *s, int kind, const char *body, size_t len, srv_params *p, srv_error *e);
/* {"error": {...}} (malloc'd) */
char *srv_error_json(const srv_error *e);
void srv_set_error(srv_error *e, int status, const char *type, const char *param, const char *code,
                   const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* JSON text of a string, with invalid UTF-8 replaced by U+FFFD (malloc'd, without quotes
 * handling: a cJSON string item is made from it) */
char *srv_utf8_clean(const char *s, size_t n);

/* sched.c */
int srv_sched_start(srv *s);
/* Queue a job (refs taken by the scheduler). 0, 429 when the queue is full, 503 when
 * stopping. */
int srv_submit(srv *s, srv_job *j);
/* stop taking jobs, finish the admitted and queued ones, join the thread */
void srv_sched_drain(srv *s);

/* session.c */
typedef struct srv_session srv_session;
struct srv_session {
    char id[72];
    ttt_cache *cache;         /* NULL while a request holds it (in held) */
    ttt_cache *held;
    int32_t pending;          /* the last sampled token, not yet fed (-1: none) */
    int32_t last;             /* the last token the cache has seen or will see */
    int64_t tokens;           /* tokens of the conversation so far */
    double last_used;
    int busy;                 /* a request is using it */
    int on_disk;              /* spilled to --state-dir (cache NULL) */
    srv_session *next;
};
int srv_sessions_init(srv *s);
void srv_sessions_free(srv *s);
/* take a session for a request: 0 (found: *out, marked busy), 404 unknown (*out NULL: a new one
 * is created on release), 409 busy */
int srv_session_acquire(srv *s, const char *id, srv_session **out);
/* give the session back after a request (cache taken over; NULL cache: drop it) */
void srv_session_release(srv *s, const char *id, srv_session *se, ttt_cache *cache, int32_t pending, int32_t last,
                         int64_t tokens);
/* JSON of a session (malloc'd) or NULL if unknown; delete: 1 deleted, 0 unknown, -1 busy */
char *srv_session_info(srv *s, const char *id);
int srv_session_delete(srv *s, const char *id);
void srv_sessions_counts(srv *s, int64_t *in_ram, int64_t *on_disk, size_t *bytes);
/* spill idle sessions (--session-idle) */
void srv_sessions_tick(srv *s);
/* every session in RAM to --state-dir (shutdown); the ones found there (start) */
void srv_sessions_save_all(srv *s);
void srv_sessions_scan(srv *s);

/* metrics.c */
typedef struct srv_metrics {
    pthread_mutex_t mu;
    long long requests_total[6];   /* by endpoint */
    long long responses_by_class[6]; /* 2xx..5xx: index status / 100 */
    long long prompt_tokens, generated_tokens;
    double prefill_seconds, decode_seconds;
    long long decode_steps, decode_seq_steps; /* batch occupancy = seq_steps / steps */
    long long rejected_queue_full;
    int64_t running_seqs, queue_len;
} srv_metrics;
enum { SRV_EP_COMPLETIONS, SRV_EP_CHAT, SRV_EP_MODELS, SRV_EP_SESSIONS, SRV_EP_OTHER, SRV_EP_N };
void srv_metrics_init(srv_metrics *mt);
void srv_metrics_request(srv_metrics *mt, int endpoint);
void srv_metrics_response(srv_metrics *mt, int status);
char *srv_metrics_text(srv *s); /* malloc'd */

/* http.c: run until SIGTERM / SIGINT; returns the exit status */
int srv_http_run(srv *s);

/* web.c */
extern const char srv_web_page[];

double srv_now(void);

#endif
