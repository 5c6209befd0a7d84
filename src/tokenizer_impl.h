/* Private to src/tokenizer*.c: the tokenizer's tables and pipeline, as read
 * from a tokenizer.json or a GGUF. The pipeline follows Hugging Face
 * `tokenizers`: added tokens are split out of the raw text, each remaining
 * segment is normalized, pre-tokenized into pieces, and each piece is run
 * through the BPE model; a post-processor template adds BOS/EOS. */
#ifndef GRT_TOKENIZER_IMPL_H
#define GRT_TOKENIZER_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "tokenizer.h"

typedef struct cJSON cJSON;

/* ------------------------------------------------------------ small helpers */

/* A growable byte buffer. */
typedef struct tk_buf {
    char *p;
    size_t n, cap;
} tk_buf;
bool tk_buf_reserve(tk_buf *b, size_t extra);
bool tk_buf_put(tk_buf *b, const void *s, size_t n);
void tk_buf_free(tk_buf *b);

/* A growable id vector. */
typedef struct tk_ids {
    int32_t *p;
    size_t n, cap;
} tk_ids;
bool tk_ids_push(tk_ids *v, int32_t id);

/* UTF-8: length of the character starting with byte c (1 for invalid lead
 * bytes, so scanning always advances). */
static inline int tk_utf8_len(unsigned char c) {
    return c < 0x80 ? 1 : c < 0xE0 ? (c < 0xC0 ? 1 : 2) : c < 0xF0 ? 3 : c < 0xF8 ? 4 : 1;
}
/* Decode one code point from valid UTF-8; *n gets its byte length. */
uint32_t tk_utf8_decode(const char *s, size_t len, int *n);
int tk_utf8_encode(uint32_t cp, char *out);
/* Rust's String::from_utf8_lossy: each maximal invalid subpart becomes
 * U+FFFD. Appends to out. */
bool tk_utf8_lossy(const char *s, size_t len, tk_buf *out);
/* Length of the longest prefix of s[len] that is valid UTF-8. */
size_t tk_utf8_valid_prefix(const char *s, size_t len);
/* Rust char::is_whitespace (Unicode White_Space). */
bool tk_is_space_cp(uint32_t cp);

/* GPT-2's byte <-> printable-character mapping used by ByteLevel. */
extern const uint16_t tk_byte_to_cp[256];
/* Code point -> byte, or -1 when cp is not in the mapping. */
int tk_cp_to_byte(uint32_t cp);

/* ------------------------------------------------------------ hash tables */

/* String -> id, open addressing; keys point into the vocabulary's pool. */
typedef struct tk_strmap {
    uint64_t *slot; /* (cap) low 32 bits: id + 1, 0 = empty; high: hash tag */
    size_t cap, n;
} tk_strmap;

/* (left id, right id) -> (rank, merged id). */
typedef struct tk_merge {
    uint64_t key;  /* left << 32 | right; UINT64_MAX = empty */
    uint32_t rank;
    int32_t id;
} tk_merge;
typedef struct tk_mergemap {
    tk_merge *slot; /* (cap) */
    size_t cap, n;
} tk_mergemap;

uint64_t tk_hash(const void *s, size_t n);

/* ------------------------------------------------------------ vocabulary */

enum { TK_TYPE_NORMAL = 1, TK_TYPE_UNKNOWN = 2, TK_TYPE_CONTROL = 3,
       TK_TYPE_USER = 4, TK_TYPE_UNUSED = 5, TK_TYPE_BYTE = 6 };

typedef struct tk_added {
    int32_t id;
    uint32_t off, len;   /* content in the pool */
    bool special, lstrip, rstrip, normalized, single_word;
} tk_added;

/* Literal matcher for added tokens: leftmost-longest over a set. */
typedef struct tk_matcher {
    uint8_t first[256];  /* byte can start a pattern */
    uint32_t *lens;      /* (n_lens) distinct pattern lengths, descending */
    int n_lens;
    tk_strmap map;       /* pattern -> index into pats */
    uint32_t *pat_off, *pat_len; /* (n) patterns in the matcher's pool */
    int32_t *pat_added;  /* (n) index into tok->added */
    int n;
    tk_buf pool;
} tk_matcher;

