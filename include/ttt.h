/* ttt.h: public C API of libttt, Test-Time Training (TTT) language models in C.
 *
 * A model is a directory holding config.json + model.safetensors, in the official PyTorch
 * implementation's format (ttt.py TTTForCausalLM). The library loads it, runs the full forward
 * pass (dual form), the exact backward pass, and token-by-token decoding through a recurrent
 * cache. Every function that can fail because of user input returns a ttt_status; the message of
 * the last failure on the calling thread is ttt_last_error(). */
#ifndef TTT_H
#define TTT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TTT_VERSION "0.1.0"

typedef enum {
    TTT_OK = 0,
    TTT_ERR_IO,      /* a file could not be opened, read or written */
    TTT_ERR_FORMAT,  /* a file is malformed (safetensors, JSON, tensor shapes/dtypes) */
    TTT_ERR_CONFIG,  /* config.json is inconsistent or misses a field */
    TTT_ERR_ARG,     /* a bad argument: token id out of range, empty input, bad flag */
    TTT_ERR_NOMEM,   /* an allocation failed */
    TTT_ERR_NUMERIC  /* a NaN or Inf appeared where a finite number was required */
} ttt_status;

/* Message describing the last error on this thread ("" if none). */
const char *ttt_last_error(void);

/* ----------------------------------------------------------------------------------------- */
/* Configuration                                                                              */

/* Model families: TTT (ttt.py TTTForCausalLM), the Llama-architecture Transformer baseline
 * (Hugging Face LlamaForCausalLM) and Mamba-1 (Hugging Face MambaForCausalLM, or mamba_ssm's
 * original format). These are the built-in ones; a family registered at run time
 * (docs/adding-a-family.md) has a larger id. */
typedef enum { TTT_ARCH_TTT = 0, TTT_ARCH_LLAMA = 1, TTT_ARCH_MAMBA = 2 } ttt_arch;
typedef enum { TTT_INNER_LINEAR = 0, TTT_INNER_MLP = 1 } ttt_inner_type;
/* RoPE frequency scaling of a Llama model (config.json "rope_scaling", Hugging Face's rope_type):
 * none, "linear" (positions / factor), "dynamic" (NTK-aware base growing past
 * max_position_embeddings), "llama3" (Llama 3.1's per-frequency interpolation) */
typedef enum { TTT_ROPE_NONE = 0, TTT_ROPE_LINEAR, TTT_ROPE_DYNAMIC, TTT_ROPE_LLAMA3 } ttt_rope_type;
typedef struct {
    ttt_rope_type type;
    double factor;                            /* linear, dynamic, llama3 */
    double low_freq_factor, high_freq_factor; /* llama3 */
    int64_t original_max_position_embeddings; /* llama3 */
} ttt_rope_scaling;

