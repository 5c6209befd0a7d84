/* Vocabulary and merge tables, and the BPE merge loop.
 *
 * The merge loop reproduces Hugging Face's BPE: starting from one symbol per
 * byte (byte-level) or per character (SentencePiece-style, with <0xNN> byte
 * fallback or <unk>), repeatedly merge the adjacent pair of lowest merge
 * rank, the leftmost one on ties, until no adjacent pair has a merge. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "tokenizer_impl.h"

/* ------------------------------------------------------------ buffers */

bool tk_buf_reserve(tk_buf *b, size_t extra) {
    if (b->n + extra <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + extra) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        grt_fail(GRT_ERR_NO_MEMORY, "out of host memory (%zu bytes)", cap);
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

bool tk_buf_put(tk_buf *b, const void *s, size_t n) {
    if (!tk_buf_reserve(b, n + 1)) return false;
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return true;
}

void tk_buf_free(tk_buf *b) {
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

bool tk_ids_push(tk_ids *v, int32_t id) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        int32_t *p = realloc(v->p, cap * sizeof *p);
        if (!p) {
            grt_fail(GRT_ERR_NO_MEMORY, "out of host memory (%zu ids)", cap);
            return false;
        }
        v->p = p;
        v->cap = cap;
    }
    v->p[v->n++] = id;
    return true;
}

/* ------------------------------------------------------------ hashing */

static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

uint64_t tk_hash(const void *p, size_t n) {
    const unsigned char *s = p;
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (n * 0x100000001b3ULL);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ mix64(w)) * 0x9fb21c651e98df25ULL;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    h = (h ^ mix64(w ^ (n << 56))) * 0x9fb21c651e98df25ULL;
    return h ^ (h >> 29);
}

/* String maps store ids; the key of id i is fetched by a getter. */
typedef struct {
    const char *pool;
    const uint32_t *off, *len;
} keysrc;

static grt_status strmap_init(tk_strmap *m, size_t n_expected) {
    size_t cap = 16;
    while (cap < n_expected * 2) cap *= 2;
    m->slot = calloc(cap, sizeof *m->slot);
    if (!m->slot) return grt_fail(GRT_ERR_NO_MEMORY, "out of host memory (hash table)");
    m->cap = cap;
    m->n = 0;
    return GRT_OK;
}

static int32_t strmap_find(const tk_strmap *m, keysrc k, const char *s, size_t len) {
    if (!m->cap) return -1;
    uint64_t h = tk_hash(s, len);
    uint64_t tag = h >> 32;
    size_t mask = m->cap - 1, i = h & mask;
    for (;;) {
        uint64_t v = m->slot[i];
        if (!v) return -1;
        uint32_t id = (uint32_t)v - 1;
        if (v >> 32 == tag && k.len[id] == len && memcmp(k.pool + k.off[id], s, len) == 0) return (int32_t)id;
        i = (i + 1) & mask;
    }
}

/* Insert id (its key from k); an existing equal key is replaced when
 * replace, else kept. */
static void strmap_put(tk_strmap *m, keysrc k, uint32_t id, bool replace) {
    const char *s = k.pool + k.off[id];
    size_t len = k.len[id];
    uint64_t h = tk_hash(s, len);
    uint64_t tag = h >> 32;
    size_t mask = m->cap - 1, i = h & mask;
    for (;;) {
        uint64_t v = m->slot[i];
        if (!v) {
            m->slot[i] = tag << 32 | (id + 1);
            m->n++;
            return;
        }
        uint32_t o = (uint32_t)v - 1;
        if (v >> 32 == tag && k.len[o] == len && memcmp(k.pool + k.off[o], s, len) == 0) {
            if (replace) m->slot[i] = tag << 32 | (id + 1);
            return;
        }
        i = (i + 1) & mask;
    }
}

/* ------------------------------------------------------------ vocabulary */