/* ------------------------------------------------------------ pipeline */

typedef enum { TK_NORM_NFC, TK_NORM_NFD, TK_NORM_NFKC, TK_NORM_NFKD, TK_NORM_PREPEND,
               TK_NORM_REPLACE, TK_NORM_LOWERCASE, TK_NORM_STRIP } tk_norm_kind;
typedef struct tk_norm {
    tk_norm_kind kind;
    char *str;  size_t str_len;   /* prepend text / replace content */
    char *pat;  size_t pat_len;   /* replace: literal pattern, or NULL with re */
    pcre2_code *re;               /* replace: regex pattern */
    bool left, right;             /* strip */
} tk_norm;

typedef enum { TK_SPLIT_REMOVED, TK_SPLIT_ISOLATED, TK_SPLIT_MERGED_PREV,
               TK_SPLIT_MERGED_NEXT, TK_SPLIT_CONTIGUOUS } tk_split_behavior;
typedef enum { TK_PRE_SPLIT, TK_PRE_BYTELEVEL, TK_PRE_METASPACE, TK_PRE_DIGITS } tk_pre_kind;
typedef enum { TK_PREPEND_ALWAYS, TK_PREPEND_FIRST, TK_PREPEND_NEVER } tk_prepend;
typedef struct tk_pre {
    tk_pre_kind kind;
    pcre2_code *re;            /* split (also ByteLevel with use_regex) */
    char *pattern;             /* split: the regex text (NULL for a literal) */
    tk_split_behavior behavior;
    bool invert;
    bool add_prefix_space;     /* byte-level */
    char repl[8]; int repl_len; /* metaspace replacement character */
    tk_prepend prepend;        /* metaspace */
    bool split;                /* metaspace: split on the replacement */
    bool individual;           /* digits */
} tk_pre;

typedef enum { TK_DEC_REPLACE, TK_DEC_BYTEFALLBACK, TK_DEC_FUSE, TK_DEC_STRIP,
               TK_DEC_BYTELEVEL, TK_DEC_METASPACE } tk_dec_kind;
typedef struct tk_dec {
    tk_dec_kind kind;
    char *pat; size_t pat_len;   /* replace */
    char *str; size_t str_len;   /* replace content */
    uint32_t strip_cp; int start, stop; /* strip */
    char repl[8]; int repl_len;  /* metaspace */
    tk_prepend prepend;
} tk_dec;

typedef enum { TK_BYTELEVEL = 0, TK_SENTENCEPIECE = 1 } tk_kind;

struct grt_tokenizer {
    tk_kind kind;
    char *source;             /* path it came from, for messages */

    /* vocabulary: ids 0..n_vocab-1; holes have len = UINT32_MAX */
    int n_vocab;
    uint32_t *tok_off, *tok_len; /* (n_vocab) token text as stored (mapped form) */
    float *score;                /* (n_vocab) */
    uint8_t *type;               /* (n_vocab) TK_TYPE_* */
    tk_buf pool;                 /* token and added-token texts */
    tk_strmap vocab;             /* model vocabulary: text -> id */
    int n_model;                 /* tokens in the model vocabulary (not added) */

    /* BPE model */
    tk_mergemap merges;
    uint32_t n_merges;
    int32_t byte_sym[256];       /* bytelevel: id of each byte's symbol;
                                    byte_fallback: id of <0xNN>; -1 none */
    int32_t unk_id;              /* -1 none */
    bool byte_fallback, fuse_unk, ignore_merges;

    /* added tokens */
    tk_added *added; int n_added;
    tk_matcher match_raw, match_norm; /* non-normalized / normalized contents */

    /* pipeline */
    tk_norm *norm; int n_norm;
    tk_pre *pre; int n_pre;
    tk_dec *dec; int n_dec;
    bool has_decoder;
    int32_t *prefix_ids; int n_prefix;  /* post-processor: before the sequence */
    int32_t *suffix_ids; int n_suffix;  /* after it */