typedef struct {
    ttt_arch arch;
    int64_t vocab_size;          /* V (Mamba in mamba_ssm format: before padding) */
    int64_t hidden_size;         /* D */
    int64_t intermediate_size;   /* I: SwiGLU width (TTT, Llama); Mamba: d_inner = expand·D */
    int64_t num_hidden_layers;
    int64_t num_attention_heads; /* TTT: heads of the TTT layer (f = D / heads); Llama: query heads */
    double rms_norm_eps;         /* every RMSNorm (Mamba: layer_norm_epsilon) */
    double rope_theta;
    int tie_word_embeddings;
    int64_t max_position_embeddings; /* Llama: the longest context; informational for TTT */
    int64_t bos_token_id, eos_token_id, pad_token_id; /* -1 when absent/null */
    double initializer_range;
    char tokenizer[64];          /* the tokenizer the model was trained with ("llama2", "r50k_base",
                                    ...; "" if unknown); config.json field "ttt_tokenizer" */
    /* TTT fields (ttt.py TTTConfig) */
    ttt_inner_type ttt_layer_type;
    double ttt_base_lr;
    int64_t mini_batch_size;     /* b */
    int pre_conv, share_qk, use_gate;
    int64_t conv_kernel;         /* TTT and Mamba */
    int64_t scan_checkpoint_group_size; /* stored and written back; no effect on numbers */
    /* ablations of the paper's Table 1 (extensions of this project, false by default):
     * the lr gate held at zero (every token steps with η_base·σ(0)/f), and τ ≡ 1 instead of
     * max(0, 1/(i+1) + λ_i) */
    int ttt_fixed_lr_gate, ttt_unit_token_scale;
    /* Llama */
    int64_t num_key_value_heads; /* grouped key/value heads (= heads: plain multi-head) */
    int64_t head_dim;            /* width of a head (q_proj [heads·head_dim, D]); 0: D / heads */
    int attention_bias, mlp_bias; /* biases on q/k/v/o_proj; on gate/up/down_proj */
    ttt_rope_scaling rope_scaling;
    /* Mamba */
    int64_t state_size;          /* N */
    int64_t expand;
    int64_t time_step_rank;      /* R */
    int use_bias, use_conv_bias; /* bias on in_proj/out_proj; on conv1d */
    double time_step_min, time_step_max, time_step_floor; /* initialisation of dt */
    int mamba_ssm_format;        /* config and tensor names in mamba_ssm's original format */
    int64_t pad_vocab_size_multiple; /* mamba_ssm format: embedding rows padded to a multiple */
} ttt_config;

/* Rows of the embedding and width of the logits (vocab_size, or padded for mamba_ssm). */
int64_t ttt_config_vocab_rows(const ttt_config *cfg);
/* The longest sequence the family supports (the Transformer: max_position_embeddings); 0: no limit. */
int64_t ttt_config_max_context(const ttt_config *cfg);
/* Number of parameters (scalars) of a configuration, without allocating it. */
int64_t ttt_config_param_count(const ttt_config *cfg);

/* Parse and validate a config.json file. */
ttt_status ttt_config_load(const char *path, ttt_config *out);
/* Write config.json (atomically). */
ttt_status ttt_config_save(const ttt_config *cfg, const char *path);
/* Check a configuration for consistency (sizes > 0, divisibility, known types). */
ttt_status ttt_config_validate(const ttt_config *cfg, const char *origin);
/* Fill cfg from a preset name (see ttt_preset_name); TTT_ERR_ARG if unknown. */
ttt_status ttt_config_preset(const char *name, ttt_config *out);
/* Preset names, i = 0.. until NULL; desc receives a one-line description. */
const char *ttt_preset_name(int i, const char **desc);

/* ----------------------------------------------------------------------------------------- */
/* Models                                                                                     */

typedef struct ttt_model ttt_model;

typedef enum { TTT_PREC_F32 = 0, TTT_PREC_F64 = 1 } ttt_precision;
typedef enum { TTT_DTYPE_F32 = 0, TTT_DTYPE_F16 = 1, TTT_DTYPE_BF16 = 2, TTT_DTYPE_F64 = 3 } ttt_file_dtype;

