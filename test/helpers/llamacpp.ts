/** node-llama-cpp as the reference: next-token probabilities of GGUF files, with an optional LoRA adapter. */
import { getLlama, LlamaLogLevel, type Llama, type Token } from "node-llama-cpp";

let llama: Llama | undefined;

export async function referenceLlama(): Promise<Llama> {
    llama ??= await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
    return llama;
}

/** log p(next token) over the whole vocabulary after each token sequence, from llama.cpp's own inference. */
export async function llamaCppNextLogProbs(modelPath: string, vocabSize: number, seqs: number[][], lora?: string): Promise<Float64Array[]> {
    const l = await referenceLlama();
    const model = await l.loadModel({ modelPath });
    const ctx = await model.createContext({
        contextSize: Math.max(32, ...seqs.map((s) => s.length + 1)),
        threads: 1,
        // Exact math for the comparison: llama.cpp's default f16 KV cache alone moves log-probs by ~1e-3.
        flashAttention: false,
        experimentalKvCacheKeyType: "F32",
        experimentalKvCacheValueType: "F32",
        lora: lora ? { adapters: [{ filePath: lora, scale: 1 }] } : undefined,
    });
    const seq = ctx.getSequence();
    const out: Float64Array[] = [];
    try {
        for (const s of seqs) {
            await seq.clearHistory();
            const items = s.map((t, j) => (j === s.length - 1 ? ([t, { generateNext: { probabilities: true } }] as const) : t)) as (
                Token | [Token, { generateNext: { probabilities: true } }]
            )[];
            const res = await seq.controlledEvaluate(items);
            const probs = res[res.length - 1]?.next?.probabilities;
            if (!probs) throw new Error("node-llama-cpp returned no probabilities");
            const lp = new Float64Array(vocabSize).fill(-Infinity);
            for (const [tok, p] of probs) lp[tok] = Math.log(p);
            out.push(lp);
        }
    } finally {
        await ctx.dispose();
        await model.dispose();
    }
    return out;
}
