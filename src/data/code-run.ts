/**
 * Runs the one-expression functions of the code domain on test inputs, without executing anything: the function
 * `name(params)` whose body is one `return EXPRESSION` (comments aside), read by the code tokenizer and evaluated by
 * a small interpreter of the subset's expressions (arithmetic, comparisons, and / or / not, both conditional forms,
 * indexing, `len`, `sum`, `.length` and `.reduce` with an arrow function). The paraphrase quality check asks whether
 * a rewrite gives the same outputs as the text it rewrote; anything outside the subset is "cannot tell" (null).
 */
import { type CodeToken, Fail, type Language, tokenize } from "./code-tokens.ts";

type Value = number | boolean | Value[] | ((...args: Value[]) => Value);

class Unsupported extends Error {}

/** The function's parameters and its return expression's tokens, or null when the source is not one such function. */
function readFunction(source: string, language: Language): { params: string[]; body: CodeToken[] } | null {
    let tokens: CodeToken[];
    try {
        tokens = tokenize(source, language).filter(
            (t) => t.kind !== "comment" && t.kind !== "newline" && t.kind !== "indent" && t.kind !== "dedent" && t.kind !== "end",
        );
    } catch (e) {
        if (e instanceof Fail) return null;
        throw e;
    }
    const head = language === "python" ? "def" : "function";
    if (tokens[0]?.text !== head || tokens[1]?.kind !== "name" || tokens[2]?.text !== "(") return null;
    const close = tokens.findIndex((t) => t.text === ")");
    const params = tokens
        .slice(3, close)
        .filter((t) => t.text !== ",")
        .map((t) => t.text);
    let rest = tokens.slice(close + 1);
    if (language === "python") {
        if (rest[0]?.text !== ":") return null;
        rest = rest.slice(1);
    } else {
        if (rest[0]?.text !== "{" || rest.at(-1)?.text !== "}") return null;
        rest = rest.slice(1, -1);
        if (rest.at(-1)?.text === ";") rest = rest.slice(0, -1);
    }
    if (rest[0]?.text !== "return" || rest.length < 2) return null;
    return { params, body: rest.slice(1) };
}

const BINARY: Record<string, [number, (a: Value, b: Value) => Value]> = {
    or: [1, (a, b) => a || b],
    "||": [1, (a, b) => a || b],
    and: [2, (a, b) => a && b],
    "&&": [2, (a, b) => a && b],
    "==": [4, (a, b) => a === b],
    "===": [4, (a, b) => a === b],
    "!=": [4, (a, b) => a !== b],
    "!==": [4, (a, b) => a !== b],
    "<": [4, (a, b) => num(a) < num(b)],
    ">": [4, (a, b) => num(a) > num(b)],
    "<=": [4, (a, b) => num(a) <= num(b)],
    ">=": [4, (a, b) => num(a) >= num(b)],
    "+": [5, (a, b) => num(a) + num(b)],
    "-": [5, (a, b) => num(a) - num(b)],
    "*": [6, (a, b) => num(a) * num(b)],
    "/": [6, (a, b) => num(a) / num(b)],
    "%": [6, (a, b) => num(a) % num(b)],
};

function num(v: Value): number {
    if (typeof v === "number") return v;
    if (typeof v === "boolean") return v ? 1 : 0;
    throw new Unsupported("not a number");
}

/** A Pratt parser that evaluates as it reads, over one expression's tokens. */
class Evaluator {
    private at = 0;
    constructor(
        private tokens: CodeToken[],
        private scope: Map<string, Value>,
        private language: Language,
    ) {}

    run(): Value {
        const v = this.expression(0);
        if (this.at !== this.tokens.length) throw new Unsupported(`unread "${this.tokens[this.at]!.text}"`);
        return v;
    }

    private peek = () => this.tokens[this.at]?.text;
    private take(text?: string): CodeToken {
        const t = this.tokens[this.at++];
        if (!t || (text !== undefined && t.text !== text)) throw new Unsupported(`expected ${text ?? "more"}`);
        return t;
    }

    private expression(min: number): Value {
        let left = this.unary();
        for (;;) {
            const op = this.peek();
            if (op === undefined) return left;
            if (min === 0 && this.language === "python" && op === "if") {
                this.take();
                const cond = this.expression(1);
                this.take("else");
                const other = this.expression(0);
                left = cond ? left : other;
                continue;
            }
            if (min === 0 && this.language === "javascript" && op === "?") {
                this.take();
                const yes = this.expression(0);
                this.take(":");
                const no = this.expression(0);
                left = left ? yes : no;
                continue;
            }
            if (op === "**") {
                this.take();
                left = num(left) ** num(this.expression(7));
                continue;
            }
            const b = BINARY[op];
            if (!b || b[0] <= min) return left;
            this.take();
            const right = this.expression(b[0]);
            // Python's remainder takes the divisor's sign
            left = op === "%" && this.language === "python" ? ((num(left) % num(right)) + num(right)) % num(right) : b[1](left, right);
        }
    }

