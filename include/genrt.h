/* genrt — text generation with decoder-only language models, with the whole
 * token loop on the device.
 *
 * This header is the manual. Conventions that hold for every function:
 *  - Functions that can fail return a grt_status; on failure a message naming
 *    the file, field, option or value at fault is kept per thread and read
 *    with grt_last_error(). GRT_OK is 0.
 *  - Constructors take `T **out`, set *out = NULL on failure, and release any
 *    partial state themselves. Every *_free accepts NULL.
 *  - Token ids are int32_t. Text is UTF-8 bytes with an explicit length.
 *  - Nothing here calls exit() or abort() on bad input.
 */
#ifndef GENRT_H
#define GENRT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- errors */

typedef enum grt_status {
    GRT_OK = 0,
    GRT_ERR_INVALID_ARG,  /* an option or argument out of its domain */
    GRT_ERR_IO,           /* a file could not be opened, read, mapped or written */
    GRT_ERR_FORMAT,       /* a file is corrupt, truncated or inconsistent */
    GRT_ERR_UNSUPPORTED,  /* valid input this build cannot handle (arch, dtype) */
    GRT_ERR_NO_MEMORY,    /* host or device allocation failed */
    GRT_ERR_NO_DEVICE,    /* the requested device is missing or unavailable */
    GRT_ERR_DEVICE,       /* the device reported an error (sticky per generator) */
    GRT_ERR_RANGE,        /* an id outside the vocabulary, a prompt past the context */
    GRT_ERR_INTERNAL,
} grt_status;

/* The message of the last failure on this thread; never NULL ("" if none).
 * Valid until the next genrt call on this thread. */
const char *grt_last_error(void);
/* A fixed name for a status ("invalid argument", ...). */
const char *grt_status_str(grt_status s);

/* ---------------------------------------------------------------- devices */

/* Device names: "cpu", "cuda", "webgpu". grt_device_available says whether
 * this build and machine can run `name`; when not, it returns false and, if
 * why != NULL, points *why at a static or thread-local reason. */
bool grt_device_available(const char *name, const char **why);

/* ---------------------------------------------------------------- models */

typedef struct grt_model grt_model;
typedef struct grt_tokenizer grt_tokenizer;
typedef struct grt_generator grt_generator;

typedef struct grt_model_options {
    const char *device;     /* "cpu" (default when NULL), "cuda", "webgpu" */
    int n_threads;          /* CPU worker threads; 0 = all cores */
    bool random_weights;    /* path may be a bare config.json: weights are
                               filled with deterministic noise (benchmarks) */
    const char *random_dtype; /* with random_weights: "f32","f16","bf16",
                               "q8_0","q4_0"; NULL = bf16 */
} grt_model_options;

/* Zero options with defaults filled in. */
grt_model_options grt_model_options_default(void);

/* Load a model: a Hugging Face directory (config.json, model.safetensors or a
 * sharded model.safetensors.index.json, generation_config.json and
 * tokenizer.json when present) or one .gguf file. Weight files are mapped,
 * not read; the mapping lives until grt_model_free. opts may be NULL. */
grt_status grt_model_load(const char *path, const grt_model_options *opts,
                          grt_model **out);
void grt_model_free(grt_model *model);

typedef struct grt_model_info {
    const char *arch;        /* HF model_type: "llama", "qwen3", ... */
    const char *format;      /* "safetensors" or "gguf" */
    const char *device;      /* the device the weights live on */
    const char *weight_type; /* dominant matrix type: "f32","bf16","q4_0",... */
    int n_vocab, n_embd, n_layers, n_heads, n_kv_heads, head_dim, n_ff;
    int rot_dim;             /* rotary dims per head (partial rotary < head_dim) */
    int max_position;        /* trained context length */
    int sliding_window;      /* 0 = none */
    bool tied_embeddings;
    float rope_theta;
    const char *rope_scaling; /* "none", "llama3", "linear" */
    int n_eos;
    const int32_t *eos_ids;  /* EOS ids, n_eos of them (owned by the model) */
    int32_t bos_id;          /* -1 if none */
    uint64_t n_params;
    uint64_t weight_bytes;   /* bytes of all weights as stored on the device */
    uint64_t bytes_per_token;/* weight bytes read by one decode step */
    const char *tokenizer;   /* "none", "bpe-bytelevel", "bpe-sentencepiece" */
} grt_model_info;

