/**
 * The verdict machinery under simulation (`sublab verdicts --simulate`, and test/verdict.test.ts): families of
 * two-arm comparisons whose students' values are drawn normal with a known shift, judged by familyVerdicts exactly
 * as a study, a sweep or a run is. Three numbers per family design:
 * - the family-wise false "moved" rate, where no member has an effect (should be at most alpha);
 * - the family-wise false "no shift larger than M" rate, where every member's true shift is exactly the margin
 *   (should be at most alpha);
 * - the power: the share of members found "moved toward" when each has a true shift of `shift` (default 4 sigma),
 *   and at each of `shifts` (log ratios) if given.
 */
import { Rng } from "../util/rng.ts";
import { DEFAULT_STATS, familyVerdicts, locationTest, type StatsSettings } from "./verdict.ts";

export interface SimulationResult {
    size: number;
    students: number;
    families: number;
    sigma: number;
    shift: number;
    falseMoved: { hits: number; n: number; rate: number };
    falseEquivalent: { hits: number; n: number; rate: number };
    power: { hits: number; n: number; rate: number };
    /** Power at each of opts.shifts, in order. */
    powers: { shift: number; hits: number; n: number; rate: number }[];
}

export function simulateFamily(opts: {
    size: number;
    students: number;
    families: number;
    sigma: number;
    seed: number;
    shift?: number;
    shifts?: number[];
    settings?: StatsSettings;
}): SimulationResult {
    const s = opts.settings ?? DEFAULT_STATS;
    const rng = new Rng(opts.seed);
    const shift = opts.shift ?? 4 * opts.sigma;
    const draw = (delta: number) => {
        const design = {
            kind: "students" as const,
            a: Array.from({ length: opts.students }, () => delta + opts.sigma * rng.normal()),
            b: Array.from({ length: opts.students }, () => opts.sigma * rng.normal()),
        };
        return { design, test: locationTest(design, rng, s) };
    };
    const family = (delta: number) =>
        familyVerdicts(
            Array.from({ length: opts.size }, () => draw(delta)),
            "simulated",
            "target",
            s,
        );
    let falseMoved = 0;
    let falseEquivalent = 0;
    let found = 0;
    const shifts = opts.shifts ?? [];
    const foundAt = shifts.map(() => 0);
    const m = Math.log(s.margin);
    for (let f = 0; f < opts.families; f++) {
        if (family(0).some((v) => v.word === "moved toward" || v.word === "moved away")) falseMoved++;
        // Half the families at +margin, half at -margin: both sides of the TOST are exercised.
        if (family(f % 2 === 0 ? m : -m).some((v) => v.word === "no shift larger than")) falseEquivalent++;
        found += family(shift).filter((v) => v.word === "moved toward").length;
        shifts.forEach((d, k) => (foundAt[k]! += family(d).filter((v) => v.word === "moved toward").length));
    }
    const rate = (hits: number, n: number) => ({ hits, n, rate: hits / n });
    return {
        size: opts.size,
        students: opts.students,
        families: opts.families,
        sigma: opts.sigma,
        shift,
        falseMoved: rate(falseMoved, opts.families),
        falseEquivalent: rate(falseEquivalent, opts.families),
        power: rate(found, opts.families * opts.size),
        powers: shifts.map((d, k) => ({ shift: d, ...rate(foundAt[k]!, opts.families * opts.size) })),
    };
}