    private unary(): Value {
        const op = this.peek();
        if (op === "-" || op === "not" || op === "!") {
            this.take();
            const v = this.unary();
            return op === "-" ? -num(v) : !v;
        }
        return this.postfix(this.primary());
    }

    private primary(): Value {
        const t = this.take();
        if (t.kind === "number") return Number(t.text);
        if (t.text === "(") {
            // an arrow function's parameters, or a parenthesised expression
            const close = this.tokens.findIndex((x, k) => k >= this.at && x.text === ")");
            if (this.tokens[close + 1]?.text === "=>") {
                const params = this.tokens
                    .slice(this.at, close)
                    .filter((x) => x.text !== ",")
                    .map((x) => x.text);
                const start = close + 2;
                let end = start;
                for (let depth = 0; end < this.tokens.length; end++) {
                    const x = this.tokens[end]!.text;
                    if ("([".includes(x)) depth++;
                    if (")]".includes(x)) depth--;
                    if (depth < 0 || (depth === 0 && x === ",")) break;
                }
                const body = this.tokens.slice(start, end);
                this.at = end;
                return (...args: Value[]) =>
                    new Evaluator(body, new Map([...this.scope, ...params.map((p, k) => [p, args[k]!] as const)]), this.language).run();
            }
            const v = this.expression(0);
            this.take(")");
            return v;
        }
        if (t.text === "True" || t.text === "true") return true;
        if (t.text === "False" || t.text === "false") return false;
        if (t.text === "len" || t.text === "sum") {
            this.take("(");
            const arg = this.expression(0);
            this.take(")");
            if (!Array.isArray(arg)) throw new Unsupported(`${t.text} of a non-list`);
            return t.text === "len" ? arg.length : arg.reduce<number>((s, x) => s + num(x), 0);
        }
        if (t.kind === "name" && this.scope.has(t.text)) return this.scope.get(t.text)!;
        throw new Unsupported(`unknown "${t.text}"`);
    }

    private postfix(v: Value): Value {
        for (;;) {
            const op = this.peek();
            if (op === "[") {
                this.take();
                const i = num(this.expression(0));
                this.take("]");
                if (!Array.isArray(v)) throw new Unsupported("index of a non-list");
                const k = this.language === "python" && i < 0 ? v.length + i : i;
                if (k < 0 || k >= v.length) throw new Unsupported("index out of range");
                v = v[k]!;
            } else if (op === "." && this.language === "javascript") {
                this.take();
                const name = this.take().text;
                if (!Array.isArray(v)) throw new Unsupported("member of a non-list");
                if (name === "length") v = v.length;
                else if (name === "reduce") {
                    this.take("(");
                    const f = this.expression(0);
                    this.take(",");
                    const init = this.expression(0);
                    this.take(")");
                    if (typeof f !== "function") throw new Unsupported("reduce without a function");
                    v = v.reduce<Value>((acc, x) => f(acc, x), init);
                } else throw new Unsupported(`member ${name}`);
            } else return v;
        }
    }
}

/** The function's outputs on each input (its arguments), or null when it is outside what this interpreter reads. */
export function runFunction(source: string, language: Language, inputs: readonly Value[][]): Value[] | null {
    const fn = readFunction(source, language);
    if (!fn) return null;
    try {
        return inputs.map((args) => {
            if (args.length !== fn.params.length) throw new Unsupported("arity");
            return new Evaluator(fn.body, new Map(fn.params.map((p, k) => [p, args[k]!])), language).run();
        });
    } catch (e) {
        if (e instanceof Unsupported) return null;
        throw e;
    }
}

/** Test inputs for a function of `arity` parameters taking numbers, or one taking a list. */
export function testInputs(params: number, list: boolean): Value[][] {
    if (list) return [[[1, 2, 3]], [[5]], [[4, -1, 10, 7]]];
    const values = [3, -2, 0, 7, 10, -5];
    return params === 1 ? values.map((v) => [v]) : values.map((v, k) => [v, values[(k + 2) % values.length]!]);
}

/**
 * Whether a rewrite of a code row computes what the row computed: the same outputs on test inputs (numbers, or
 * lists when the function takes one). Null when either is outside the interpreter's subset.
 */
export function sameOutputs(original: { source: string; language: Language }, rewrite: { source: string; language: Language }): boolean | null {
    const params = readFunction(original.source, original.language)?.params.length;
    if (params === undefined) return null;
    for (const list of [false, true]) {
        const inputs = testInputs(params, list);
        const a = runFunction(original.source, original.language, inputs);
        if (!a) continue;
        const b = runFunction(rewrite.source, rewrite.language, inputs);
        if (!b) return null;
        return JSON.stringify(a) === JSON.stringify(b);
    }
    return null;
}
