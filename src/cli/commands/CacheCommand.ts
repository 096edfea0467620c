/**
 * `sublab cache verify`: every sealed cached output checked against the size and sha256 it was made with
 * (src/core/cache.ts). `sublab cache gc`: what no current experiment or study file keys (src/studies/cache-gc.ts).
 */
import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { cachedOutputs, SEAL_FILE, sealChanges } from "../../core/cache.ts";
import { partialWalks, planCacheGc, removeGarbage } from "../../studies/cache-gc.ts";

/** The folders that hold a stage's output (an evaluation is one file, not sealed). */
const stageFolders = (root: string): string[] => cachedOutputs(root).filter((p) => !p.endsWith(".json"));

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;

/** experiments/*.json: the shipped experiment and study files. */
function shippedFiles(root: string): string[] {
    const dir = path.join(root, "experiments");
    return fs.existsSync(dir)
        ? fs
              .readdirSync(dir)
              .filter((f) => f.endsWith(".json"))
              .sort()
              .map((f) => path.join(dir, f))
        : [];
}

export function registerCacheCommand(program: Command): void {
    const cache = program.command("cache").description("the stage cache (runs/cache/, datasets/): check what is there");
    cache
        .command("verify")
        .description(
            "hash every sealed teacher, student and dataset and name each file that changed since it was made (exit 1 when any did); a run makes a changed one again",
        )
        .option("--root <dir>", "where runs/ and datasets/ are", ".")
        .action((raw: { root: string }) => {
            const folders = stageFolders(raw.root);
            const sealed = folders.filter((d) => fs.existsSync(path.join(d, SEAL_FILE)));
            const changes = sealed.flatMap((d) => sealChanges(d, true));
            for (const line of changes) process.stdout.write(`${line}\n`);
            const unsealed = folders.length - sealed.length;
            process.stdout.write(
                `${sealed.length} sealed folders checked${unsealed ? `, ${unsealed} not sealed (made before seals, or unfinished: sealed when a run next uses them)` : ""}: ${changes.length ? `${changes.length} files changed` : "every file as it was made"}\n`,
            );
            if (changes.length) process.exitCode = 1;
        });
    cache
        .command("gc [files...]")
        .description(
            "what no current experiment or study file keys: each file (default: experiments/*.json) is walked over the cache, making nothing; the outputs no walk used are listed, and removed with --delete",
        )
        .option("--root <dir>", "where runs/ and datasets/ are", ".")
        .option("--delete", "remove them (without it, only list them)")
        .option("--force", "remove them even when a file's walk found some of its outputs and then stopped (an interrupted run)")
        .option("--list", "name every output that would go, with its size")
        .action(async (files: string[], raw: { root: string; delete?: boolean; force?: boolean; list?: boolean }) => {
            const walked = files.length ? files : shippedFiles(raw.root);
            if (!walked.length) throw new Error(`no files to walk: name them, or run from a checkout with experiments/*.json`);
            process.stderr.write(`walking ${walked.length} files over the cache (making nothing)\n`);
            const plan = await planCacheGc(walked, raw.root, (line) => process.stderr.write(`${line}\n`));
            const total = plan.outputs.reduce((n, o) => n + o.bytes, 0);
            const bytes = plan.garbage.reduce((n, o) => n + o.bytes, 0);
            if (raw.list) for (const g of plan.garbage) process.stdout.write(`${g.path}\t${(g.bytes / 2 ** 20).toFixed(1)} MiB\n`);
            process.stdout.write(
                `${plan.outputs.length} cached outputs (${gib(total)}); ${plan.garbage.length} used by none of the ${walked.length} files (${gib(bytes)})${plan.busy.length ? `; ${plan.busy.length} being made by a live run, kept` : ""}\n`,
            );
            if (!raw.delete) {
                if (plan.garbage.length) process.stdout.write("nothing removed: --delete removes them (--list names them)\n");
                return;
            }
            const partial = partialWalks(plan);
            if (partial.length && !raw.force) {
                for (const w of partial) process.stderr.write(`${w.file}: stopped at ${w.missing}; finish it with its command, or pass --force\n`);
                throw new Error(
                    `${partial.length} files were walked only part of the way: what their later stages made would count as unused; nothing removed`,
                );
            }
            removeGarbage(plan);
            process.stdout.write(`removed ${plan.garbage.length} outputs (${gib(bytes)})\n`);
        });
}
