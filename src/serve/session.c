/* session.c: sequences kept after their reply (a request's `session` field), so that a
 * follow-up request feeds only its new tokens. A session holds the B = 1 cache (whose size does
 * not depend on the conversation's length for TTT and Mamba), the last sampled token not yet
 * fed (the next request feeds it first) and counters. The store is bounded by --max-sessions
 * (all sessions) and --session-bytes (the states in RAM). With --state-dir D, a session over the
 * byte limit or idle longer than --session-idle is spilled: its cache to D/ID.state
 * (ttt_cache_save: a safetensors file with the model's identity) and its token bookkeeping to
 * D/ID.json, both written atomically; the next request reloads it (ttt_cache_load, which refuses
 * a state of another model). SIGTERM spills every session, and a server started on the same
 * directory finds them again. Without --state-dir, or past --max-sessions, the least recently
 * used idle session is dropped. The scheduler takes and gives back sessions; GET / DELETE
 * /v1/sessions/{id} read and drop them. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/fsutil.h"
#include "serve/serve.h"
#include "ttt_state.h"

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

static void paths(srv *s, const char *id, char *st, char *js, size_t cap) {
    snprintf(st, cap, "%s/%s.state", s->o.state_dir, id);
    snprintf(js, cap, "%s/%s.json", s->o.state_dir, id);
}

/* write a session's cache and bookkeeping to --state-dir and free the cache; 0 on success */
static int spill(srv *s, srv_sessions *st, srv_session *se) {
    if (!s->o.state_dir || !se->cache || se->busy) return -1;
    char sp[1200], jp[1200], js[256];
    paths(s, se->id, sp, jp, sizeof sp);
    if (ttt_cache_position(se->cache) < 1 || ttt_cache_save(se->cache, sp) != TTT_OK) {
        if (!s->o.quiet) fprintf(stderr, "ttt serve: session '%s' not spilled: %s\n", se->id, ttt_last_error());
        return -1;
    }
    int n = snprintf(js, sizeof js, "{\"pending\": %d, \"last\": %d, \"tokens\": %lld}\n", (int)se->pending,
                     (int)se->last, (long long)se->tokens);
    if (ttt_atomic_write_file(jp, js, (size_t)n) != TTT_OK) {
        remove(sp);
        if (!s->o.quiet) fprintf(stderr, "ttt serve: session '%s' not spilled: %s\n", se->id, ttt_last_error());
        return -1;
    }
    st->bytes -= se_bytes(se);
    ttt_cache_free(se->cache);
    se->cache = NULL;
    se->on_disk = 1;
    return 0;
}

static void remove_files(srv *s, const char *id) {
    if (!s->o.state_dir) return;
    char sp[1200], jp[1200];
    paths(s, id, sp, jp, sizeof sp);
    remove(jp);
    remove(sp);
}

/* read a spilled session back (0), or -1 with the reason in msg */
static int reload(srv *s, srv_sessions *st, srv_session *se, char *msg, size_t cap) {
    char sp[1200], jp[1200];
    paths(s, se->id, sp, jp, sizeof sp);
    ttt_cache *c = NULL;
    if (ttt_cache_load(s->m, sp, &c) != TTT_OK) {
        snprintf(msg, cap, "%s", ttt_last_error());
        return -1;
    }
    se->cache = c;
    se->on_disk = 0;
    st->bytes += se_bytes(se);
    return 0;
}

