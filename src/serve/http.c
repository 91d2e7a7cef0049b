/* http.c: the HTTP layer of `ttt serve` on libmicrohttpd (one thread per connection): routes,
 * the optional bearer key (401), the request size cap (413, from Content-Length before the body
 * is read, or while it arrives), a deadline for receiving the body (slow-body clients: the
 * connection is closed),
 * JSON replies, server-sent events for "stream": true, and graceful shutdown: SIGTERM or SIGINT
 * stops new generation requests (503), lets the scheduler finish the queued and running ones,
 * waits for their replies to be delivered, then stops the daemon. */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "serve/serve.h"


typedef struct {
    srv *s;
    srv_buf body;
    size_t received;
    int too_big, started;
    double t0;
} conn_ctx;

#define CONN_IDLE_S 30 /* libmicrohttpd closes a connection idle this long (but for a body: below) */

static pthread_mutex_t inflight_mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t inflight; /* generation requests whose replies are not delivered yet */
static unsigned long long req_counter;

static void inflight_add(int d) {
    pthread_mutex_lock(&inflight_mu);
    inflight += d;
    pthread_mutex_unlock(&inflight_mu);
}

static enum MHD_Result send_buf(struct MHD_Connection *c, int status, const char *type, const char *data, size_t n) {
    struct MHD_Response *r = MHD_create_response_from_buffer(n, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    if (status == 401) MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result send_json(struct MHD_Connection *c, int status, const char *json) {
    return send_buf(c, status, "application/json", json, strlen(json));
}

static enum MHD_Result send_error(srv *s, struct MHD_Connection *c, int status, const char *type, const char *code,
                                  const char *msg) {
    srv_error e;
    srv_set_error(&e, status, type, NULL, code, "%s", msg);
    char *j = srv_error_json(&e);
    enum MHD_Result r = send_json(c, status, j ? j : "{}");
    free(j);
    if (s) srv_metrics_response(s->metrics, status);
    return r;
}

/* constant-time comparison of the bearer key */
static int key_ok(srv *s, struct MHD_Connection *c) {
    if (!s->o.api_key) return 1;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return 0; /* the scheme is case-insensitive (RFC 9110 11.1) */
    h += 7;
    size_t a = strlen(h), b = strlen(s->o.api_key);
    unsigned char d = (unsigned char)(a != b);
    for (size_t i = 0; i < a; i++) d |= (unsigned char)(h[i] ^ s->o.api_key[i % (b ? b : 1)]);
    return d == 0;
}

/* ---- streaming ------------------------------------------------------------------------- */

typedef struct {
    srv_job *j;
    size_t pos;
} stream_ctx;

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    stream_ctx *sc = cls;
    srv_job *j = sc->j;
    pthread_mutex_lock(&j->mu);
    while (sc->pos == j->out.len && !j->done) { /* this connection's thread waits, nobody else */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&j->cv, &j->mu, &ts);
    }
    ssize_t n;
    if (sc->pos < j->out.len) {
        size_t k = j->out.len - sc->pos;
        if (k > max) k = max;
        memcpy(buf, j->out.p + sc->pos, k);
        sc->pos += k;
        n = (ssize_t)k;
    } else {
        n = MHD_CONTENT_READER_END_OF_STREAM;
    }
    pthread_mutex_unlock(&j->mu);
    return n;
}

static void stream_free(void *cls) {
    stream_ctx *sc = cls;
    pthread_mutex_lock(&sc->j->mu);
    if (!sc->j->done) sc->j->cancelled = 1; /* the client went away: the scheduler drops it */
    pthread_mutex_unlock(&sc->j->mu);
    srv_job_unref(sc->j);
    free(sc);
    inflight_add(-1);
}

/* ---- generation endpoints -------------------------------------------------------------- */

