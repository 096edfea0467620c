/** `sublab selftest`: train a tiny model from scratch and complete a prompt with it in node-llama-cpp. */
import type { Command } from "commander";
import { runSelfTest } from "../../students/selftest.ts";
import { threadsFlag, threadsOf } from "../options.ts";

export function registerSelftestCommand(program: Command): void {
    program
        .command("selftest")
        .description("check the engine on this machine: train a tiny model from scratch, save it, generate with llama.cpp")
        .addOption(threadsFlag())
        .action(async (raw: { threads?: string }) => {
            const r = await runSelfTest({ threads: threadsOf(raw) });
            console.log(`engine:     ${r.backend}`);
            console.log(`training:   ${r.steps} steps, loss ${r.firstLoss.toFixed(3)} -> ${r.finalLoss.toFixed(3)}, ${Math.round(r.tokensPerSecond)} tok/s`);
            console.log(`llama.cpp:  "${r.prompt}" -> "${r.completion}" (trained text: "${r.prompt} ${r.expected}")`);
            console.log(r.ok ? "selftest passed" : "selftest FAILED");
            if (!r.ok) process.exitCode = 1;
        });
}
