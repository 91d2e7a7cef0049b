/* cmd_convert.c: `ttt convert`: rewrite a model directory's weights into a new directory as
 * one model.safetensors or as Hugging Face hub shards (model-0000K-of-0000N.safetensors +
 * model.safetensors.index.json), optionally in another float dtype, with config.json and the
 * tokenizer files copied. The source is every tensor of its st_set (validated as for loading),
 * streamed through the safetensors writer a chunk at a time (memory: a few MiB, whatever the
 * model's size). Tensor names and the __metadata__ of the files are kept.
 *
 * Sharding follows huggingface_hub's split_state_dict_into_shards_factory: tensors in order
 * (here the natural order of their names: "layers.2" before "layers.10"); a tensor bigger
 * than the shard size is a shard of its own; otherwise a tensor that would take the current
 * shard past the size closes it. A tensor is never split. One shard is written as
 * model.safetensors without an index, as save_pretrained does. "total_size" is the sum of the
 * tensors' bytes (headers not counted), as on the hub.
 *
 * Dtypes: float tensors (F64, F32, F16, BF16) become --dtype, rounded to nearest even (F64
 * through F32, as torch's .to() does); a finite value that would overflow to infinity is an
 * error; integer and bool tensors keep their dtype. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "io/fsutil.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "io/st_set.h"

static const flag_spec flags[] = {{"model", 1}, {"out", 1}, {"dtype", 1}, {"shard-size", 1}, {"force", 0}, {NULL, 0}};

#define DEFAULT_SHARD_BYTES 5000000000ull /* "5GB": save_pretrained's default max_shard_size */
#define MAX_SHARDS 10000                   /* what the reader (st_set.c) accepts */
#define MAX_SMALL_FILE ((size_t)1 << 30)

/* copied when present (config.json must be); everything else in the directory is left out */
static const char *const small_files[] = {"config.json",        "generation_config.json", "tokenizer.json",
                                          "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                                          "tokenizer.model",    "vocab.json",             "merges.txt",
                                          "vocab.txt",          "merges.u16le",           "chat_template.jinja",
                                          "chat_template.json", NULL};

static void help(void) {
    printf("usage: ttt convert --model DIR --out DIR2 [--dtype bf16|f16|f32] [--shard-size SIZE] [--force]\n\n"
           "Writes the weights of model directory DIR (model.safetensors, or model.safetensors.index.json\n"
           "and its shards) into DIR2 as one model.safetensors or as shards in the Hugging Face layout\n"
           "(model-00001-of-0000N.safetensors + model.safetensors.index.json), with config.json and the\n"
           "tokenizer files of DIR (tokenizer.json, tokenizer_config.json, generation_config.json,\n"
           "special_tokens_map.json, ... when present).\n\n"
           "  --dtype       float tensors in bf16, f16 or f32 (default: each keeps its own); rounding to\n"
           "                nearest even as torch does; a value that overflows the dtype is an error\n"
           "  --shard-size  largest shard: a number of bytes with an optional unit, KB MB GB (powers of\n"
           "                1000, as the hub) or KiB MiB GiB; 'none' for one file (default 5GB, so one\n"
           "                file for models up to 5 GB); a tensor is never split: one bigger than SIZE\n"
           "                is a shard of its own\n"
           "  --force       write into a DIR2 that is not empty (files of the same names are replaced,\n"
           "                nothing is deleted); without it DIR2 must be new or empty\n\n"
           "A new or empty DIR2 appears complete or not at all (the files are written into\n"
           "DIR2.partial-PID beside it, which is then renamed); DIR2 may not be DIR itself.\n");
}

