// Greedy continuation and prompt tokenization by llama.cpp (through the npm
// package node-llama-cpp, CPU build) for one GGUF: an independent reader of
// the files genrt writes.  usage: node llamacpp_greedy.mjs MODEL.gguf IDS_JSON N
import {getLlama} from "node-llama-cpp";
const [model_path, ids_json, n] = process.argv.slice(2);
const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});
const model = await llama.loadModel({modelPath: model_path});
const ctx = await model.createContext({contextSize: 256});
const seq = ctx.getSequence();
const out = [];
for await (const t of seq.evaluate(JSON.parse(ids_json), {temperature: 0})) {
    out.push(t);
    if (out.length >= Number(n)) break;
}
console.log(out.join(" "));
