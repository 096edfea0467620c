/** `sublab selftest`: train a tiny model from scratch and complete a prompt with it in node-llama-cpp. */
import type { Command } from "commander";
import { runSelfTest } from "../../train/selftest.ts";

export function registerSelftestCommand(program: Command): void {
    program
        .command("selftest")
        .description("check the engine on this machine: train a tiny model from scratch, save it, generate with llama.cpp")
        .option("--threads <n>", "CPU threads (default: all available)")
        .action(async (raw: { threads?: string }) => {
            const threads = raw.threads === undefined ? undefined : Number(raw.threads);
            if (threads !== undefined && !(Number.isInteger(threads) && threads > 0)) throw new Error(`--threads must be a positive integer, got "${raw.threads}"`);
            const r = await runSelfTest({ threads });
            console.log(`engine:     ${r.backend}`);
            console.log(`training:   ${r.steps} steps, loss ${r.firstLoss.toFixed(3)} -> ${r.finalLoss.toFixed(3)}, ${Math.round(r.tokensPerSecond)} tok/s`);
            console.log(`llama.cpp:  "${r.prompt}" -> "${r.completion}" (trained text: "${r.prompt} ${r.expected}")`);
            console.log(r.ok ? "selftest passed" : "selftest FAILED");
            if (!r.ok) process.exitCode = 1;
        });
}
