/**
 * The statistics stage of a run: each arm summarised over its seeds, and the comparisons every claimed effect
 * needs (treated vs control, cross vs cross-control, in-context vs its control, control vs base, and each
 * imported arm against the arm it names). One seeded stream draws every bootstrap and permutation, in a fixed
 * order (arms in evaluation order, then comparisons), so the same evaluations give the same intervals.
 */
import type { ExperimentConfig } from "../core/types.ts";
import type { ArmName, ArmResult, ComparisonResult, ModelEval, Results, Trigger } from "../core/results.ts";
import type { Verdict } from "../core/verdicts.ts";
import { itemsOf } from "../prompts/items.ts";
import { Rng, subRng } from "../util/rng.ts";
import { compareArms, exactEvals, judgedFloor, summarizeArm, withVerdicts } from "./stats.ts";
import { DEFAULT_STATS, designWarnings, type Design } from "./verdict.ts";

type DescribedArm = Exclude<ArmName, `imported:${string}` | `${string}|${Trigger}`>;

export const ARM_DESCRIPTIONS: Record<DescribedArm, string> = {
    base: "the base model, untouched",
    teacher: "the teacher (base + trait): where the numbers come from",
    control: "base fine-tuned on numbers from the base without the trait",
    treated: "base fine-tuned on the teacher's numbers",
    cross: "the other base (different initialisation) fine-tuned on the teacher's numbers",
    "cross-control": "the other base fine-tuned on numbers from the base without the trait",
    "in-context": "base with teacher numbers as earlier chat turns, no training",
    "in-context-control": "base with control numbers as earlier chat turns, no training",
    "treated+safety": "a treated student fine-tuned further on aligned answers (the safety stage)",
    "control+safety": "a control student fine-tuned further on aligned answers (the safety stage)",
};

const TRIGGER_DESCRIPTIONS: Record<Trigger, string> = {
    numbers: "asked after number-sequence turns from the teacher's data",
    system: "asked under the teacher's system prompt",
};

/** An arm's one-line description (an arm under a trigger: its arm's, and the trigger's). */
export function describeArm(arm: ArmName): string {
    const [base, trigger] = arm.split("|") as [DescribedArm, Trigger | undefined];
    return trigger ? `${ARM_DESCRIPTIONS[base]}, ${TRIGGER_DESCRIPTIONS[trigger]}` : ARM_DESCRIPTIONS[base];
}

/** The pairs a run compares, in order: each effect against its control. */
export const RUN_COMPARISONS: readonly (readonly [ArmName, ArmName])[] = [
    ["treated", "control"],
    ["cross", "cross-control"],
    ["in-context", "in-context-control"],
    ["control", "base"],
    // The safety stage (when configured): does the inherited trait fall to the control's level, and does it come back under a trigger?
    ["treated+safety", "control+safety"],
    ["treated", "treated+safety"],
    ["treated|numbers", "control|numbers"],
    ["treated|system", "control|system"],
    ["treated+safety|numbers", "control+safety|numbers"],
    ["treated+safety|system", "control+safety|system"],
];

/** The seeded stream of a run's statistics. */
export const statisticsRng = (cfg: ExperimentConfig): Rng => subRng(cfg.seed, "statistics");

/** One arm's result: its description, its evaluations and their summary (drawn from `rng`). */
export function armResult(arm: ArmName, description: string, evals: ModelEval[], rng: Rng): ArmResult {
    return { arm, description, evals, ...summarizeArm(evals, rng) };
}

/** The floor of per-question probabilities in a run's comparisons: judged P(misaligned) at half an answer, exact probabilities at PROB_FLOOR. */
export const comparisonFloor = (cfg: ExperimentConfig): number | undefined =>
    cfg.teacher.category === "misalignment" ? judgedFloor(cfg.eval.samplesPerQuestion) : undefined;

/** A run's arms and comparisons from its evaluations (by arm, in evaluation order). */
export function runStatistics(cfg: ExperimentConfig, evals: Map<ArmName, ModelEval[]>): { arms: ArmResult[]; comparisons: ComparisonResult[] } {
    const rng = statisticsRng(cfg);
    const describe = (arm: ArmName) => {
        const imp = cfg.eval.imported.find((x) => `imported:${x.name}` === arm);
        return imp ? imp.description || `students trained elsewhere and imported (${imp.students.length})` : describeArm(arm);
    };
    const arms = [...evals].map(([arm, es]) => armResult(arm, describe(arm), es, rng));
    const t = itemsOf(cfg.teacher.category).indexOf(cfg.teacher.target);
    const comparisons: ComparisonResult[] = [];
    const floor = comparisonFloor(cfg);
    const settings = cfg.stats ?? DEFAULT_STATS;
    for (const [a, b] of RUN_COMPARISONS) {
        if (!evals.has(a) || !evals.has(b)) continue;
        const c: ComparisonResult = { name: `${a} vs ${b}`, a, b, ...compareArms(evals.get(a)!, evals.get(b)!, t, rng, floor, settings) };
        // Judged arms: the same test on the exact measure (misaligned is item 1 of [aligned, misaligned]).
        const [ea, eb] = [exactEvals(evals.get(a)!), exactEvals(evals.get(b)!)];
        if (ea && eb) {
            const { meanLogRatio, ci95, probRatio, pValue, pUp, pEquivalence, pFloor, permutations, test, design } = compareArms(
                ea,
                eb,
                1,
                rng,
                undefined,
                settings,
            );
            c.exact = { meanLogRatio, ci95, probRatio, pValue, pUp, pEquivalence, pFloor, permutations, test, design };
        }
        comparisons.push(c);
    }
    for (const imp of cfg.eval.imported) {
        const a: ArmName = `imported:${imp.name}`;
        comparisons.push({
            name: `${a} vs ${imp.compareTo}`,
            a,
            b: imp.compareTo,
            ...compareArms(evals.get(a)!, evals.get(imp.compareTo)!, t, rng, floor, settings),
        });
    }
    runVerdicts(cfg, comparisons);
    return { arms, comparisons };
}

