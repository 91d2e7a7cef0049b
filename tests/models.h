/* models.h: small TTT models for the tests, with "interesting" parameter values (as the
 * golden data draws them: weights of unit-scale activations, norm weights near 1, visible
 * inner learning), and random token ids. */
#ifndef TTT_TESTS_MODELS_H
#define TTT_TESTS_MODELS_H

#include <stdint.h>

#include "ttt.h"

/* tiny config: D 32, 2 heads (f 16), I 48, 2 layers, V 53; backbone "mamba" or "tf",
 * inner "linear" or "mlp" */
void tiny_config(ttt_config *c, const char *backbone, const char *inner);
/* create a model with interesting parameters; returns NULL (and fails the test) on error */
ttt_model *make_model(const ttt_config *c, ttt_precision prec, uint64_t seed);
/* overwrite all parameters with interesting values */
void randomize_params(ttt_model *m, uint64_t seed);
void random_ids(int32_t *ids, int64_t n, int64_t V, uint64_t seed);
/* Finite-difference check (float64 model) of d loss / d θ for every tensor of m: the entry
 * with the largest gradient and 3 random ones, central differences with h = 1e-5,
 * |analytic − fd| <= 1e-7 + 1e-5·|fd|. targets/per_seq as for ttt_forward_backward; with
 * nonzero, every tensor must have a nonzero gradient. Prints the worst ratio; 1 if all pass. */
int fd_check_model(ttt_model *m, const int32_t *ids, const int32_t *targets, int64_t B, int64_t L, int per_seq,
                   int nonzero, const char *what);
/* ids and, when masked, training-style targets (every 5th left out), for fd_check_model */
void fd_inputs(int32_t *ids, int32_t *tg, int64_t n, int64_t V);
/* `ttt forward --grad --decode` on the golden case SRC's inputs (SRC/expected.safetensors)
 * with the model directories ONE and OTHER: every output bit for bit the same, and the logits
 * within 5e-2 of the golden ones (BF16 rounding); WHAT names the pair in messages. 1 if so. */
int golden_same_outputs(const char *src, const char *one, const char *other, const char *what);
/* fd_check_model of a float64 make_model(c, seed) on fd_inputs of B x L tokens */
int fd_check_config(const ttt_config *c, uint64_t seed, int64_t B, int64_t L, int masked, int nonzero, const char *what);
/* every parameter (grads 0) or gradient (grads 1) of m, flattened in parameter order, in a
 * malloc'd array of ttt_param_numel_total(m) floats (NULL when out of memory) */
float *flat_tensors(const ttt_model *m, int grads);
/* set options on a model (precision unchanged) */
void set_opts(ttt_model *m, int threads, int remat, int reference);

#endif