/* Fills *info; the strings and arrays are owned by the model. */
void grt_model_get_info(const grt_model *model, grt_model_info *info);

/* Bytes needed for a KV cache of (n_seqs, max_context) on the model's device. */
uint64_t grt_model_kv_bytes(const grt_model *model, int n_seqs, int max_context);

/* The model's tokenizer, or NULL when the model came without one. Owned by
 * the model. */
const grt_tokenizer *grt_model_tokenizer(const grt_model *model);

/* Logits for every position of ids (a single sequence, eager), written to
 * logits[n_ids * n_vocab], row-major. Blocks until done. */
grt_status grt_model_eval(grt_model *model, const int32_t *ids, size_t n_ids,
                          float *logits);

/* ---------------------------------------------------------------- tokenizer */

/* Load a tokenizer from a model directory, a tokenizer.json, or a .gguf. */
grt_status grt_tokenizer_load(const char *path, grt_tokenizer **out);
void grt_tokenizer_free(grt_tokenizer *tok);

/* Encode text[len] to the ids Hugging Face `tokenizers` gives, and the same
 * from a tokenizer.json or a GGUF. add_special = Hugging Face's
 * add_special_tokens (the post-processor's BOS/EOS template); added and
 * special tokens written in the text are always matched. *ids is malloc'ed
 * (also when *n_ids is 0); caller frees. Thread-safe on a shared tok.
 * Invalid UTF-8 never fails: the text is first decoded lossily, each maximal
 * invalid subsequence becoming one U+FFFD (Rust's String::from_utf8_lossy,
 * Python's errors="replace"), so the ids are those Hugging Face gives for
 * that decoded string. */
grt_status grt_tokenizer_encode(const grt_tokenizer *tok, const char *text,
                                size_t len, bool add_special, int32_t **ids,
                                size_t *n_ids);
/* Decode ids to text (malloc'ed, NUL-terminated, *len without the NUL).
 * Special tokens are kept. An id outside the vocabulary is GRT_ERR_RANGE. */
grt_status grt_tokenizer_decode(const grt_tokenizer *tok, const int32_t *ids,
                                size_t n_ids, char **text, size_t *len);
int grt_tokenizer_vocab_size(const grt_tokenizer *tok);
int32_t grt_tokenizer_bos(const grt_tokenizer *tok);   /* -1 if none */
int grt_tokenizer_eos(const grt_tokenizer *tok, const int32_t **ids); /* count */

/* Streaming decode: feed ids one at a time; out receives the bytes that are
 * now final (never a partial UTF-8 sequence). The concatenation of all
 * outputs plus grt_detok_flush equals grt_tokenizer_decode of all ids. */
typedef struct grt_detok grt_detok;
grt_status grt_detok_new(const grt_tokenizer *tok, grt_detok **out);
grt_status grt_detok_push(grt_detok *d, int32_t id, const char **out, size_t *len);
grt_status grt_detok_flush(grt_detok *d, const char **out, size_t *len);
void grt_detok_free(grt_detok *d);

/* ---------------------------------------------------------------- generation */

typedef struct grt_sampler_params {
    float temperature;     /* 0 = greedy (argmax) */
    int top_k;             /* 0 = off */
    float top_p;           /* 1 = off; in (0, 1] */
    float min_p;           /* 0 = off; in [0, 1) */
    float repeat_penalty;  /* 1 = off; > 0 */
    int repeat_last_n;     /* tokens of history the penalty looks at; -1 = all */
    uint64_t seed;         /* same seed, same tokens */
} grt_sampler_params;

