/* safetensors.c: validated reading and atomic writing of safetensors files. */
#include "io/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/half.h"
#include "io/fsutil.h"
#include "io/json.h"

#define ST_MAX_HEADER (100u << 20) /* the reference implementation's limit */

static const struct {
    const char *name;
    st_dtype d;
    size_t size;
} dtypes[] = {{"F64", ST_F64, 8}, {"F32", ST_F32, 4}, {"F16", ST_F16, 2}, {"BF16", ST_BF16, 2},
              {"I64", ST_I64, 8}, {"I32", ST_I32, 4}, {"I16", ST_I16, 2}, {"I8", ST_I8, 1},
              {"U8", ST_U8, 1},   {"BOOL", ST_BOOL, 1}};
#define N_DTYPES (int)(sizeof dtypes / sizeof dtypes[0])

const char *st_dtype_name(st_dtype d) {
    for (int i = 0; i < N_DTYPES; i++)
        if (dtypes[i].d == d) return dtypes[i].name;
    return "?";
}

size_t st_dtype_size(st_dtype d) {
    for (int i = 0; i < N_DTYPES; i++)
        if (dtypes[i].d == d) return dtypes[i].size;
    return 0;
}

const char *st_shape_str(const int64_t *shape, int ndim, char *buf, size_t len) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, len - k, "[");
    for (int i = 0; i < ndim && k < len; i++)
        k += (size_t)snprintf(buf + k, len - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (k < len) snprintf(buf + k, len - k, "]");
    return buf;
}

void st_close(st_file *f) {
    if (f->map) munmap((void *)f->map, f->map_size);
    if (f->fd >= 0) close(f->fd);
    for (int i = 0; i < f->n; i++) free(f->t[i].name);
    for (int i = 0; i < f->nmeta; i++) free(f->meta_key[i]), free(f->meta_val[i]);
    free(f->meta_key);
    free(f->meta_val);
    free(f->t);
    free(f->path);
    memset(f, 0, sizeof *f);
    f->fd = -1;
}

static ttt_status check_size(const st_file *f, const char *nm);

static int cmp_begin(const void *a, const void *b) {
    const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : (x->end > y->end);
}

/* JSON number -> non-negative integer below 2^53, or -1 */
static int64_t json_uint(const cJSON *v) {
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!(d >= 0) || d > 9007199254740992.0 || d != floor(d)) return -1;
    return (int64_t)d;
}

static ttt_status parse_entry(st_file *f, const cJSON *item, st_tensor *t) {
    const char *p = f->path, *nm = item->string;
    if (!cJSON_IsObject(item))
        return ttt_err(TTT_ERR_FORMAT, "%s: header entry '%s' is not an object", p, nm);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsString(dt))
        return ttt_err(TTT_ERR_FORMAT, "%s: tensor '%s' has no \"dtype\" string", p, nm);
    int found = 0;
    for (int i = 0; i < N_DTYPES; i++)
        if (strcmp(dt->valuestring, dtypes[i].name) == 0) {
            t->dtype = dtypes[i].d;
            found = 1;
        }
    if (!found)
        return ttt_err(TTT_ERR_FORMAT,
                       "%s: tensor '%s' has unsupported dtype \"%s\" (expected one of F64, F32, "
                       "F16, BF16, I64, I32, I16, I8, U8, BOOL)",
                       p, nm, dt->valuestring);
    if (!cJSON_IsArray(sh))
        return ttt_err(TTT_ERR_FORMAT, "%s: tensor '%s' has no \"shape\" array", p, nm);
    int nd = cJSON_GetArraySize(sh);
    if (nd > ST_MAX_DIMS)
        return ttt_err(TTT_ERR_FORMAT, "%s: tensor '%s' has %d dimensions (at most %d supported)",
                       p, nm, nd, ST_MAX_DIMS);
    t->ndim = nd;
    __uint128_t numel = 1;
    for (int i = 0; i < nd; i++) {
        int64_t d = json_uint(cJSON_GetArrayItem(sh, i));
        if (d < 0)
            return ttt_err(TTT_ERR_FORMAT,
                           "%s: tensor '%s': shape entry %d is not a non-negative integer", p, nm,
                           i);
        t->shape[i] = d;
        numel *= (uint64_t)d;
        if (numel > ((__uint128_t)1 << 62))
            return ttt_err(TTT_ERR_FORMAT, "%s: tensor '%s': shape is too large", p, nm);
    }
    t->numel = (int64_t)numel;
    if (!cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2)
        return ttt_err(TTT_ERR_FORMAT,
                       "%s: tensor '%s' has no \"data_offsets\" [begin, end] pair", p, nm);
    int64_t b = json_uint(cJSON_GetArrayItem(of, 0)), e = json_uint(cJSON_GetArrayItem(of, 1));
    if (b < 0 || e < 0 || e < b)
        return ttt_err(TTT_ERR_FORMAT,
                       "%s: tensor '%s': data_offsets must be integers with begin <= end", p, nm);
    if ((uint64_t)e > f->data_size)
        return ttt_err(TTT_ERR_FORMAT,
                       "%s: tensor '%s': data_offsets [%lld, %lld] go beyond the %llu bytes of "
                       "data in the file (truncated file?)",
                       p, nm, (long long)b, (long long)e, (unsigned long long)f->data_size);
    __uint128_t want = numel * st_dtype_size(t->dtype);
    if ((__uint128_t)(uint64_t)(e - b) != want) {
        char sb[160];
        return ttt_err(TTT_ERR_FORMAT,
                       "%s: tensor '%s': data_offsets cover %lld bytes but dtype %s and shape %s "
                       "need %llu",
                       p, nm, (long long)(e - b), st_dtype_name(t->dtype),
                       st_shape_str(t->shape, nd, sb, sizeof sb), (unsigned long long)want);
    }
    t->begin = (uint64_t)b;
    t->end = (uint64_t)e;
    return TTT_OK;
}