grt_status tk_vocab_init(grt_tokenizer *t, int n_vocab) {
    t->n_vocab = n_vocab;
    t->tok_off = malloc((size_t)n_vocab * sizeof *t->tok_off + 1);
    t->tok_len = malloc((size_t)n_vocab * sizeof *t->tok_len + 1);
    t->score = calloc((size_t)n_vocab + 1, sizeof *t->score);
    t->type = calloc((size_t)n_vocab + 1, 1);
    if (!t->tok_off || !t->tok_len || !t->score || !t->type)
        return grt_fail(GRT_ERR_NO_MEMORY, "out of host memory (vocabulary of %d)", n_vocab);
    for (int i = 0; i < n_vocab; i++) t->tok_len[i] = UINT32_MAX;
    return GRT_OK;
}

grt_status tk_vocab_set(grt_tokenizer *t, int32_t id, const char *s, size_t len, float score,
                        int type) {
    if (id < 0 || id >= t->n_vocab) return grt_fail(GRT_ERR_INTERNAL, "token id %d out of range", id);
    if (len >= UINT32_MAX) return grt_fail(GRT_ERR_FORMAT, "token %d is too long", id);
    size_t off = t->pool.n;
    if (off > UINT32_MAX - len) return grt_fail(GRT_ERR_UNSUPPORTED, "vocabulary text over 4 GiB");
    if (!tk_buf_put(&t->pool, s, len)) return GRT_ERR_NO_MEMORY;
    t->pool.n++; /* keep the NUL so every token text is a C string too */
    t->tok_off[id] = (uint32_t)off;
    t->tok_len[id] = (uint32_t)len;
    t->score[id] = score;
    t->type[id] = (uint8_t)type;
    return GRT_OK;
}

grt_status tk_vocab_index(grt_tokenizer *t) {
    free(t->vocab.slot);
    t->vocab.slot = NULL;
    grt_status st = strmap_init(&t->vocab, (size_t)t->n_vocab);
    if (st) return st;
    keysrc k = {t->pool.p, t->tok_off, t->tok_len};
    t->n_model = 0;
    /* A text held by two ids maps to the first, as Hugging Face's lookup
     * of the model vocabulary (ids below the added tokens) does. */
    for (int i = 0; i < t->n_vocab; i++) {
        if (t->tok_len[i] == UINT32_MAX) continue;
        strmap_put(&t->vocab, k, (uint32_t)i, false);
        t->n_model++;
    }
    return GRT_OK;
}

grt_status tk_vocab_index_add(grt_tokenizer *t, int32_t id) {
    if (!t->vocab.cap) return tk_vocab_index(t);
    keysrc k = {t->pool.p, t->tok_off, t->tok_len};
    strmap_put(&t->vocab, k, (uint32_t)id, false);
    return GRT_OK;
}

int32_t tk_vocab_find(const grt_tokenizer *t, const char *s, size_t len) {
    keysrc k = {t->pool.p, t->tok_off, t->tok_len};
    return strmap_find(&t->vocab, k, s, len);
}

/* ------------------------------------------------------------ merges */

static grt_status mergemap_grow(tk_mergemap *m) {
    size_t cap = m->cap ? m->cap * 2 : 1024;
    tk_merge *slot = malloc(cap * sizeof *slot);
    if (!slot) return grt_fail(GRT_ERR_NO_MEMORY, "out of host memory (merge table)");
    for (size_t i = 0; i < cap; i++) slot[i].key = UINT64_MAX;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slot[i].key == UINT64_MAX) continue;
        size_t j = mix64(m->slot[i].key) & (cap - 1);
        while (slot[j].key != UINT64_MAX) j = (j + 1) & (cap - 1);
        slot[j] = m->slot[i];
    }
    free(m->slot);
    m->slot = slot;
    m->cap = cap;
    return GRT_OK;
}

grt_status tk_merge_add(grt_tokenizer *t, int32_t a, int32_t b, int32_t merged, uint32_t rank) {
    tk_mergemap *m = &t->merges;
    if ((m->n + 1) * 2 > m->cap) {
        grt_status st = mergemap_grow(m);
        if (st) return st;
    }
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    size_t mask = m->cap - 1, i = mix64(key) & mask;
    while (m->slot[i].key != UINT64_MAX && m->slot[i].key != key) i = (i + 1) & mask;
    if (m->slot[i].key == UINT64_MAX) m->n++;
    /* A repeated pair keeps its last rank, as Hugging Face's map does. */
    m->slot[i].key = key;
    m->slot[i].rank = rank;
    m->slot[i].id = merged;
    return GRT_OK;
}

