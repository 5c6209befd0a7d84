// A byte-level BPE tokenizer.json of exactly N tokens (256 bytes, then merges
// of two base characters), so a reference model without a tokenizer can be
// written as a GGUF that llama.cpp's front ends accept. Only ids matter to the
// check; the merges are arbitrary. SPECIAL names added tokens that take the
// last ids (llama.cpp looks some up by text for some architectures, e.g.
// Phi-3's <|end|>).  usage: node make_tokenizer.mjs N [SPECIAL...] > tokenizer.json
const n = Number(process.argv[2]);
const specials = process.argv.slice(3);
const bs = [];
for (let b = 33; b <= 126; b++) bs.push(b);
for (let b = 161; b <= 172; b++) bs.push(b);
for (let b = 174; b <= 255; b++) bs.push(b);
const cs = bs.slice();
let k = 0;
for (let b = 0; b < 256; b++) if (!bs.includes(b)) { bs.push(b); cs.push(256 + k++); }
const chars = cs.map((c) => String.fromCodePoint(c));
const vocab = {}, merges = [];
bs.forEach((b, i) => { vocab[chars[i]] = b; });
const letters = chars.slice(0, 64);
for (let i = 0, id = 256; id < n - specials.length; i++) {
    const a = letters[Math.floor(i / 64) % 64], b = letters[i % 64];
    if (vocab[a + b] !== undefined) continue;
    vocab[a + b] = id++;
    merges.push([a, b]);
}
specials.forEach((t, i) => { vocab[t] = n - specials.length + i; });
process.stdout.write(JSON.stringify({
    version: "1.0", truncation: null, padding: null, normalizer: null,
    added_tokens: specials.map((content, i) => ({id: n - specials.length + i, content, single_word: false,
        lstrip: false, rstrip: false, normalized: false, special: true})),
    pre_tokenizer: {type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true},
    post_processor: null, decoder: {type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true},
    model: {type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null,
            end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false,
            vocab, merges},
}));
