/**
 * Verdicts drawn onto the results of a family of comparisons (./verdict.ts familyVerdicts does the statistics):
 * a run's, a sweep's, a study's or a chain's comparisons get their `verdict` in place.
 */
import type { Reduction } from "../core/results.ts";
import { DEFAULT_STATS, familyVerdicts, type Design, type StatsSettings, type Verdict } from "./verdict.ts";

/**
 * Draws the verdicts of a family of comparisons (./verdict.ts familyVerdicts) onto them, in place: each gets
 * `verdict` (its words, raw and Holm-adjusted p, equivalence p). Comparisons without a design (results from
 * before verdicts) are left alone.
 */
export function withVerdicts<
    C extends {
        meanLogRatio: number;
        ci95: [number, number];
        pValue: number;
        pEquivalence?: number;
        pUp?: number;
        pFloor?: number;
        permutations?: number;
        test?: string;
        design?: Design;
        verdict?: Verdict;
    },
>(comparisons: readonly C[], family: string, target: string, settings: StatsSettings = DEFAULT_STATS): void {
    const members = comparisons.filter((c) => c.design && c.pEquivalence !== undefined);
    const verdicts = familyVerdicts(
        members.map((c) => ({
            design: c.design!,
            test: {
                design: c.design!.kind,
                estimate: c.meanLogRatio,
                ci95: c.ci95,
                pUp: c.pUp ?? NaN,
                pDown: NaN,
                p: c.pValue,
                pEquivalence: c.pEquivalence!,
                floor: c.pFloor ?? 0,
                permutations: c.permutations ?? 0,
                exact: true,
            },
        })),
        family,
        target,
        settings,
    );
    members.forEach((c, i) => (c.verdict = verdicts[i]));
}

/**
 * The verdicts of a sweep's reductions (each defense's per-seed transfer against the reference arm's), in place:
 * Holm over the defenses, worded for what a defense does: "removed some transfer", "left more transfer", "removed
 * no more than xM" (the TOST), or "can't tell".
 */
export function reductionVerdicts<R extends Omit<Reduction, "reference" | "left">>(reductions: R[], settings: StatsSettings = DEFAULT_STATS): void {
    const cs = reductions.map((r) => ({ ...r, meanLogRatio: r.removed ?? NaN, ci95: r.ci95 ?? ([NaN, NaN] as [number, number]) }));
    withVerdicts(cs, "defenses", "target", settings);
    const words: Record<Verdict["word"], string> = {
        "moved toward": "removed some transfer",
        "moved away": "left more transfer than no defense",
        "no shift larger than": `removed no more than x${settings.margin.toFixed(2)}`,
        "can't tell": "can't tell",
    };
    cs.forEach((c, i) => c.verdict && (reductions[i]!.verdict = { ...c.verdict, text: words[c.verdict.word] }));
}
