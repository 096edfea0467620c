/**
 * `npm run bench -- workshop [--runs N]`: how long a presenter waits for the workshop's first step when
 * replaying the shipped recording. Each run times, in one Chromium launched beforehand:
 *   - cli:    `node bin/sublab.js workshop --no-open --port 0` spawned, its address printed, the page opened,
 *             until the first step shows the teacher's P(target) (CLI start, esbuild's bundle, the events);
 *   - server: the same page from a server already up (the page's own load, stream and fold);
 *   - static: report.html, the static replay, opened from a file;
 *   - plain:  the reference: the run's plain report (no script, no events) opened from a file.
 * Prints the median of each and its ratio to the plain report's.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Page } from "playwright-core";
import { launchChromium } from "../test/helpers/browser.ts";
import { readRunEvents } from "../src/core/events.ts";
import { resultsFromEvents } from "../src/report/from-events.ts";
import { htmlReport } from "../src/report/run-report.ts";
import { writeRunReplay } from "../src/workshop/replay.ts";
import { flag, startWorkshopCli } from "./cli.ts";

const ROOT = path.join(import.meta.dirname, "..");
const RECORDING = path.join(ROOT, "experiments", "recordings", "workshop.events.jsonl");

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function firstStep(page: Page, url: string): Promise<void> {
    await page.goto(url);
    await page.waitForSelector('[data-testid="p-teacher"]');
}

export async function main(argv: string[]): Promise<void> {
    const runs = Number(flag(argv, "runs", "5"));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sublab-bench-workshop-"));
    const replay = (await writeRunReplay(RECORDING, path.join(dir, "report.html")))!;
    const plain = path.join(dir, "plain.html");
    fs.writeFileSync(plain, htmlReport(resultsFromEvents(readRunEvents(RECORDING))));
    const browser = await launchChromium();
    const times: Record<string, number[]> = { cli: [], server: [], static: [], plain: [] };
    try {
        for (let k = 0; k < runs; k++) {
            const page = await browser.newPage();
            let t = performance.now();
            const cli = await startWorkshopCli(RECORDING, ROOT);
            try {
                await firstStep(page, cli.url);
                times.cli!.push(performance.now() - t);
                t = performance.now();
                await firstStep(page, cli.url);
                times.server!.push(performance.now() - t);
            } finally {
                cli.stop();
            }
            t = performance.now();
            await firstStep(page, `file://${replay}`);
            times.static!.push(performance.now() - t);
            t = performance.now();
            await page.goto(`file://${plain}`);
            await page.waitForSelector("h1");
            times.plain!.push(performance.now() - t);
            await page.close();
        }
    } finally {
        await browser.close();
        fs.rmSync(dir, { recursive: true, force: true });
    }
    const ref = median(times.plain!);
    const what: Record<string, string> = {
        cli: "sublab workshop started, then its first step",
        server: "first step, server already up",
        static: "report.html (static replay) from a file",
        plain: "plain report from a file (reference)",
    };
    console.log(`workshop replay of ${path.relative(ROOT, RECORDING)}: median of ${runs} runs, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? "?"})\n`);
    console.log(`${"case".padEnd(8)}  ${"ms".padStart(7)}  ${"x plain".padStart(8)}  what`);
    for (const [name, xs] of Object.entries(times))
        console.log(`${name.padEnd(8)}  ${median(xs).toFixed(0).padStart(7)}  ${(median(xs) / ref).toFixed(1).padStart(8)}  ${what[name]}`);
}
