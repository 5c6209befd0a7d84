// Reference side of the tokenizer benchmark: @huggingface/tokenizers (pure
// JS, pinned in package.json) in Node on the same text, single thread.
// usage: node bench_node.mjs TOKENIZER_DIR TEXT_FILE IDS_OUT [loads runs]
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
const require = createRequire(import.meta.url);
const { Tokenizer } = require("@huggingface/tokenizers");

const [dir, textFile, idsOut, loadsArg, runsArg] = process.argv.slice(2);
const loads = Number(loadsArg || 5), runs = Number(runsArg || 3);
const median = (v) => { v = [...v].sort((a, b) => a - b); const m = v.length >> 1; return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2; };

let tok, lt = [];
for (let i = 0; i < loads; i++) {
  const t0 = performance.now();
  const json = JSON.parse(readFileSync(`${dir}/tokenizer.json`, "utf8"));
  let cfg = {};
  try { cfg = JSON.parse(readFileSync(`${dir}/tokenizer_config.json`, "utf8")); } catch (e) {}
  tok = new Tokenizer(json, cfg);
  lt.push(performance.now() - t0);
}
const buf = readFileSync(textFile);
const text = buf.toString("utf8");
let ids, et = [];
for (let i = 0; i < runs; i++) {
  const t0 = performance.now();
  ids = tok.encode(text, { add_special_tokens: false }).ids;
  et.push(performance.now() - t0);
}
writeFileSync(idsOut, JSON.stringify(ids) + "\n");
const em = median(et);
console.log(JSON.stringify({ load_ms: median(lt), encode_ms: em, mb_per_s: buf.length / 1e6 / (em / 1e3), bytes: buf.length, ids: ids.length }));