static ttt_status st_parse(st_file *f, const char *hdr, size_t hlen) {
    const char *p = f->path;
    const char *endp = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(hdr, hlen, &endp, 0);
    if (!root)
        return ttt_err(TTT_ERR_FORMAT, "%s: header is not valid JSON (error near byte %ld)", p,
                       endp ? (long)(endp - hdr) : -1L);
    /* only trailing spaces (padding) may follow the JSON value */
    for (const char *q = endp; q && q < hdr + hlen; q++)
        if (*q != ' ' && *q != '\n' && *q != '\r' && *q != '\t' && *q != 0) {
            cJSON_Delete(root);
            return ttt_err(TTT_ERR_FORMAT, "%s: header has trailing bytes after the JSON object",
                           p);
        }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return ttt_err(TTT_ERR_FORMAT, "%s: header is not a JSON object", p);
    }
    ttt_status ds = ttt_json_check_unique(root, p, "__metadata__");
    if (ds != TTT_OK) {
        cJSON_Delete(root);
        return ds;
    }
    int n = 0;
    for (cJSON *it = root->child; it; it = it->next)
        if (strcmp(it->string, "__metadata__") != 0) n++;
    f->t = calloc((size_t)(n ? n : 1), sizeof(st_tensor));
    if (!f->t) {
        cJSON_Delete(root);
        return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", p);
    }
    ttt_status s = TTT_OK;
    for (cJSON *it = root->child; it && s == TTT_OK; it = it->next) {
        if (strcmp(it->string, "__metadata__") == 0) {
            if (!cJSON_IsObject(it)) {
                s = ttt_err(TTT_ERR_FORMAT, "%s: __metadata__ is not an object", p);
                continue;
            }
            int nm = cJSON_GetArraySize(it);
            f->meta_key = calloc((size_t)nm + 1, sizeof(char *));
            f->meta_val = calloc((size_t)nm + 1, sizeof(char *));
            if (!f->meta_key || !f->meta_val) {
                s = ttt_err(TTT_ERR_NOMEM, "out of memory");
                continue;
            }
            for (cJSON *kv = it->child; kv; kv = kv->next) {
                if (!cJSON_IsString(kv)) {
                    s = ttt_err(TTT_ERR_FORMAT, "%s: __metadata__ value of '%s' is not a string", p, kv->string);
                    break;
                }
                f->meta_key[f->nmeta] = strdup(kv->string);
                f->meta_val[f->nmeta] = strdup(kv->valuestring);
                f->nmeta++;
            }
            continue;
        }
        st_tensor *t = &f->t[f->n];
        t->name = strdup(it->string);
        if (!t->name) {
            s = ttt_err(TTT_ERR_NOMEM, "out of memory");
            break;
        }
        f->n++;
        s = parse_entry(f, it, t);
    }
    cJSON_Delete(root);
    if (s != TTT_OK) return s;
    /* overlapping data (duplicate names were refused with every other duplicate key) */
    st_tensor **ord = malloc(sizeof(st_tensor *) * (size_t)(f->n ? f->n : 1));
    if (!ord) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    for (int i = 0; i < f->n; i++) ord[i] = &f->t[i];
    qsort(ord, (size_t)f->n, sizeof *ord, cmp_begin);
    for (int i = 1; i < f->n && s == TTT_OK; i++)
        if (ord[i]->begin < ord[i - 1]->end)
            s = ttt_err(TTT_ERR_FORMAT,
                        "%s: data of tensors '%s' [%llu, %llu) and '%s' [%llu, %llu) overlap", p,
                        ord[i - 1]->name, (unsigned long long)ord[i - 1]->begin,
                        (unsigned long long)ord[i - 1]->end, ord[i]->name,
                        (unsigned long long)ord[i]->begin, (unsigned long long)ord[i]->end);
    free(ord);
    return s;
}

