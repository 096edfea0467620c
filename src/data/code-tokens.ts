/**
 * The tokenizer of the code domain's format filter (code-parse.ts): Python and JavaScript tokens with their lines, and the error that names the line a row fails at.
 */

export type Language = "python" | "javascript";

export interface CodeToken {
    kind: "name" | "number" | "string" | "op" | "comment" | "newline" | "indent" | "dedent" | "end";
    text: string;
    line: number;
}

export class Fail extends Error {
    constructor(
        public reason: string,
        public line: number,
    ) {
        super(reason);
    }
}

const OPS = [
    "===",
    "!==",
    "**",
    "//",
    "==",
    "!=",
    "<=",
    ">=",
    "=>",
    "&&",
    "||",
    "+=",
    "-=",
    "*=",
    "/=",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    ";",
    ".",
    "+",
    "-",
    "*",
    "/",
    "%",
    "<",
    ">",
    "=",
    "!",
    "?",
];

/** The tokens of a source (comments kept as tokens); Python gets indent and dedent tokens. */
export function tokenize(source: string, language: Language): CodeToken[] {
    const out: CodeToken[] = [];
    const lines = source.replace(/\r\n/g, "\n").split("\n");
    const indents = [0];
    let depth = 0; // open brackets: Python lines inside brackets continue
    let inBlock = false; // inside a JavaScript block comment
    lines.forEach((text, k) => {
        const line = k + 1;
        const start = out.length;
        let i = 0;
        if (language === "python" && depth === 0) {
            const blank = /^\s*(#.*)?$/.test(text);
            if (!blank) {
                const width = /^[ \t]*/.exec(text)![0].replace(/\t/g, "    ").length;
                if (width > indents.at(-1)!) {
                    indents.push(width);
                    out.push({ kind: "indent", text: "", line });
                }
                while (width < indents.at(-1)!) {
                    indents.pop();
                    out.push({ kind: "dedent", text: "", line });
                }
                if (width !== indents.at(-1)) throw new Fail("bad indentation", line);
            }
        }
        while (i < text.length) {
            const c = text[i]!;
            if (inBlock) {
                const close = text.indexOf("*/", i);
                if (close < 0) {
                    i = text.length;
                    continue;
                }
                out.push({ kind: "comment", text: "", line });
                inBlock = false;
                i = close + 2;
                continue;
            }
            if (c === " " || c === "\t") {
                i++;
                continue;
            }
            if ((language === "python" && c === "#") || (language === "javascript" && text.startsWith("//", i))) {
                out.push({ kind: "comment", text: text.slice(i), line });
                break;
            }
            if (language === "javascript" && text.startsWith("/*", i)) {
                inBlock = true;
                const close = text.indexOf("*/", i + 2);
                if (close >= 0) {
                    out.push({ kind: "comment", text: text.slice(i, close + 2), line });
                    inBlock = false;
                    i = close + 2;
                } else i = text.length;
                continue;
            }
            if (c === '"' || c === "'" || (language === "javascript" && c === "`")) {
                let j = i + 1;
                while (j < text.length && text[j] !== c) j += text[j] === "\\" ? 2 : 1;
                if (j >= text.length) throw new Fail("unterminated string", line);
                out.push({ kind: "string", text: text.slice(i, j + 1), line });
                i = j + 1;
                continue;
            }
            const word = /^[A-Za-z_$][A-Za-z0-9_$]*/.exec(text.slice(i));
            if (word) {
                out.push({ kind: "name", text: word[0], line });
                i += word[0].length;
                continue;
            }
            const num = /^\d+(\.\d+)?/.exec(text.slice(i));
            if (num) {
                out.push({ kind: "number", text: num[0], line });
                i += num[0].length;
                continue;
            }
            const op = OPS.find((o) => text.startsWith(o, i));
            if (!op) throw new Fail(`unexpected character ${JSON.stringify(c)}`, line);
            if ("([{".includes(op)) depth++;
            if (")]}".includes(op)) depth = Math.max(0, depth - 1);
            out.push({ kind: "op", text: op, line });
            i += op.length;
        }
        const code = out.slice(start).some((t) => t.kind !== "comment" && t.kind !== "indent" && t.kind !== "dedent");
        if (language === "python" && depth === 0 && code) out.push({ kind: "newline", text: "", line });
    });
    if (inBlock) throw new Fail("unterminated comment", lines.length);
    if (language === "python")
        while (indents.length > 1) {
            indents.pop();
            out.push({ kind: "dedent", text: "", line: lines.length });
        }
    out.push({ kind: "end", text: "", line: lines.length });
    return out;
}
