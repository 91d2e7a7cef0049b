/* ttt_tokenizer.h: public C API of libttt's tokenizers and token files.
 *
 * Tokenizers (one interface, chosen by the files a path points to):
 *   - tiktoken byte-level BPE from a rank file (r50k_base = GPT-2, p50k_base, cl100k_base,
 *     o200k_base): PCRE2 pre-tokenizer with the encoding's split pattern, merges by rank,
 *     the encoding's special tokens (<|endoftext|> ...);
 *   - Llama-2 SentencePiece-style BPE from a directory with vocab.txt (32000 pieces, one per
 *     line in id order) and merges.u16le (pairs of little-endian uint16 ids in rank order):
 *     dummy-prefix space, ' ' -> U+2581, merge by rank, byte fallback <0x00>..<0xFF>,
 *     <unk>=0, BOS=1, EOS=2;
 *   - a tokenizer.json of the Hugging Face `tokenizers` library (a file, or a directory that
 *     holds one; its tokenizer_config.json is read when present): BPE models with the
 *     normalizers, pre-tokenizers, post-processors, decoders and added tokens listed in
 *     docs/data.md 3.1; anything else is refused by name.
 * decode(encode(text)) == text for every byte string (valid UTF-8 or not) with the first two;
 * for tokenizer.json, wherever the file's own normalizer keeps the text (docs/data.md 3.1).
 *
 * Token files (".tok", docs/data.md): a 128-byte little-endian header (magic "TTTTOKEN",
 * version, token width, counts, BOS/EOS ids, vocabulary size, tokenizer name, checksum), the
 * token ids, then the start offset of every document. Readers check the exact file size.
 *
 * Errors are reported as ttt_status with a message in ttt_last_error() (see ttt.h). */
#ifndef TTT_TOKENIZER_H
#define TTT_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "ttt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ----------------------------------------------------------------------------------------- */
/* Tokenizers                                                                                 */

typedef struct ttt_tok ttt_tok;

typedef enum { TTT_TOK_TIKTOKEN = 0, TTT_TOK_LLAMA = 1, TTT_TOK_HF = 2 } ttt_tok_kind;

/* Load a tokenizer. path is a .tiktoken rank file, a tokenizer.json, a directory holding a
 * tokenizer.json, or a Llama-2 directory (see above).
 * encoding names the tiktoken encoding ("r50k_base", "p50k_base", "cl100k_base",
 * "o200k_base"); NULL recognises it from the file name. Ignored for Llama. */
ttt_status ttt_tok_load(const char *path, const char *encoding, ttt_tok **out);
void ttt_tok_free(ttt_tok *t);

ttt_tok_kind ttt_tok_kind_of(const ttt_tok *t);
/* "r50k_base", "p50k_base", "cl100k_base", "o200k_base", "llama2", or for a tokenizer.json
 * "hf-" and 16 hex digits of a hash of the file */
const char *ttt_tok_name(const ttt_tok *t);
/* number of ids (ordinary + special): 50257, 50281, 100277, 200019, 32000 */
int64_t ttt_tok_vocab_size(const ttt_tok *t);
/* ids that start and end a document (docs/design.md 3.6); for tiktoken both are <|endoftext|>;
 * for tokenizer.json the BOS its post-processor or tokenizer_config.json (add_bos_token) puts
 * before a text, and the eos_token of tokenizer_config.json (else the post-processor's); -1
 * when there is none */
int32_t ttt_tok_bos(const ttt_tok *t);
int32_t ttt_tok_eos(const ttt_tok *t);
/* id of a special token by its text ("<|endoftext|>", "<s>"; tokenizer.json: any added
 * token), or -1 */
int32_t ttt_tok_special_id(const ttt_tok *t, const char *text);

/* Encoding flags */
enum {
    TTT_TOK_ADD_BOS = 1,       /* prepend the BOS id */
    TTT_TOK_ADD_EOS = 2,       /* append the EOS id */
    TTT_TOK_ALLOW_SPECIAL = 4, /* tiktoken, Llama-2: special-token texts in the input become
                                  their ids (otherwise they are ordinary text); tokenizer.json
                                  always matches its added tokens, as the library does */
    TTT_TOK_ADD_SPECIAL = 8,   /* tokenizer.json: the post-processor's special tokens
                                  (TemplateProcessing), as the library's add_special_tokens */
};

/* Encode len bytes of text (any bytes; NUL allowed). *ids is malloc'd (free() it), *n its
 * length. Large inputs are split at line boundaries where the result cannot change and
 * encoded on all OpenMP threads; the output does not depend on the thread count. */
ttt_status ttt_tok_encode(const ttt_tok *t, const char *text, size_t len, int flags, int32_t **ids,
                          int64_t *n);