ttt_status st_open(st_file *f, const char *path) {
    memset(f, 0, sizeof *f);
    f->fd = -1;
    f->path = strdup(path);
    if (!f->path) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    size_t fsize = 0;
    ttt_status os = ttt_open_regular(path, &f->fd, &fsize);
    if (os != TTT_OK) {
        f->fd = -1;
        st_close(f);
        return os;
    }
    uint64_t size = (uint64_t)fsize;
    unsigned char lenb[8];
    if (size < 8 || pread(f->fd, lenb, 8, 0) != 8) {
        st_close(f);
        return ttt_err(TTT_ERR_FORMAT,
                       "%s: file is %llu bytes, too short for a safetensors header (8-byte "
                       "length + JSON)",
                       path, (unsigned long long)size);
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | lenb[i];
    if (hlen > size - 8 || hlen > ST_MAX_HEADER || hlen < 2) {
        st_close(f);
        return ttt_err(TTT_ERR_FORMAT,
                       "%s: header length %llu is invalid (file has %llu bytes after the length "
                       "field; limit %u) - truncated or not a safetensors file",
                       path, (unsigned long long)hlen, (unsigned long long)(size - 8),
                       ST_MAX_HEADER);
    }
    char *hdr = malloc(hlen + 1);
    if (!hdr) {
        st_close(f);
        return ttt_err(TTT_ERR_NOMEM, "out of memory");
    }
    if (pread(f->fd, hdr, hlen, 8) != (ssize_t)hlen) {
        free(hdr);
        st_close(f);
        return ttt_err(TTT_ERR_IO, "%s: cannot read header", path);
    }
    hdr[hlen] = 0;
    f->data_start = 8 + hlen;
    f->data_size = size - f->data_start;
    f->file_size = size;
    ttt_status s = st_parse(f, hdr, hlen);
    free(hdr);
    if (s == TTT_OK) { /* the data is read from a mapping (pread where mmap is refused) */
        void *m = mmap(NULL, fsize, PROT_READ, MAP_PRIVATE, f->fd, 0);
        if (m != MAP_FAILED) {
            f->map = m;
            f->map_size = fsize;
        }
        s = check_size(f, NULL); /* the mapping covers the file the header described */
    }
    if (s != TTT_OK) st_close(f);
    return s;
}

ttt_status st_map_private(const st_file *f, void **base, size_t *len) {
    struct stat sb;
    if (f->fd < 0 || f->file_size == 0 || f->file_size > SIZE_MAX)
        return ttt_err(TTT_ERR_IO, "%s: cannot be mapped", f->path);
    void *m = mmap(NULL, (size_t)f->file_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, f->fd, 0);
    if (m == MAP_FAILED) return ttt_err(TTT_ERR_IO, "%s: cannot be mapped: %s", f->path, strerror(errno));
    if (fstat(f->fd, &sb) != 0 || (uint64_t)sb.st_size != f->file_size) {
        munmap(m, (size_t)f->file_size);
        return ttt_err(TTT_ERR_IO, "%s: changed size since it was opened", f->path);
    }
    *base = m;
    *len = (size_t)f->file_size;
    return TTT_OK;
}

const char *st_meta(const st_file *f, const char *key) {
    for (int i = 0; i < f->nmeta; i++)
        if (f->meta_key[i] && strcmp(f->meta_key[i], key) == 0) return f->meta_val[i];
    return NULL;
}

const st_tensor *st_find(const st_file *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->t[i].name, name) == 0) return &f->t[i];
    return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* reading tensor data: from the mapping under a SIGBUS guard, or with pread */

