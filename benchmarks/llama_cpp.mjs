// Greedy decoding with llama.cpp (node-llama-cpp's prebuilt CPU binary) on prompts given as token ids, timed.
// Run by benchmarks/engines.py from the scratch folder node-llama-cpp was installed into:
//   node llama_cpp.mjs '{"model": "x.gguf", "prompts": [[1, 2, 3]], "max_tokens": 128, "threads": 2,
//                        "stop_ids": [2], "warmup": true}'
// Prints one JSON line: for each prompt the new token ids, seconds to the first token and seconds in all, and the
// process's resident memory after answering.
import {getLlama} from "node-llama-cpp";

const spec = JSON.parse(process.argv[2]);
const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});
const model = await llama.loadModel({modelPath: spec.model});
const context = await model.createContext({contextSize: 2048, threads: spec.threads, batchSize: 512});
const sequence = context.getSequence();

async function answer(prompt) {
    await sequence.clearHistory();
    const tokens = [];
    const start = performance.now();
    let first = null;
    for await (const token of sequence.evaluate(prompt, {temperature: 0})) {
        if (first === null) first = performance.now();
        if (spec.stop_ids.includes(token)) break;
        tokens.push(token);
        if (tokens.length >= spec.max_tokens) break;
    }
    const end = performance.now();
    return {tokens, first_token_seconds: (first - start) / 1000, seconds: (end - start) / 1000};
}

if (spec.warmup) await answer(spec.prompts[0].slice(0, 8));
const results = [];
for (const prompt of spec.prompts) results.push(await answer(prompt));
const rssMb = process.memoryUsage().rss / 2 ** 20;
console.log(JSON.stringify({threads: context.currentThreads, rss_mb: rssMb, results}));
await context.dispose();
await model.dispose();
await llama.dispose();
