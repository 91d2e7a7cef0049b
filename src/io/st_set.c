/* st_set.c: a model directory's weights, one file or index + shards (see st_set.h). */
#include "io/st_set.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "io/fsutil.h"
#include "io/json.h"

#define MAX_INDEX_BYTES (64u << 20) /* a weight map of a few hundred thousand tensors */
#define MAX_SHARDS 10000

static int cmp_entry(const void *a, const void *b) {
    return strcmp(((const st_set_entry *)a)->t->name, ((const st_set_entry *)b)->t->name);
}

void st_set_close(st_set *s) {
    for (int i = 0; i < s->nfiles; i++) st_close(&s->files[i]);
    free(s->files);
    free(s->e);
    free(s->shown);
    memset(s, 0, sizeof *s);
}

/* the sorted table of every tensor of every file */
static ttt_status build_table(st_set *s) {
    int n = 0;
    for (int f = 0; f < s->nfiles; f++) {
        if (s->files[f].n > 0x7fffffff - n) return ttt_err(TTT_ERR_FORMAT, "%s: too many tensors", s->shown);
        n += s->files[f].n;
    }
    s->e = malloc(sizeof *s->e * (size_t)(n ? n : 1));
    if (!s->e) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    for (int f = 0, k = 0; f < s->nfiles; f++)
        for (int i = 0; i < s->files[f].n; i++) s->e[k++] = (st_set_entry){&s->files[f].t[i], f};
    qsort(s->e, (size_t)n, sizeof *s->e, cmp_entry);
    s->n = n;
    for (int i = 1; i < n; i++)
        if (strcmp(s->e[i - 1].t->name, s->e[i].t->name) == 0)
            return ttt_err(TTT_ERR_FORMAT, "%s: tensor '%s' is in two shards, %s and %s", s->shown, s->e[i].t->name,
                           s->files[s->e[i - 1].file].path, s->files[s->e[i].file].path);
    return TTT_OK;
}