typedef struct {
    ttt_precision precision; /* arithmetic of every computation (f64: for checking numbers) */
    int threads;             /* 0: OpenMP default */
    int remat_group;         /* backward: TTT mini-batches per recomputation group; 0: keep all */
    int reference_kernels;   /* 1: plain reference implementations everywhere */
    int bf16_weights;        /* 1: inference (ttt_forward, ttt_prefill*, ttt_decode_step) multiplies
                                by a bfloat16 copy of the weight matrices, activations rounded to
                                bf16, float32 accumulation (faster decode, logits within about
                                1e-2 relative; docs/gemm.md). ttt_forward_backward ignores it
                                (bf16_train is its counterpart). Float32 models only. The copy (half the size of the float32 parameters) is
                                made at the first such call and again after ttt_param_set or
                                training; code that writes the parameters otherwise calls
                                ttt_model_set_options to refresh it. */
    int bf16_train;          /* 1: bf16 mixed-precision training: ttt_forward_backward runs the
                                products of the linear layers (projections, MLPs, LM head;
                                forward, input and weight gradients) in bfloat16 with float32
                                accumulation. The master weights, the gradients (their sums over
                                micro-batches and processes), the optimizer, the TTT inner loop,
                                attention, the scans, the norms and the loss stay float32
                                (docs/design.md 5.4). Float32 models only.
                                The bf16 copy of the weights is made again at every call. */
    int copy_weights;        /* 1: ttt_model_load always copies the weights into memory of its
                                own. 0 (default): a single model.safetensors holding only float32
                                tensors is used in place from a private mapping of the file, for
                                a float32 model (pages load on first use, and writes, such as
                                training's, copy a page instead of reaching the file). */
} ttt_options;

void ttt_options_default(ttt_options *opt);

/* Load config.json + model.safetensors (or its shards) from a directory. */
ttt_status ttt_model_load(const char *dir, const ttt_options *opt, ttt_model **out);
/* Create a freshly initialised model (docs/design.md 3.4) from a configuration and a seed. */
ttt_status ttt_model_create(const ttt_config *cfg, uint64_t seed, const ttt_options *opt,
                            ttt_model **out);
/* Write config.json + model.safetensors into dir (created if missing), atomically per file. */
ttt_status ttt_model_save(const ttt_model *m, const char *dir, ttt_file_dtype dtype);
void ttt_model_free(ttt_model *m);
/* 1 if the model's parameters lie in a mapping of its weights file (see copy_weights) */
int ttt_model_in_place(const ttt_model *m);

const ttt_config *ttt_model_config(const ttt_model *m);
/* Change threads, recomputation group or kernels of a model (not its precision). */
ttt_status ttt_model_set_options(ttt_model *m, const ttt_options *opt);
void ttt_model_get_options(const ttt_model *m, ttt_options *opt);

/* The model's activation workspace grows to the largest batch × length it has run and is
 * reused. ttt_workspace_reserve grows it to `bytes` now and touches every page, so that the
 * cost of fresh memory is paid before a timed run (benchmarks). */
size_t ttt_workspace_bytes(const ttt_model *m);
ttt_status ttt_workspace_reserve(ttt_model *m, size_t bytes);

/* Parameters: the tensors of model.safetensors, in file-key order. */
int64_t ttt_param_count(const ttt_model *m);            /* number of tensors */
int64_t ttt_param_numel_total(const ttt_model *m);      /* number of scalars */
const char *ttt_param_name(const ttt_model *m, int64_t i);
int ttt_param_shape(const ttt_model *m, int64_t i, int64_t shape[8]); /* returns ndim */
int64_t ttt_param_find(const ttt_model *m, const char *name);         /* -1 if absent */
/* Copy parameter / gradient i out as float32 (n = its numel), or set a parameter from float32. */
void ttt_param_get(const ttt_model *m, int64_t i, float *dst);
void ttt_param_set(ttt_model *m, int64_t i, const float *src);
void ttt_grad_get(const ttt_model *m, int64_t i, float *dst);
/* The storage of parameter i (grad = 0) or of its gradient (grad = 1) itself, numel elements of
 * *elem_bytes bytes (4: float32 model, 8: float64), for zero-copy views (Python's
 * Model.parameters); NULL if i is out of range or no gradient was computed yet. Valid until the
 * model is freed. Code writing through it calls ttt_model_set_options (bf16 copy). */
const void *ttt_param_data(const ttt_model *m, int64_t i, int grad, int *elem_bytes);
/* sizeof of a public struct by its name ("ttt_config", "ttt_options", "ttt_train_opts",
 * "ttt_train_progress", "ttt_eval_result", "ttt_sampling", "ttt_tokfile", "ttt_text_stream",
 * "ttt_rope_scaling"), 0 if unknown: lets bindings check their mirrors of the structs */
