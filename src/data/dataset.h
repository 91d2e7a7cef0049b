/* dataset.h: turning documents into one token stream (design.md 3.6): every document is
 * wrapped as BOS doc EOS and the documents are concatenated; when BOS and EOS are the same id
 * (the tiktoken encodings' <|endoftext|>) one separator stands between documents, so the
 * stream is EOT d1 EOT d2 ... EOT. Also the split lists written by scripts/fetch-data.sh. */
#ifndef TTT_DATA_DATASET_H
#define TTT_DATA_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "ttt_tokenizer.h"

/* Read a list file: one path per line (blank lines and lines starting with '#' skipped);
 * relative paths are taken relative to base_dir (NULL: as they are). *paths is a malloc'd
 * array of malloc'd strings; free with data_free_list. */
ttt_status data_read_list(const char *list_path, const char *base_dir, char ***paths, int64_t *n);
void data_free_list(char **paths, int64_t n);

/* Tokenize whole documents (in parallel) into a token file image: tokenizer name, BOS/EOS
 * ids, vocabulary size, the wrapped stream and each document's start. *bytes receives the
 * total text size. wrap = 0 concatenates the documents without BOS/EOS. */
ttt_status data_tokenize(const ttt_tok *t, const char *const *texts, const size_t *lens, int64_t n_docs,
                         int wrap, int flags, ttt_tokfile *out);

/* The same for files (read whole). */
ttt_status data_tokenize_files(const ttt_tok *t, char *const *paths, int64_t n_docs, int wrap, int flags,
                               ttt_tokfile *out, size_t *bytes);

#endif
