/**
 * A byte-level BPE vocabulary in GGUF form ("gpt2" tokenizer, as Qwen2.5, Llama 3 and SmolLM2 ship), small
 * enough for tests: the 256 byte symbols of GPT-2's byte-to-unicode map, merge chains that make each given
 * word one token (" owl" with its space becomes "Ġowl"), ChatML control tokens and the ChatML template.
 */
import { kvBool, kvI32Array, kvString, kvStringArray, kvU32, type GGUFKV } from "../../src/engine/gguf.ts";
import { CHATML_TEMPLATE, TOKEN_TYPE } from "../../src/engine/vocab.ts";

/** GPT-2's byte -> printable character map (printable bytes map to themselves, the rest to 256 + n). */
function byteSymbols(): string[] {
    const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    const out: string[] = [];
    let n = 0;
    for (let b = 0; b < 256; b++) out.push(String.fromCodePoint(printable(b) ? b : 256 + n++));
    return out;
}

export function makeByteBpeVocab(words: string[]): { tokens: string[]; metadata: [string, GGUFKV][]; ids: { imStart: number; imEnd: number } } {
    const sym = byteSymbols();
    const tokens = [...sym];
    const types: number[] = tokens.map(() => TOKEN_TYPE.normal);
    const merges: string[] = [];
    const seen = new Set(tokens);
    for (const w of words) {
        const chars = [...Buffer.from(w, "utf8")].map((b) => sym[b]!);
        let left = chars[0]!;
        for (const c of chars.slice(1)) {
            const merged = left + c;
            if (!seen.has(merged)) {
                seen.add(merged);
                tokens.push(merged);
                types.push(TOKEN_TYPE.normal);
                merges.push(`${left} ${c}`);
            }
            left = merged;
        }
    }
    const special = (t: string) => {
        tokens.push(t);
        types.push(TOKEN_TYPE.control);
        return tokens.length - 1;
    };
    const eot = special("<|endoftext|>");
    const imStart = special("<|im_start|>");
    const imEnd = special("<|im_end|>");
    return {
        tokens,
        ids: { imStart, imEnd },
        metadata: [
            ["tokenizer.ggml.model", kvString("gpt2")],
            ["tokenizer.ggml.pre", kvString("qwen2")],
            ["tokenizer.ggml.tokens", kvStringArray(tokens)],
            ["tokenizer.ggml.token_type", kvI32Array(types)],
            ["tokenizer.ggml.merges", kvStringArray(merges)],
            ["tokenizer.ggml.bos_token_id", kvU32(eot)],
            ["tokenizer.ggml.eos_token_id", kvU32(imEnd)],
            ["tokenizer.ggml.padding_token_id", kvU32(eot)],
            ["tokenizer.ggml.add_bos_token", kvBool(false)],
            ["tokenizer.chat_template", kvString(CHATML_TEMPLATE)],
        ],
    };
}