size_t ttt_abi_sizeof(const char *type);
/* offsetof(type, field) for the fields bindings mirror (the same struct names), -1 if unknown */
int64_t ttt_abi_offsetof(const char *type, const char *field);

/* Full-sequence forward (dual form). ids: [B, L] row-major, each in [0, V).
 * logits (nullable): [B, L, V]. loss (nullable): mean next-token cross-entropy over all
 * B*(L-1) positions (0 when L = 1). */
ttt_status ttt_forward(ttt_model *m, const int32_t *ids, int64_t B, int64_t L, float *logits,
                       double *loss);

/* Inner-loop diagnostics of a TTT model (the paper's Figure 4): for every layer and every
 * mini-batch index m along the sequence, at the mini-batch's last token, the reconstruction
 * loss (mean squared error per element) at W0, at the weights the mini-batch started from and
 * after its update, averaged over the B sequences and the heads:
 * stats[(layer · nmb + m) · 3 + {0, 1, 2}], nmb = ceil(L / mini_batch_size). */
ttt_status ttt_forward_ttt_stats(ttt_model *m, const int32_t *ids, int64_t B, int64_t L, double *stats);

/* Residual stream after each block, from the last ttt_forward call (i = 0: embedding output,
 * i = 1..layers); copies [B, L, D] floats. TTT_ERR_ARG if not available. */
ttt_status ttt_hidden_state(const ttt_model *m, int64_t i, float *dst);
/* Ask ttt_forward to keep the residual stream of every block (for ttt_hidden_state). */
void ttt_keep_hidden_states(ttt_model *m, int keep);

/* Training: zero the gradient buffers, then forward + backward, accumulating
 * grad_scale * d loss / d params into them (ttt_grad_get reads them).
 * targets: [B, L], the token each position should predict, or -1 to leave the position out;
 * NULL means ids shifted by one (the loss of ttt_forward). per_sequence_mean = 0: the loss is
 * the mean NLL over all counted targets; 1: the mean over sequences of each sequence's mean
 * NLL over its counted targets (sequences with none count as 0). */
ttt_status ttt_zero_grad(ttt_model *m);
ttt_status ttt_forward_backward(ttt_model *m, const int32_t *ids, const int32_t *targets,
                                int64_t B, int64_t L, int per_sequence_mean, double grad_scale,
                                double *loss);

/* ----------------------------------------------------------------------------------------- */
/* Recurrent decoding                                                                         */

typedef struct ttt_cache ttt_cache;

/* A cache for B sequences: per layer the inner weights at the start of the current
 * mini-batch, the running step-weighted gradient sums and the convolution histories.
 * Its size does not depend on the context length. */
ttt_status ttt_cache_create(ttt_model *m, int64_t B, ttt_cache **out);
void ttt_cache_reset(ttt_cache *c);
void ttt_cache_free(ttt_cache *c);
int64_t ttt_cache_position(const ttt_cache *c); /* tokens processed so far */
size_t ttt_cache_bytes(const ttt_cache *c);

/* Feed L tokens per sequence (ids [B, L]) through the cache: whole mini-batches in dual form,
 * the rest in primal form. logits (nullable): [B, L, V]. */
ttt_status ttt_prefill(ttt_model *m, ttt_cache *c, const int32_t *ids, int64_t L, float *logits);
/* The same, but logits (nullable) only at each sequence's last position: [B, V]. */
ttt_status ttt_prefill_last(ttt_model *m, ttt_cache *c, const int32_t *ids, int64_t L, float *logits);
/* One token per sequence (ids [B]); logits (nullable): [B, V]. */
ttt_status ttt_decode_step(ttt_model *m, ttt_cache *c, const int32_t *ids, float *logits);

#ifdef __cplusplus
}
#endif
#endif