const tk_merge *tk_merge_find(const grt_tokenizer *t, int32_t a, int32_t b) {
    const tk_mergemap *m = &t->merges;
    if (!m->cap) return NULL;
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    size_t mask = m->cap - 1, i = mix64(key) & mask;
    for (;;) {
        const tk_merge *e = &m->slot[i];
        if (e->key == key) return e;
        if (e->key == UINT64_MAX) return NULL;
        i = (i + 1) & mask;
    }
}

/* ------------------------------------------------------------ word cache */

/* Per-call cache of piece -> ids: pieces repeat a lot in real text. */
typedef struct {
    uint64_t hash;
    uint32_t key_off, key_len, ids_off, n_ids; /* key_len = UINT32_MAX: empty */
} cache_ent;
typedef struct {
    cache_ent *ent;
    size_t cap, n;
    tk_buf keys;
    tk_ids ids;
} tk_cache;

#define CACHE_MAX_PIECE 128
#define CACHE_MAX_ENTRIES (1u << 16)

void *tk_cache_new(void) {
    tk_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->cap = 1024;
    c->ent = malloc(c->cap * sizeof *c->ent);
    if (!c->ent) {
        free(c);
        return NULL;
    }
    for (size_t i = 0; i < c->cap; i++) c->ent[i].key_len = UINT32_MAX;
    return c;
}

void tk_cache_free(void *p) {
    tk_cache *c = p;
    if (!c) return;
    free(c->ent);
    tk_buf_free(&c->keys);
    free(c->ids.p);
    free(c);
}

static cache_ent *cache_slot(tk_cache *c, uint64_t h, const char *s, size_t len) {
    size_t mask = c->cap - 1, i = h & mask;
    for (;;) {
        cache_ent *e = &c->ent[i];
        if (e->key_len == UINT32_MAX) return e;
        if (e->hash == h && e->key_len == len && memcmp(c->keys.p + e->key_off, s, len) == 0) return e;
        i = (i + 1) & mask;
    }
}

static void cache_reset(tk_cache *c, size_t cap) {
    if (cap != c->cap) {
        cache_ent *e = malloc(cap * sizeof *e);
        if (e) {
            free(c->ent);
            c->ent = e;
            c->cap = cap;
        }
    }
    for (size_t i = 0; i < c->cap; i++) c->ent[i].key_len = UINT32_MAX;
    c->n = 0;
    c->keys.n = 0;
    c->ids.n = 0;
}

static void cache_put(tk_cache *c, uint64_t h, const char *s, size_t len, const int32_t *ids,
                      size_t n) {
    if ((c->n + 1) * 2 > c->cap) {
        if (c->cap >= CACHE_MAX_ENTRIES * 2) {
            cache_reset(c, c->cap);
        } else {
            /* grow: rehash */
            size_t cap = c->cap * 2;
            cache_ent *e = malloc(cap * sizeof *e);
            if (!e) return;
            for (size_t i = 0; i < cap; i++) e[i].key_len = UINT32_MAX;
            for (size_t i = 0; i < c->cap; i++) {
                if (c->ent[i].key_len == UINT32_MAX) continue;
                size_t j = c->ent[i].hash & (cap - 1);
                while (e[j].key_len != UINT32_MAX) j = (j + 1) & (cap - 1);
                e[j] = c->ent[i];
            }
            free(c->ent);
            c->ent = e;
            c->cap = cap;
        }
    }
    cache_ent *e = cache_slot(c, h, s, len);
    if (e->key_len != UINT32_MAX) return;
    size_t koff = c->keys.n, ioff = c->ids.n;
    if (!tk_buf_put(&c->keys, s, len)) return;
    for (size_t i = 0; i < n; i++)
        if (!tk_ids_push(&c->ids, ids[i])) return;
    e->hash = h;
    e->key_off = (uint32_t)koff;
    e->key_len = (uint32_t)len;
    e->ids_off = (uint32_t)ioff;
    e->n_ids = (uint32_t)n;
    c->n++;
}

/* ------------------------------------------------------------ merge loop */

#define NO_RANK UINT32_MAX

static inline uint32_t pair_rank(const grt_tokenizer *t, int32_t a, int32_t b, int32_t *id) {
    const tk_merge *m = tk_merge_find(t, a, b);
    if (!m) return NO_RANK;
    *id = m->id;
    return m->rank;
}

