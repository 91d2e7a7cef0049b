/* metrics.c: the counters of `ttt serve` and GET /metrics in the Prometheus text exposition
 * format (version 0.0.4): requests by endpoint, responses by status class, prompt and generated
 * tokens, prefill and decode seconds (tokens/s = tokens / seconds), decode steps and the
 * sequences they carried (mean batch occupancy = sequence steps / steps), queue length, running
 * sequences, sessions in RAM and their bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/serve.h"

void srv_metrics_init(srv_metrics *mt) {
    memset(mt, 0, sizeof *mt);
    pthread_mutex_init(&mt->mu, NULL);
}

void srv_metrics_request(srv_metrics *mt, int endpoint) {
    pthread_mutex_lock(&mt->mu);
    if (endpoint >= 0 && endpoint < SRV_EP_N) mt->requests_total[endpoint]++;
    pthread_mutex_unlock(&mt->mu);
}

void srv_metrics_response(srv_metrics *mt, int status) {
    pthread_mutex_lock(&mt->mu);
    int c = status / 100;
    if (c >= 1 && c <= 5) mt->responses_by_class[c]++;
    pthread_mutex_unlock(&mt->mu);
}

char *srv_metrics_text(srv *s) {
    srv_metrics *mt = s->metrics;
    int64_t ns, nd;
    size_t nb;
    srv_sessions_counts(s, &ns, &nd, &nb);
    srv_buf b = {0};
    char line[512];
    static const char *ep[SRV_EP_N] = {"completions", "chat_completions", "models", "sessions", "other"};
    pthread_mutex_lock(&mt->mu);
#define L(...) (snprintf(line, sizeof line, __VA_ARGS__), srv_buf_puts(&b, line))
    L("# HELP ttt_requests_total HTTP requests received, by endpoint.\n# TYPE ttt_requests_total counter\n");
    for (int i = 0; i < SRV_EP_N; i++) L("ttt_requests_total{endpoint=\"%s\"} %lld\n", ep[i], mt->requests_total[i]);
    L("# HELP ttt_responses_total Replies of the generation endpoints, by status class.\n# TYPE ttt_responses_total counter\n");
    for (int c = 2; c <= 5; c++) L("ttt_responses_total{class=\"%dxx\"} %lld\n", c, mt->responses_by_class[c]);
    L("# HELP ttt_rejected_total Requests refused because the queue was full (429).\n# TYPE ttt_rejected_total counter\n"
      "ttt_rejected_total %lld\n", mt->rejected_queue_full);
    L("# HELP ttt_prompt_tokens_total Tokens prefilled.\n# TYPE ttt_prompt_tokens_total counter\nttt_prompt_tokens_total %lld\n",
      mt->prompt_tokens);
    L("# HELP ttt_generated_tokens_total Tokens decoded.\n# TYPE ttt_generated_tokens_total counter\n"
      "ttt_generated_tokens_total %lld\n", mt->generated_tokens);
    L("# HELP ttt_prefill_seconds_total Time spent in prefill.\n# TYPE ttt_prefill_seconds_total counter\n"
      "ttt_prefill_seconds_total %.6f\n", mt->prefill_seconds);
    L("# HELP ttt_decode_seconds_total Time spent in decode steps.\n# TYPE ttt_decode_seconds_total counter\n"
      "ttt_decode_seconds_total %.6f\n", mt->decode_seconds);
    L("# HELP ttt_prefill_tokens_per_second Prompt tokens per second of prefill time.\n"
      "# TYPE ttt_prefill_tokens_per_second gauge\nttt_prefill_tokens_per_second %.3f\n",
      mt->prefill_seconds > 0 ? (double)mt->prompt_tokens / mt->prefill_seconds : 0.0);
    L("# HELP ttt_decode_tokens_per_second Generated tokens per second of decode time.\n"
      "# TYPE ttt_decode_tokens_per_second gauge\nttt_decode_tokens_per_second %.3f\n",
      mt->decode_seconds > 0 ? (double)mt->generated_tokens / mt->decode_seconds : 0.0);
    L("# HELP ttt_decode_steps_total Batched decode steps.\n# TYPE ttt_decode_steps_total counter\n"
      "ttt_decode_steps_total %lld\n", mt->decode_steps);
    L("# HELP ttt_batch_occupancy Mean sequences per decode step.\n# TYPE ttt_batch_occupancy gauge\n"
      "ttt_batch_occupancy %.4f\n", mt->decode_steps ? (double)mt->decode_seq_steps / (double)mt->decode_steps : 0.0);
    L("# HELP ttt_running_sequences Sequences in the running batch.\n# TYPE ttt_running_sequences gauge\n"
      "ttt_running_sequences %lld\n", (long long)mt->running_seqs);
    L("# HELP ttt_batch_capacity Sequences the batch holds (--parallel).\n# TYPE ttt_batch_capacity gauge\n"
      "ttt_batch_capacity %lld\n", (long long)s->o.parallel);
    L("# HELP ttt_queue_length Requests waiting for the batch.\n# TYPE ttt_queue_length gauge\nttt_queue_length %lld\n",
      (long long)mt->queue_len);
    L("# HELP ttt_sessions Sessions kept, by location.\n# TYPE ttt_sessions gauge\nttt_sessions{location=\"ram\"} %lld\n"
      "ttt_sessions{location=\"disk\"} %lld\n", (long long)ns, (long long)nd);
    L("# HELP ttt_session_bytes Bytes of the kept sessions' states in RAM.\n# TYPE ttt_session_bytes gauge\n"
      "ttt_session_bytes %zu\n", nb);
#undef L
    pthread_mutex_unlock(&mt->mu);
    return b.p;
}
