/* genrt tokenize / detokenize: text <-> ids with a model's tokenizer, a
 * tokenizer.json or a GGUF vocabulary. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "genrt.h"

static const char *TOKENIZE_HELP =
    "genrt tokenize -m MODEL_OR_TOKENIZER [--special] (TEXT | -f FILE | --jsonl)\n"
    "  prints the ids of TEXT as a JSON array\n"
    "  -m PATH      a model directory, a tokenizer.json or a .gguf\n"
    "  --special    add the tokenizer's special tokens (BOS/EOS template), as\n"
    "               Hugging Face's add_special_tokens=True\n"
    "  -f FILE      encode the bytes of FILE\n"
    "  --jsonl      read one JSON string per line on stdin, print one JSON array per line\n"
    "Text that is not valid UTF-8 is encoded as its lossy decoding (U+FFFD for\n"
    "each invalid sequence), as Hugging Face does.\n";

static const char *DETOKENIZE_HELP =
    "genrt detokenize -m MODEL_OR_TOKENIZER IDS\n"
    "  prints the text of IDS (comma- or space-separated, or a JSON array), then a newline\n"
    "  -m PATH      a model directory, a tokenizer.json or a .gguf\n";

static int fail(const char *cmd, const char *what) {
    fprintf(stderr, "genrt %s: %s%s%s\n", cmd, what ? what : "", what ? ": " : "", grt_last_error());
    return 1;
}

static int usage(const char *cmd, const char *msg, const char *arg, const char *help) {
    fprintf(stderr, "genrt %s: ", cmd);
    fprintf(stderr, msg, arg ? arg : "");
    fprintf(stderr, "\n%s", help);
    return 2;
}

static void print_ids(FILE *f, const int32_t *ids, size_t n) {
    fputc('[', f);
    for (size_t i = 0; i < n; i++) fprintf(f, i ? ", %d" : "%d", ids[i]);
    fputs("]\n", f);
}

static char *read_all(FILE *f, size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *p = malloc(cap);
    if (!p) return NULL;
    for (;;) {
        if (n == cap) {
            char *q = realloc(p, cap * 2);
            if (!q) {
                free(p);
                return NULL;
            }
            p = q;
            cap *= 2;
        }
        size_t k = fread(p + n, 1, cap - n, f);
        n += k;
        if (k == 0) break;
    }
    *len = n;
    return p;
}

/* One JSON string per input line -> one JSON array per output line. */
static int tokenize_jsonl(const grt_tokenizer *tok, bool special) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    int rc = 0;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        cJSON *j = cJSON_ParseWithLength(line, (size_t)n);
        if (!cJSON_IsString(j)) {
            fprintf(stderr, "genrt tokenize: stdin line %ld: not a JSON string\n", lineno);
            cJSON_Delete(j);
            rc = 1;
            break;
        }
        int32_t *ids = NULL;
        size_t k = 0;
        grt_status st = grt_tokenizer_encode(tok, j->valuestring, strlen(j->valuestring), special, &ids, &k);
        cJSON_Delete(j);
        if (st) {
            rc = fail("tokenize", "encode");
            break;
        }
        print_ids(stdout, ids, k);
        free(ids);
    }
    free(line);
    if (fflush(stdout) != 0 && !rc) {
        fprintf(stderr, "genrt tokenize: cannot write output: %s\n", strerror(errno));
        rc = 1;
    }
    return rc;
}

int cmd_tokenize(int argc, char **argv) {
    const char *model = NULL, *text = NULL, *file = NULL;
    bool special = false, jsonl = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(TOKENIZE_HELP, stdout);
            return 0;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (++i >= argc) return usage("tokenize", "%s needs a path", a, TOKENIZE_HELP);
            model = argv[i];
        } else if (!strcmp(a, "-f") || !strcmp(a, "--file")) {
            if (++i >= argc) return usage("tokenize", "%s needs a path", a, TOKENIZE_HELP);
            file = argv[i];
        } else if (!strcmp(a, "--special")) {
            special = true;
        } else if (!strcmp(a, "--jsonl")) {
            jsonl = true;
        } else if (!strcmp(a, "--")) {
            if (i + 1 < argc && !text && i + 2 == argc) text = argv[++i];
            else return usage("tokenize", "-- must be followed by exactly one TEXT", NULL, TOKENIZE_HELP);
        } else if (a[0] == '-' && a[1]) {
            return usage("tokenize", "unknown option %s", a, TOKENIZE_HELP);
        } else if (!text) {
            text = a;
        } else {
            return usage("tokenize", "more than one TEXT (quote it): %s", a, TOKENIZE_HELP);
        }
    }
    if (!model) return usage("tokenize", "-m MODEL_OR_TOKENIZER is required", NULL, TOKENIZE_HELP);
    if ((text != NULL) + (file != NULL) + jsonl != 1)
        return usage("tokenize", "give exactly one of TEXT, -f FILE or --jsonl", NULL, TOKENIZE_HELP);
    grt_tokenizer *tok = NULL;
    if (grt_tokenizer_load(model, &tok)) return fail("tokenize", NULL);
    int rc = 0;
    if (jsonl) {
        rc = tokenize_jsonl(tok, special);
    } else {
        char *buf = NULL;
        size_t len = text ? strlen(text) : 0;
        if (file) {
            FILE *f = fopen(file, "rb");
            if (!f) {
                fprintf(stderr, "genrt tokenize: %s: %s\n", file, strerror(errno));
                grt_tokenizer_free(tok);
                return 1;
            }
            buf = read_all(f, &len);
            fclose(f);
            if (!buf) {
                fprintf(stderr, "genrt tokenize: %s: cannot read\n", file);
                grt_tokenizer_free(tok);
                return 1;
            }
            text = buf;
        }
        int32_t *ids = NULL;
        size_t n = 0;
        if (grt_tokenizer_encode(tok, text, len, special, &ids, &n)) rc = fail("tokenize", "encode");
        else print_ids(stdout, ids, n);
        free(ids);
        free(buf);
    }
    grt_tokenizer_free(tok);
    return rc;
}