/* The guard: a fault inside [bus_lo, bus_hi) of a thread inside guarded() jumps back to it;
 * any other SIGBUS goes to the handler that was there before (or the default action). The
 * handler is installed once, the first time a mapping is read. */
static _Thread_local sigjmp_buf *bus_jmp;
static _Thread_local const unsigned char *volatile bus_lo, *volatile bus_hi;
static struct sigaction bus_prev;
static pthread_once_t bus_once = PTHREAD_ONCE_INIT;

static void bus_handler(int sig, siginfo_t *si, void *uc) {
    const unsigned char *a = (const unsigned char *)si->si_addr;
    if (bus_jmp && a >= bus_lo && a < bus_hi) siglongjmp(*bus_jmp, 1);
    if (bus_prev.sa_flags & SA_SIGINFO) {
        bus_prev.sa_sigaction(sig, si, uc);
        return;
    }
    if (bus_prev.sa_handler != SIG_DFL && bus_prev.sa_handler != SIG_IGN) {
        bus_prev.sa_handler(sig);
        return;
    }
    /* the default action: restore it and let the signal (or the faulting access) recur */
    struct sigaction d;
    memset(&d, 0, sizeof d);
    d.sa_handler = SIG_DFL;
    sigemptyset(&d.sa_mask);
    sigaction(SIGBUS, &d, NULL);
    raise(sig);
}

static void bus_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = bus_handler;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &bus_prev);
}

/* the file still has the size it had at open: a shrink inside the last page reads zeros from
 * the mapping instead of faulting, and a shrink behind a pread ends it early */
static ttt_status check_size(const st_file *f, const char *nm) {
    struct stat sb;
    char what[300];
    snprintf(what, sizeof what, nm ? "tensor '%.250s' was read" : "its header was read", nm);
    if (fstat(f->fd, &sb) != 0)
        return ttt_err(TTT_ERR_IO, "%s: cannot stat after %s: %s", f->path, what, strerror(errno));
    if ((uint64_t)sb.st_size != f->file_size)
        return ttt_err(TTT_ERR_IO,
                       "%s: the file changed size while %s (%llu bytes at open, %llu now; rewritten or "
                       "truncated by another process?)",
                       f->path, what, (unsigned long long)f->file_size, (unsigned long long)sb.st_size);
    return TTT_OK;
}

typedef struct {
    const st_file *f;
    const st_tensor *t;
    int64_t first, count;
    void *dst;
    st_dtype to;
    int strict;         /* a finite value that overflows `to` is an error (st_read_as) */
    unsigned char *buf; /* pread path: CHUNK_BYTES */
    ttt_status status;
} read_job;

#define CHUNK_BYTES ((size_t)1 << 20) /* source bytes per step (a whole number of elements) */

static ttt_status read_bytes(const st_file *f, void *dst, uint64_t off, size_t n, const char *nm) {
    size_t done = 0;
    while (done < n) {
        ssize_t r = pread(f->fd, (char *)dst + done, n - done, (off_t)(f->data_start + off + done));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0)
            return ttt_err(TTT_ERR_IO, "%s: reading tensor '%s' failed%s%s", f->path, nm,
                           r < 0 ? ": " : " (unexpected end of file)", r < 0 ? strerror(errno) : "");
        done += (size_t)r;
    }
    return TTT_OK;
}

/* the pages of the mapping wholly inside [p, p + n): back to the kernel (read again from the
 * page cache if ever touched again), so a mapped file never stays resident beside its copy */
static void drop_pages(const unsigned char *p, size_t n) {
    static long pg;
    if (!pg) pg = sysconf(_SC_PAGESIZE) > 0 ? sysconf(_SC_PAGESIZE) : 4096;
    uintptr_t a = ((uintptr_t)p + (uintptr_t)pg - 1) & ~(uintptr_t)(pg - 1), e = ((uintptr_t)p + n) & ~(uintptr_t)(pg - 1);
    if (e > a) madvise((void *)a, e - a, MADV_DONTNEED);
}

static int is_float(st_dtype d) { return d == ST_F64 || d == ST_F32 || d == ST_F16 || d == ST_BF16; }