/* Short words: arrays, a linear scan for the lowest rank. */
static size_t merge_small(const grt_tokenizer *t, int32_t *sym, size_t n) {
    uint32_t rank[128];
    int32_t nid[128];
    for (size_t i = 0; i + 1 < n; i++) rank[i] = pair_rank(t, sym[i], sym[i + 1], &nid[i]);
    while (n > 1) {
        size_t best = SIZE_MAX;
        uint32_t br = NO_RANK;
        for (size_t i = 0; i + 1 < n; i++)
            if (rank[i] < br) {
                br = rank[i];
                best = i;
            }
        if (best == SIZE_MAX) break;
        sym[best] = nid[best];
        memmove(sym + best + 1, sym + best + 2, (n - best - 2) * sizeof *sym);
        memmove(rank + best + 1, rank + best + 2, (n - best - 2) * sizeof *rank);
        memmove(nid + best + 1, nid + best + 2, (n - best - 2) * sizeof *nid);
        n--;
        if (best > 0) rank[best - 1] = pair_rank(t, sym[best - 1], sym[best], &nid[best - 1]);
        if (best + 1 < n) rank[best] = pair_rank(t, sym[best], sym[best + 1], &nid[best]);
    }
    return n;
}

/* Long words: a doubly linked list and a min-heap of (rank, position). */
static size_t merge_large(const grt_tokenizer *t, int32_t *sym, size_t n) {
    int32_t *prev = malloc(n * sizeof *prev), *next = malloc(n * sizeof *next);
    uint64_t *heap = malloc(n * 2 * sizeof *heap + 8);
    size_t cap = n * 2 + 1, hn = 0;
    if (!prev || !next || !heap) {
        free(prev);
        free(next);
        free(heap);
        return SIZE_MAX;
    }
#define HPUSH(v)                                                                  \
    do {                                                                          \
        if (hn == cap) {                                                          \
            uint64_t *nh = realloc(heap, cap * 2 * sizeof *heap);                 \
            if (!nh) goto oom;                                                    \
            heap = nh;                                                            \
            cap *= 2;                                                             \
        }                                                                         \
        size_t k_ = hn++;                                                         \
        uint64_t v_ = (v);                                                        \
        while (k_ > 0 && heap[(k_ - 1) / 2] > v_) {                               \
            heap[k_] = heap[(k_ - 1) / 2];                                        \
            k_ = (k_ - 1) / 2;                                                    \
        }                                                                         \
        heap[k_] = v_;                                                            \
    } while (0)
    for (size_t i = 0; i < n; i++) {
        prev[i] = (int32_t)i - 1;
        next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        int32_t id;
        uint32_t r = pair_rank(t, sym[i], sym[i + 1], &id);
        if (r != NO_RANK) HPUSH((uint64_t)r << 32 | i);
    }
    while (hn) {
        uint64_t top = heap[0];
        uint64_t last = heap[--hn];
        size_t k = 0;
        for (;;) {
            size_t c = 2 * k + 1;
            if (c >= hn) break;
            if (c + 1 < hn && heap[c + 1] < heap[c]) c++;
            if (heap[c] >= last) break;
            heap[k] = heap[c];
            k = c;
        }
        if (hn) heap[k] = last;
        uint32_t r = (uint32_t)(top >> 32);
        size_t pos = (size_t)(uint32_t)top;
        if (sym[pos] < 0 || next[pos] < 0) continue;
        size_t nx = (size_t)next[pos];
        int32_t id = -1;
        if (pair_rank(t, sym[pos], sym[nx], &id) != r) continue; /* stale entry */
        sym[pos] = id;
        sym[nx] = -1;
        next[pos] = next[nx];
        if (next[nx] >= 0) prev[next[nx]] = (int32_t)pos;
        if (prev[pos] >= 0) {
            size_t pv = (size_t)prev[pos];
            uint32_t r2 = pair_rank(t, sym[pv], sym[pos], &id);
            if (r2 != NO_RANK) HPUSH((uint64_t)r2 << 32 | pv);
        }
        if (next[pos] >= 0) {
            uint32_t r2 = pair_rank(t, sym[pos], sym[next[pos]], &id);
            if (r2 != NO_RANK) HPUSH((uint64_t)r2 << 32 | pos);
        }
    }
#undef HPUSH
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (sym[i] >= 0) sym[m++] = sym[i];
    free(prev);
    free(next);
    free(heap);
    return m;
oom:
    free(prev);
    free(next);
    free(heap);
    return SIZE_MAX;
}

