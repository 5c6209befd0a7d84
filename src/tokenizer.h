/* Tokenizer internals shared with the loaders and the converter. The public
 * API (load, encode, decode, streaming) is in genrt.h. */
#ifndef GRT_TOKENIZER_H
#define GRT_TOKENIZER_H

#include "genrt.h"
#include "gguf.h"

/* Load from a tokenizer.json path (tokenizer_config.json beside it is read
 * when present). */
grt_status grt_tokenizer_from_json(const char *path, grt_tokenizer **out);
/* Load the tokenizer stored in a GGUF (tokenizer.ggml.* keys). */
grt_status grt_tokenizer_from_gguf(const grt_gguf *g, grt_tokenizer **out);
/* Write the tokenizer.ggml.* keys for tok, so grt_tokenizer_from_gguf gives
 * the same ids as tok. */
grt_status grt_tokenizer_to_gguf(const grt_tokenizer *tok, grt_gguf_writer *w);
/* "bpe-bytelevel" or "bpe-sentencepiece". */
const char *grt_tokenizer_kind(const grt_tokenizer *tok);

#endif