/* the position of NAME in the sorted table, or -1 */
static int find_index(const st_set *s, const char *name) {
    int lo = 0, hi = s->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(s->e[mid].t->name, name);
        if (c == 0) return mid;
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

const st_tensor *st_set_find(const st_set *s, const char *name, const st_file **file) {
    int i = find_index(s, name);
    if (i < 0) return NULL;
    if (file) *file = &s->files[s->e[i].file];
    return s->e[i].t;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* a shard name of the index: a plain file name inside the model directory */
static ttt_status check_shard_name(const char *idx, const char *tensor, const char *name) {
    size_t len = strlen(name);
    if (len == 0 || len > 255 || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return ttt_err(TTT_ERR_FORMAT,
                       "%s: tensor '%s' maps to \"%.300s\", which is not a file name (expected a shard of this "
                       "directory, e.g. \"model-00001-of-00002.safetensors\")",
                       idx, tensor, name);
    return TTT_OK;
}

static ttt_status open_sharded(st_set *s, const char *dir, const char *idx) {
    cJSON *root;
    TRY(ttt_json_load(idx, MAX_INDEX_BYTES, TTT_ERR_FORMAT, &root));
    ttt_status st = TTT_OK;
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    const char **shard = NULL; /* the distinct shard names, sorted */
    unsigned char *seen = NULL;
    int ns = 0, nmap = 0;
    if (!cJSON_IsObject(wm))
        st = ttt_err(TTT_ERR_FORMAT, "%s: expected an object \"weight_map\" (tensor name -> shard file)", idx);
    for (const cJSON *e = wm ? wm->child : NULL; st == TTT_OK && e; e = e->next) nmap++;
    if (st == TTT_OK && nmap == 0) st = ttt_err(TTT_ERR_FORMAT, "%s: \"weight_map\" lists no tensor", idx);
    if (st == TTT_OK && !(shard = malloc(sizeof *shard * (size_t)nmap))) st = ttt_err(TTT_ERR_NOMEM, "out of memory");
    for (const cJSON *e = st == TTT_OK ? wm->child : NULL; st == TTT_OK && e; e = e->next) {
        if (!cJSON_IsString(e))
            st = ttt_err(TTT_ERR_FORMAT, "%s: \"weight_map\" entry '%s' must be a string (the shard's file name)", idx,
                         e->string);
        else if ((st = check_shard_name(idx, e->string, e->valuestring)) == TTT_OK)
            shard[ns++] = e->valuestring;
    }
    if (st == TTT_OK) { /* sorted and deduplicated: n log n for any index */
        qsort(shard, (size_t)ns, sizeof *shard, cmp_str);
        int u = 0;
        for (int k = 0; k < ns; k++)
            if (u == 0 || strcmp(shard[u - 1], shard[k]) != 0) shard[u++] = shard[k];
        ns = u;
        if (ns > MAX_SHARDS) st = ttt_err(TTT_ERR_FORMAT, "%s: %d shards, more than the %d allowed", idx, ns, MAX_SHARDS);
    }
    if (st == TTT_OK && !(s->files = calloc((size_t)ns, sizeof *s->files))) st = ttt_err(TTT_ERR_NOMEM, "out of memory");
    for (int k = 0; st == TTT_OK && k < ns; k++) {
        char *p = ttt_path_join(dir, shard[k]);
        st = p ? st_open(&s->files[k], p) : ttt_err(TTT_ERR_NOMEM, "out of memory");
        free(p);
        if (st == TTT_OK) s->nfiles++;
    }
    if (st == TTT_OK) st = build_table(s);
    /* the index and the shards agree: every mapped tensor is where the map says, and every
     * tensor of a shard is mapped to it (so neither side has a tensor the other lacks) */
    if (st == TTT_OK && !(seen = calloc((size_t)(s->n ? s->n : 1), 1))) st = ttt_err(TTT_ERR_NOMEM, "out of memory");
    for (const cJSON *e = st == TTT_OK ? wm->child : NULL; st == TTT_OK && e; e = e->next) {
        int i = find_index(s, e->string);
        const char *path = i >= 0 ? s->files[s->e[i].file].path : NULL, *base = path ? strrchr(path, '/') : NULL;
        if (i < 0)
            st = ttt_err(TTT_ERR_FORMAT, "%s: tensor '%s' is mapped to %s, which does not hold it", idx, e->string,
                         e->valuestring);
        else if (strcmp(base ? base + 1 : path, e->valuestring) != 0)
            st = ttt_err(TTT_ERR_FORMAT, "%s: tensor '%s' is mapped to %s but is in %s", idx, e->string,
                         e->valuestring, path);
        else
            seen[i] = 1;
    }
    for (int i = 0; st == TTT_OK && i < s->n; i++) /* a shard holds a tensor the map does not list */
        if (!seen[i])
            st = ttt_err(TTT_ERR_FORMAT, "%s holds tensor '%s', which %s does not list", s->files[s->e[i].file].path,
                         s->e[i].t->name, idx);
    free(seen);
    free(shard);
    cJSON_Delete(root);
    return st;
}

ttt_status st_set_open(st_set *s, const char *dir) {
    memset(s, 0, sizeof *s);
    char *single = ttt_path_join(dir, "model.safetensors"), *idx = ttt_path_join(dir, "model.safetensors.index.json");
    if (!single || !idx) {
        free(single), free(idx);
        return ttt_err(TTT_ERR_NOMEM, "out of memory");
    }
    struct stat sb;
    int sharded = lstat(single, &sb) != 0 && lstat(idx, &sb) == 0;
    s->shown = sharded ? idx : single; /* st_set_close frees it */
    free(sharded ? single : idx);
    ttt_status st;
    if (sharded) {
        st = open_sharded(s, dir, s->shown);
    } else {
        s->files = calloc(1, sizeof *s->files);
        st = s->files ? st_open(&s->files[0], s->shown) : ttt_err(TTT_ERR_NOMEM, "out of memory");
        if (st == TTT_OK) s->nfiles = 1, st = build_table(s);
    }
    if (st != TTT_OK) st_set_close(s);
    return st;
}
