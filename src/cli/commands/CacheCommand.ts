/** `sublab cache verify`: every sealed cached output checked against the size and sha256 it was made with (src/core/cache.ts). */
import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { SEAL_FILE, sealChanges } from "../../core/cache.ts";

/** The folders that hold a stage's output: teachers, students, datasets. */
function stageFolders(root: string): string[] {
    const under = (d: string) =>
        fs.existsSync(d)
            ? fs
                  .readdirSync(d, { withFileTypes: true })
                  .filter((e) => e.isDirectory() && !e.name.startsWith("."))
                  .map((e) => path.join(d, e.name))
            : [];
    return [
        ...under(path.join(root, "runs", "cache", "teachers")),
        ...under(path.join(root, "runs", "cache", "students")),
        ...under(path.join(root, "datasets")),
    ];
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
}