/* "500MB", "2GB", "10MiB", "123" (bytes), "none" -> *out; 0 on success */
static int parse_size(const char *s, uint64_t *out) {
    if (strcmp(s, "none") == 0) {
        *out = UINT64_MAX;
        return 0;
    }
    const char *p = s;
    uint64_t v = 0;
    if (*p < '0' || *p > '9') return -1;
    for (; *p >= '0' && *p <= '9'; p++)
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (uint64_t)(*p - '0'), &v)) return -1;
    static const struct {
        const char *unit;
        uint64_t mult;
    } units[] = {{"", 1},           {"B", 1},           {"KB", 1000ull},       {"MB", 1000000ull},
                 {"GB", 1000000000ull}, {"TB", 1000000000000ull}, {"KIB", 1ull << 10}, {"MIB", 1ull << 20},
                 {"GIB", 1ull << 30}, {"TIB", 1ull << 40}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcasecmp(p, units[i].unit) == 0) {
            if (__builtin_mul_overflow(v, units[i].mult, out) || *out == 0) return -1;
            return 0;
        }
    return -1;
}

/* names in natural order: runs of digits compare as numbers ("layers.2" < "layers.10") */
static int natural_cmp(const char *a, const char *b) {
    while (*a && *b) {
        if (*a >= '0' && *a <= '9' && *b >= '0' && *b <= '9') {
            const char *x = a, *y = b;
            while (*x == '0') x++;
            while (*y == '0') y++;
            size_t nx = 0, ny = 0;
            while (x[nx] >= '0' && x[nx] <= '9') nx++;
            while (y[ny] >= '0' && y[ny] <= '9') ny++;
            if (nx != ny) return nx < ny ? -1 : 1;
            int c = strncmp(x, y, nx);
            if (c) return c;
            a = x + nx, b = y + ny;
            continue;
        }
        if (*a != *b) return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
        a++, b++;
    }
    if (*a || *b) return *a ? 1 : -1;
    return 0;
}

typedef struct {
    st_tensor_ref ref;
    st_dtype to;
    uint64_t bytes;
    int shard;
} item;

static int cmp_item(const void *a, const void *b) {
    const item *x = a, *y = b;
    int c = natural_cmp(x->ref.tensor->name, y->ref.tensor->name);
    return c ? c : strcmp(x->ref.tensor->name, y->ref.tensor->name);
}

static int cmp_item_name(const void *a, const void *b) {
    return strcmp((*(const item *const *)a)->ref.tensor->name, (*(const item *const *)b)->ref.tensor->name);
}

/* huggingface_hub's split: returns the number of shards (items[i].shard set), or -1 */
static int plan_shards(item *it, int n, uint64_t max) {
    int ns = 0, open = 0; /* open: the current shard's items are it[open_from..] with shard -1 */
    uint64_t cur = 0;
    int *members = malloc(sizeof(int) * (size_t)(n ? n : 1)), nm = 0;
    if (!members) return -1;
    for (int i = 0; i < n; i++) {
        if (it[i].bytes > max) { /* its own shard, numbered before the open one closes */
            it[i].shard = ns++;
            continue;
        }
        if (open && cur + it[i].bytes > max) {
            for (int k = 0; k < nm; k++) it[members[k]].shard = ns;
            ns++, nm = 0, cur = 0, open = 0;
        }
        open = 1;
        members[nm++] = i;
        cur += it[i].bytes;
    }
    if (open) {
        for (int k = 0; k < nm; k++) it[members[k]].shard = ns;
        ns++;
    }
    free(members);
    return ns;
}

/* a JSON string literal */
static void json_str(FILE *fp, const char *s) {
    fputc('"', fp);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(fp, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(fp, "\\u%04x", *p);
        else
            fputc(*p, fp);
    }
    fputc('"', fp);
}

