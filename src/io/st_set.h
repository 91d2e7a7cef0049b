/* st_set.h: the weights of a model directory as one set of tensors, in either layout of the
 * Hugging Face hub: a single `model.safetensors`, or shards listed by
 * `model.safetensors.index.json` ({"metadata": {...}, "weight_map": {"tensor": "shard file"}}).
 * Every shard is validated as a safetensors file (safetensors.h), and the index against the
 * shards: each tensor of the map is in the shard it names, each tensor of a shard is mapped to
 * that shard, no tensor is in two shards, and a shard name is a plain file name of the
 * directory. */
#ifndef TTT_IO_ST_SET_H
#define TTT_IO_ST_SET_H

#include "io/safetensors.h"

typedef struct {
    const st_tensor *t;
    int file; /* index into st_set.files */
} st_set_entry;

typedef struct {
    char *shown;      /* what messages name: the single file, or the index */
    int nfiles;
    st_file *files;   /* the shards (one for a single file) */
    int n;            /* tensors in all */
    st_set_entry *e;  /* every tensor, sorted by name */
} st_set;

/* Open the weights of model directory DIR: model.safetensors when it exists (as transformers
 * does), else model.safetensors.index.json and its shards; an error names what is missing. */
ttt_status st_set_open(st_set *s, const char *dir);
void st_set_close(st_set *s);
/* the tensor NAME and the file it lives in (NULL when absent) */
const st_tensor *st_set_find(const st_set *s, const char *name, const st_file **file);

#endif
