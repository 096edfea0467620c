/**
 * A parser for the code the `code` domain asks for: one function in a Python-like or a JavaScript subset,
 * enough to tell code that parses from code that does not (the `format` filter of the code domain), and to
 * tell identifiers, comments and strings apart (the `keyword` filter names where a word was found).
 *
 * Python subset: `def name(params):` and an indented body of statements (return, assignment, expression, if /
 * elif / else with nested blocks, pass), expressions with `x if c else y`, or / and / not, comparisons,
 * arithmetic, calls, indexing, attributes, lists, strings and numbers; `#` comments.
 * JavaScript subset: `function name(params) { ... }` with return, const / let / var, if / else, expression
 * statements (semicolons optional), expressions with `c ? x : y`, || / && / !, comparisons, arithmetic, calls,
 * indexing, members, arrow functions, arrays, strings and numbers; `//` and block comments.
 */

export type Language = "python" | "javascript";

export interface CodeToken {
    kind: "name" | "number" | "string" | "op" | "comment" | "newline" | "indent" | "dedent" | "end";
    text: string;
    line: number;
}

export type CodeParse = { ok: true; tokens: CodeToken[] } | { ok: false; reason: string; line: number };

class Fail extends Error {
    constructor(
        public reason: string,
        public line: number,
    ) {
        super(reason);
    }
}

const OPS = ["===", "!==", "**", "//", "==", "!=", "<=", ">=", "=>", "&&", "||", "+=", "-=", "*=", "/=", "(", ")", "[", "]", "{", "}", ",", ":", ";", ".", "+", "-", "*", "/", "%", "<", ">", "=", "!", "?"];

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
    if (language === "python") while (indents.length > 1) {
        indents.pop();
        out.push({ kind: "dedent", text: "", line: lines.length });
    }
    out.push({ kind: "end", text: "", line: lines.length });
    return out;
}

const PY_KEYWORDS = new Set(["def", "return", "if", "elif", "else", "and", "or", "not", "pass", "in", "is", "for", "while", "lambda"]);
const JS_KEYWORDS = new Set(["function", "return", "if", "else", "const", "let", "var", "for", "while", "new", "typeof"]);

