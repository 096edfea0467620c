/**
 * One fine-tuning run: read the data, train (LoRA or full), write the result. `sublab train` calls this.
 * Placeholder until the trainer lands: the interface is fixed, the body is not written yet.
 */

export interface TrainJobOptions {
    model: string;
    data: string;
    out: string;
    mode: "lora" | "full";
    loraRank: number;
    loraAlpha: number;
    loraTargets: string[];
    epochs: number;
    lr: number;
    batchSize: number;
    seed: number;
    threads?: number;
    checkpointDir?: string;
    maxSteps?: number;
}

export async function runTrainJob(
    opts: TrainJobOptions,
): Promise<{ outPath: string; finalLoss: number; steps: number }> {
    void opts;
    throw new Error("not implemented yet");
}
