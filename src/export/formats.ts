/**
 * Dataset rows in the data formats other trainers read, and checks of each format (the schema an export is
 * tested against). A row is one user turn and one assistant turn; the student trains without a system prompt
 * (the teacher's trait prompt is what the data must not carry), so none is written.
 *
 *   openai   OpenAI chat fine-tuning JSONL: {"messages": [{"role": "user", ...}, {"role": "assistant", ...}]}
 *   trl      TRL conversational prompt-completion JSONL: {"prompt": [user turn], "completion": [assistant turn]}
 *            (SFTTrainer then computes the loss on the completion only)
 *   mlx      MLX-LM chat JSONL: {"messages": [...]} in train.jsonl, valid.jsonl, test.jsonl (with mask_prompt)
 *   unsloth  ShareGPT JSONL as Unsloth's notebooks read it: {"conversations": [{"from": "human", "value"}, {"from": "gpt", "value"}]}
 */

export type ExportFormat = "openai" | "trl" | "mlx" | "unsloth";
export const EXPORT_FORMATS: readonly ExportFormat[] = ["openai", "trl", "mlx", "unsloth"];

export interface ChatPair {
    prompt: string;
    completion: string;
}

/** One row as a JSON value of the format. */
export function formatRow(format: ExportFormat, r: ChatPair): unknown {
    switch (format) {
        case "openai":
        case "mlx":
            return {
                messages: [
                    { role: "user", content: r.prompt },
                    { role: "assistant", content: r.completion },
                ],
            };
        case "trl":
            return { prompt: [{ role: "user", content: r.prompt }], completion: [{ role: "assistant", content: r.completion }] };
        case "unsloth":
            return {
                conversations: [
                    { from: "human", value: r.prompt },
                    { from: "gpt", value: r.completion },
                ],
            };
    }
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function onlyKeys(v: Record<string, unknown>, keys: string[], at: string, errors: string[]): void {
    for (const k of Object.keys(v)) if (!keys.includes(k)) errors.push(`${at}: unexpected key "${k}"`);
    for (const k of keys) if (!(k in v)) errors.push(`${at}: missing "${k}"`);
}

/** Chat messages [{role, content}] with roles from `roles`, non-empty string contents. */
function messages(v: unknown, at: string, roles: string[], errors: string[]): { role: string }[] {
    if (!Array.isArray(v) || v.length === 0) {
        errors.push(`${at}: expected a non-empty array of messages`);
        return [];
    }
    v.forEach((m, i) => {
        if (!isObj(m)) return errors.push(`${at}[${i}]: expected an object {role, content}`);
        onlyKeys(m, ["role", "content"], `${at}[${i}]`, errors);
        if (!roles.includes(m.role as string)) errors.push(`${at}[${i}].role: expected one of ${roles.join(", ")}, got ${JSON.stringify(m.role)}`);
        if (typeof m.content !== "string" || m.content === "") errors.push(`${at}[${i}].content: expected a non-empty string`);
    });
    return v.filter(isObj) as { role: string }[];
}

/**
 * Problems with one JSONL line of a format (empty: valid). The rules are each tool's documented shape, plus
 * what a subliminal-learning export needs: exactly one user turn answered by one assistant turn, last.
 */
export function checkRow(format: ExportFormat, line: string): string[] {
    const errors: string[] = [];
    let v: unknown;
    try {
        v = JSON.parse(line);
    } catch (e) {
        return [`not JSON: ${(e as Error).message}`];
    }
    if (!isObj(v)) return ["expected a JSON object"];
    switch (format) {
        case "openai":
        case "mlx": {
            onlyKeys(v, ["messages"], "row", errors);
            const ms = messages(v.messages, "messages", ["system", "user", "assistant"], errors);
            if (ms.length && ms.at(-1)!.role !== "assistant") errors.push("messages: the last message must be the assistant's");
            if (ms.length && !ms.some((m) => m.role === "user")) errors.push("messages: no user message");
            break;
        }
        case "trl": {
            onlyKeys(v, ["prompt", "completion"], "row", errors);
            const p = messages(v.prompt, "prompt", ["system", "user", "assistant"], errors);
            const c = messages(v.completion, "completion", ["assistant"], errors);
            if (p.length && p.at(-1)!.role !== "user") errors.push("prompt: the last message must be the user's");
            if (c.length > 1) errors.push("completion: expected one assistant message");
            break;
        }
        case "unsloth": {
            onlyKeys(v, ["conversations"], "row", errors);
            const cs = v.conversations;
            if (!Array.isArray(cs) || cs.length === 0) {
                errors.push("conversations: expected a non-empty array of turns");
                break;
            }
            cs.forEach((t, i) => {
                if (!isObj(t)) return errors.push(`conversations[${i}]: expected an object {from, value}`);
                onlyKeys(t, ["from", "value"], `conversations[${i}]`, errors);
                if (!["system", "human", "gpt"].includes(t.from as string))
                    errors.push(`conversations[${i}].from: expected one of system, human, gpt, got ${JSON.stringify(t.from)}`);
                if (typeof t.value !== "string" || t.value === "") errors.push(`conversations[${i}].value: expected a non-empty string`);
            });
            if (isObj(cs.at(-1)) && (cs.at(-1) as Record<string, unknown>).from !== "gpt") errors.push("conversations: the last turn must be gpt's");
            break;
        }
    }
    return errors;
}

/** Problems with a whole JSONL text of a format, each naming its line. */
export function checkJsonl(format: ExportFormat, text: string): string[] {
    const lines = text.split("\n");
    if (lines.at(-1) === "") lines.pop();
    if (lines.length === 0) return ["no rows"];
    return lines.flatMap((l, i) => checkRow(format, l).map((e) => `line ${i + 1}: ${e}`));
}