/** Parses `source` as one function of the language's subset; the reason and line when it does not parse. */
export function parseCode(source: string, language: Language): CodeParse {
    let tokens: CodeToken[];
    try {
        tokens = tokenize(source, language);
    } catch (e) {
        if (e instanceof Fail) return { ok: false, reason: e.reason, line: e.line };
        throw e;
    }
    const code = tokens.filter((t) => t.kind !== "comment");
    let at = 0;
    const peek = (k = 0) => code[Math.min(at + k, code.length - 1)]!;
    const is = (text: string, k = 0) => peek(k).kind !== "string" && peek(k).text === text;
    const fail = (what?: string): never => {
        const t = peek();
        throw new Fail(what ?? (t.kind === "end" ? "unexpected end" : `unexpected ${t.kind === "newline" ? "line end" : t.kind === "indent" ? "indent" : t.kind === "dedent" ? "dedent" : JSON.stringify(t.text)}`), t.line);
    };
    const eat = (text: string) => (is(text) ? code[at++]! : fail());
    const keywords = language === "python" ? PY_KEYWORDS : JS_KEYWORDS;
    const name = () => (peek().kind === "name" && !keywords.has(peek().text) ? code[at++]! : fail());
    const list = (close: string, item: () => void) => {
        while (!is(close)) {
            item();
            if (!is(close)) eat(",");
        }
        eat(close);
    };

    // ---- expressions (one grammar, the language's spelling of its operators) ----
    const py = language === "python";
    const BINARY: string[][] = py
        ? [["or"], ["and"], ["==", "!=", "<", ">", "<=", ">=", "in", "is"], ["+", "-"], ["*", "/", "//", "%"], ["**"]]
        : [["||"], ["&&"], ["===", "!==", "==", "!=", "<", ">", "<=", ">="], ["+", "-"], ["*", "/", "%"], ["**"]];
    const expr = (): void => {
        if (!py && arrowAhead()) return arrow();
        binary(0);
        if (py && is("if")) {
            eat("if");
            binary(0);
            eat("else");
            expr();
        } else if (!py && is("?")) {
            eat("?");
            expr();
            eat(":");
            expr();
        }
    };
    const binary = (level: number): void => {
        if (level === BINARY.length) return unary();
        binary(level + 1);
        while (BINARY[level]!.some((op) => is(op))) {
            at++;
            binary(level + 1);
        }
    };
    const unary = (): void => {
        if (is("-") || is("+") || is(py ? "not" : "!")) {
            at++;
            return unary();
        }
        postfix();
    };
    const postfix = () => {
        atom();
        for (;;) {
            if (is("(")) {
                eat("(");
                list(")", expr);
            } else if (is("[")) {
                eat("[");
                expr();
                eat("]");
            } else if (is(".")) {
                eat(".");
                if (peek().kind !== "name") fail();
                at++;
            } else return;
        }
    };
    const atom = () => {
        const t = peek();
        if (t.kind === "number" || t.kind === "string") return void at++;
        if (t.kind === "name" && (py ? ["True", "False", "None"] : ["true", "false", "null", "undefined"]).includes(t.text)) return void at++;
        if (t.kind === "name" && !keywords.has(t.text)) return void at++;
        if (is("(")) {
            eat("(");
            expr();
            return void eat(")");
        }
        if (is("[")) {
            eat("[");
            return list("]", expr);
        }
        fail();
    };
    // (a, b) => ..., x => ...
    const arrowAhead = () => {
        if (peek().kind === "name" && is("=>", 1)) return true;
        if (!is("(")) return false;
        let k = 1;
        while (peek(k).kind === "name" || is(",", k)) k++;
        return is(")", k) && is("=>", k + 1);
    };
    const arrow = () => {
        if (is("(")) {
            eat("(");
            list(")", name);
        } else name();
        eat("=>");
        if (is("{")) block();
        else expr();
    };

    // ---- statements ----
    const pyBlock = () => {
        eat(":");
        if (peek().kind !== "newline") {
            pySimple();
            return;
        }
        at++;
        if (peek().kind !== "indent") fail("expected an indented block");
        at++;
        while (peek().kind !== "dedent" && peek().kind !== "end") pyStatement();
        if (peek().kind === "dedent") at++;
    };
    const pySimple = () => {
        if (is("return")) {
            eat("return");
            if (peek().kind !== "newline") expr();
        } else if (is("pass")) eat("pass");
        else {
            expr();
            if (is("=") || is("+=") || is("-=") || is("*=") || is("/=")) {
                at++;
                expr();
            }
        }
        if (peek().kind !== "newline" && peek().kind !== "end") fail();
        if (peek().kind === "newline") at++;
    };
    const pyStatement = () => {
        if (is("if")) {
            eat("if");
            expr();
            pyBlock();
            while (is("elif")) {
                eat("elif");
                expr();
                pyBlock();
            }
            if (is("else")) {
                eat("else");
                pyBlock();
            }
        } else pySimple();
    };
    const jsStatement = (): void => {
        if (is("return")) {
            eat("return");
            if (!is(";") && !is("}")) expr();
        } else if (is("const") || is("let") || is("var")) {
            at++;
            name();
            eat("=");
            expr();
        } else if (is("if")) {
            eat("if");
            eat("(");
            expr();
            eat(")");
            if (is("{")) block();
            else jsStatement();
            if (is("else")) {
                eat("else");
                if (is("{")) block();
                else jsStatement();
            }
            return;
        } else {
            expr();
            if (is("=") || is("+=") || is("-=") || is("*=") || is("/=")) {
                at++;
                expr();
            }
        }
        if (is(";")) eat(";");
        else if (!is("}") && peek().line === code[at - 1]!.line) fail();
    };
    const block = () => {
        eat("{");
        while (!is("}")) {
            if (peek().kind === "end") fail("unclosed {");
            jsStatement();
        }
        eat("}");
    };

    try {
        if (py) {
            eat("def");
            name();
            eat("(");
            list(")", name);
            pyBlock();
        } else {
            eat("function");
            name();
            eat("(");
            list(")", name);
            block();
        }
        while (peek().kind === "newline" || peek().kind === "dedent") at++;
        if (peek().kind !== "end") fail("text after the function");
        return { ok: true, tokens };
    } catch (e) {
        if (e instanceof Fail) return { ok: false, reason: e.reason, line: e.line };
        throw e;
    }
}

export interface CodePart {
    kind: "identifier" | "comment" | "string";
    text: string;
}

/** Identifiers, comments and strings of a source, as the keyword filter looks at them (a source that does not tokenize: the whole text as one string). */
export function codeParts(source: string, language: Language): CodePart[] {
    const kinds: Partial<Record<CodeToken["kind"], CodePart["kind"]>> = { name: "identifier", comment: "comment", string: "string" };
    try {
        return tokenize(source, language).flatMap((t): CodePart[] => (kinds[t.kind] ? [{ kind: kinds[t.kind]!, text: t.text }] : []));
    } catch {
        return [{ kind: "string", text: source }];
    }
}
