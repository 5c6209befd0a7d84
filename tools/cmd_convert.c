/* genrt convert SRC out.gguf [--type f32|f16|bf16|q8_0|q4_0] */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "genrt.h"

static void usage(void) {
    fprintf(stderr,
            "usage: genrt convert SRC out.gguf [--type f32|f16|bf16|q8_0|q4_0]\n"
            "  SRC: a Hugging Face model directory (config.json + safetensors) or a .gguf.\n"
            "  --type: matrix type of the output (default: as stored). Norms and biases\n"
            "  stay f32; matrices whose rows are not a multiple of 32 are written as f16\n"
            "  under q8_0/q4_0. The tokenizer is included when SRC has one.\n");
}

int cmd_convert(int argc, char **argv) {
    const char *src = NULL, *dst = NULL, *type = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--type")) {
            if (++i >= argc) { usage(); return 2; }
            type = argv[i];
        } else if (!strncmp(argv[i], "--type=", 7)) {
            type = argv[i] + 7;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage();
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "genrt convert: unknown option '%s'\n", argv[i]);
            usage();
            return 2;
        } else if (!src) {
            src = argv[i];
        } else if (!dst) {
            dst = argv[i];
        } else {
            fprintf(stderr, "genrt convert: unexpected argument '%s'\n", argv[i]);
            usage();
            return 2;
        }
    }
    if (!src || !dst) { usage(); return 2; }
    if (type && strcmp(type, "f32") && strcmp(type, "f16") && strcmp(type, "bf16") &&
        strcmp(type, "q8_0") && strcmp(type, "q4_0")) {
        fprintf(stderr, "genrt convert: --type '%s' is not one of f32, f16, bf16, q8_0, q4_0\n", type);
        return 2;
    }
    grt_status s = grt_convert(src, dst, type);
    if (s) {
        fprintf(stderr, "genrt convert: %s\n", grt_last_error());
        return 1;
    }
    fprintf(stderr, "genrt convert: wrote %s\n", dst);
    return 0;
}
