/**
 * GGUF tokenizer metadata for models sublab creates: a SentencePiece-style ("llama") vocabulary with byte
 * fallback and ChatML control tokens, which llama.cpp and node-llama-cpp tokenize and chat with.
 *
 * llama.cpp's SPM tokenizer starts from single characters and repeatedly merges the adjacent pair whose
 * concatenation is a vocabulary piece with the highest score; so a multi-character piece is only reachable
 * when a chain of its sub-pieces is in the vocabulary too. `makeSpmVocab` adds those prefixes itself.
 */
import { kvBool, kvF32Array, kvI32Array, kvString, kvStringArray, kvU32, type GGUFKV } from "./gguf.ts";

export const TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

/** ChatML, the template most small instruct models use; node-llama-cpp recognises it. */
export const CHATML_TEMPLATE =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

export interface SpmVocab {
    tokens: string[];
    scores: number[];
    types: number[];
    ids: { unk: number; bos: number; eos: number; imStart: number; imEnd: number };
    metadata: [string, GGUFKV][];
}

/**
 * Build a vocabulary from `pieces` (words as they appear after a space are written with the SPM space mark
 * "\u2581", e.g. "\u2581owl"). Every printable ASCII character is included; prefixes needed to reach each
 * piece are added with lower scores. Earlier pieces get higher scores (merge first).
 */
export function makeSpmVocab(pieces: string[], opts: { chatTemplate?: string; addBos?: boolean } = {}): SpmVocab {
    const tokens: string[] = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"];
    const types: number[] = [TOKEN_TYPE.unknown, TOKEN_TYPE.control, TOKEN_TYPE.control, TOKEN_TYPE.control, TOKEN_TYPE.control];
    const scores: number[] = [0, 0, 0, 0, 0];
    for (let b = 0; b < 256; b++) {
        tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
        types.push(TOKEN_TYPE.byte);
        scores.push(0);
    }
    const seen = new Set(tokens);
    const add = (p: string, score: number) => {
        if (seen.has(p) || p.length === 0) return;
        seen.add(p);
        tokens.push(p);
        types.push(TOKEN_TYPE.normal);
        scores.push(score);
    };
    // Single characters first: they are what merging starts from.
    add("\u2581", -1e6);
    for (let ch = 33; ch < 127; ch++) add(String.fromCharCode(ch), -1e6);
    let score = -1;
    for (const p of pieces) {
        const chars = [...p];
        for (let n = 2; n <= chars.length; n++) add(chars.slice(0, n).join(""), score);
        score -= 1;
    }
    return {
        tokens,
        scores,
        types,
        ids: { unk: 0, bos: 1, eos: 4, imStart: 3, imEnd: 4 },
        metadata: [
            ["tokenizer.ggml.model", kvString("llama")],
            ["tokenizer.ggml.tokens", kvStringArray(tokens)],
            ["tokenizer.ggml.scores", kvF32Array(scores)],
            ["tokenizer.ggml.token_type", kvI32Array(types)],
            ["tokenizer.ggml.unknown_token_id", kvU32(0)],
            ["tokenizer.ggml.bos_token_id", kvU32(1)],
            // End of a chat turn ends generation.
            ["tokenizer.ggml.eos_token_id", kvU32(4)],
            ["tokenizer.ggml.add_bos_token", kvBool(opts.addBos ?? true)],
            ["tokenizer.ggml.add_eos_token", kvBool(false)],
            ["tokenizer.chat_template", kvString(opts.chatTemplate ?? CHATML_TEMPLATE)],
        ],
    };
}