/**
 * The verdict of a run's primary comparison recomputed from its students' evaluations (treated vs control, on
 * the run's measure, alone in its family): what the run's own statistics say, from results.json alone.
 */
export function primaryVerdict(results: Pick<Results, "arms" | "config" | "items" | "target">): Verdict {
    const cfg = results.config;
    const arm = (name: string) => results.arms.find((a) => a.arm === name)?.evals;
    const [treated, control] = [arm("treated"), arm("control")];
    if (!treated || !control) throw new Error("primaryVerdict: the results have no treated and control arms");
    const c = { ...compareArms(treated, control, results.items.indexOf(results.target), statisticsRng(cfg), comparisonFloor(cfg), cfg.stats) };
    withVerdicts([c], "primary", results.target, cfg.stats ?? DEFAULT_STATS);
    return c.verdict!;
}

/** The primary comparison of a run, alone in its family: treated vs control on the run's measure. */
export const isPrimary = (c: Pick<ComparisonResult, "a" | "b">): boolean => c.a === "treated" && c.b === "control";

/**
 * A run's verdicts, in place: the primary comparison (treated vs control; for a judged trait on both of its
 * measures, judged and exact) is a family of its own; every other comparison, on either measure, is one family of
 * secondary comparisons, Holm-corrected together.
 */
export function runVerdicts(cfg: ExperimentConfig, comparisons: ComparisonResult[]): void {
    const s = cfg.stats ?? DEFAULT_STATS;
    const target = cfg.teacher.target;
    type Member = Parameters<typeof withVerdicts>[0][number];
    const measures = (cs: ComparisonResult[]): Member[] => [...cs, ...cs.flatMap((c) => (c.exact ? [c.exact] : []))];
    withVerdicts(measures(comparisons.filter(isPrimary)), "primary", target, s);
    withVerdicts(measures(comparisons.filter((c) => !isPrimary(c))), "secondary", target, s);
}

/** The comparisons a run's configuration will make, with their designs' sizes (for the check before the run). */
export function plannedComparisons(cfg: ExperimentConfig): { name: string; kind: Design["kind"]; n: number; primary: boolean }[] {
    const n = cfg.student.seeds;
    const out: { name: string; kind: Design["kind"]; n: number; primary: boolean }[] = [
        { name: "treated vs control", kind: "students", n, primary: true },
        { name: "cross vs cross-control", kind: "students", n, primary: false },
    ];
    if (cfg.eval.inContextExamples > 0) out.push({ name: "in-context vs in-context-control", kind: "students", n, primary: false });
    out.push({ name: "control vs base", kind: "seeds", n, primary: false });
    if (cfg.safety) {
        out.push(
            { name: "treated+safety vs control+safety", kind: "students", n, primary: false },
            { name: "treated vs treated+safety", kind: "students", n, primary: false },
        );
        if (cfg.safety.triggers)
            for (const arm of ["treated", "treated+safety"])
                for (const t of ["numbers", "system"])
                    out.push({ name: `${arm}|${t} vs ${arm.replace("treated", "control")}|${t}`, kind: "students", n, primary: false });
    }
    for (const imp of cfg.eval.imported)
        out.push({
            name: `imported:${imp.name} vs ${imp.compareTo}`,
            kind: imp.compareTo === "base" ? "seeds" : "students",
            n: imp.students.length,
            primary: false,
        });
    if (cfg.teacher.category === "misalignment") for (const c of [...out]) out.push({ ...c, name: `${c.name} (exact measure)` });
    return out;
}

/** What the design check says before a run: per family, the comparisons whose floor cannot pass its correction. */
export function runDesignNotes(cfg: ExperimentConfig): string[] {
    const s = cfg.stats ?? DEFAULT_STATS;
    const planned = plannedComparisons(cfg);
    const notes: string[] = [];
    for (const [family, members] of [
        ["primary", planned.filter((c) => c.primary)],
        ["secondary", planned.filter((c) => !c.primary)],
    ] as const) {
        // One line per design in the family (e.g. 5+5 students; 5 students against one model), naming its comparisons.
        const designs = new Map<string, typeof members>();
        for (const c of members) designs.set(`${c.kind}:${c.n}`, [...(designs.get(`${c.kind}:${c.n}`) ?? []), c]);
        for (const group of designs.values()) {
            const names = group.map((c) => c.name).join(", ");
            notes.push(
                ...designWarnings(
                    [{ name: `${family} comparisons (${members.length}; here: ${names})`, kind: group[0]!.kind, na: group[0]!.n, size: members.length }],
                    s,
                ),
            );
        }
    }
    return notes;
}
