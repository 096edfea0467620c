/**
 * A progress line for long loops (training steps, generation, evaluation).
 *
 * On a terminal it redraws one line in place:
 *   train [########............] 40/100  40%  loss=2.346 tok/s=1381  1m05s  eta 1m30s
 * On anything else (CI logs, pipes, files) it prints that line as plain text at most every 5 s and once
 * more at the end, so a log shows progress without thousands of carriage returns.
 *
 * The ETA comes from the rate over the recent past (the last 30 s of updates), not the average since the
 * start: the first steps of a run (graph building, warm-up) are slower than the rest.
 */

/** The stream a ProgressBar writes to: process.stderr, or a fake in tests. */
export interface ProgressStream {
    write(text: string): unknown;
    /** True on a terminal; then the bar redraws one line in place. */
    isTTY?: boolean;
    /** The terminal width; the line is cut to fit it. */
    columns?: number;
}

export interface ProgressBarOptions {
    /** How many units of work there are (steps, rows, tokens). */
    total: number;
    /** A short word in front of the bar, e.g. "train". */
    label: string;
    /** Where the bar is written. Defaults to `process.stderr`. */
    stream?: ProgressStream;
    /** Milliseconds between plain lines when the stream is not a terminal. Defaults to `5000`. */
    plainIntervalMs?: number;
    /** Milliseconds between redraws on a terminal. Defaults to `100`. */
    ttyIntervalMs?: number;
    /** The clock in milliseconds, replaceable in tests. Defaults to `performance.now`. */
    now?: () => number;
}

/** How far back the rate behind the ETA looks, in milliseconds. */
const RATE_WINDOW_MS = 30_000;
const BAR_WIDTH = 20;

/**
 * A duration as a short human string: `formatDuration(5) === "5s"`, `formatDuration(65) === "1m05s"`,
 * `formatDuration(3725) === "1h02m"`, `formatDuration(2 * 86400 + 3 * 3600) === "2d03h"`.
 * Fractions of a second are rounded down; negative, NaN and infinite inputs give `"?"`.
 */
