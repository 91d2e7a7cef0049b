/* ttt_state.h: a decoding cache as a file, and one decode step for many independent caches.
 *
 * A state file (ttt_cache_save) is a safetensors file: the cache as named tensors (per family:
 * the TTT inner weights, gradient sums and convolution histories; the Transformer's keys and
 * values of the filled positions; Mamba's convolution histories and SSM states) and, in
 * __metadata__, the format ("ttt-state", version 1), the family, the precision, the model's
 * identity (a hash of its configuration and a checksum of its weights), the batch size and the
 * position. ttt_cache_load refuses a state of another model, naming what differs. */
#ifndef TTT_STATE_H
#define TTT_STATE_H

#include <stdint.h>
#include <stdio.h>

#include "ttt.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TTT_STATE_FORMAT "ttt-state"
#define TTT_STATE_VERSION 1
#define TTT_STATE_MAX_BATCH 4096 /* sequences of a state file */

/* What a caller may keep in a state file beside the cache (ttt generate does, to continue a
 * text bit for bit): each NULL when not kept. */
typedef struct {
    int32_t *tokens;  /* [B, position]: the token ids the cache has seen */
    float *logits;    /* [B, vocab rows]: the logits after the last of them (the next token's) */
    uint64_t *rng;    /* [B, 4]: the samplers' xoshiro256** states (ttt_sampler_get_rng) */
} ttt_state_extra;

/* The number of sequences of a cache. */
int64_t ttt_cache_batch(const ttt_cache *c);

/* Write the cache (position >= 1) into PATH atomically. */
ttt_status ttt_cache_save(const ttt_cache *c, const char *path);
/* Read a state written for model M into a new cache (*out, freed with ttt_cache_free). A state
 * of another family, precision, configuration or weights is refused, naming what differs. */
ttt_status ttt_cache_load(ttt_model *m, const char *path, ttt_cache **out);

/* The same with the extras (x nullable on save; on load x receives malloc'd arrays, or NULL
 * for what the file does not hold: free them with ttt_state_extra_free). */
ttt_status ttt_cache_save_ex(const ttt_cache *c, const char *path, const ttt_state_extra *x);
ttt_status ttt_cache_load_ex(ttt_model *m, const char *path, ttt_cache **out, ttt_state_extra *x);
void ttt_state_extra_free(ttt_state_extra *x);

/* What a state file holds, printed to fp without a model (ttt info --state): format, family,
 * precision, batch, position, identity, tensors and bytes. The file is validated as a load
 * would, except against a model. */
ttt_status ttt_state_describe(const char *path, FILE *fp);

/* Bytes of the cache tensors of a state of B sequences at position pos for a configuration,
 * computing in float32 (float64: twice as many), as ttt_cache_save writes them (the header and
 * ttt_state_extra come on top); no model is made. */
ttt_status ttt_state_bytes(const ttt_config *cfg, int64_t B, int64_t pos, uint64_t *bytes);

/* The model identity a state records (docs: the state file format).
 * Config hash: XXH64 (seed 0) of the family's config.json fields as ttt writes them (cJSON,
 * unformatted; the tokenizer name left out). Weights checksum: the parameters as the model
 * holds them (float32 or float64, little-endian, in parameter-table order) cut into 1 MiB
 * blocks, each hashed with XXH64 (seed 0); the checksum is XXH64 of those block hashes (8 bytes
 * each, little-endian) with the total byte count as seed. */
uint64_t ttt_config_hash(const ttt_config *cfg);
uint64_t ttt_weights_checksum(const ttt_model *m);
/* XXH64 of n bytes (the reference algorithm, xxhash.com) */
uint64_t ttt_xxh64(const void *data, size_t n, uint64_t seed);

/* One decode step for n independent single-sequence caches (each created with B = 1, each at
 * its own position; no cache twice): ids [n] the next token of each, logits (nullable)
 * [n, vocab rows]. All n step together, every cache read and written in place: the
 * projections, MLPs and LM head are products over the n rows; the attention (each query
 * against its own cache), the convolutions, the TTT inner-loop steps and the Mamba scans run
 * per sequence at its own position. The logits are bit for bit ttt_decode_step's on each cache
 * alone, whatever else the batch holds (the products take a matrix-vector path whose sums do
 * not depend on the other rows; float64: BLAS, bit for bit on the tests' models). */
ttt_status ttt_decode_multi(ttt_model *m, ttt_cache **caches, int64_t n, const int32_t *ids, float *logits);

#ifdef __cplusplus
}
#endif
#endif
