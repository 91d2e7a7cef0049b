/* ttt_stats.h: inner-loop diagnostics of a TTT layer (see ttt_stats.c). Generic. */
#ifndef TTT_LAYERS_TTT_STATS_H
#define TTT_LAYERS_TTT_STATS_H

#include "layers/ttt_scan.h"

/* Adds, for every mini-batch m of every (sequence, head), the three reconstruction losses of
 * its last token to stats[3m + {0: W0, 1: start of the mini-batch, 2: after its update}]
 * (sums; the caller divides by B·heads). A fresh sequence (pos0 = 0, no cache). */
void RF(ttt_scan_stats)(const RF(ttt_scan_args) *a, double *stats);

#endif
