/**
 * Ctrl-C as an AbortSignal for a long loop (training checkpoints and stops cleanly instead of dying).
 * Call release() when the loop is over, in a finally, so a later Ctrl-C behaves normally again.
 */
export function interruptSignal(): { signal: AbortSignal; release(): void } {
    const abort = new AbortController();
    const onSigint = () => abort.abort();
    process.once("SIGINT", onSigint);
    return { signal: abort.signal, release: () => process.off("SIGINT", onSigint) };
}

/** A resumable job stopped by Ctrl-C: the CLI prints it and exits 130. */
export class Interrupted extends Error {
    constructor(stage: string) {
        super(`interrupted during ${stage}; run the same command again to resume (finished stages are kept)`);
    }
}
