/* Text utilities for the tokenizer: UTF-8, the ByteLevel byte mapping and the
 * normalizers. Unicode normalization and case mapping come from ICU; splits
 * use PCRE2 (tokenizer.c). No hand-written Unicode tables beyond the fixed
 * White_Space list. */
#include <stdlib.h>
#include <string.h>
#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#include "error.h"
#include "tokenizer_impl.h"

/* ------------------------------------------------------------ UTF-8 */

uint32_t tk_utf8_decode(const char *p, size_t len, int *n) {
    const unsigned char *s = (const unsigned char *)p;
    int l = tk_utf8_len(s[0]);
    if ((size_t)l > len) l = 1;
    *n = l;
    switch (l) {
    case 1: return s[0];
    case 2: return (uint32_t)(s[0] & 0x1F) << 6 | (s[1] & 0x3F);
    case 3: return (uint32_t)(s[0] & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
    default:
        return (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 |
               (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
    }
}

int tk_utf8_encode(uint32_t cp, char *o) {
    unsigned char *out = (unsigned char *)o;
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | cp >> 6);
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | cp >> 12);
        out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | cp >> 18);
    out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of the valid sequence at s (1..4), or -k where k >= 1 is the
 * length of the maximal invalid subpart (Unicode's "maximal subpart" rule,
 * which Rust's from_utf8_lossy follows). */
static int utf8_step(const unsigned char *s, size_t len) {
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    int need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c == 0xE0) { need = 2; lo = 0xA0; }
    else if (c >= 0xE1 && c <= 0xEC) need = 2;
    else if (c == 0xED) { need = 2; hi = 0x9F; }
    else if (c >= 0xEE && c <= 0xEF) need = 2;
    else if (c == 0xF0) { need = 3; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) need = 3;
    else if (c == 0xF4) { need = 3; hi = 0x8F; }
    else return -1;
    for (int i = 1; i <= need; i++) {
        if ((size_t)i >= len) return -i;
        unsigned char b = s[i];
        if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return -i;
    }
    return need + 1;
}

bool tk_utf8_lossy(const char *p, size_t len, tk_buf *out) {
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0, run = 0;
    if (!tk_buf_reserve(out, len + 1)) return false;
    while (i < len) {
        /* copy valid runs in one go */
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        int k = utf8_step(s + i, len - i);
        if (k > 0) {
            i += (size_t)k;
            continue;
        }
        if (!tk_buf_put(out, s + run, i - run)) return false;
        if (!tk_buf_put(out, "\xEF\xBF\xBD", 3)) return false;
        i += (size_t)-k;
        run = i;
    }
    return tk_buf_put(out, s + run, len - run);
}

size_t tk_utf8_valid_prefix(const char *p, size_t len) {
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0;
    while (i < len) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        int k = utf8_step(s + i, len - i);
        if (k < 0) break;
        i += (size_t)k;
    }
    return i;
}