static int cmp_cjson_key(const void *a, const void *b) {
    return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

/* model.safetensors.index.json as transformers writes it (json.dumps(indent=2, sort_keys=True)):
 * "metadata" holds total_size and the other entries of the source index's metadata */
static ttt_status write_index(const char *path, item *it, int n, char **shard_names, uint64_t total,
                              const cJSON *src_meta) {
    ttt_atomic_file af;
    TRY(ttt_atomic_open(&af, path));
    FILE *fp = af.fp;
    int nk = 0;
    const cJSON **keys = malloc(sizeof *keys * (size_t)(src_meta ? cJSON_GetArraySize(src_meta) + 1 : 1));
    if (!keys) {
        ttt_atomic_abort(&af);
        return ttt_err(TTT_ERR_NOMEM, "out of memory");
    }
    for (const cJSON *e = src_meta ? src_meta->child : NULL; e; e = e->next)
        if (strcmp(e->string, "total_size") != 0) keys[nk++] = e;
    fprintf(fp, "{\n  \"metadata\": {\n");
    int wrote_total = 0;
    qsort(keys, (size_t)nk, sizeof *keys, cmp_cjson_key);
    for (int k = 0; k <= nk; k++) {
        if (!wrote_total && (k == nk || strcmp(keys[k]->string, "total_size") > 0)) {
            fprintf(fp, "%s    \"total_size\": %llu", k ? ",\n" : "", (unsigned long long)total);
            wrote_total = 1;
        }
        if (k == nk) break;
        char *v = cJSON_PrintUnformatted(keys[k]);
        fprintf(fp, ",\n    ");
        json_str(fp, keys[k]->string);
        fprintf(fp, ": %s", v ? v : "null");
        free(v);
    }
    free(keys);
    fprintf(fp, "\n  },\n  \"weight_map\": {\n");
    const item **ord = malloc(sizeof *ord * (size_t)(n ? n : 1));
    if (!ord) {
        ttt_atomic_abort(&af);
        return ttt_err(TTT_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) ord[i] = &it[i];
    qsort(ord, (size_t)n, sizeof *ord, cmp_item_name);
    for (int i = 0; i < n; i++) {
        fprintf(fp, "    ");
        json_str(fp, ord[i]->ref.tensor->name);
        fprintf(fp, ": ");
        json_str(fp, shard_names[ord[i]->shard]);
        fprintf(fp, "%s\n", i + 1 < n ? "," : "");
    }
    fprintf(fp, "  }\n}\n");
    free(ord);
    return ttt_atomic_commit(&af);
}

/* the __metadata__ of every source file, first value of a key wins */
typedef struct {
    int n;
    const char **k, **v;
} meta_set;

static ttt_status merge_meta(const st_set *s, meta_set *m) {
    int cap = 0;
    for (int f = 0; f < s->nfiles; f++) cap += s->files[f].nmeta;
    m->n = 0;
    m->k = malloc(sizeof(char *) * (size_t)(cap ? cap : 1));
    m->v = malloc(sizeof(char *) * (size_t)(cap ? cap : 1));
    if (!m->k || !m->v) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    for (int f = 0; f < s->nfiles; f++)
        for (int i = 0; i < s->files[f].nmeta; i++) {
            const char *k = s->files[f].meta_key[i], *v = s->files[f].meta_val[i];
            int j = 0;
            while (j < m->n && strcmp(m->k[j], k) != 0) j++;
            if (j < m->n) {
                if (strcmp(m->v[j], v) != 0)
                    fprintf(stderr, "ttt convert: note: __metadata__ \"%s\" differs between shards; keeping \"%s\"\n", k,
                            m->v[j]);
                continue;
            }
            m->k[m->n] = k, m->v[m->n] = v, m->n++;
        }
    return TTT_OK;
}

typedef struct {
    const char *name;
    char *data;
    size_t len;
} small_file;

/* the output directory: *stage is where the files go (a fresh sibling to be renamed to OUT,
 * or OUT itself with --force); refuses OUT == DIR, a non-directory, a non-empty OUT without
 * --force */
static int prepare_out(const char *model, const char *out, int force, char **stage, int *in_place) {
    struct stat ms, os, ls;
    *stage = NULL;
    *in_place = 0;
    if (stat(model, &ms) != 0 || !S_ISDIR(ms.st_mode)) {
        fprintf(stderr, "ttt convert: --model %s is not a directory\n", model);
        return 1;
    }
    if (stat(out, &os) == 0) {
        if (!S_ISDIR(os.st_mode)) {
            fprintf(stderr, "ttt convert: --out %s exists and is not a directory\n", out);
            return 1;
        }
        if (os.st_dev == ms.st_dev && os.st_ino == ms.st_ino) {
            fprintf(stderr, "ttt convert: --out %s is the model directory itself (expected a new directory)\n", out);
            return 1;
        }
        DIR *d = opendir(out);
        if (!d) {
            fprintf(stderr, "ttt convert: --out %s: cannot list: %s\n", out, strerror(errno));
            return 1;
        }
        int entries = 0;
        for (struct dirent *e; (e = readdir(d));)
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) entries++;
        closedir(d);
        int link = lstat(out, &ls) == 0 && S_ISLNK(ls.st_mode);
        if (entries && !force) {
            fprintf(stderr,
                    "ttt convert: --out %s exists and is not empty (%d entries); choose a new directory, or pass "
                    "--force to write into it (files of the same names are replaced, nothing is deleted)\n",
                    out, entries);
            return 1;
        }
        if (entries || link) { /* written in place, file by file (a link is never replaced by a directory) */
            *in_place = 1;
            *stage = strdup(out);
            return *stage ? 0 : 1;
        }
    } else if (errno != ENOENT) {
        fprintf(stderr, "ttt convert: --out %s: %s\n", out, strerror(errno));
        return 1;
    } else if (lstat(out, &ls) == 0) { /* a link to nothing: never replaced by the new directory */
        fprintf(stderr, "ttt convert: --out %s is a symbolic link to a missing path (expected a directory)\n", out);
        return 1;
    }
    /* a staging directory beside OUT, renamed onto it at the end */
    size_t len = strlen(out) + 64;
    char *p = malloc(len);
    if (!p) return 1;
    for (int k = 0; k < 1000; k++) {
        if (k) snprintf(p, len, "%s.partial-%ld-%d", out, (long)getpid(), k);
        else snprintf(p, len, "%s.partial-%ld", out, (long)getpid());
        if (mkdir(p, 0777) == 0) {
            *stage = p;
            return 0;
        }
        if (errno != EEXIST) break;
    }
    fprintf(stderr, "ttt convert: cannot create the staging directory %s: %s%s\n", p, strerror(errno),
            errno == ENOENT ? " (does the parent directory of --out exist?)" : "");
    free(p);
    return 1;
}

static int is_shard_name(const char *n) {
    unsigned a, b;
    char tail[32];
    return sscanf(n, "model-%5u-of-%5u.%31s", &a, &b, tail) == 3 && strcmp(tail, "safetensors") == 0;
}

int cmd_convert(int argc, char **argv) {
    args a;
    if (args_parse(&a, "convert", flags, argc, argv)) return 2;
    if (a.help) {
        help();
        return 0;
    }
    if (args_require(&a, "model") || args_require(&a, "out")) return 2;
    const char *model = args_str(&a, "model", ""), *out_arg = args_str(&a, "out", "");
    int force = args_has(&a, "force"), keep = !args_has(&a, "dtype");
    st_dtype to = ST_F32;
    const char *dt = args_str(&a, "dtype", "f32");
    if (strcmp(dt, "bf16") == 0) to = ST_BF16;
    else if (strcmp(dt, "f16") == 0) to = ST_F16;
    else if (strcmp(dt, "f32") == 0) to = ST_F32;
    else {
        fprintf(stderr, "ttt convert: --dtype must be bf16, f16 or f32, got '%s'\n", dt);
        return 2;
    }
    uint64_t max = DEFAULT_SHARD_BYTES;
    const char *ss = args_str(&a, "shard-size", NULL);
    if (ss && parse_size(ss, &max)) {
        fprintf(stderr,
                "ttt convert: --shard-size must be a positive size like 500MB, 2GB, 10MiB or 1048576 (bytes), or "
                "'none', got '%s'\n",
                ss);
        return 2;
    }
    if (!*out_arg) {
        fprintf(stderr, "ttt convert: --out must not be empty\n");
        return 2;
    }
    char *out = strdup(out_arg); /* without trailing slashes, so that "OUT.partial-N" is its sibling */
    if (!out) return cli_fail("convert");
    for (size_t l = strlen(out); l > 1 && out[l - 1] == '/'; l--) out[l - 1] = 0;

    /* everything read and checked before anything is written */
    st_set s;
    if (st_set_open(&s, model) != TTT_OK) {
        free(out);
        return cli_fail("convert");
    }
    int rc = 0, nsmall = 0, n = s.n, ns = 0, in_place = 0, staged = 0;
    small_file sm[sizeof small_files / sizeof small_files[0]];
    item *it = calloc((size_t)(n ? n : 1), sizeof *it);
    char **names = NULL, *stage = NULL;
    st_entry *e = NULL;
    cJSON *src_index = NULL;
    meta_set meta = {0, NULL, NULL};
    uint64_t total = 0;
    ttt_status st = it ? TTT_OK : ttt_err(TTT_ERR_NOMEM, "out of memory");
    for (int i = 0; st == TTT_OK && small_files[i]; i++) {
        char *p = ttt_path_join(model, small_files[i]);
        struct stat sb;
        if (!p) st = ttt_err(TTT_ERR_NOMEM, "out of memory");
        else if (i == 0 || stat(p, &sb) == 0 || errno != ENOENT) { /* config.json must be there */
            sm[nsmall].name = small_files[i];
            st = ttt_read_file(p, MAX_SMALL_FILE, &sm[nsmall].data, &sm[nsmall].len);
            if (st == TTT_OK) nsmall++;
        }
        free(p);
    }
    if (st == TTT_OK) st = merge_meta(&s, &meta);
    if (st == TTT_OK && s.nfiles > 1) { /* the source index's "metadata" besides total_size */
        if (ttt_json_load(s.shown, 64u << 20, TTT_ERR_FORMAT, &src_index) != TTT_OK) src_index = NULL;
    }
    int nkept = 0;
    for (int i = 0; st == TTT_OK && i < n; i++) {
        const st_file *f = &s.files[s.e[i].file];
        const st_tensor *t = s.e[i].t;
        int fl = t->dtype == ST_F64 || t->dtype == ST_F32 || t->dtype == ST_F16 || t->dtype == ST_BF16;
        it[i].ref = (st_tensor_ref){f, t};
        it[i].to = fl && !keep ? to : t->dtype;
        nkept += !fl && !keep;
        /* numel < 2^62 and an element at most 8 bytes: the product fits; the sum is checked */
        it[i].bytes = (uint64_t)t->numel * st_dtype_size(it[i].to);
        if (__builtin_add_overflow(total, it[i].bytes, &total)) st = ttt_err(TTT_ERR_FORMAT, "%s: too large", s.shown);
    }
    if (st != TTT_OK) rc = cli_fail("convert");
    if (rc == 0) {
        qsort(it, (size_t)n, sizeof *it, cmp_item);
        ns = plan_shards(it, n, max);
        if (ns < 0) rc = cli_fail("convert");
        else if (ns > MAX_SHARDS) {
            fprintf(stderr, "ttt convert: --shard-size %s makes %d shards of %llu bytes of tensors (at most %d)\n",
                    ss ? ss : "5GB", ns, (unsigned long long)total, MAX_SHARDS);
            rc = 2;
        }
        if (ns == 0) ns = 1; /* a set without tensors: one (empty) file */
    }
    if (rc == 0) rc = prepare_out(model, out, force, &stage, &in_place);
    staged = rc == 0 && !in_place;
    if (rc == 0 && in_place) { /* a model.safetensors beside new shards would be loaded instead of them */
        char *p = ttt_path_join(out, "model.safetensors");
        struct stat sb;
        if (p && ns > 1 && lstat(p, &sb) == 0) {
            fprintf(stderr,
                    "ttt convert: %s exists and would be loaded instead of the new shards; remove it or choose "
                    "another --out\n",
                    p);
            rc = 1;
        }
        free(p);
    }
    /* the shards */
    names = rc == 0 ? calloc((size_t)ns, sizeof *names) : NULL;
    e = rc == 0 ? calloc((size_t)(n ? n : 1), sizeof *e) : NULL;
    if (rc == 0 && (!names || !e)) {
        ttt_err(TTT_ERR_NOMEM, "out of memory");
        rc = cli_fail("convert");
    }
    for (int k = 0; rc == 0 && k < ns; k++) {
        char nm[64];
        if (ns == 1) snprintf(nm, sizeof nm, "model.safetensors");
        else snprintf(nm, sizeof nm, "model-%05d-of-%05d.safetensors", k + 1, ns);
        names[k] = strdup(nm);
        int m = 0;
        for (int i = 0; i < n; i++)
            if (it[i].shard == k) {
                e[m].name = it[i].ref.tensor->name;
                e[m].dtype = it[i].to;
                e[m].ndim = it[i].ref.tensor->ndim;
                memcpy(e[m].shape, it[i].ref.tensor->shape, sizeof e[m].shape);
                e[m].data = &it[i].ref;
                e[m].src = ST_SRC_TENSOR;
                m++;
            }
        char *p = names[k] ? ttt_path_join(stage, names[k]) : NULL;
        st = p ? st_write_meta(p, e, m, meta.k, meta.v, meta.n) : ttt_err(TTT_ERR_NOMEM, "out of memory");
        free(p);
        if (st != TTT_OK) rc = cli_fail("convert");
    }
    for (int i = 0; rc == 0 && i < nsmall; i++) {
        char *p = ttt_path_join(stage, sm[i].name);
        st = p ? ttt_atomic_write_file(p, sm[i].data, sm[i].len) : ttt_err(TTT_ERR_NOMEM, "out of memory");
        free(p);
        if (st != TTT_OK) rc = cli_fail("convert");
    }
    if (rc == 0 && ns > 1) { /* the index last: in place, it is what makes the new shards the model */
        char *p = ttt_path_join(stage, "model.safetensors.index.json");
        const cJSON *sm_meta = src_index ? cJSON_GetObjectItemCaseSensitive(src_index, "metadata") : NULL;
        st = p ? write_index(p, it, n, names, total, cJSON_IsObject(sm_meta) ? sm_meta : NULL)
               : ttt_err(TTT_ERR_NOMEM, "out of memory");
        free(p);
        if (st != TTT_OK) rc = cli_fail("convert");
    }
    if (rc == 0 && staged && rename(stage, out) != 0) {
        fprintf(stderr, "ttt convert: cannot rename %s to %s: %s\n", stage, out, strerror(errno));
        rc = 1;
    }
    if (rc != 0 && staged && stage) ttt_remove_tree(stage); /* ours alone: nothing else is removed */
    if (rc == 0) {
        printf("ttt convert: %s -> %s: %d tensors, %llu bytes", model, out, n, (unsigned long long)total);
        if (!keep) printf(" (float tensors as %s%s)", st_dtype_name(to), nkept ? ", integer tensors as they were" : "");
        if (ns == 1) printf(" in model.safetensors\n");
        else printf(" in %d shards (%s .. %s) and model.safetensors.index.json\n", ns, names[0], names[ns - 1]);
        printf("copied:");
        for (int i = 0; i < nsmall; i++) printf(" %s", sm[i].name);
        printf("\n");
        if (in_place) { /* old shards the new index does not list: left alone, but said */
            DIR *d = opendir(out);
            for (struct dirent *de; d && (de = readdir(d));) {
                int ours = 0;
                for (int k = 0; k < ns && !ours; k++) ours = strcmp(de->d_name, names[k]) == 0;
                if (!ours && is_shard_name(de->d_name))
                    printf("note: %s/%s is not part of the new weights (left as it was)\n", out, de->d_name);
                if (ns == 1 && strcmp(de->d_name, "model.safetensors.index.json") == 0)
                    printf("note: %s/%s is not used (model.safetensors is loaded first; left as it was)\n", out,
                           de->d_name);
            }
            if (d) closedir(d);
        }
    }
    for (int k = 0; names && k < ns; k++) free(names[k]);
    for (int i = 0; i < nsmall; i++) free(sm[i].data);
    free(names), free(e), free(it), free(stage), free(out);
    free(meta.k), free(meta.v);
    cJSON_Delete(src_index);
    st_set_close(&s);
    return rc;
}