/* n float elements of dtype sd at s (any alignment) as float / as double */
static void decode_f32(const unsigned char *s, st_dtype sd, float *d, int64_t n) {
    switch (sd) {
    case ST_F32: memcpy(d, s, (size_t)n * 4); break;
    case ST_BF16:
        for (int64_t i = 0; i < n; i++) { uint16_t h; memcpy(&h, s + 2 * i, 2); d[i] = bf16_to_f32(h); }
        break;
    case ST_F16:
        for (int64_t i = 0; i < n; i++) { uint16_t h; memcpy(&h, s + 2 * i, 2); d[i] = f16_to_f32(h); }
        break;
    default:
        for (int64_t i = 0; i < n; i++) { double v; memcpy(&v, s + 8 * i, 8); d[i] = (float)v; }
        break;
    }
}

static void decode_f64(const unsigned char *s, st_dtype sd, double *d, int64_t n) {
    switch (sd) {
    case ST_F64: memcpy(d, s, (size_t)n * 8); break;
    case ST_F32:
        for (int64_t i = 0; i < n; i++) { float x; memcpy(&x, s + 4 * i, 4); d[i] = x; }
        break;
    case ST_BF16:
        for (int64_t i = 0; i < n; i++) { uint16_t h; memcpy(&h, s + 2 * i, 2); d[i] = bf16_to_f32(h); }
        break;
    default:
        for (int64_t i = 0; i < n; i++) { uint16_t h; memcpy(&h, s + 2 * i, 2); d[i] = f16_to_f32(h); }
        break;
    }
}

static void decode_i64(const unsigned char *s, st_dtype sd, int64_t *d, int64_t n) {
    for (int64_t i = 0; i < n; i++) switch (sd) {
        case ST_I64: memcpy(&d[i], s + 8 * i, 8); break;
        case ST_I32: { int32_t x; memcpy(&x, s + 4 * i, 4); d[i] = x; } break;
        case ST_I16: { int16_t x; memcpy(&x, s + 2 * i, 2); d[i] = x; } break;
        case ST_I8: d[i] = (int8_t)s[i]; break;
        default: d[i] = s[i]; break;
        }
}

/* n floats (decoded from a file dtype: F64 values rounded to float first, as torch does) into
 * dtype dd (F32, F16 or BF16) at d; the index of the first finite value that became infinite,
 * or -1 */
static int64_t encode_from(const double *v, unsigned char *d, st_dtype dd, int64_t n) {
    int64_t bad = -1;
    for (int64_t i = 0; i < n; i++) {
        float x = (float)v[i];
        int inf;
        if (dd == ST_F32) {
            memcpy(d + 4 * i, &x, 4);
            inf = isinf(x);
        } else {
            uint16_t h = dd == ST_BF16 ? f32_to_bf16(x) : f32_to_f16(x);
            memcpy(d + 2 * i, &h, 2);
            inf = (h & 0x7fffu) == (dd == ST_BF16 ? 0x7f80u : 0x7c00u);
        }
        if (inf && isfinite(v[i]) && bad < 0) bad = i;
    }
    return bad;
}

/* one step: elements [i0, i0 + c) of the job's range, whose source bytes are at s */
static ttt_status convert_step(read_job *j, const unsigned char *s, int64_t i0, int64_t c) {
    st_dtype sd = j->t->dtype, to = j->to;
    size_t os = st_dtype_size(to);
    unsigned char *d = (unsigned char *)j->dst + (size_t)i0 * os;
    if (to == sd) {
        memcpy(d, s, (size_t)c * os);
    } else if (to == ST_I64) {
        decode_i64(s, sd, (int64_t *)(void *)d, c);
    } else if (to == ST_F64) {
        decode_f64(s, sd, (double *)(void *)d, c);
    } else if (to == ST_F32 && (sd != ST_F64 || !j->strict)) {
        decode_f32(s, sd, (float *)(void *)d, c); /* exact for F16 and BF16 */
    } else { /* through double, a sub-chunk at a time */
        double v[1024];
        for (int64_t k = 0; k < c; k += 1024) {
            int64_t m = c - k < 1024 ? c - k : 1024;
            decode_f64(s + (size_t)k * st_dtype_size(sd), sd, v, m);
            int64_t bad = encode_from(v, d + (size_t)k * os, to, m);
            if (bad >= 0)
                return ttt_err(TTT_ERR_NUMERIC,
                               "%s: tensor '%s': element %lld (%g) overflows %s (it would become infinite)",
                               j->f->path, j->t->name, (long long)(j->first + i0 + k + bad), v[bad],
                               st_dtype_name(to));
        }
    }
    return TTT_OK;
}

