/* dataset.h: turning documents into one token stream (design.md 3.6): every document is
 * wrapped as BOS doc EOS and the documents are concatenated; when BOS and EOS are the same id
 * (the tiktoken encodings' <|endoftext|>) one separator stands between documents, so the
 * stream is EOT d1 EOT d2 ... EOT. Also the split lists written by scripts/fetch-data.sh, and
 * the training windows that lie inside documents (ttt train --doc-windows). */
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

/* The windows of L+1 tokens that lie inside one document each: for document d spanning
 * [s_d, e_d) (e_d the next document's start, or the end of the stream) the starts
 * s_d + j(L+1), j = 0 .. floor((e_d - s_d) / (L+1)) - 1, in stream order; a document shorter
 * than L+1 tokens gives none, and the end of a longer one that does not fill a window is left
 * out. *starts is malloc'd (NULL when *n is 0); *longest receives the longest document's
 * tokens (for messages). TTT_ERR_ARG when the file has no document table. */
ttt_status data_doc_windows(const ttt_tokfile *tf, int64_t L, int64_t **starts, int64_t *n, int64_t *longest);

#endif