int srv_session_acquire(srv *s, const char *id, srv_session **out) {
    srv_sessions *st = s->sessions;
    pthread_mutex_lock(&st->mu);
    srv_session **pp = find(st, id);
    int rc = 404;
    *out = NULL;
    if (pp && (*pp)->busy) {
        rc = 409;
    } else if (pp && (*pp)->on_disk && reload(s, st, *pp, s->session_error, sizeof s->session_error)) {
        rc = 500;
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

/* the least recently used idle session held in RAM (ram = 1) or anywhere (ram = 0) */
static srv_session **lru_of(srv_sessions *st, int ram) {
    srv_session **lru = NULL;
    for (srv_session **pp = &st->head; *pp; pp = &(*pp)->next)
        if (!(*pp)->busy && (!ram || (*pp)->cache) && (!lru || (*pp)->last_used < (*lru)->last_used)) lru = pp;
    return lru;
}

/* within the limits again: past --max-sessions the least recently used are dropped; past
 * --session-bytes, or idle past --session-idle, they are spilled (with --state-dir) or dropped */
static void enforce_limits(srv *s, srv_sessions *st) {
    srv_session **pp;
    while (st->n > s->o.max_sessions && (pp = lru_of(st, 0))) {
        if (!s->o.quiet) fprintf(stderr, "ttt serve: session '%s' dropped (over --max-sessions %lld)\n", (*pp)->id,
                                 (long long)s->o.max_sessions);
        remove_files(s, (*pp)->id);
        unlink_free(st, pp);
        st->dropped++;
    }
    double now = srv_now();
    for (srv_session *se = st->head; se && s->o.state_dir; se = se->next)
        if (se->cache && !se->busy && now - se->last_used > s->o.session_idle_s) spill(s, st, se);
    while (st->bytes > s->o.session_bytes && (pp = lru_of(st, 1))) {
        if (spill(s, st, *pp) == 0) continue;
        if (!s->o.quiet) fprintf(stderr, "ttt serve: session '%s' dropped (over --session-bytes %zu)\n", (*pp)->id,
                                 s->o.session_bytes);
        remove_files(s, (*pp)->id);
        unlink_free(st, pp);
        st->dropped++;
    }
}

void srv_sessions_tick(srv *s) {
    srv_sessions *st = s->sessions;
    pthread_mutex_lock(&st->mu);
    enforce_limits(s, st);
    pthread_mutex_unlock(&st->mu);
}

/* SIGTERM: every session in RAM to --state-dir */
void srv_sessions_save_all(srv *s) {
    if (!s->o.state_dir) return;
    srv_sessions *st = s->sessions;
    pthread_mutex_lock(&st->mu);
    int64_t n = 0;
    for (srv_session *se = st->head; se; se = se->next)
        if (se->cache && spill(s, st, se) == 0) n++;
    pthread_mutex_unlock(&st->mu);
    if (!s->o.quiet && n) fprintf(stderr, "ttt serve: %lld session%s saved to %s\n", (long long)n, n == 1 ? "" : "s", s->o.state_dir);
}

/* at start: the sessions a previous server left in --state-dir (ID.json beside ID.state) */
void srv_sessions_scan(srv *s) {
    if (!s->o.state_dir) return;
    DIR *d = opendir(s->o.state_dir);
    if (!d) return;
    srv_sessions *st = s->sessions;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 6 || l > 64 + 5 || strcmp(e->d_name + l - 5, ".json") != 0 || e->d_name[0] == '.') continue;
        char id[72], sp[1200], jp[1200];
        snprintf(id, sizeof id, "%.*s", (int)(l - 5), e->d_name);
        paths(s, id, sp, jp, sizeof sp);
        char *txt = NULL;
        size_t tl;
        if (ttt_read_file(jp, 4096, &txt, &tl) != TTT_OK) continue;
        cJSON *j = cJSON_Parse(txt);
        free(txt);
        cJSON *pe = cJSON_GetObjectItem(j, "pending"), *la = cJSON_GetObjectItem(j, "last"),
              *tk = cJSON_GetObjectItem(j, "tokens");
        FILE *fp = fopen(sp, "rb");
        int ok = cJSON_IsNumber(pe) && cJSON_IsNumber(la) && cJSON_IsNumber(tk) && fp && pe->valuedouble >= -1 &&
                 pe->valuedouble < (double)s->V && la->valuedouble >= 0 && la->valuedouble < (double)s->V;
        if (fp) fclose(fp);
        if (ok) {
            srv_session *se = calloc(1, sizeof *se);
            if (se) {
                snprintf(se->id, sizeof se->id, "%s", id);
                se->pending = (int32_t)pe->valuedouble;
                se->last = (int32_t)la->valuedouble;
                se->tokens = (int64_t)tk->valuedouble;
                se->on_disk = 1;
                se->last_used = srv_now();
                se->next = st->head;
                st->head = se;
                st->n++;
            }
        } else if (!s->o.quiet) {
            fprintf(stderr, "ttt serve: %s: not a session of ttt serve (ignored)\n", jp);
        }
        cJSON_Delete(j);
    }
    closedir(d);
    if (!s->o.quiet && st->n) fprintf(stderr, "ttt serve: %lld session%s found in %s\n", (long long)st->n, st->n == 1 ? "" : "s", s->o.state_dir);
}

void srv_session_release(srv *s, const char *id, srv_session *se, ttt_cache *cache, int32_t pending, int32_t last,
                         int64_t tokens) {
    srv_sessions *st = s->sessions;
    pthread_mutex_lock(&st->mu);
    (void)tokens;
    if (se) { /* the one acquired: its cache was taken out (0 bytes now) */
        srv_session **pp = find(st, id);
        if (!cache) {
            if (pp) remove_files(s, id), unlink_free(st, pp);
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
        if (pp) remove_files(s, id), unlink_free(st, pp);
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
    if (se->on_disk) se->on_disk = 0;
    remove_files(s, id); /* the files, if any, are older than the state in RAM */
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
    cJSON_AddStringToObject(o, "location", se->busy ? "in use" : se->on_disk ? "disk" : "ram");
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
    else if (pp) remove_files(s, id), unlink_free(st, pp), r = 1;
    pthread_mutex_unlock(&st->mu);
    return r;
}

void srv_sessions_counts(srv *s, int64_t *n, int64_t *on_disk, size_t *bytes) {
    srv_sessions *st = s->sessions;
    pthread_mutex_lock(&st->mu);
    *on_disk = 0;
    for (srv_session *se = st->head; se; se = se->next) *on_disk += se->on_disk;
    *n = st->n - *on_disk;
    *bytes = st->bytes;
    pthread_mutex_unlock(&st->mu);
}