static enum MHD_Result generate(srv *s, struct MHD_Connection *c, int kind, conn_ctx *cc) {
    srv_error e;
    srv_job *j = srv_job_new();
    if (!j) return send_error(s, c, 500, "server_error", NULL, "out of memory");
    if (srv_parse_request(s, kind, cc->body.p ? cc->body.p : "", cc->body.len, &j->p, &e)) {
        char *b = srv_error_json(&e);
        enum MHD_Result r = send_json(c, e.status, b ? b : "{}");
        srv_metrics_response(s->metrics, e.status);
        free(b);
        srv_job_unref(j);
        return r;
    }
    pthread_mutex_lock(&inflight_mu);
    unsigned long long k = ++req_counter;
    pthread_mutex_unlock(&inflight_mu);
    snprintf(j->id, sizeof j->id, "%s-%llx%06llx", kind == SRV_CHAT ? "chatcmpl" : "cmpl", (unsigned long long)time(NULL), k);
    j->created = (long long)time(NULL);
    j->t_arrival = srv_now();
    j->deadline = j->t_arrival + s->o.timeout_s;
    int rc = srv_submit(s, j);
    if (rc) {
        srv_job_unref(j);
        return send_error(s, c, rc, rc == 429 ? "rate_limit_error" : "server_error", rc == 429 ? "queue_full" : "shutting_down",
                          rc == 429 ? "the request queue is full (--queue); retry later"
                                    : "the server is shutting down");
    }
    inflight_add(1);
    if (j->p.stream) {
        stream_ctx *sc = calloc(1, sizeof *sc);
        struct MHD_Response *r = sc ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, sc, stream_free)
                                    : NULL;
        if (!r) {
            free(sc);
            pthread_mutex_lock(&j->mu);
            j->cancelled = 1;
            pthread_mutex_unlock(&j->mu);
            srv_job_unref(j);
            inflight_add(-1);
            return MHD_NO;
        }
        sc->j = j;
        MHD_add_response_header(r, "Content-Type", "text/event-stream");
        MHD_add_response_header(r, "Cache-Control", "no-cache");
        MHD_add_response_header(r, "X-Accel-Buffering", "no");
        enum MHD_Result ok = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        return ok;
    }
    /* not streaming: this connection's thread waits for the reply */
    pthread_mutex_lock(&j->mu);
    while (!j->done) pthread_cond_wait(&j->cv, &j->mu);
    int status = j->status;
    char *body = j->body;
    j->body = NULL;
    pthread_mutex_unlock(&j->mu);
    enum MHD_Result r = send_json(c, status, body ? body : "{}");
    free(body);
    srv_job_unref(j);
    inflight_add(-1);
    return r;
}

static enum MHD_Result models(srv *s, struct MHD_Connection *c, const char *which) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", s->o.model_name);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", 0);
    cJSON_AddStringToObject(m, "owned_by", "ttt");
    const ttt_config *cfg = ttt_model_config(s->m);
    cJSON_AddStringToObject(m, "family", cfg->arch == TTT_ARCH_TTT ? "ttt" : cfg->arch == TTT_ARCH_LLAMA ? "llama"
                                                                           : cfg->arch == TTT_ARCH_MAMBA ? "mamba" : "other");
    if (s->max_context > 0) cJSON_AddNumberToObject(m, "max_model_len", (double)s->max_context);
    cJSON *r;
    if (which) {
        if (strcmp(which, s->o.model_name) != 0) {
            cJSON_Delete(m);
            char msg[700];
            snprintf(msg, sizeof msg, "the model '%.300s' does not exist (this server has '%s')", which, s->o.model_name);
            return send_error(NULL, c, 404, "invalid_request_error", "model_not_found", msg);
        }
        r = m;
    } else {
        r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "object", "list");
        cJSON_AddItemToArray(cJSON_AddArrayToObject(r, "data"), m);
    }
    char *t = cJSON_PrintUnformatted(r);
    cJSON_Delete(r);
    enum MHD_Result ok = send_json(c, 200, t ? t : "{}");
    free(t);
    return ok;
}

