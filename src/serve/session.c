/* session.c: sequences kept after their reply (a request's `session` field), so that a
 * follow-up request feeds only its new tokens. A session holds the B = 1 cache (whose size does
 * not depend on the conversation's length for TTT and Mamba), the last sampled token not yet
 * fed (the next request feeds it first) and counters. The store is bounded by --max-sessions
 * and --session-bytes: past either, the least recently used idle sessions are dropped (disk
 * spilling to --state-dir waits for ttt_cache_save / ttt_cache_load, see the notes). The
 * scheduler takes and gives back sessions; GET / DELETE /v1/sessions/{id} read and drop them. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/serve.h"

typedef struct srv_sessions {
    pthread_mutex_t mu;
    srv_session *head;
    int64_t n;
    size_t bytes;
    long long dropped;
} srv_sessions;

int srv_sessions_init(srv *s) {
    s->sessions = calloc(1, sizeof *s->sessions);
    if (!s->sessions) return -1;
    pthread_mutex_init(&s->sessions->mu, NULL);
    return 0;
}

static size_t se_bytes(const srv_session *se) { return se->cache ? ttt_cache_bytes(se->cache) : 0; }

static void se_free(srv_session *se) {
    ttt_cache_free(se->cache);
    free(se);
}

void srv_sessions_free(srv *s) {
    if (!s->sessions) return;
    for (srv_session *se = s->sessions->head, *nx; se; se = nx) nx = se->next, se_free(se);
    pthread_mutex_destroy(&s->sessions->mu);
    free(s->sessions);
    s->sessions = NULL;
}

static srv_session **find(srv_sessions *st, const char *id) {
    for (srv_session **pp = &st->head; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->id, id) == 0) return pp;
    return NULL;
}

static void unlink_free(srv_sessions *st, srv_session **pp) {
    srv_session *se = *pp;
    *pp = se->next;
    st->n--;
    st->bytes -= se_bytes(se);
    se_free(se);
}

int srv_session_acquire(srv *s, const char *id, srv_session **out) {
    srv_sessions *st = s->sessions;
    pthread_mutex_lock(&st->mu);
    srv_session **pp = find(st, id);
    int rc = 404;
    *out = NULL;
    if (pp && (*pp)->busy) {
        rc = 409;
    } else if (pp) {
        (*pp)->busy = 1; /* its cache goes to the request: the store counts it no more */
        st->bytes -= se_bytes(*pp);
        (*pp)->held = (*pp)->cache;
        (*pp)->cache = NULL;
        *out = *pp;
        rc = 0;
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

/* drop least recently used idle sessions until the store is within its limits */
static void enforce_limits(srv *s, srv_sessions *st) {
    while (st->n > s->o.max_sessions || st->bytes > s->o.session_bytes) {
        srv_session **lru = NULL;
        for (srv_session **pp = &st->head; *pp; pp = &(*pp)->next)
            if (!(*pp)->busy && (!lru || (*pp)->last_used < (*lru)->last_used)) lru = pp;
        if (!lru) break;
        if (!s->o.quiet)
            fprintf(stderr, "ttt serve: session '%s' dropped (over --max-sessions %lld or --session-bytes %zu)\n",
                    (*lru)->id, (long long)s->o.max_sessions, s->o.session_bytes);
        unlink_free(st, lru);
        st->dropped++;
    }
}

void srv_session_release(srv *s, const char *id, srv_session *se, ttt_cache *cache, int32_t pending, int32_t last,
                         int64_t tokens) {
    srv_sessions *st = s->sessions;
    pthread_mutex_lock(&st->mu);
    (void)tokens;
    if (se) { /* the one acquired: its cache was taken out (0 bytes now) */
        srv_session **pp = find(st, id);
        if (!cache) {
            if (pp) unlink_free(st, pp);
            pthread_mutex_unlock(&st->mu);
            return;
        }
        se->cache = cache;
        se->held = NULL;
        st->bytes += se_bytes(se);
    } else {
        if (!cache) {
            pthread_mutex_unlock(&st->mu);
            return;
        }
        srv_session **pp = find(st, id);
        if (pp && (*pp)->busy) { /* created meanwhile by another request that still runs */
            ttt_cache_free(cache);
            pthread_mutex_unlock(&st->mu);
            return;
        }
        if (pp) unlink_free(st, pp);
        se = calloc(1, sizeof *se);
        if (!se) {
            ttt_cache_free(cache);
            pthread_mutex_unlock(&st->mu);
            return;
        }
        snprintf(se->id, sizeof se->id, "%s", id);
        se->cache = cache;
        se->next = st->head;
        st->head = se;
        st->n++;
        st->bytes += se_bytes(se);
    }
    se->pending = pending;
    se->last = last;
    se->tokens = ttt_cache_position(cache) + (pending >= 0);
    se->last_used = srv_now();
    se->busy = 0;
    enforce_limits(s, st);
    pthread_mutex_unlock(&st->mu);
}

/* the fields of a session (the store's mutex held) */
static void session_fields(cJSON *o, const srv_session *se) {
    cJSON_AddStringToObject(o, "id", se->id);
    cJSON_AddStringToObject(o, "object", "session");
    cJSON_AddNumberToObject(o, "tokens", (double)se->tokens);
    cJSON_AddNumberToObject(o, "state_bytes", (double)(se->cache ? ttt_cache_bytes(se->cache) : 0));
    cJSON_AddStringToObject(o, "location", "ram");
    cJSON_AddBoolToObject(o, "busy", se->busy);
    cJSON_AddNumberToObject(o, "idle_seconds", se->busy ? 0.0 : srv_now() - se->last_used);
}

char *srv_session_info(srv *s, const char *id) {
    srv_sessions *st = s->sessions;
    pthread_mutex_lock(&st->mu);
    char *out = NULL;
    cJSON *o = NULL;
    if (!id) { /* the list */
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "object", "list");
        cJSON *d = cJSON_AddArrayToObject(o, "data");
        for (srv_session *se = st->head; se; se = se->next) {
            cJSON *e = cJSON_CreateObject();
            session_fields(e, se);
            cJSON_AddItemToArray(d, e);
        }
    } else {
        srv_session **pp = find(st, id);
        if (pp) {
            o = cJSON_CreateObject();
            session_fields(o, *pp);
        }
    }
    pthread_mutex_unlock(&st->mu);
    if (o) out = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return out;
}

int srv_session_delete(srv *s, const char *id) {
    srv_sessions *st = s->sessions;
    pthread_mutex_lock(&st->mu);
    srv_session **pp = find(st, id);
    int r = 0;
    if (pp && (*pp)->busy) r = -1;
    else if (pp) unlink_free(st, pp), r = 1;
    pthread_mutex_unlock(&st->mu);
    return r;
}

void srv_sessions_counts(srv *s, int64_t *n, size_t *bytes) {
    srv_sessions *st = s->sessions;
    pthread_mutex_lock(&st->mu);
    *n = st->n;
    *bytes = st->bytes;
    pthread_mutex_unlock(&st->mu);
}
