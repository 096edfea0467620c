/**
 * A worker process (experiment/pool.ts starts it): takes jobs from its parent one at a time (a student to
 * train, a model to evaluate), reports training steps, and stops a training at its next step on SIGINT (Ctrl-C
 * reaches the whole process group) with its checkpoint written.
 */
import { fitStudent } from "../students/fit.ts";
import { interruptSignal } from "../util/interrupt.ts";
import { scoreModel } from "./evaluate.ts";
import { generateRaw } from "./generate.ts";
import type { FromWorker, ToWorker } from "./pool.ts";

const interrupt = interruptSignal();
const send = (m: FromWorker) => process.send?.(m);

process.on("message", async (m: ToWorker) => {
    if (m.type !== "job") return;
    try {
        if (m.kind === "eval") {
            send({ type: "done", id: m.id, result: await scoreModel(m.job) });
            return;
        }
        if (m.kind === "generate") {
            let last = 0;
            const result = await generateRaw({
                ...m.job,
                signal: interrupt.signal,
                onRow: (done, total) => {
                    const now = performance.now();
                    if (done === total || now - last > 200) {
                        last = now;
                        send({ type: "step", id: m.id, step: done, total, loss: NaN });
                    }
                },
            });
            send({ type: "done", id: m.id, result });
            return;
        }
        let last = 0;
        const result = await fitStudent(m.job, {
            signal: interrupt.signal,
            onStep: (step, total, loss) => {
                // Progress at most every 200 ms, and the last step.
                const now = performance.now();
                if (step === total || now - last > 200) {
                    last = now;
                    send({ type: "step", id: m.id, step, total, loss });
                }
            },
        });
        send({ type: "done", id: m.id, result });
    } catch (e) {
        send({ type: "error", id: m.id, message: (e as Error).stack ?? String(e) });
    }
});
process.on("disconnect", () => {
    interrupt.release();
    process.exit(0);
});
send({ type: "ready" });
