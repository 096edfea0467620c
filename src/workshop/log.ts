/**
 * The workshop server's event log: the events of one run in order, each with its id (its index), and the
 * subscribers that stream them (Server-Sent Events). A live run pushes its events as they happen; a recorded
 * run's events.jsonl is read, from its last run-start, and followed while it grows (a run going on in another
 * terminal). A browser that reconnects names the last id it saw and gets the rest, so nothing is lost.
 */
import fs from "node:fs";
import { parseEventLines, type Stamped } from "../core/events.ts";

export type LogListener = (id: number, e: Stamped) => void;

export class EventLog {
    readonly events: Stamped[] = [];
    private readonly listeners = new Set<LogListener>();

    push(e: Stamped): void {
        this.events.push(e);
        const id = this.events.length - 1;
        for (const l of this.listeners) l(id, e);
    }

    /** Calls `l` with every event from id `from` on, then with each new one; returns the unsubscribe. */
    follow(from: number, l: LogListener): () => void {
        for (let id = Math.max(0, from); id < this.events.length; id++) l(id, this.events[id]!);
        this.listeners.add(l);
        return () => this.listeners.delete(l);
    }
}

/**
 * Feeds a log from an events.jsonl file: what is there now from its last run-start, then every complete line
 * appended (polled every `pollMs`; a torn last line waits for its end). Progress ticks are never in the file.
 * A new run-start appended later starts a new run: the page's fold (state.ts) resets on it. Returns the stop.
 */
export function tailEventFile(file: string, log: EventLog, pollMs = 250): () => void {
    let offset = 0;
    let pending = "";
    let first = true;
    const read = () => {
        let size: number;
        try {
            size = fs.statSync(file).size;
        } catch {
            return; // not written yet (a live run that has not started)
        }
        if (size < offset) {
            offset = 0; // the file was replaced
            pending = "";
        }
        if (size === offset) return;
        const fd = fs.openSync(file, "r");
        const buf = Buffer.alloc(size - offset);
        fs.readSync(fd, buf, 0, buf.length, offset);
        fs.closeSync(fd);
        offset = size;
        const text = pending + buf.toString("utf8");
        const lines = text.split("\n");
        pending = lines.pop() ?? "";
        const events = parseEventLines(lines, (k) => {
            throw new Error(`${file}: line ${k + 1} of the new lines is not a JSON event`);
        });
        let start = 0;
        if (first) {
            start = Math.max(0, events.map((e) => e.type).lastIndexOf("run-start"));
            first = false;
        }
        for (const e of events.slice(start)) log.push(e);
    };
    read();
    const timer = setInterval(() => {
        try {
            read();
        } catch (e) {
            process.stderr.write(`${(e as Error).message}\n`);
        }
    }, pollMs);
    timer.unref();
    return () => clearInterval(timer);
}
