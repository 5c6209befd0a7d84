/* Model sources: a Hugging Face directory or a GGUF file, presented the same
 * way: a config and named weights, memory-mapped.
 *
 * Names are GGUF's (llama.cpp's): token_embd.weight, output_norm.weight,
 * output.weight, blk.N.{attn_norm, attn_q, attn_k, attn_v, attn_qkv,
 * attn_output, attn_q_norm, attn_k_norm, ffn_norm, ffn_gate, ffn_up,
 * ffn_down}.{weight,bias}. HF tensors are renamed on open. Fused Phi-3
 * tensors keep their fused names (attn_qkv; ffn_up holds gate then up, 2*n_ff
 * rows), as llama.cpp stores them.
 *
 * Values are GGUF's too: Gemma norm weights already hold 1 + w. One
 * difference is recorded rather than undone: llama.cpp's converter permutes
 * the rows of Q and K for the llama architecture (so RoPE pairs adjacent
 * dims); config.rope_interleaved says whether the weights are in that order.
 * 1-D tensors (norms, biases) are always f32 (converted on open if stored
 * otherwise). Matrices keep their stored type. */
#ifndef GRT_WEIGHTS_H
#define GRT_WEIGHTS_H

#include <stdbool.h>
#include <stdint.h>

#include "device/device.h"
#include "dtype.h"
#include "genrt.h"
#include "gguf.h"

#define GRT_MAX_EOS 8

typedef enum grt_rope_scaling {
    GRT_ROPE_SCALING_NONE = 0,
    GRT_ROPE_SCALING_LINEAR,
    GRT_ROPE_SCALING_LLAMA3,
} grt_rope_scaling;

typedef struct grt_config {
    char arch[32];          /* HF model_type: llama mistral qwen2 qwen3 phi3 gemma */
    int n_vocab, n_embd, n_layers, n_heads, n_kv_heads, head_dim, n_ff;
    int rot_dim;            /* rotary dims per head (phi3 partial_rotary_factor) */
    float rope_theta;
    grt_rope_scaling rope_scaling;
    float rope_factor;      /* linear and llama3 */
    float rope_low_freq_factor, rope_high_freq_factor;  /* llama3 */
    int rope_orig_max_pos;  /* llama3 original_max_position_embeddings */
    bool rope_interleaved;  /* Q/K rows in llama.cpp's permuted order */
    bool rope_freqs_tensor; /* GGUF llama3 RoPE: weight "rope_freqs.weight" [rot_dim/2]
                               holds per-frequency divisors (llama.cpp's freq_factors:
                               theta_i = pos * theta^(-2i/rot_dim) / rope_freqs[i]);
                               rope_scaling is NONE then */
    float norm_eps;
    bool qkv_bias;          /* qwen2, attention_bias: q/k/v biases (attn_output.bias too
                               when the file has one) */
    bool qk_norm;           /* qwen3: RMSNorm over each head of q and k */
    bool fused_qkv;         /* phi3: attn_qkv */
    bool fused_gate_up;     /* phi3: ffn_up holds gate and up */
    int sliding_window;     /* 0 = none */
    bool tied_embeddings;   /* no output.weight: logits use token_embd */
    grt_act act;
    float embed_scale;      /* 1, or sqrt(n_embd) for gemma */
    float attn_scale;       /* 1 / sqrt(head_dim) unless the config says */
    int max_position;
    int32_t bos_id;         /* -1 if none */
    int n_eos;
    int32_t eos_ids[GRT_MAX_EOS];
} grt_config;

typedef struct grt_weight {
    const char *name;
    grt_dtype type;
    int n_dims;
    int64_t ne[4];          /* outermost first: a matrix is {n_out, n_in} */
    const void *data;       /* mapped (or owned by the grt_weights) */
    size_t nbytes;
} grt_weight;

typedef struct grt_weights grt_weights;

/* Open a HF directory, a config.json's directory, or a .gguf. Validates the
 * config (required fields, sizes, supported arch: names them on failure) and
 * every tensor the architecture needs (presence, type, shape). */
grt_status grt_weights_open(const char *path, grt_weights **out);

/* Deterministic noise weights of `type` for the config at path (a config.json
 * or a directory holding one): for benchmarks; no weight file is read. */
grt_status grt_weights_random(const char *path, grt_dtype type, grt_weights **out);

void grt_weights_free(grt_weights *w);

const grt_config *grt_weights_config(const grt_weights *w);
const char *grt_weights_format(const grt_weights *w);  /* "gguf", "safetensors", "random" */
const char *grt_weights_path(const grt_weights *w);
/* The GGUF behind w, or NULL (for tokenizer loading). */
const grt_gguf *grt_weights_gguf(const grt_weights *w);
/* The HF directory behind w, or NULL. */
const char *grt_weights_dir(const grt_weights *w);

/* A weight by GGUF name, or NULL. */
const grt_weight *grt_weights_get(const grt_weights *w, const char *name);
int grt_weights_count(const grt_weights *w);
const grt_weight *grt_weights_at(const grt_weights *w, int i);

/* Parse a HF config.json (+ generation_config.json beside it, if present)
 * into cfg. Errors name the file and field; unsupported model_type names the
 * supported ones. */
grt_status grt_config_from_hf(const char *config_json_path, grt_config *cfg);
/* Read the config from GGUF metadata ("general.architecture" and
 * "<arch>.*" keys as llama.cpp writes them). */
grt_status grt_config_from_gguf(const grt_gguf *g, grt_config *cfg);

#endif
