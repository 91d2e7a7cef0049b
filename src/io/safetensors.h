/* safetensors.h: reader and writer for the safetensors format (8-byte little-endian header
 * length N, N bytes of JSON {"name": {"dtype", "shape", "data_offsets": [begin, end]}, ...},
 * then the raw little-endian C-order data). The reader validates everything before any data
 * is used: header bounds, JSON, dtypes, shapes, offsets in range, sizes matching the shapes,
 * no overlaps, no duplicate names. The writer is atomic (see fsutil.h).
 *
 * Tensor data is read straight from a read-only private mapping of the file (mmap), converted
 * into the caller's buffer chunk by chunk, the pages of each chunk handed back to the kernel
 * once consumed (MADV_DONTNEED), so a load never holds the file and its copy at once: peak
 * memory is the destination plus a few MiB. Where mmap is refused (an exotic file system) the
 * same reads go through pread. A file that shrinks after it was opened is an error, never a
 * crash: every copy out of the mapping runs under a SIGBUS guard (a fault inside the mapping
 * returns an error instead of killing the process; a fault anywhere else goes to the
 * previous handler, or the default action), and after every tensor the file's size is checked
 * again (a shrink inside the last page reads zeros, not a fault). A file rewritten in place
 * with the same size cannot be told from the original, as with any reader. */
#ifndef TTT_IO_SAFETENSORS_H
#define TTT_IO_SAFETENSORS_H

#include <stdint.h>

#include "ttt.h"

#define ST_MAX_DIMS 8

typedef enum { ST_F64, ST_F32, ST_F16, ST_BF16, ST_I64, ST_I32, ST_I16, ST_I8, ST_U8, ST_BOOL } st_dtype;

typedef struct {
    char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;
    uint64_t begin, end; /* relative to the start of the data section */
} st_tensor;

typedef struct {
    char *path;
    int fd;
    const unsigned char *map; /* the whole file, read-only (NULL: read with pread) */
    size_t map_size;
    uint64_t file_size;  /* at open; a read that finds another size fails */
    uint64_t data_start; /* 8 + N */
    uint64_t data_size;
    int n;
    st_tensor *t;
    int nmeta;          /* __metadata__ entries (string values only) */
    char **meta_key, **meta_val;
} st_file;

const char *st_dtype_name(st_dtype d);
size_t st_dtype_size(st_dtype d);

ttt_status st_open(st_file *f, const char *path);
void st_close(st_file *f);
const st_tensor *st_find(const st_file *f, const char *name);
/* value of a __metadata__ key, or NULL */
const char *st_meta(const st_file *f, const char *key);
/* "[2, 37, 97]" into buf */
const char *st_shape_str(const int64_t *shape, int ndim, char *buf, size_t len);

/* A private writable mapping of the whole file, for using its data in place: writes stay in
 * this process (copy on write) and never reach the file. *base + f->data_start is the data
 * section; the caller unmaps it with munmap(*base, *len). TTT_ERR_IO when the file cannot be
 * mapped or no longer has the size it had at st_open. Unlike st_read_*, a use of the mapping
 * is not guarded against the file shrinking later (a SIGBUS): ttt replaces files atomically,
 * so the mapped file itself never changes under a reader. */
ttt_status st_map_private(const st_file *f, void **base, size_t *len);

/* Read a float tensor (F64/F32/F16/BF16) converting to float32 or float64; n must equal
 * its numel. */
ttt_status st_read_f32(const st_file *f, const st_tensor *t, float *dst, int64_t n);
ttt_status st_read_f64(const st_file *f, const st_tensor *t, double *dst, int64_t n);
/* Read an integer tensor (I64/I32/I16/I8/U8) into int64. */
ttt_status st_read_i64(const st_file *f, const st_tensor *t, int64_t *dst, int64_t n);
/* Elements [first, first + count) of T in dtype TO into dst: the file's bytes when TO is T's
 * dtype (any dtype); float to float otherwise (F64/F32/F16/BF16, rounded to nearest even,
 * F64 through F32 as torch does). A finite value that overflows TO (a float32 above 65504 to
 * F16, say) is an error naming the tensor and element. */
ttt_status st_read_as(const st_file *f, const st_tensor *t, int64_t first, int64_t count, void *dst, st_dtype to);

/* Writer: one entry per tensor. src says what `data` holds: the file dtype's own bytes
 * (ST_SRC_RAW), float32 / float64 values to be converted to the file dtype, or (ST_SRC_TENSOR)
 * an st_tensor_ref: a tensor of an open file, streamed in chunks through st_read_as (its
 * shape must equal the entry's). */
typedef enum { ST_SRC_RAW, ST_SRC_F32, ST_SRC_F64, ST_SRC_TENSOR, ST_SRC_RUNS } st_src;
typedef struct {
    const st_file *file;
    const st_tensor *tensor;
} st_tensor_ref;
/* ST_SRC_RUNS: the file dtype's own bytes in runs of `run` elements, run i at `base` plus
 * i·stride elements (a tensor of a larger strided buffer; numel must be a multiple of run) */
typedef struct {
    const void *base;
    int64_t run, stride;
} st_runs;
typedef struct {
    const char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const void *data;
    st_src src;
} st_entry;

/* Entries are written sorted by name; metadata is {"format": "pt"}. Names are JSON-escaped. */
ttt_status st_write(const char *path, const st_entry *e, int n);
/* The same with more __metadata__ string pairs (JSON-escaped; a key "format" replaces the
 * default "pt"; keys must be distinct). */
ttt_status st_write_meta(const char *path, const st_entry *e, int n, const char *const *keys,
                         const char *const *vals, int nmeta);

#endif