static enum MHD_Result sessions(srv *s, struct MHD_Connection *c, const char *method, const char *id) {
    char msg[200];
    if (!id || !id[0]) {
        if (strcmp(method, "GET") != 0) return send_error(NULL, c, 405, "invalid_request_error", NULL, "use GET /v1/sessions");
        char *t = srv_session_info(s, NULL);
        enum MHD_Result r = send_json(c, 200, t ? t : "{}");
        free(t);
        return r;
    }
    if (strcmp(method, "GET") == 0) {
        char *t = srv_session_info(s, id);
        if (!t) {
            snprintf(msg, sizeof msg, "no session '%.64s'", id);
            return send_error(NULL, c, 404, "invalid_request_error", "session_not_found", msg);
        }
        enum MHD_Result r = send_json(c, 200, t);
        free(t);
        return r;
    }
    if (strcmp(method, "DELETE") == 0) {
        int d = srv_session_delete(s, id);
        snprintf(msg, sizeof msg, d == 0 ? "no session '%.64s'" : "session '%.64s' is in use by a request", id);
        if (d <= 0) return send_error(NULL, c, d == 0 ? 404 : 409, "invalid_request_error", d == 0 ? "session_not_found" : "session_busy", msg);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", id);
        cJSON_AddStringToObject(o, "object", "session");
        cJSON_AddBoolToObject(o, "deleted", 1);
        char *t = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        enum MHD_Result r = send_json(c, 200, t ? t : "{}");
        free(t);
        return r;
    }
    return send_error(NULL, c, 405, "invalid_request_error", NULL, "use GET or DELETE on /v1/sessions/{id}");
}

/* ---- the access handler ------------------------------------------------------------------ */

static enum MHD_Result count_length(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    (void)kind, (void)value;
    if (strcasecmp(key, "Content-Length") == 0) ++*(int *)cls;
    return MHD_YES;
}

/* while a body arrives, the connection may stay silent only until the body's deadline (else a
 * client that sends part of a body and stops would hold its thread for CONN_IDLE_S) */
static void body_deadline(struct MHD_Connection *c, double left_s) {
    unsigned t = left_s >= CONN_IDLE_S ? CONN_IDLE_S : left_s < 1 ? 1 : (unsigned)ceil(left_s);
    MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, t);
}

