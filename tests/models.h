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
/* set options on a model (precision unchanged) */
void set_opts(ttt_model *m, int threads, int remat, int reference);

#endif