bool tk_is_space_cp(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

/* ------------------------------------------------------------ ByteLevel map */

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the
 * other 68 bytes to U+0100.. in byte order. */
const uint16_t tk_byte_to_cp[256] = {
    256, 257, 258, 259, 260, 261, 262, 263, 264, 265, 266, 267, 268, 269, 270, 271,
    272, 273, 274, 275, 276, 277, 278, 279, 280, 281, 282, 283, 284, 285, 286, 287,
    288, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47,
    48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63,
    64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79,
    80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95,
    96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111,
    112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 126, 289,
    290, 291, 292, 293, 294, 295, 296, 297, 298, 299, 300, 301, 302, 303, 304, 305,
    306, 307, 308, 309, 310, 311, 312, 313, 314, 315, 316, 317, 318, 319, 320, 321,
    322, 161, 162, 163, 164, 165, 166, 167, 168, 169, 170, 171, 172, 323, 174, 175,
    176, 177, 178, 179, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189, 190, 191,
    192, 193, 194, 195, 196, 197, 198, 199, 200, 201, 202, 203, 204, 205, 206, 207,
    208, 209, 210, 211, 212, 213, 214, 215, 216, 217, 218, 219, 220, 221, 222, 223,
    224, 225, 226, 227, 228, 229, 230, 231, 232, 233, 234, 235, 236, 237, 238, 239,
    240, 241, 242, 243, 244, 245, 246, 247, 248, 249, 250, 251, 252, 253, 254, 255,
};

int tk_cp_to_byte(uint32_t cp) {
    if (cp < 256) {
        if ((cp >= 33 && cp <= 126) || (cp >= 161 && cp <= 172) || cp >= 174) return (int)cp;
        return -1;
    }
    /* U+0100.. are the unprintable bytes in order: 0..32, 127..160, 173 */
    uint32_t k = cp - 256;
    if (k < 33) return (int)k;
    if (k < 67) return (int)(127 + k - 33);
    if (k == 67) return 173;
    return -1;
}

/* ------------------------------------------------------------ normalizers */

static const UNormalizer2 *icu_norm(tk_norm_kind k, grt_status *st) {
    UErrorCode e = U_ZERO_ERROR;
    const UNormalizer2 *n = NULL;
    switch (k) {
    case TK_NORM_NFC: n = unorm2_getNFCInstance(&e); break;
    case TK_NORM_NFD: n = unorm2_getNFDInstance(&e); break;
    case TK_NORM_NFKC: n = unorm2_getNFKCInstance(&e); break;
    case TK_NORM_NFKD: n = unorm2_getNFKDInstance(&e); break;
    default: break;
    }
    if (U_FAILURE(e) || !n) *st = grt_fail(GRT_ERR_INTERNAL, "ICU normalizer unavailable: %s", u_errorName(e));
    return n;
}

/* UTF-8 -> UTF-16 (malloc'ed). */
static UChar *to_u16(const char *s, size_t len, int32_t *n16) {
    UErrorCode e = U_ZERO_ERROR;
    if (len > INT32_MAX / 2) return NULL;
    UChar *u = malloc((len + 1) * sizeof *u);
    if (!u) return NULL;
    u_strFromUTF8(u, (int32_t)len + 1, n16, s, (int32_t)len, &e);
    if (U_FAILURE(e)) {
        free(u);
        return NULL;
    }
    return u;
}

static bool from_u16(const UChar *u, int32_t n, tk_buf *out) {
    UErrorCode e = U_ZERO_ERROR;
    int32_t need = 0;
    u_strToUTF8(NULL, 0, &need, u, n, &e);
    if (e != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(e)) return false;
    e = U_ZERO_ERROR;
    out->n = 0;
    if (!tk_buf_reserve(out, (size_t)need + 1)) return false;
    u_strToUTF8(out->p, need + 1, &need, u, n, &e);
    if (U_FAILURE(e)) return false;
    out->n = (size_t)need;
    out->p[out->n] = 0;
    return true;
}

static grt_status norm_unicode(tk_norm_kind k, tk_buf *b, tk_buf *tmp) {
    /* Code points below U+0300 are stable under NFC; ASCII under all forms. */
    unsigned char lim = k == TK_NORM_NFC ? 0xCC : 0x80;
    size_t i = 0;
    while (i < b->n && (unsigned char)b->p[i] < lim) i++;
    if (i == b->n) return GRT_OK;
    grt_status st = GRT_OK;
    const UNormalizer2 *n = icu_norm(k, &st);
    if (!n) return st;
    int32_t n16;
    UChar *u = to_u16(b->p, b->n, &n16);
    if (!u) return grt_fail(GRT_ERR_NO_MEMORY, "normalizer: cannot convert text to UTF-16");
    UErrorCode e = U_ZERO_ERROR;
    int32_t ok = unorm2_spanQuickCheckYes(n, u, n16, &e);
    if (U_SUCCESS(e) && ok == n16) {
        free(u);
        return GRT_OK;
    }
    e = U_ZERO_ERROR;
    int32_t cap = n16 * 4 + 16;
    UChar *v = malloc((size_t)cap * sizeof *v);
    if (!v) {
        free(u);
        return grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
    }
    int32_t nv = unorm2_normalize(n, u, n16, v, cap, &e);
    if (e == U_BUFFER_OVERFLOW_ERROR) {
        free(v);
        cap = nv + 1;
        v = malloc((size_t)cap * sizeof *v);
        e = U_ZERO_ERROR;
        if (v) nv = unorm2_normalize(n, u, n16, v, cap, &e);
    }
    free(u);
    if (!v || U_FAILURE(e)) {
        free(v);
        return grt_fail(GRT_ERR_INTERNAL, "normalizer failed: %s", u_errorName(e));
    }
    bool okc = from_u16(v, nv, tmp);
    free(v);
    if (!okc) return grt_fail(GRT_ERR_NO_MEMORY, "normalizer: cannot convert text to UTF-8");
    tk_buf s = *b;
    *b = *tmp;
    *tmp = s;
    return GRT_OK;
}

static grt_status norm_lower(tk_buf *b, tk_buf *tmp) {
    size_t i = 0;
    while (i < b->n && (unsigned char)b->p[i] < 0x80) {
        char c = b->p[i];
        if (c >= 'A' && c <= 'Z') b->p[i] = (char)(c + 32);
        i++;
    }
    if (i == b->n) return GRT_OK;
    int32_t n16;
    UChar *u = to_u16(b->p, b->n, &n16);
    if (!u) return grt_fail(GRT_ERR_NO_MEMORY, "lowercase: cannot convert text to UTF-16");
    UErrorCode e = U_ZERO_ERROR;
    int32_t cap = n16 * 3 + 16;
    UChar *v = malloc((size_t)cap * sizeof *v);
    int32_t nv = v ? u_strToLower(v, cap, u, n16, "", &e) : 0;
    free(u);
    if (!v || U_FAILURE(e)) {
        free(v);
        return grt_fail(GRT_ERR_INTERNAL, "lowercase failed: %s", u_errorName(e));
    }
    bool ok = from_u16(v, nv, tmp);
    free(v);
    if (!ok) return grt_fail(GRT_ERR_NO_MEMORY, "lowercase: cannot convert text to UTF-8");
    tk_buf s = *b;
    *b = *tmp;
    *tmp = s;
    return GRT_OK;
}

static grt_status norm_replace(const tk_norm *n, tk_buf *b, tk_buf *tmp) {
    tmp->n = 0;
    if (!n->re) {
        if (!n->pat_len) return GRT_OK;
        const char *p = b->p, *end = b->p + b->n;
        const char *hit = memmem(p, (size_t)(end - p), n->pat, n->pat_len);
        if (!hit) return GRT_OK;
        while (hit) {
            if (!tk_buf_put(tmp, p, (size_t)(hit - p)) || !tk_buf_put(tmp, n->str, n->str_len))
                return GRT_ERR_NO_MEMORY;
            p = hit + n->pat_len;
            hit = memmem(p, (size_t)(end - p), n->pat, n->pat_len);
        }
        if (!tk_buf_put(tmp, p, (size_t)(end - p))) return GRT_ERR_NO_MEMORY;
    } else {
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(n->re, NULL);
        if (!md) return grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
        size_t pos = 0, last = 0;
        while (pos <= b->n) {
            int rc = pcre2_match(n->re, (PCRE2_SPTR)b->p, b->n, pos, PCRE2_NO_UTF_CHECK, md, NULL);
            if (rc == PCRE2_ERROR_NOMATCH) break;
            if (rc < 0) {
                pcre2_match_data_free(md);
                return grt_fail(GRT_ERR_INTERNAL, "normalizer Replace: regex match failed (%d)", rc);
            }
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            if (!tk_buf_put(tmp, b->p + last, ov[0] - last) || !tk_buf_put(tmp, n->str, n->str_len)) {
                pcre2_match_data_free(md);
                return GRT_ERR_NO_MEMORY;
            }
            last = ov[1];
            if (ov[1] == ov[0]) {
                if (ov[1] >= b->n) break;
                pos = ov[1] + (size_t)tk_utf8_len((unsigned char)b->p[ov[1]]);
                if (!tk_buf_put(tmp, b->p + ov[1], pos - ov[1])) {
                    pcre2_match_data_free(md);
                    return GRT_ERR_NO_MEMORY;
                }
                last = pos;
            } else {
                pos = ov[1];
            }
        }
        pcre2_match_data_free(md);
        if (!tk_buf_put(tmp, b->p + last, b->n - last)) return GRT_ERR_NO_MEMORY;
    }
    tk_buf s = *b;
    *b = *tmp;
    *tmp = s;
    return GRT_OK;
}

static void norm_strip(const tk_norm *n, tk_buf *b) {
    size_t start = 0, end = b->n;
    if (n->left)
        while (start < end) {
            int k;
            uint32_t cp = tk_utf8_decode(b->p + start, end - start, &k);
            if (!tk_is_space_cp(cp)) break;
            start += (size_t)k;
        }
    if (n->right)
        while (end > start) {
            size_t k = end - 1;
            while (k > start && ((unsigned char)b->p[k] & 0xC0) == 0x80) k--;
            int l;
            uint32_t cp = tk_utf8_decode(b->p + k, end - k, &l);
            if (!tk_is_space_cp(cp)) break;
            end = k;
        }
    memmove(b->p, b->p + start, end - start);
    b->n = end - start;
    b->p[b->n] = 0;
}

grt_status tk_normalize(const grt_tokenizer *t, const char *s, size_t len, tk_buf *out) {
    out->n = 0;
    if (!tk_buf_put(out, s, len)) return GRT_ERR_NO_MEMORY;
    tk_buf tmp = {0};
    grt_status st = GRT_OK;
    for (int i = 0; i < t->n_norm && !st; i++) {
        const tk_norm *n = &t->norm[i];
        switch (n->kind) {
        case TK_NORM_NFC: case TK_NORM_NFD: case TK_NORM_NFKC: case TK_NORM_NFKD:
            st = norm_unicode(n->kind, out, &tmp);
            break;
        case TK_NORM_PREPEND:
            if (out->n) {
                tmp.n = 0;
                if (!tk_buf_put(&tmp, n->str, n->str_len) || !tk_buf_put(&tmp, out->p, out->n)) {
                    st = GRT_ERR_NO_MEMORY;
                    break;
                }
                tk_buf x = *out;
                *out = tmp;
                tmp = x;
            }
            break;
        case TK_NORM_REPLACE: st = norm_replace(n, out, &tmp); break;
        case TK_NORM_LOWERCASE: st = norm_lower(out, &tmp); break;
        case TK_NORM_STRIP: norm_strip(n, out); break;
        }
    }
    tk_buf_free(&tmp);
    return st;
}