    /* tokenizer_config.json / GGUF flags */
    int32_t bos_id, pad_id;
    int32_t *eos_ids; int n_eos;
    bool add_bos, add_eos;      /* as declared (informational; the template rules) */
    char *chat_template;

    /* The JSON of the pipeline sections, kept so a GGUF round trip is exact. */
    char *json_normalizer, *json_pre, *json_post, *json_decoder, *json_added, *json_model_opts;
    char *gguf_pre_name;        /* llama.cpp's pre-tokenizer name */
};

/* ------------------------------------------------------------ internal API */

grt_status tk_new(const char *source, grt_tokenizer **out);

/* Vocabulary building: call tk_vocab_init(n) then set each id. */
grt_status tk_vocab_init(grt_tokenizer *t, int n_vocab);
grt_status tk_vocab_set(grt_tokenizer *t, int32_t id, const char *s, size_t len, float score,
                        int type);
/* Rebuild the text -> id map from every id that has a text. */
grt_status tk_vocab_index(grt_tokenizer *t);
/* Add one id's (new) text to the map; an existing equal text keeps its id. */
grt_status tk_vocab_index_add(grt_tokenizer *t, int32_t id);
int32_t tk_vocab_find(const grt_tokenizer *t, const char *s, size_t len);
grt_status tk_merge_add(grt_tokenizer *t, int32_t a, int32_t b, int32_t merged, uint32_t rank);
const tk_merge *tk_merge_find(const grt_tokenizer *t, int32_t a, int32_t b);
/* After vocab and pipeline are set: byte symbols, added-token matchers. */
grt_status tk_finish(grt_tokenizer *t);
/* grt_tokenizer_to_gguf, optionally without the tokenizer.genrt.* keys
 * (what a llama.cpp converter would write; used by the tests). */
grt_status tk_to_gguf(const grt_tokenizer *t, grt_gguf_writer *w, bool genrt_keys);

/* Pipeline sections from JSON (shared by the tokenizer.json and GGUF
 * loaders). `file` names the source for messages. */
grt_status tk_parse_normalizer(grt_tokenizer *t, const cJSON *j, const char *file);
grt_status tk_parse_pre_tokenizer(grt_tokenizer *t, const cJSON *j, const char *file);
grt_status tk_parse_post_processor(grt_tokenizer *t, const cJSON *j, const char *file);
grt_status tk_parse_decoder(grt_tokenizer *t, const cJSON *j, const char *file);
grt_status tk_parse_added_tokens(grt_tokenizer *t, const cJSON *j, const char *file);
grt_status tk_parse_model_options(grt_tokenizer *t, const cJSON *model, const char *file);
/* Keep a printed copy of the section in *dst (NULL for a JSON null/absent). */
grt_status tk_keep_json(char **dst, const cJSON *j);
pcre2_code *tk_regex_compile(const char *pat, size_t len, bool literal, const char *file,
                             const char *field);

/* BPE over one piece (normalized, pre-tokenized): appends ids. */
grt_status tk_bpe_piece(const grt_tokenizer *t, const char *s, size_t len, tk_ids *out,
                        void *cache);
void *tk_cache_new(void);
void tk_cache_free(void *cache);

/* Normalize s into out (replacing its contents). */
grt_status tk_normalize(const grt_tokenizer *t, const char *s, size_t len, tk_buf *out);

/* The regexes llama.cpp uses for its pre-tokenizer names; NULL if unknown.
 * *n_out gets the number of regexes (applied in sequence as Isolated splits). */
const char *const *tk_pre_regexes(const char *name, int *n_out);
/* The llama.cpp name whose regex list equals the given, or NULL. */
const char *tk_pre_name_for(const char *const *regexes, int n);

/* GPT-2's regex, used by ByteLevel with use_regex = true. */
extern const char tk_gpt2_regex[];

#endif