/* Encode n_docs documents at once (parallel over documents and their lines). ids[i] and
 * n_ids[i] receive each document's tokens as ttt_tok_encode would. */
ttt_status ttt_tok_encode_batch(const ttt_tok *t, const char *const *texts, const size_t *lens,
                                int64_t n_docs, int flags, int32_t **ids, int64_t *n_ids);

/* Decoding flags */
enum {
    TTT_TOK_DECODE_SPECIAL = 1, /* write special/control tokens as their text ("<s>",
                                   "<|endoftext|>"); by default they produce nothing */
};

/* Decode ids into bytes: *text is malloc'd and NUL-terminated (free() it), *len excludes the
 * NUL. Llama: the dummy-prefix space is removed at the start and after every BOS.
 * TTT_ERR_ARG names the first id outside [0, vocab size) or without a piece. */
ttt_status ttt_tok_decode(const ttt_tok *t, const int32_t *ids, int64_t n, int flags, char **text,
                          size_t *len);

/* Text of one id (bytes of its piece; special tokens as their text); NULL if out of range.
 * For Llama pieces U+2581 is returned as is and byte tokens as "<0xNN>"; for tokenizer.json
 * the token as the file writes it (byte-level tokens in the GPT-2 alphabet, "Ġthe"). */
const char *ttt_tok_piece(const ttt_tok *t, int32_t id, size_t *len);

/* Write the tokenizer into directory dir as a Hugging Face tokenizer.json and
 * tokenizer_config.json (atomically), which transformers and ttt_tok_load read back with the
 * same ids: a tokenizer.json tokenizer is copied; Llama-2 becomes the SentencePiece-style BPE
 * layout; a tiktoken encoding the byte-level layout with its split pattern, merges rebuilt
 * from its ranks and ignore_merges (docs/data.md 3.1). */
ttt_status ttt_tok_save(const ttt_tok *t, const char *dir);

/* ----------------------------------------------------------------------------------------- */
/* Token files                                                                                */

#define TTT_TOKFILE_MAGIC "TTTTOKEN"
#define TTT_TOKFILE_VERSION 2 /* the newest version this build reads and writes (docs/data.md) */
#define TTT_TOKFILE_HEADER_BYTES 128
#define TTT_TOKFILE_NAME_BYTES 32

typedef struct {
    int32_t version;
    int32_t width;       /* bytes per token on disk: 2 or 4 */
    int64_t n_tokens;
    int64_t n_docs;
    int32_t bos_id, eos_id; /* -1 when absent */
    int64_t vocab_size;  /* every id is < vocab_size */
    char tokenizer[TTT_TOKFILE_NAME_BYTES]; /* NUL-terminated, e.g. "llama2", "r50k_base" */
    uint64_t checksum;   /* FNV-1a 64 over the token and document-offset bytes */
    int32_t *ids;        /* n_tokens ids (NULL after ttt_tokfile_read_header) */
    int64_t *doc_start;  /* n_docs offsets into ids, strictly increasing, first is 0 */
    uint8_t *mask;       /* version 2: n_tokens loss-mask flags, 1 = token i counts when it is a
                            target (predicted from token i-1), 0 = it does not; NULL in version 1
                            files (every target counts) and after ttt_tokfile_read_header */
} ttt_tokfile;

/* Read and validate a whole token file: magic, version (1, or 2 with a per-token loss mask),
 * width, exact size, checksum, ids < vocab_size, document offsets, mask padding. */
ttt_status ttt_tokfile_read(const char *path, ttt_tokfile *out);
/* Read and validate only the header (and the file size). */
ttt_status ttt_tokfile_read_header(const char *path, ttt_tokfile *out);
/* Whether the token file at PATH (its header in TF) can feed the model of CFG: its ids stay
 * below the model's vocab_size, and when both record a tokenizer name the names agree (ids
 * of another tokenizer mean other tokens even when they fit). A model or file that records
 * no name is accepted. */
ttt_status ttt_tokfile_check_model(const ttt_tokfile *tf, const ttt_config *cfg, const char *path);
/* Validate a token file already in memory (used by the reader and the fuzzer). */
ttt_status ttt_tokfile_parse(const void *data, size_t size, const char *origin, int header_only,
                             ttt_tokfile *out);
/* Write atomically. width 0 picks 2 when vocab_size <= 65536, else 4; the checksum is
 * computed here. With tf->mask (flags 0 or 1) the file is version 2, else version 1 (which
 * older builds read too). */
ttt_status ttt_tokfile_write(const char *path, const ttt_tokfile *tf);
void ttt_tokfile_free(ttt_tokfile *tf);

#ifdef __cplusplus
}
#endif

#endif
