/**
 * Value checks for JSON files (experiment and sweep files): each check says what it expects and parses a value
 * or records errors naming the JSON path, what was expected and what was found, so that a file's every problem
 * is reported at once. `object` refuses unknown keys and fills defaults.
 */
import { parseStageSpec } from "../data/filter-stages.ts";

/** A value check: what it expects (for messages), and a parser that returns the value or pushes errors. */
export interface Check<T> {
    what: string;
    parse(value: unknown, path: string, errors: string[]): T | undefined;
}

/** An object key: required, or with a default (a raw value, or one computed from the keys resolved before it). */
export interface Field<T> {
    check: Check<T>;
    required: boolean;
    fallback?: unknown;
}

type Shape = Record<string, Field<unknown>>;
type Resolved<S extends Shape> = { [K in keyof S]: S[K] extends Field<infer T> ? T : never };

export const join = (path: string, key: string) => (path ? `${path}.${key}` : key);
const at = (path: string, message: string) => (path ? `${path}: ${message}` : message);

/** How a found value reads in a message. */
export function show(v: unknown): string {
    if (v === undefined) return "nothing";
    if (typeof v === "string") return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
    if (Array.isArray(v)) return v.length === 0 ? "an empty array" : "an array";
    if (typeof v === "object" && v !== null) return "an object";
    return String(v);
}

/** Record that `v` at `path` is not `what`. */
export function fail(path: string, what: string, v: unknown, errors: string[]): undefined {
    errors.push(at(path, `expected ${what}, got ${show(v)}`));
    return undefined;
}

/** A check of one value by a predicate. */
export function check<T>(what: string, ok: (v: unknown) => boolean): Check<T> {
    return { what, parse: (v, path, errors) => (ok(v) ? (v as T) : fail(path, what, v, errors)) };
}

export function int(min?: number, max?: number): Check<number> {
    const what = max !== undefined ? `an integer from ${min} to ${max}` : min !== undefined ? `an integer >= ${min}` : "an integer";
    return check(what, (v) => Number.isInteger(v) && (min === undefined || (v as number) >= min) && (max === undefined || (v as number) <= max));
}

export function num(gt: number): Check<number> {
    return check(`a number > ${gt}`, (v) => typeof v === "number" && Number.isFinite(v) && v > gt);
}

export const bool: Check<boolean> = check("true or false", (v) => typeof v === "boolean");

export function str(what = "a string", ok: (s: string) => boolean = () => true): Check<string> {
    return check(what, (v) => typeof v === "string" && ok(v));
}

export const nonEmpty = str("a non-empty string", (s) => s.length > 0);

export function oneOf<const T extends string>(values: readonly T[]): Check<T> {
    return check(`one of ${values.map((x) => JSON.stringify(x)).join(", ")}`, (v) => values.includes(v as T));
}

/** `inner` or null (meant for leaf checks: a failure reads as one message naming both). */
export function nullable<T>(inner: Check<T>): Check<T | null> {
    const what = `${inner.what} or null`;
    return { what, parse: (v, path, errors) => (v === null ? null : (inner.parse(v, path, []) ?? fail(path, what, v, errors))) };
}

/** `word` for a string, `items` for an array (so element errors keep their paths). */
export function wordOrList<A, B>(word: Check<A>, items: Check<B[]>): Check<A | B[]> {
    const what = `${word.what}, or ${items.what}`;
    return {
        what,
        parse(v, path, errors) {
            if (typeof v === "string") return word.parse(v, path, errors);
            return Array.isArray(v) ? items.parse(v, path, errors) : fail(path, what, v, errors);
        },
    };
}