typedef struct grt_gen_params {
    grt_sampler_params sampler;
    int n_seqs;            /* sequences generated together (batch); 1 */
    int max_new_tokens;    /* > 0 */
    int max_context;       /* KV cache length; 0 = model's trained length */
    bool ignore_eos;       /* generate max_new_tokens regardless (benchmarks) */
    const char *const *stop_strings; /* n_stop strings ending generation */
    int n_stop;
    int prefill_chunk;     /* tokens per prefill pass; 0 = default (512) */
    int readback_every;    /* read the token ring every K steps; 0/1 = every */
    int graph_capture;     /* 1 on (default), 0 off; GENRT_GRAPH_CAPTURE=0 in the
                              environment turns it off too */
    int steps_per_submit;  /* decode steps per queue submission (one fence per
                              group); 0/1 = every step; at most 16 */
    int read_immediate;    /* 1: read each token right after its step is submitted,
                              waiting on it (a latency probe; slower); 0 = read
                              one step behind (default) */
} grt_gen_params;

grt_gen_params grt_gen_params_default(void);

/* Validate params against the model (names the offending field). */
grt_status grt_gen_params_check(const grt_model *model, const grt_gen_params *p);

/* Allocates every buffer the loop needs (KV cache, activations, logits, the
 * token ring, step state) for (n_seqs, max_context) once. The model must
 * outlive the generator. */
grt_status grt_generator_new(grt_model *model, const grt_gen_params *params,
                             grt_generator **out);
void grt_generator_free(grt_generator *gen);

/* Set the prompt of sequence `seq` and run its prefill (eager). Ids are
 * checked against the vocabulary; a prompt that leaves no room in the context
 * is GRT_ERR_RANGE. */
grt_status grt_generator_prefill(grt_generator *gen, int seq, const int32_t *ids,
                                 size_t n_ids);

typedef enum grt_stop_reason {
    GRT_STOP_NONE = 0,     /* still running */
    GRT_STOP_EOS,
    GRT_STOP_STRING,
    GRT_STOP_MAX_TOKENS,
    GRT_STOP_CONTEXT,      /* the KV cache is full */
    GRT_STOP_ERROR,
} grt_stop_reason;

/* Advance the loop: enqueue decode steps and return tokens that are ready.
 * seqs may be NULL (batch 1); cap must be at least n_seqs.
 * Writes up to cap (seq, token) pairs; returns how many in *n. Sets *done when
 * every sequence has stopped. Tokens past a stop (EOS, stop string) are never
 * returned. The host reads token t only after step t+1 is enqueued; only
 * the final call waits for the queue to drain. */
grt_status grt_generator_next(grt_generator *gen, int *seqs, int32_t *tokens,
                              size_t cap, size_t *n, bool *done);

grt_stop_reason grt_generator_stop_reason(const grt_generator *gen, int seq);
const char *grt_stop_reason_str(grt_stop_reason r);

typedef struct grt_gen_stats {
    int n_prompt;          /* prompt tokens processed */
    int n_decoded;         /* tokens returned */
    int n_steps;           /* decode steps enqueued (includes discarded ones) */
    double load_ms;
    double prefill_ms;
    double decode_ms;      /* first decode step enqueued .. last token read */
    double host_us_per_step;  /* host time spent enqueuing a step */
    int blocking_waits;    /* waits on the queue during decode */
    bool captured;         /* the decode loop replayed a captured step */
    double token_latency_us;  /* mean, submit of a token's step .. token read */
} grt_gen_stats;

void grt_generator_stats(const grt_generator *gen, grt_gen_stats *stats);

/* ---------------------------------------------------------------- tracing */

/* Start recording spans (load, prefill, each decode step on host and device,
 * token readback) for the whole process; grt_trace_stop writes them to path
 * as Chrome trace-event JSON (opens in Perfetto). Not thread-safe against
 * concurrent generators. */
grt_status grt_trace_start(const char *path);
grt_status grt_trace_stop(void);

/* ---------------------------------------------------------------- convert */

/* Write a GGUF from a Hugging Face directory (or re-type a GGUF). type is one
 * of "f32","f16","bf16","q8_0","q4_0"; NULL keeps stored types. Norms and
 * biases stay f32. The tokenizer goes in when the source has one. */
grt_status grt_convert(const char *src_path, const char *dst_gguf, const char *type);

#ifdef __cplusplus
}
#endif
#endif /* GENRT_H */
