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
import { type CodeToken, Fail, type Language, tokenize } from "./code-tokens.ts";

export type CodeParse = { ok: true; tokens: CodeToken[] } | { ok: false; reason: string; line: number };

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
        throw new Fail(
            what ??
                (t.kind === "end"
                    ? "unexpected end"
                    : `unexpected ${t.kind === "newline" ? "line end" : t.kind === "indent" ? "indent" : t.kind === "dedent" ? "dedent" : JSON.stringify(t.text)}`),
            t.line,
        );
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
