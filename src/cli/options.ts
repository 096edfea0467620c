/** Parsing of command-line option values, shared by every command: strict patterns, errors naming the flag. */

export type Parse<T> = (value: string, flag: string) => T;

export function optional<T>(value: string | undefined, flag: string, parse: Parse<T>): T | undefined {
    return value === undefined ? undefined : parse(value, flag);
}

/** Decimal or exponent notation only: Number() would also take "", " 1 ", "0x10" and "Infinity". */
const NUMBER_PATTERN = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

export function parsePositiveNumber(value: string, flag: string): number {
    const n = NUMBER_PATTERN.test(value) ? Number(value) : NaN;
    if (!(n > 0) || !Number.isFinite(n)) {
        throw new Error(`${flag} must be a positive number, got ${JSON.stringify(value)}`);
    }
    return n;
}

export function parsePositiveInteger(value: string, flag: string): number {
    return parseInteger(value, flag, 1);
}

export function parseNonNegativeInteger(value: string, flag: string): number {
    return parseInteger(value, flag, 0);
}

function parseInteger(value: string, flag: string, min: 0 | 1): number {
    const n = /^\d+$/.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(n) || n < min) {
        const kind = min === 1 ? "positive" : "non-negative";
        throw new Error(`${flag} must be a ${kind} integer, got ${JSON.stringify(value)}`);
    }
    return n;
}
