/**
 * A worker process (studies/pool.ts starts it): takes jobs from its parent one at a time (rows to
 * generate, a student to train, a model to evaluate), reports their progress, and stops a training at its next step on SIGINT (Ctrl-C
 * reaches the whole process group) with its checkpoint written.
 */
import { fitStudent } from "../students/fit-student.ts";
import { interruptSignal } from "../util/interrupt.ts";
import { scoreModel } from "../evaluate/evaluate.ts";
import { generateRaw } from "../teacher/generate.ts";
import type { FromWorker, ToWorker } from "./pool.ts";
import { refuseOversizeWrites } from "../util/files.ts";

const interrupt = interruptSignal();
refuseOversizeWrites();
// A parent that closed the pool (a run that failed or finished early) has disconnected: nothing to tell it. A
// message sent as it goes fails with EPIPE, handed to the callback rather than thrown.
const send = (m: FromWorker) => void (process.connected && process.send?.(m, undefined, {}, () => {}));

/** Progress of job `id` to the parent: at most every 200 ms, and the last step. */
function progress(id: number): (step: number, total: number, loss: number, probe?: number) => void {
    let last = 0;
    return (step, total, loss, probe) => {
        const now = performance.now();
        // A step with a held-out probe always goes: the curve has only a few points.
        if (step === total || now - last > 200 || probe !== undefined) {
            last = now;
            send({ type: "step", id, step, total, loss, ...(probe !== undefined ? { probe } : {}) });
        }
    };
}

process.on("message", async (m: ToWorker) => {
    if (m.type !== "job") return;
    try {
        if (m.kind === "eval") {
            send({ type: "done", id: m.id, result: await scoreModel(m.job) });
            return;
        }
        const step = progress(m.id);
        const result =
            m.kind === "generate"
                ? await generateRaw({ ...m.job, signal: interrupt.signal, onRow: (done, total) => step(done, total, NaN) })
                : await fitStudent(m.job, { signal: interrupt.signal, onStep: step });
        send({ type: "done", id: m.id, result });
    } catch (e) {
        send({ type: "error", id: m.id, message: e instanceof Error ? e.message : String(e), ...(e instanceof Error && e.stack ? { stack: e.stack } : {}) });
    }
});
process.on("disconnect", () => {
    interrupt.release();
    process.exit(0);
});
send({ type: "ready" });