/** An array whose elements each pass `item` (paths name the element: "x[2]"). */
export function list<T>(item: Check<T>, opts: { nonEmpty?: boolean; distinct?: boolean } = {}): Check<T[]> {
    const what = `${opts.nonEmpty ? "a non-empty" : "an"} array${opts.distinct ? " of distinct" : " of"} items, each ${item.what}`;
    return {
        what,
        parse(v, path, errors) {
            if (!Array.isArray(v) || (opts.nonEmpty && v.length === 0)) return fail(path, what, v, errors);
            const n = errors.length;
            const out = v.map((x, i) => item.parse(x, `${path}[${i}]`, errors) as T);
            if (opts.distinct) {
                out.forEach((x, i) => {
                    const first = out.indexOf(x);
                    if (x !== undefined && first < i) errors.push(`${path}[${i}]: expected distinct items, got ${show(x)} again (first at [${first}])`);
                });
            }
            return errors.length === n ? out : undefined;
        },
    };
}

/** A filter or defense stage spec, "name" or "name:key=value,..." (src/data/filter-stages.ts), written normalised. */
export const stageSpec: Check<string> = {
    what: "a filter spec (name or name:key=value,...)",
    parse(v, path, errors) {
        if (typeof v !== "string") return fail(path, "a filter spec string", v, errors);
        try {
            return parseStageSpec(v).text;
        } catch (e) {
            errors.push(at(path, (e as Error).message));
            return undefined;
        }
    },
};

/** `inner` (an object check) or null. */
export function orNull<T>(inner: Check<T>): Check<T | null> {
    return { what: `${inner.what} or null`, parse: (v, path, errors) => (v === null ? null : inner.parse(v, path, errors)) };
}

/** A section that may be left out: absent stays absent (undefined, not in the resolved JSON). */
export function absentOr<T>(inner: Check<T>): Check<T | undefined> {
    return { what: inner.what, parse: (v, path, errors) => (v === undefined ? undefined : inner.parse(v, path, errors)) };
}

export const req = <T>(c: Check<T>): Field<T> => ({ check: c, required: true });
/** A default, checked like a given value; a function computes it from the keys resolved before it. */
export const opt = <T>(c: Check<T>, fallback: unknown): Field<T> => ({ check: c, required: false, fallback });

/** An object with exactly these keys (in this order), then `refine` for checks across keys. */
export function object<S extends Shape>(shape: S, refine?: (o: Partial<Resolved<S>>, path: string, errors: string[]) => void): Check<Resolved<S>> {
    const known = Object.keys(shape);
    return {
        what: "an object",
        parse(v, path, errors) {
            if (typeof v !== "object" || v === null || Array.isArray(v)) return fail(path, "an object", v, errors);
            const n = errors.length;
            const given = v as Record<string, unknown>;
            for (const key of Object.keys(given)) {
                if (!Object.hasOwn(shape, key)) errors.push(`${join(path, key)}: unknown key (known: ${known.join(", ")})`);
            }
            const out: Record<string, unknown> = {};
            for (const key of known) {
                const field = shape[key];
                let raw = Object.hasOwn(given, key) ? given[key] : undefined;
                if (raw === undefined && field.required) {
                    errors.push(`${join(path, key)}: missing, expected ${field.check.what}`);
                    continue;
                }
                if (raw === undefined) raw = typeof field.fallback === "function" ? field.fallback(out) : field.fallback;
                out[key] = field.check.parse(raw, join(path, key), errors);
            }
            refine?.(out as Partial<Resolved<S>>, path, errors);
            return errors.length === n ? (out as Resolved<S>) : undefined;
        },
    };
}

/**
 * Throws one Error for `errors` (none: returns): a single problem on one line after `source`, several one a line
 * under a count (each line prefixed with `source` too unless `prefixLines` is false).
 */
export function throwErrors(errors: string[], source: string | undefined, what: string, prefixLines = true): void {
    const prefix = source ? `${source}: ` : "";
    if (errors.length === 1) throw new Error(prefix + errors[0]);
    if (errors.length > 1)
        throw new Error([`${errors.length} errors in ${source ?? what}:`, ...errors.map((e) => `  ${prefixLines ? prefix : ""}${e}`)].join("\n"));
}