/* ------------------------------------------------------------ one piece */

grt_status tk_bpe_piece(const grt_tokenizer *t, const char *s, size_t len, tk_ids *out,
                        void *cachep) {
    if (!len) return GRT_OK;
    tk_cache *cache = cachep;
    uint64_t h = 0;
    if (cache && len <= CACHE_MAX_PIECE) {
        h = tk_hash(s, len);
        cache_ent *e = cache_slot(cache, h, s, len);
        if (e->key_len != UINT32_MAX) {
            for (uint32_t i = 0; i < e->n_ids; i++)
                if (!tk_ids_push(out, cache->ids.p[e->ids_off + i])) return GRT_ERR_NO_MEMORY;
            return GRT_OK;
        }
    }
    size_t out0 = out->n;

    if (t->ignore_merges) {
        int32_t id = -1;
        if (t->kind == TK_BYTELEVEL) {
            char small[512];
            char *m = len * 2 <= sizeof small ? small : malloc(len * 2);
            if (!m) return grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
            size_t k = 0;
            for (size_t i = 0; i < len; i++) k += (size_t)tk_utf8_encode(tk_byte_to_cp[(unsigned char)s[i]], m + k);
            id = tk_vocab_find(t, m, k);
            if (m != small) free(m);
        } else {
            id = tk_vocab_find(t, s, len);
        }
        if (id >= 0) {
            if (!tk_ids_push(out, id)) return GRT_ERR_NO_MEMORY;
            goto done;
        }
    }

    {
        int32_t small[128];
        int32_t *sym = len <= 128 ? small : malloc(len * sizeof *sym);
        if (!sym) return grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
        size_t n = 0;
        if (t->kind == TK_BYTELEVEL) {
            for (size_t i = 0; i < len; i++) {
                int32_t id = t->byte_sym[(unsigned char)s[i]];
                if (id >= 0) sym[n++] = id;
                else if (t->unk_id >= 0 && !(t->fuse_unk && n && sym[n - 1] == t->unk_id)) sym[n++] = t->unk_id;
            }
        } else {
            int32_t unk_pending = 0; /* Hugging Face keeps an unknown run aside */
            for (size_t i = 0; i < len;) {
                size_t cl = (size_t)tk_utf8_len((unsigned char)s[i]);
                if (cl > len - i) cl = len - i;
                int32_t id = tk_vocab_find(t, s + i, cl);
                if (id >= 0) {
                    if (unk_pending) {
                        sym[n++] = t->unk_id;
                        unk_pending = 0;
                    }
                    sym[n++] = id;
                } else {
                    bool fell_back = false;
                    if (t->byte_fallback) {
                        fell_back = true;
                        for (size_t k = 0; k < cl; k++)
                            if (t->byte_sym[(unsigned char)s[i + k]] < 0) fell_back = false;
                        if (fell_back)
                            for (size_t k = 0; k < cl; k++) sym[n++] = t->byte_sym[(unsigned char)s[i + k]];
                    }
                    if (!fell_back && t->unk_id >= 0) {
                        if (unk_pending && !t->fuse_unk) sym[n++] = t->unk_id;
                        unk_pending = 1;
                    }
                }
                i += cl;
            }
            if (unk_pending) sym[n++] = t->unk_id;
        }
        size_t m = n <= 128 ? merge_small(t, sym, n) : merge_large(t, sym, n);
        if (m == SIZE_MAX) {
            if (sym != small) free(sym);
            return grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
        }
        for (size_t i = 0; i < m; i++)
            if (!tk_ids_push(out, sym[i])) {
                if (sym != small) free(sym);
                return GRT_ERR_NO_MEMORY;
            }
        if (sym != small) free(sym);
    }
done:
    if (cache && len <= CACHE_MAX_PIECE) cache_put(cache, h, s, len, out->p + out0, out->n - out0);
    return GRT_OK;
}
