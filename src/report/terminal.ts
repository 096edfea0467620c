/**
 * The terminal view of a run: a subscriber to its events that prints log lines and draws progress bars
 * (rows generated and scored, each training's steps, or one bar over all the students a worker pool trains).
 */
import type { EventSink } from "../core/events.ts";
import { ProgressBars } from "../util/progress.ts";

export function terminalView(stream: NodeJS.WriteStream = process.stderr): EventSink {
    const bars = new ProgressBars({ stream });
    const groups = new Map<string, Map<string, number>>();
    return (e) => {
        switch (e.type) {
            case "log":
                stream.write(`${e.message}\n`);
                break;
            case "progress":
                bars.update(e.label, e.done, e.total);
                break;
            case "train-step": {
                if (!e.group) {
                    bars.update(e.label, e.step, e.total, { loss: e.loss.toFixed(3) });
                    break;
                }
                const g = groups.get(e.group.label) ?? new Map<string, number>();
                groups.set(e.group.label, g.set(e.label, e.step / e.total));
                let sum = 0;
                for (const f of g.values()) sum += f;
                bars.update(e.group.label, Math.round(sum * 100), e.group.size * 100, { [e.label]: e.loss.toFixed(3) });
                break;
            }
            case "pool":
                if (e.state === "end") {
                    bars.finish(e.group);
                    groups.delete(e.group);
                }
                break;
            case "run-end":
                bars.finish();
                break;
        }
    };
}