static void run_job(read_job *j) {
    size_t es = st_dtype_size(j->t->dtype);
    int64_t step = (int64_t)(CHUNK_BYTES / es);
    for (int64_t i0 = 0; i0 < j->count && j->status == TTT_OK; i0 += step) {
        int64_t c = j->count - i0 < step ? j->count - i0 : step;
        uint64_t off = j->t->begin + (uint64_t)(j->first + i0) * es;
        if (j->f->map) {
            const unsigned char *s = j->f->map + j->f->data_start + off;
            j->status = convert_step(j, s, i0, c);
            drop_pages(s, (size_t)c * es);
        } else {
            j->status = read_bytes(j->f, j->buf, off, (size_t)c * es, j->t->name);
            if (j->status == TTT_OK) j->status = convert_step(j, j->buf, i0, c);
        }
    }
}

/* run J with reads from the mapping guarded against SIGBUS (the file shrank since open) */
static ttt_status guarded(read_job *j) {
    const st_file *f = j->f;
    if (f->map) {
        pthread_once(&bus_once, bus_install);
        sigjmp_buf jb;
        if (sigsetjmp(jb, 1)) {
            bus_jmp = NULL;
            ttt_status s = check_size(f, j->t->name);
            return s != TTT_OK ? s
                               : ttt_err(TTT_ERR_IO, "%s: tensor '%s' could not be read from the mapped file (bus error)",
                                         f->path, j->t->name);
        }
        bus_lo = f->map;
        bus_hi = f->map + f->map_size;
        bus_jmp = &jb;
        run_job(j);
        bus_jmp = NULL;
    } else {
        j->buf = malloc(CHUNK_BYTES);
        if (!j->buf) return ttt_err(TTT_ERR_NOMEM, "out of memory");
        run_job(j);
        free(j->buf);
    }
    if (j->status != TTT_OK) return j->status;
    return check_size(f, j->t->name);
}

ttt_status st_read_as(const st_file *f, const st_tensor *t, int64_t first, int64_t count, void *dst, st_dtype to) {
    if (first < 0 || count < 0 || first > t->numel || count > t->numel - first)
        return ttt_err(TTT_ERR_ARG, "%s: tensor '%s': elements [%lld, +%lld) outside its %lld", f->path, t->name,
                       (long long)first, (long long)count, (long long)t->numel);
    if (to != t->dtype && !(is_float(to) && is_float(t->dtype)))
        return ttt_err(TTT_ERR_FORMAT, "%s: tensor '%s' has dtype %s, which cannot be converted to %s", f->path,
                       t->name, st_dtype_name(t->dtype), st_dtype_name(to));
    read_job j = {f, t, first, count, dst, to, 1, NULL, TTT_OK};
    return guarded(&j);
}

static ttt_status read_float(const st_file *f, const st_tensor *t, void *dst, int64_t n, st_dtype to) {
    if (n != t->numel)
        return ttt_err(TTT_ERR_FORMAT, "%s: tensor '%s' has %lld elements, expected %lld", f->path, t->name,
                       (long long)t->numel, (long long)n);
    if (!is_float(t->dtype))
        return ttt_err(TTT_ERR_FORMAT, "%s: tensor '%s' has dtype %s, expected a float type (F32, F16, BF16, F64)",
                       f->path, t->name, st_dtype_name(t->dtype));
    read_job j = {f, t, 0, n, dst, to, 0, NULL, TTT_OK};
    return guarded(&j);
}

ttt_status st_read_f32(const st_file *f, const st_tensor *t, float *dst, int64_t n) {
    return read_float(f, t, dst, n, ST_F32);
}

ttt_status st_read_f64(const st_file *f, const st_tensor *t, double *dst, int64_t n) {
    return read_float(f, t, dst, n, ST_F64);
}