/* "1,2,3", "1 2 3" or "[1, 2, 3]"; false on anything else. */
static bool parse_id_list(const char *s, int32_t **out, size_t *n) {
    size_t cap = 16;
    int32_t *v = malloc(cap * sizeof *v);
    if (!v) return false;
    *n = 0;
    const char *p = s;
    while (*p == ' ' || *p == '\t' || *p == '\n') p++;
    bool bracket = *p == '[';
    if (bracket) p++;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n') p++;
        if (!*p || (bracket && *p == ']')) break;
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (end == p || errno || x < INT32_MIN || x > INT32_MAX) {
            free(v);
            return false;
        }
        if (*n == cap) {
            int32_t *q = realloc(v, cap * 2 * sizeof *v);
            if (!q) {
                free(v);
                return false;
            }
            v = q;
            cap *= 2;
        }
        v[(*n)++] = (int32_t)x;
        p = end;
        while (*p == ' ' || *p == '\t' || *p == '\n') p++;
        if (*p == ',') p++;
        else if (*p && !(bracket && *p == ']') && !(*p >= '0' && *p <= '9') && *p != '-') {
            free(v);
            return false;
        }
    }
    if (bracket) {
        if (*p != ']') {
            free(v);
            return false;
        }
        p++;
        while (*p == ' ' || *p == '\t' || *p == '\n') p++;
        if (*p) {
            free(v);
            return false;
        }
    }
    *out = v;
    return true;
}

int cmd_detokenize(int argc, char **argv) {
    const char *model = NULL;
    size_t cap = 0, len = 0;
    char *ids_text = NULL;
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(DETOKENIZE_HELP, stdout);
            free(ids_text);
            return 0;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (++i >= argc) {
                free(ids_text);
                return usage("detokenize", "%s needs a path", a, DETOKENIZE_HELP);
            }
            model = argv[i];
        } else if (a[0] == '-' && a[1] && !(a[1] >= '0' && a[1] <= '9')) {
            free(ids_text);
            return usage("detokenize", "unknown option %s", a, DETOKENIZE_HELP);
        } else { /* ids may come as several arguments: 1 2 3 */
            size_t l = strlen(a);
            if (len + l + 2 > cap) {
                cap = (len + l + 2) * 2;
                char *q = realloc(ids_text, cap);
                if (!q) {
                    free(ids_text);
                    return fail("detokenize", "out of memory");
                }
                ids_text = q;
            }
            if (len) ids_text[len++] = ' ';
            memcpy(ids_text + len, a, l + 1);
            len += l;
        }
    }
    if (!model) {
        free(ids_text);
        return usage("detokenize", "-m MODEL_OR_TOKENIZER is required", NULL, DETOKENIZE_HELP);
    }
    int32_t *ids = NULL;
    size_t n = 0;
    if (!ids_text || !parse_id_list(ids_text, &ids, &n)) {
        int r = usage("detokenize", "IDS must be integers separated by commas or spaces, got \"%s\"",
                      ids_text ? ids_text : "", DETOKENIZE_HELP);
        free(ids_text);
        return r;
    }
    free(ids_text);
    grt_tokenizer *tok = NULL;
    if (grt_tokenizer_load(model, &tok)) {
        free(ids);
        return fail("detokenize", NULL);
    }
    char *text = NULL;
    size_t tl = 0;
    if (grt_tokenizer_decode(tok, ids, n, &text, &tl)) {
        rc = fail("detokenize", NULL);
    } else {
        fwrite(text, 1, tl, stdout);
        fputc('\n', stdout);
    }
    free(text);
    free(ids);
    grt_tokenizer_free(tok);
    return rc;
}