static int endpoint_of(const char *url) {
    if (strcmp(url, "/v1/completions") == 0) return SRV_EP_COMPLETIONS;
    if (strcmp(url, "/v1/chat/completions") == 0) return SRV_EP_CHAT;
    if (strncmp(url, "/v1/models", 10) == 0) return SRV_EP_MODELS;
    if (strncmp(url, "/v1/sessions", 12) == 0) return SRV_EP_SESSIONS;
    return SRV_EP_OTHER;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)version;
    srv *s = cls;
    conn_ctx *cc = *con_cls;
    if (!cc) { /* first call: the headers only */
        cc = calloc(1, sizeof *cc);
        if (!cc) return MHD_NO;
        cc->s = s;
        cc->t0 = srv_now();
        *con_cls = cc;
        srv_metrics_request(s->metrics, endpoint_of(url));
        /* libmicrohttpd takes the first of several Content-Length headers and lets
         * Transfer-Encoding override one: a framing that another hop may read otherwise (request
         * smuggling, RFC 9112 6.3) is refused, and the connection closed */
        int n_cl = 0;
        MHD_get_connection_values(c, MHD_HEADER_KIND, count_length, &n_cl);
        if (n_cl > 1 || (n_cl && MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding")))
            return send_error(s, c, 400, "invalid_request_error", NULL,
                              n_cl > 1 ? "the request has more than one Content-Length header"
                                       : "the request has both Content-Length and Transfer-Encoding");
        body_deadline(c, s->o.body_timeout_s);
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (errno || *end || n > s->o.max_body) cc->too_big = 1;
        }
        if (cc->too_big) {
            char msg[160];
            snprintf(msg, sizeof msg, "the request body is larger than this server's limit of %zu bytes (--max-body)",
                     s->o.max_body);
            return send_error(s, c, 413, "invalid_request_error", "request_too_large", msg);
        }
        return MHD_YES;
    }
    if (*upload_size) { /* a piece of the body */
        if (srv_now() - cc->t0 > s->o.body_timeout_s) {
            /* a body trickling in (slowloris): libmicrohttpd 0.9.75 cannot queue a reply while a
             * body is being received, so the connection is closed */
            if (!s->o.quiet) fprintf(stderr, "ttt serve: a request body took longer than --body-timeout: connection closed\n");
            srv_metrics_response(s->metrics, 408);
            return MHD_NO;
        }
        cc->received += *upload_size;
        if (cc->received > s->o.max_body) cc->too_big = 1;
        else srv_buf_put(&cc->body, upload, *upload_size);
        *upload_size = 0;
        body_deadline(c, s->o.body_timeout_s - (srv_now() - cc->t0));
        return MHD_YES;
    }
    if (cc->started) return MHD_YES;
    cc->started = 1;
    MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)CONN_IDLE_S); /* the body is in */
    if (cc->too_big) {
        char msg[160];
        snprintf(msg, sizeof msg, "the request body is larger than this server's limit of %zu bytes (--max-body)",
                 s->o.max_body);
        return send_error(s, c, 413, "invalid_request_error", "request_too_large", msg);
    }
    if (cc->body.failed) return send_error(s, c, 500, "server_error", NULL, "out of memory");
    int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0, head = strcmp(method, "HEAD") == 0;
    if (strcmp(url, "/") == 0 && (get || head))
        return send_buf(c, 200, "text/html; charset=utf-8", srv_web_page, strlen(srv_web_page));
    if (strcmp(url, "/health") == 0 && (get || head)) {
        pthread_mutex_lock(&s->mu);
        int stopping = s->stopping;
        pthread_mutex_unlock(&s->mu);
        return send_json(c, stopping ? 503 : 200, stopping ? "{\"status\":\"shutting_down\"}" : "{\"status\":\"ok\"}");
    }
    int ep = endpoint_of(url);
    if (strcmp(url, "/") == 0 || strcmp(url, "/health") == 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "method %.8s is not allowed on %s (use GET)", method, url);
        return send_error(NULL, c, 405, "invalid_request_error", "method_not_allowed", msg);
    }
    int known = ep != SRV_EP_OTHER || strcmp(url, "/metrics") == 0;
    if (!known) {
        char msg[300];
        snprintf(msg, sizeof msg, "no route %.8s %.200s", method, url);
        return send_error(NULL, c, 404, "invalid_request_error", "not_found", msg);
    }
    if (!key_ok(s, c))
        return send_error(s, c, 401, "invalid_request_error", "invalid_api_key",
                          "missing or wrong API key (send the header 'Authorization: Bearer KEY')");
    if (strcmp(url, "/metrics") == 0 && get) {
        char *t = srv_metrics_text(s);
        enum MHD_Result r = send_buf(c, 200, "text/plain; version=0.0.4", t ? t : "", t ? strlen(t) : 0);
        free(t);
        return r;
    }
    if (ep == SRV_EP_MODELS && get) return models(s, c, url[10] == '/' && url[11] ? url + 11 : NULL);
    if (ep == SRV_EP_SESSIONS && (url[12] == 0 || url[12] == '/')) return sessions(s, c, method, url[12] ? url + 13 : NULL);
    if ((ep == SRV_EP_COMPLETIONS || ep == SRV_EP_CHAT) && post)
        return generate(s, c, ep == SRV_EP_CHAT ? SRV_CHAT : SRV_COMPLETION, cc);
    char msg[300];
    snprintf(msg, sizeof msg, "method %.8s is not allowed on %.200s", method, url);
    return send_error(NULL, c, 405, "invalid_request_error", "method_not_allowed", msg);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)c;
    srv *s = cls;
    conn_ctx *cc = *con_cls;
    if (!cc) return;
    if (toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED && !cc->started) { /* a body that stopped arriving */
        if (!s->o.quiet) fprintf(stderr, "ttt serve: a request body took longer than --body-timeout: connection closed\n");
        srv_metrics_response(s->metrics, 408);
    }
    srv_buf_free(&cc->body);
    free(cc);
    *con_cls = NULL;
}

