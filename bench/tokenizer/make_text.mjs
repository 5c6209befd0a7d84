// ~3 MB of mixed text, deterministic: the tokenizer test corpora (scripts,
// emoji, code, numbers, whitespace runs), shuffled and repeated, interleaved
// with slices of the repository's own prose and C source.
// usage: node make_text.mjs OUT [bytes]
import { readFileSync, writeFileSync, readdirSync } from "node:fs";
const [out, bytesArg] = process.argv.slice(2);
const target = Number(bytesArg || 3_000_000);
let seed = 12345;
const rnd = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x80000000; };
const corpus = [
  ...JSON.parse(readFileSync("tests/data/tokenizers/corpus_extra.json", "utf8")),
];
const prose = [];
for (const f of ["include/genrt.h", ...readdirSync("src").filter((x) => x.endsWith(".c")).map((x) => "src/" + x)]) {
  try { prose.push(readFileSync(f, "utf8")); } catch (e) {}
}
const big = prose.join("\n");
const parts = [];
let n = 0;
while (n < target) {
  let s;
  if (rnd() < 0.5) s = corpus[Math.floor(rnd() * corpus.length)];
  else { const a = Math.floor(rnd() * (big.length - 2000)); s = big.slice(a, a + 100 + Math.floor(rnd() * 1500)); }
  parts.push(s);
  n += Buffer.byteLength(s) + 1;
}
writeFileSync(out, parts.join("\n"));