export function formatDuration(seconds: number): string {
    if (!Number.isFinite(seconds) || seconds < 0) return "?";
    const s = Math.floor(seconds);
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m${pad2(s % 60)}s`;
    if (s < 86400) return `${Math.floor(s / 3600)}h${pad2(Math.floor((s % 3600) / 60))}m`;
    return `${Math.floor(s / 86400)}d${pad2(Math.floor((s % 86400) / 3600))}h`;
}

/**
 * The time left for `total - done` units at `unitsPerSecond`, through {@link formatDuration}:
 * `formatEta(40, 100, 2) === "30s"`. Finished work gives `"0s"`; an unknown or zero rate gives `"?"`.
 */
export function formatEta(done: number, total: number, unitsPerSecond: number): string {
    if (done >= total) return "0s";
    if (!Number.isFinite(unitsPerSecond) || unitsPerSecond <= 0) return "?";
    return formatDuration((total - done) / unitsPerSecond);
}

/**
 * A field value as it appears on the line: integers as they are, other numbers with 4 significant digits,
 * large ones (>= 1000) rounded: 2.34567 -> "2.346", 1380.6 -> "1381", 0.000123456 -> "0.0001235".
 */
export function formatField(value: string | number): string {
    if (typeof value === "string") return value;
    if (!Number.isFinite(value)) return String(value);
    if (Number.isInteger(value) || Math.abs(value) >= 1000) return String(Math.round(value));
    return String(Number(value.toPrecision(4)));
}

function pad2(n: number): string {
    return n < 10 ? `0${n}` : String(n);
}

export class ProgressBar {
    private readonly total: number;
    private readonly label: string;
    private readonly stream: ProgressStream;
    private readonly isTTY: boolean;
    private readonly plainIntervalMs: number;
    private readonly ttyIntervalMs: number;
    private readonly now: () => number;
    private readonly startMs: number;
    /** (time, done) pairs of the recent past, oldest first; the ETA rate is taken over them. */
    private samples: { t: number; done: number }[] = [];
    private lastWriteMs: number;
    private done = 0;
    private fields: Record<string, string | number> = {};
    private finished = false;

    constructor(options: ProgressBarOptions) {
        if (!(options.total >= 0)) throw new Error(`ProgressBar total must be >= 0, got ${options.total}`);
        this.total = options.total;
        this.label = options.label;
        this.stream = options.stream ?? process.stderr;
        this.isTTY = this.stream.isTTY === true;
        this.plainIntervalMs = options.plainIntervalMs ?? 5000;
        this.ttyIntervalMs = options.ttyIntervalMs ?? 100;
        this.now = options.now ?? (() => performance.now());
        this.startMs = this.now();
        this.lastWriteMs = this.startMs;
        this.samples.push({ t: this.startMs, done: 0 });
    }

    /** Records that `done` units are finished, with the latest values of fields such as loss and tok/s. */
    update(done: number, fields: Record<string, string | number> = {}): void {
        if (this.finished) return;
        const t = this.now();
        this.done = done;
        this.fields = fields;
        this.samples.push({ t, done });
        while (this.samples.length > 2 && t - this.samples[1]!.t > RATE_WINDOW_MS) this.samples.shift();
        const interval = this.isTTY ? this.ttyIntervalMs : this.plainIntervalMs;
        if (t - this.lastWriteMs >= interval) this.write(t);
    }

    /** Writes the final line (always, terminal or not) and ends it with a newline. */
    finish(): void {
        if (this.finished) return;
        this.finished = true;
        this.write(this.now());
        if (this.isTTY) this.stream.write("\n");
    }

    /** The current line, without a carriage return or newline. */
    render(t: number = this.now()): string {
        const total = this.total;
        const fraction = total > 0 ? Math.min(1, Math.max(0, this.done / total)) : 1;
        const filled = Math.round(fraction * BAR_WIDTH);
        const bar = `[${"#".repeat(filled)}${".".repeat(BAR_WIDTH - filled)}]`;
        const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
        const fieldText = Object.entries(this.fields).map(([k, v]) => `${k}=${formatField(v)}`);
        const elapsed = formatDuration((t - this.startMs) / 1000);
        const eta = this.finished ? "" : `eta ${formatEta(this.done, total, this.recentRate())}`;
        const parts = [this.label, bar, `${this.done}/${total}`, percent, ...fieldText, elapsed, eta];
        return parts.filter((p) => p !== "").join("  ");
    }

    /** Units per second over the recent window; NaN before two distinct times are known. */
    private recentRate(): number {
        const first = this.samples[0]!;
        const last = this.samples[this.samples.length - 1]!;
        const seconds = (last.t - first.t) / 1000;
        return seconds > 0 ? (last.done - first.done) / seconds : NaN;
    }

    private write(t: number): void {
        this.lastWriteMs = t;
        const line = this.render(t);
        if (this.isTTY) {
            const width = this.stream.columns ?? 0;
            const fitted = width > 1 && line.length >= width ? line.slice(0, width - 1) : line;
            // \r back to column 0, then clear what a longer previous line left behind.
            this.stream.write(`\r${fitted}\x1b[K`);
        } else {
            this.stream.write(`${line}\n`);
        }
    }
}

/**
 * Progress bars by label: a bar is made when its label first reports (so a step found done draws nothing) and
 * finished when it reaches its total. The one way sublab draws progress (the run's terminal view, the forge,
 * `sublab train`, the filter command).
 */
export class ProgressBars {
    private readonly bars = new Map<string, ProgressBar>();

    constructor(private readonly options: Omit<ProgressBarOptions, "total" | "label"> = {}) {}

    update(label: string, done: number, total: number, fields?: Record<string, string | number>): void {
        let bar = this.bars.get(label);
        if (!bar) this.bars.set(label, (bar = new ProgressBar({ ...this.options, total, label })));
        bar.update(done, fields);
        if (done >= total) this.finish(label);
    }

    /** Ends a label's bar (every bar when no label is given). */
    finish(label?: string): void {
        for (const [k, bar] of this.bars) {
            if (label !== undefined && k !== label) continue;
            bar.finish();
            this.bars.delete(k);
        }
    }
}