static int sig_pipe[2] = {-1, -1};
static void on_signal(int sig) {
    unsigned char c = (unsigned char)sig;
    int e = errno;
    if (write(sig_pipe[1], &c, 1) < 0) {
    }
    errno = e;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
    srv *s = cls;
    if (s->o.quiet) return;
    fprintf(stderr, "ttt serve: libmicrohttpd: ");
    vfprintf(stderr, fmt, ap);
}

int srv_http_run(srv *s) {
    /* SIGTERM / SIGINT: a handler (on whichever thread the signal lands, OpenBLAS's and
     * OpenMP's included) writes the signal to a pipe that this thread waits on */
    if (pipe(sig_pipe) != 0) {
        fprintf(stderr, "ttt serve: cannot create a pipe: %s\n", strerror(errno));
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    struct sockaddr *addr;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    memset(&a4, 0, sizeof a4);
    memset(&a6, 0, sizeof a6);
    if (inet_pton(AF_INET, s->o.host, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)s->o.port);
        addr = (struct sockaddr *)&a4;
    } else if (inet_pton(AF_INET6, s->o.host, &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)s->o.port);
        addr = (struct sockaddr *)&a6;
        flags |= MHD_USE_IPv6;
    } else {
        fprintf(stderr, "ttt serve: --host '%s' is not an IPv4 or IPv6 address (e.g. 127.0.0.1, 0.0.0.0, ::1)\n", s->o.host);
        return 2;
    }
    if (srv_sched_start(s)) {
        fprintf(stderr, "ttt serve: cannot start the scheduler thread\n");
        return 1;
    }
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)s->o.port, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
        MHD_OPTION_SOCK_ADDR, addr, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)256, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_IDLE_S, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "ttt serve: cannot listen on %s port %d: %s (is the port in use?)\n", s->o.host, s->o.port,
                strerror(errno));
        srv_sched_drain(s);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    int port = info ? (int)info->port : s->o.port;
    fprintf(stderr, "ttt serve: listening on http://%s%s%s:%d (model %s, --parallel %lld)\n", addr->sa_family == AF_INET6 ? "[" : "",
            s->o.host, addr->sa_family == AF_INET6 ? "]" : "", port, s->o.model_name, (long long)s->o.parallel);
    fflush(stderr);
    unsigned char sig = 0;
    while (read(sig_pipe[0], &sig, 1) != 1 && errno == EINTR) {
    }
    signal(SIGTERM, SIG_IGN); /* a second signal while draining changes nothing */
    signal(SIGINT, SIG_IGN);
    if (!s->o.quiet) fprintf(stderr, "ttt serve: signal %d: draining running requests\n", sig);
    srv_sched_drain(s); /* new requests get 503; queued and running ones finish */
    srv_sessions_save_all(s);
    for (int i = 0; i < 1000; i++) { /* their replies reach the clients (at most 10 s) */
        pthread_mutex_lock(&inflight_mu);
        int64_t n = inflight;
        pthread_mutex_unlock(&inflight_mu);
        if (n == 0) break;
        usleep(10000);
    }
    MHD_stop_daemon(d);
    if (!s->o.quiet) fprintf(stderr, "ttt serve: stopped\n");
    return 0;
}
