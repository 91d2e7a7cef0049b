/* synth.h: synthetic token files for studies of what a model's state can hold. MQAR, the
 * multi-query associative recall task of Zoology (Arora et al., 2023): each example holds K
 * key-value pairs, then queries of those keys; only the answers (the values) count in the
 * loss, through the token file's loss mask (version 2, docs/data.md). */
#ifndef TTT_DATA_SYNTH_H
#define TTT_DATA_SYNTH_H

#include <stdint.h>

#include "ttt_tokenizer.h"

typedef struct {
    int64_t pairs;    /* K key-value pairs per example */
    int64_t seq_len;  /* L: the model's inputs per example (the file holds L+1 tokens each) */
    int64_t vocab;    /* V: keys are drawn from [1, V/2), values from [V/2, V) */
    int64_t examples; /* N */
    uint64_t seed;
    double power_a;   /* the gaps of the queries: P(gap = g) ∝ (g+1)^(power_a − 1); Zoology's 0.01 */
} synth_mqar_opts;

#define SYNTH_MQAR_MAX_TOKENS ((int64_t)1 << 31) /* N·(L+1) at most */
#define SYNTH_MQAR_TOKENIZER "mqar"              /* the name the files record */

/* Whether the options describe a possible MQAR set: K >= 1, L even with 4K <= L (room for
 * the K pairs and K queries, Zoology's condition), K <= V/2 − 1 distinct keys and K <= V − V/2
 * distinct values, V <= 2^31, N >= 1, N·(L+1) <= SYNTH_MQAR_MAX_TOKENS, power_a > 0 and finite.
 * TTT_ERR_ARG with a message naming the flag (--pairs, --seq-len, ...) otherwise. */
ttt_status synth_mqar_check(const synth_mqar_opts *o);

/* The MQAR set as a token file image (ids, one document per example, the loss mask; free
 * with ttt_tokfile_free). Example e occupies tokens [e(L+1), (e+1)(L+1)):
 *   positions 0 .. 2K−1:  k_1 v_1 k_2 v_2 ... k_K v_K   (keys distinct, values distinct)
 *   query region 2K .. L: for each pair i, k_i at 2K + 2 g_i and v_i right after it, where
 *                         the gaps g_1..g_K are distinct in [0, (L−2K)/2), drawn one after
 *                         the other with P(g) ∝ (g+1)^(power_a − 1) among those left;
 *                         every other position a uniform filler token in [0, V)
 *   mask:                 1 exactly at the K answers 2K + 2 g_i + 1
 * Example e comes from its own random stream seeded by (seed, e): a set of N examples is the
 * first N of any larger set with the same seed. */
ttt_status synth_mqar(const synth_mqar_opts *o, ttt_tokfile *out);

#endif