ttt_status st_read_i64(const st_file *f, const st_tensor *t, int64_t *dst, int64_t n) {
    if (n != t->numel)
        return ttt_err(TTT_ERR_FORMAT, "%s: tensor '%s' has %lld elements, expected %lld", f->path,
                       t->name, (long long)t->numel, (long long)n);
    if (t->dtype != ST_I64 && t->dtype != ST_I32 && t->dtype != ST_I16 && t->dtype != ST_I8 &&
        t->dtype != ST_U8)
        return ttt_err(TTT_ERR_FORMAT,
                       "%s: tensor '%s' has dtype %s, expected an integer type (I64 or I32)",
                       f->path, t->name, st_dtype_name(t->dtype));
    read_job j = {f, t, 0, n, dst, ST_I64, 0, NULL, TTT_OK};
    return guarded(&j);
}

/* ---------------------------------------------------------------------------------------- */
/* writer */

static int cmp_entry(const void *a, const void *b) {
    return strcmp((*(const st_entry *const *)a)->name, (*(const st_entry *const *)b)->name);
}

static int64_t entry_numel(const st_entry *e) {
    int64_t n = 1;
    for (int i = 0; i < e->ndim; i++) n *= e->shape[i];
    return n;
}

/* append with growth */
typedef struct {
    char *s;
    size_t n, cap;
} sbuf;
static int sb_put(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int sb_put(sbuf *b, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        /* (the first call measures into no buffer: a null pointer plus 0 is undefined) */
        int k = vsnprintf(b->s ? b->s + b->n : NULL, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (k < 0) return -1;
        if (b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return 0;
        }
        size_t nc = (b->cap ? b->cap * 2 : 4096) + (size_t)k;
        char *ns = realloc(b->s, nc);
        if (!ns) return -1;
        b->s = ns;
        b->cap = nc;
    }
}

/* a JSON string: quotes, backslashes and control characters escaped (other bytes as they are) */
static int sb_str(sbuf *b, const char *s) {
    int bad = sb_put(b, "\"");
    for (const char *p = s; *p && !bad;) {
        size_t k = strcspn(p, "\"\\\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f");
        if (k) bad = sb_put(b, "%.*s", (int)k, p);
        p += k;
        if (*p && !bad) {
            unsigned char c = (unsigned char)*p++;
            bad = c == '"' || c == '\\' ? sb_put(b, "\\%c", c) : sb_put(b, "\\u%04x", c);
        }
    }
    return bad | sb_put(b, "\"");
}

#define CHUNK_ELEMS 65536

/* the conversion buffer of a tensor of n elements: a chunk, or less for a small tensor */
static size_t chunk_bytes(int64_t n) { return (size_t)(n < CHUNK_ELEMS ? (n > 0 ? n : 1) : CHUNK_ELEMS) * 8; }

/* an ST_SRC_TENSOR entry: the source tensor in chunks through st_read_as */
static ttt_status write_from_tensor(ttt_atomic_file *af, const st_entry *e, int64_t n) {
    const st_tensor_ref *r = e->data;
    if (r->tensor->numel != n)
        return ttt_err(TTT_ERR_ARG, "%s: tensor '%s' has %lld elements, the entry '%s' %lld", r->file->path,
                       r->tensor->name, (long long)r->tensor->numel, e->name, (long long)n);
    size_t es = st_dtype_size(e->dtype);
    unsigned char *buf = malloc(chunk_bytes(n));
    if (!buf) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    ttt_status s = TTT_OK;
    for (int64_t i0 = 0; i0 < n && s == TTT_OK; i0 += CHUNK_ELEMS) {
        int64_t c = n - i0 < CHUNK_ELEMS ? n - i0 : CHUNK_ELEMS;
        s = st_read_as(r->file, r->tensor, i0, c, buf, e->dtype);
        if (s == TTT_OK) s = ttt_atomic_write(af, buf, (size_t)c * es);
    }
    free(buf);
    return s;
}

static ttt_status write_converted(ttt_atomic_file *af, const st_entry *e, int64_t n) {
    size_t es = st_dtype_size(e->dtype);
    if (e->src == ST_SRC_RAW) return ttt_atomic_write(af, e->data, (size_t)n * es);
    if (e->src == ST_SRC_TENSOR) return write_from_tensor(af, e, n);
    if (e->src == ST_SRC_RUNS) { /* strided runs of raw bytes */
        const st_runs *r = e->data;
        TTT_ASSERT(r->run > 0 && n % r->run == 0);
        ttt_status s = TTT_OK;
        for (int64_t i = 0; i < n / r->run && s == TTT_OK; i++)
            s = ttt_atomic_write(af, (const unsigned char *)r->base + (size_t)(i * r->stride) * es, (size_t)r->run * es);
        return s;
    }
    unsigned char *buf = malloc(chunk_bytes(n));
    if (!buf) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    ttt_status s = TTT_OK;
    for (int64_t i0 = 0; i0 < n && s == TTT_OK; i0 += CHUNK_ELEMS) {
        int64_t c = n - i0 < CHUNK_ELEMS ? n - i0 : CHUNK_ELEMS;
        for (int64_t i = 0; i < c; i++) {
            double v = e->src == ST_SRC_F32 ? (double)((const float *)e->data)[i0 + i]
                                            : ((const double *)e->data)[i0 + i];
            switch (e->dtype) {
            case ST_F64: memcpy(buf + 8 * i, &v, 8); break;
            case ST_F32: { float x = (float)v; memcpy(buf + 4 * i, &x, 4); } break;
            case ST_F16: { uint16_t h = f32_to_f16((float)v); memcpy(buf + 2 * i, &h, 2); } break;
            case ST_BF16: { uint16_t h = f32_to_bf16((float)v); memcpy(buf + 2 * i, &h, 2); } break;
            default: TTT_ASSERT(0 && "conversion to a non-float dtype");
            }
        }
        s = ttt_atomic_write(af, buf, (size_t)c * es);
    }
    free(buf);
    return s;
}

ttt_status st_write(const char *path, const st_entry *entries, int n) {
    return st_write_meta(path, entries, n, NULL, NULL, 0);
}

ttt_status st_write_meta(const char *path, const st_entry *entries, int n, const char *const *keys,
                         const char *const *vals, int nmeta) {
    const st_entry **ord = malloc(sizeof(st_entry *) * (size_t)(n ? n : 1));
    if (!ord) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) ord[i] = &entries[i];
    qsort(ord, (size_t)n, sizeof *ord, cmp_entry);
    sbuf h = {0};
    int own_format = 0; /* a "format" key of the caller's replaces the default */
    for (int i = 0; i < nmeta; i++) own_format |= strcmp(keys[i], "format") == 0;
    int bad = sb_put(&h, "{\"__metadata__\":{");
    if (!own_format) bad |= sb_put(&h, "\"format\":\"pt\"");
    for (int i = 0; i < nmeta && !bad; i++) {
        bad |= sb_put(&h, "%s", i || !own_format ? "," : "");
        bad |= sb_str(&h, keys[i]) | sb_put(&h, ":") | sb_str(&h, vals[i]);
    }
    bad |= sb_put(&h, "}");
    uint64_t off = 0;
    for (int i = 0; i < n && !bad; i++) {
        const st_entry *e = ord[i];
        uint64_t bytes = (uint64_t)entry_numel(e) * st_dtype_size(e->dtype);
        bad |= sb_put(&h, ",") | sb_str(&h, e->name);
        bad |= sb_put(&h, ":{\"dtype\":\"%s\",\"shape\":[", st_dtype_name(e->dtype));
        for (int d = 0; d < e->ndim && !bad; d++)
            bad |= sb_put(&h, "%s%lld", d ? "," : "", (long long)e->shape[d]);
        bad |= sb_put(&h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                      (unsigned long long)(off + bytes));
        off += bytes;
    }
    bad |= sb_put(&h, "}");
    while (!bad && h.n % 8 != 0) bad |= sb_put(&h, " ");
    if (bad) {
        free(h.s);
        free(ord);
        return ttt_err(TTT_ERR_NOMEM, "out of memory building the safetensors header");
    }
    ttt_atomic_file af;
    ttt_status s = ttt_atomic_open(&af, path);
    if (s == TTT_OK) {
        unsigned char lenb[8];
        uint64_t hl = h.n;
        for (int i = 0; i < 8; i++) lenb[i] = (unsigned char)(hl >> (8 * i));
        s = ttt_atomic_write(&af, lenb, 8);
        if (s == TTT_OK) s = ttt_atomic_write(&af, h.s, h.n);
        for (int i = 0; i < n && s == TTT_OK; i++) s = write_converted(&af, ord[i], entry_numel(ord[i]));
        if (s == TTT_OK)
            s = ttt_atomic_commit(&af);
        else
            ttt_atomic_abort(&af);
    }
    free(h.s);
    free(ord);
    return s;
}
