/* bpe_train.h: trains a BPE tokenizer on text files and saves it as tokenizer.json (+
 * tokenizer_config.json) through tokjson_write.h. Two kinds:
 *
 *   BPE_TRAIN_BYTE  byte-level BPE, GPT-2 style: the text is cut by a PCRE2 regex (GPT-2's by
 *                   default, pretok.h), each piece is a word of bytes; ids 0..255 are the bytes
 *                   in GPT-2's vocabulary order (tokjson_byte_of_id), merges follow.
 *   BPE_TRAIN_SP    SentencePiece-style BPE with byte fallback (Llama-2 layout): each file is
 *                   one document, normalised as "▁" + text with ' ' -> "▁"; a word starts at the
 *                   document start and at every "▁" that follows a non-"▁" character (so merges
 *                   never cross such a "▁", and runs of "▁" stay with the word they precede);
 *                   ids <unk>=0 <s>=1 </s>=2, <0x00>..<0xFF> = 3..258, then the alphabet (the
 *                   most frequent characters until they cover char_coverage of all characters,
 *                   in decreasing frequency, ties by code point), then merged pieces. A
 *                   character outside the alphabet is never merged (it is encoded by its UTF-8
 *                   bytes).
 *
 * The algorithm (the `tokenizers` library's BpeTrainer): count the distinct words of the corpus
 * (in parallel over files, OpenMP, one hash map per thread, summed: exact, so the result does
 * not depend on the thread count); count every adjacent symbol pair over the words weighted by
 * their counts, remembering for each pair the words it occurs in; then repeatedly take the pair
 * with the highest count from a max-heap with lazy updates (an entry whose count is stale is
 * pushed again with the current count), ties broken by the smaller (left id, right id) as the
 * `tokenizers` trainer does; replace it left to right, non-overlapping, in the words that hold
 * it, updating the counts of the neighbouring pairs:
 *     for each occurrence  x a b y -> x c y  in a word of count n:
 *         N(x,a) -= n, N(x,c) += n, N(b,y) -= n, N(c,y) += n,  N(a,b) := 0 at the end;
 * until the vocabulary holds vocab_size ids or no pair occurs min_frequency times. The merged
 * token is the concatenation of the two strings; when that string is already a token (two merge
 * paths to one string) the merge is recorded with the existing id and the vocabulary does not
 * grow (as the `tokenizers` trainer does). Words longer than BPE_TRAIN_MAX_WORD bytes are cut
 * into pieces of at most that many bytes at character boundaries (only pathological text has
 * them).
 *
 * Special tokens: vocab_size counts them. Byte level: the specials (default "<|endoftext|>") get
 * the ids after the vocabulary, or the first ids with specials_first; the first one is BOS, EOS
 * and UNK in tokenizer_config.json, as in GPT-2. SP: <unk> <s> </s> are always ids 0..2 and the
 * extra specials come after the vocabulary, or right after </s> with specials_first. */
#ifndef TTT_TOKENIZER_BPE_TRAIN_H
#define TTT_TOKENIZER_BPE_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "ttt.h"

typedef enum { BPE_TRAIN_BYTE = 0, BPE_TRAIN_SP = 1 } bpe_train_kind;

#define BPE_TRAIN_MAX_WORD ((size_t)1 << 16)
#define BPE_TRAIN_MAX_VOCAB ((int64_t)1 << 22)
#define BPE_TRAIN_MAX_SPECIAL 256

typedef struct {
    bpe_train_kind kind;
    int64_t vocab_size;           /* all ids, specials included */
    int64_t min_frequency;        /* a pair merges only when it occurs at least this often (>= 1) */
    const char *pattern;          /* byte level: the split regex; NULL = GPT-2's */
    double char_coverage;         /* sp: (0, 1]; SentencePiece's default is 0.9995 */
    int threads;                  /* 0 = OpenMP's default */
    const char *const *specials;  /* extra special tokens (NULL-free, distinct, non-empty) */
    int n_specials;
    int specials_first;
    int verbose;                  /* progress on stderr */
} bpe_train_opts;

/* fills every field with the defaults (byte level, vocab 4096, min_frequency 2, coverage 0.9995) */
void bpe_train_defaults(bpe_train_opts *o);

typedef struct {
    bpe_train_kind kind;
    int64_t n_ids;                /* vocabulary size, specials included */
    char **tok;                   /* [n_ids] token bytes: byte level raw bytes (not mapped),
                                     sp UTF-8 with "▁"; specials their text */
    size_t *tok_len;              /* [n_ids] */
    unsigned char *is_special;    /* [n_ids] */
    int32_t (*merges)[2];         /* [n_merges] (left id, right id), rank order */
    int64_t n_merges;
    int32_t *merge_result;        /* [n_merges] id each merge makes */
    int32_t bos, eos, unk;        /* -1 if none */
    char *pattern;                /* byte level: the regex used (malloc'd) */
    /* statistics of the training corpus */
    int64_t n_files;
    int64_t corpus_bytes;
    int64_t n_words, n_unique_words;
    int64_t n_alphabet;           /* sp: characters in the alphabet; byte: 256 */
    int64_t n_chars, n_chars_covered; /* sp: characters in the corpus, and in the alphabet */
    int64_t corpus_tokens;        /* the corpus in the trained tokens (what an encoder gives) */
    int stopped_early;            /* no pair reached min_frequency before vocab_size */
    double seconds_count, seconds_merge;
} bpe_model;

/* Train on the files (each one document). Errors name the file or the option. */
ttt_status bpe_train_files(const bpe_train_opts *o, const char *const *paths, int64_t n_paths, bpe_model *m);
/* Train on texts in memory (each one document); names[i] may be NULL (used in messages). */
ttt_status bpe_train_texts(const bpe_train_opts *o, const char *const *texts, const size_t *lens, int64_t n,
                           bpe_model *m);
void bpe_model_free(bpe_model *m);

/* Write tokenizer.json to json_path and tokenizer_config.json to config_path (NULL: the file
 * tokenizer_config.json in json_path's directory). model_max_length <= 0: no limit. */
ttt_status bpe_model_save(const bpe_model *m, const char *json_path, const char *config_path,
                          int64_t model_max_length);

#endif
