/**
 * The lab's verdicts, computed here and nowhere else: every report, the workshop page, `sublab compare` and the
 * README say one of four things about a comparison of two arms, by these rules (../README "How a verdict is
 * stated"):
 *
 * - "moved toward X" / "moved away from X": the two-sided p of a permutation test, adjusted by Holm over the
 *   family the comparison belongs to, is below alpha;
 * - "no shift larger than xM": two one-sided tests (TOST) put the shift inside the margin M declared in the
 *   experiment file (`stats.margin`, a ratio of probabilities, default x1.1), Holm-adjusted over the family;
 * - "can't tell": anything else, printed with its interval and, where it helps, how many seeds would tell.
 *
 * One design for test and interval. The test is a permutation test on the students (each trained student is one
 * observation: a two-sample test of the arms' per-student mean log P(target), or, when one arm is a single model,
 * a sign-flip test of the per-student differences against it), and the interval is that same test inverted: the
 * shifts delta of the location model "a = b + delta" that the test does not reject at alpha/2 on either side. So
 * the interval excludes 0 exactly when the raw two-sided p is below alpha, and lies inside (-log M, log M) exactly
 * when the raw equivalence p is below alpha. Permutation tests have a floor (with 5+5 students the smallest
 * two-sided p is 2/252), so an interval can be unbounded on a side: the design cannot bound it at 95%.
 *
 * Shifting arm a by delta changes each relabeling's statistic linearly in delta, so every relabeling is kept as
 * (its statistic minus the observed one at delta = 0, its slope in delta) and p(delta) is a count of lines above
 * or below zero: the interval's ends are breakpoints, found exactly by sorting.
 */
import type { Design, StatsSettings, Verdict, VerdictWord } from "../core/verdicts.ts";
import { DEFAULT_STATS } from "../core/verdicts.ts";
import type { Rng } from "../util/rng.ts";

export { DEFAULT_STATS };
export type { Design, StatsSettings, Verdict, VerdictWord };

/** One design's permutation test at every shift: estimate, two-sided and one-sided p, equivalence p, inverted interval. */
export interface LocationTest {
    design: Design["kind"];
    /** mean(a) - mean(b), or mean(d): in log P(target). */
    estimate: number;
    /** The test inverted at alpha/2 a side (95% for alpha 0.05); an end is +-Infinity where the design cannot bound it. */
    ci95: [number, number];
    /** One-sided p of H1: a above b, and of H1: a below b. */
    pUp: number;
    pDown: number;
    /** Two-sided p: min(1, 2 min(pUp, pDown)). */
    p: number;
    /** TOST: the larger of the two one-sided p's that the shift is above -log(margin) and below +log(margin). */
    pEquivalence: number;
    /** The smallest two-sided p this design can give. */
    floor: number;
    permutations: number;
    exact: boolean;
}

/** Relabelings (or sign patterns) as lines: statistic(delta) - observed(delta) = diff + slope * delta. */
interface Lines {
    diff: Float64Array;
    slope: Float64Array;
    /** Tie tolerance: differences within it count as ties, which count as extreme (the test errs conservative). */
    tol: number;
    exact: boolean;
}

/** C(n, k) as a float, stopping once it exceeds `cap`. */
export function binomialCapped(n: number, k: number, cap = Infinity): number {
    k = Math.min(k, n - k);
    let c = 1;
    for (let i = 1; i <= k; i++) {
        c = (c * (n - k + i)) / i;
        if (c > cap) return c;
    }
    return Math.round(c);
}

const sum = (xs: readonly number[]) => xs.reduce((s, v) => s + v, 0);
const meanOf = (xs: readonly number[]) => (xs.length ? sum(xs) / xs.length : NaN);

function studentLines(a: readonly number[], b: readonly number[], rng: Rng, iters: number): Lines {
    const na = a.length;
    const pooled = [...a, ...b];
    const n = pooled.length;
    const observed = sum(a);
    const scale = pooled.reduce((s, v) => s + Math.abs(v), 0);
    const tol = 1e-9 * Math.max(scale, 1e-300);
    const total = binomialCapped(n, na, iters);
    const diffs: number[] = [];
    const slopes: number[] = [];
    // Shifting a by delta: the observed sum drops by na*delta, a relabeling's by (members of a it keeps)*delta.
    const push = (idx: readonly number[]) => {
        let s = 0;
        let keep = 0;
        for (const i of idx) {
            s += pooled[i]!;
            if (i < na) keep++;
        }
        diffs.push(s - observed);
        slopes.push(na - keep);
    };
    if (total <= iters) {
        const idx = Array.from({ length: na }, (_, i) => i);
        for (;;) {
            push(idx);
            let j = na - 1;
            while (j >= 0 && idx[j] === n - na + j) j--;
            if (j < 0) break;
            idx[j]++;
            for (let k = j + 1; k < na; k++) idx[k] = idx[k - 1]! + 1;
        }
        return { diff: Float64Array.from(diffs), slope: Float64Array.from(slopes), tol, exact: true };
    }
    const order = Array.from({ length: n }, (_, i) => i);
    for (let it = 0; it < iters; it++) {
        for (let i = 0; i < na; i++) {
            const j = i + rng.int(n - i);
            const t = order[i]!;
            order[i] = order[j]!;
            order[j] = t;
        }
        push(order.slice(0, na));
    }
    return { diff: Float64Array.from(diffs), slope: Float64Array.from(slopes), tol, exact: false };
}

function seedLines(d: readonly number[], rng: Rng, iters: number): Lines {
    const n = d.length;
    const scale = d.reduce((s, v) => s + Math.abs(v), 0);
    const tol = 1e-9 * Math.max(scale, 1e-300);
    const diffs: number[] = [];
    const slopes: number[] = [];
    // Flipping the signs of F: statistic sum(d - delta) - 2 sum_F (d - delta); minus the observed: -2 sum_F d + 2|F| delta.
    const push = (flip: (i: number) => boolean) => {
        let s = 0;
        let k = 0;
        for (let i = 0; i < n; i++) {
            if (flip(i)) {
                s -= 2 * d[i]!;
                k++;
            }
        }
        diffs.push(s);
        slopes.push(2 * k);
    };
    if (n < 31 && 2 ** n <= iters) {
        for (let mask = 0; mask < 2 ** n; mask++) push((i) => (mask & (1 << i)) !== 0);
        return { diff: Float64Array.from(diffs), slope: Float64Array.from(slopes), tol, exact: true };
    }
    for (let it = 0; it < iters; it++) {
        const bits = Array.from({ length: Math.ceil(n / 32) }, () => rng.nextU32());
        push((i) => (bits[i >> 5]! & (1 << (i & 31))) !== 0);
    }
    return { diff: Float64Array.from(diffs), slope: Float64Array.from(slopes), tol, exact: false };
}

/** p of H1 "above" (side 1) or "below" (side -1) with arm a shifted by -delta. Monte Carlo counts the observed labelling once more. */
function pAt(l: Lines, delta: number, side: 1 | -1): number {
    let count = 0;
    for (let i = 0; i < l.diff.length; i++) {
        const v = l.diff[i]! + l.slope[i]! * delta;
        if (side === 1 ? v >= -l.tol : v <= l.tol) count++;
    }
    return l.exact ? count / l.diff.length : (count + 1) / (l.diff.length + 1);
}

/**
 * The interval's end on one side: for side 1 (the lower end) the smallest delta at which pUp(delta) exceeds
 * level, for side -1 (the upper end) the largest at which pDown(delta) does. pUp rises with delta by steps at
 * -diff/slope; lines of slope 0 never move.
 */
function invert(l: Lines, level: number, side: 1 | -1): number {
    const total = l.exact ? l.diff.length : l.diff.length + 1;
    let fixed = l.exact ? 0 : 1;
    const breaks: number[] = [];
    for (let i = 0; i < l.diff.length; i++) {
        if (l.slope[i] === 0) {
            if (side === 1 ? l.diff[i]! >= -l.tol : l.diff[i]! <= l.tol) fixed++;
        } else breaks.push(-l.diff[i]! / l.slope[i]!);
    }
    // Count needed so that count/total > level.
    const need = Math.floor(level * total) + 1 - fixed;
    if (need <= 0) return side === 1 ? -Infinity : Infinity;
    if (need > breaks.length) return side === 1 ? Infinity : -Infinity;
    breaks.sort((x, y) => x - y);
    return side === 1 ? breaks[need - 1]! : breaks[breaks.length - need]!;
}

/**
 * The permutation test of a design at every shift. `iters` bounds the relabelings: designs with more are drawn at
 * random from `rng` (once, so the interval and the p's come from the same draws).
 */
export function locationTest(design: Design, rng: Rng, settings: StatsSettings = DEFAULT_STATS, iters = 20000): LocationTest {
    const empty = design.kind === "students" ? design.a.length === 0 || design.b.length === 0 : design.d.length === 0;
    if (empty) throw new Error(`locationTest: a ${design.kind} design needs values on both sides`);
    const l = design.kind === "students" ? studentLines(design.a, design.b, rng, iters) : seedLines(design.d, rng, iters);
    const estimate = design.kind === "students" ? meanOf(design.a) - meanOf(design.b) : meanOf(design.d);
    const pUp = pAt(l, 0, 1);
    const pDown = pAt(l, 0, -1);
    const m = Math.log(settings.margin);
    // Equivalence: H1 delta > -m (a shifted by -(-m) still above) and H1 delta < m.
    const pEquivalence = Math.max(pAt(l, -m, 1), pAt(l, m, -1));
    const permutations = l.diff.length;
    const oneSidedFloor = l.exact ? 1 / permutations : 1 / (permutations + 1);
    return {
        design: design.kind,
        estimate,
        ci95: [invert(l, settings.alpha / 2, 1), invert(l, settings.alpha / 2, -1)],
        pUp,
        pDown,
        p: Math.min(1, 2 * Math.min(pUp, pDown)),
        pEquivalence,
        floor: Math.min(1, 2 * oneSidedFloor),
        permutations,
        exact: l.exact,
    };
}

/** Holm's step-down adjustment: adjusted p's in the input's order, each at least its raw p and at most 1. */
export function holm(ps: readonly number[]): number[] {
    const m = ps.length;
    const order = ps.map((p, i) => [p, i] as const).sort((x, y) => x[0] - y[0]);
    const out = new Array<number>(m);
    let running = 0;
    order.forEach(([p, i], k) => {
        running = Math.max(running, Math.min(1, (m - k) * p));
        out[i] = running;
    });
    return out;
}

/** The smallest two-sided p of a design: students n+n (two-sample) or n seeds against one model. */
export function designFloor(kind: Design["kind"], na: number, nb = na, iters = 20000): number {
    if (kind === "seeds") return Math.min(1, 2 / Math.min(2 ** na, iters + 1));
    return Math.min(1, 2 / Math.min(binomialCapped(na + nb, na, iters), iters + 1));
}

/** The fewest students per arm (or seeds, against one model) whose design floor is below alpha / familySize. */
export function seedsToReach(kind: Design["kind"], alpha: number, familySize: number): number {
    for (let n = 1; n <= 64; n++) if (designFloor(kind, n) < alpha / familySize) return n;
    return Infinity;
}

/** The words of a verdict for a target (e.g. "owl"): the vocabulary's one formatter. */
export function verdictText(word: VerdictWord, target: string, margin: number): string {
    if (word === "moved toward") return `moved toward ${target}`;
    if (word === "moved away") return `moved away from ${target}`;
    if (word === "no shift larger than") return `no shift larger than x${margin.toFixed(2)}`;
    return "can't tell";
}

/** What a verdict's words mean, for a report's legend. */
export function verdictLegend(s: StatsSettings): string {
    return (
        `Verdicts: "moved toward/away" when the Holm-adjusted two-sided p of the family is below ${s.alpha}; ` +
        `"no shift larger than x${s.margin.toFixed(2)}" when two one-sided tests (TOST, Holm-adjusted) put the shift inside that margin; ` +
        `"can't tell" otherwise. p: raw; p adj: Holm over the family; p eq: the equivalence test's adjusted p.`
    );
}

const Z = (p: number): number => {
    // Inverse normal CDF (Acklam's rational approximation), enough for a seed-count hint.
    const a = [-39.6968302866538, 220.946098424521, -275.928510446969, 138.357751867269, -30.6647980661472, 2.50662827745924];
    const b = [-54.4760987982241, 161.585836858041, -155.698979859887, 66.8013118877197, -13.2806815528857];
    const c = [-0.00778489400243029, -0.322396458041136, -2.40075827716184, -2.54973253934373, 4.37466414146497, 2.93816398269878];
    const d = [0.00778469570904146, 0.32246712907004, 2.445134137143, 3.75440866190742];
    const q = Math.min(Math.max(p, 1e-12), 1 - 1e-12);
    if (q < 0.02425) {
        const r = Math.sqrt(-2 * Math.log(q));
        return (((((c[0]! * r + c[1]!) * r + c[2]!) * r + c[3]!) * r + c[4]!) * r + c[5]!) / ((((d[0]! * r + d[1]!) * r + d[2]!) * r + d[3]!) * r + 1);
    }
    if (q > 1 - 0.02425) return -Z(1 - q);
    const r = q - 0.5;
    const s = r * r;
    return (
        ((((((a[0]! * s + a[1]!) * s + a[2]!) * s + a[3]!) * s + a[4]!) * s + a[5]!) * r) /
        (((((b[0]! * s + b[1]!) * s + b[2]!) * s + b[3]!) * s + b[4]!) * s + 1)
    );
};

/** The spread of a design's unit: pooled SD of the two samples, or the SD of the differences. */
function spread(design: Design): number {
    const sd = (xs: readonly number[]) => {
        const m = meanOf(xs);
        return xs.length > 1 ? Math.sqrt(xs.reduce((s, v) => s + (v - m) ** 2, 0) / (xs.length - 1)) : NaN;
    };
    if (design.kind === "seeds") return sd(design.d);
    const [na, nb] = [design.a.length, design.b.length];
    if (na + nb <= 2) return NaN;
    const va = na > 1 ? sd(design.a) ** 2 * (na - 1) : 0;
    const vb = nb > 1 ? sd(design.b) ** 2 * (nb - 1) : 0;
    return Math.sqrt((va + vb) / (na + nb - 2));
}

/** Students per arm that would likely (80% power, normal approximation at the observed spread) settle a "can't tell". */
function seedHint(t: LocationTest, design: Design, s: StatsSettings, familySize: number): string | undefined {
    const sigma = spread(design);
    const m = Math.log(s.margin);
    const level = s.alpha / familySize;
    const current = design.kind === "seeds" ? design.d.length : Math.min(design.a.length, design.b.length);
    const floorNeed = seedsToReach(design.kind, s.alpha, familySize);
    if (!(sigma > 0) || !Number.isFinite(sigma))
        return floorNeed > current ? `the design needs ${floorNeed}+ students per arm to pass the correction at all` : undefined;
    const k = design.kind === "students" ? 2 : 1;
    const [goal, gap, zq] =
        Math.abs(t.estimate) >= m / 2
            ? ["show a shift", Math.abs(t.estimate), Z(1 - level / 2)]
            : ["show no shift larger than the margin", m - Math.abs(t.estimate), Z(1 - level)];
    const n = Math.max(floorNeed, Math.ceil((k * (zq + Z(0.8)) ** 2 * sigma ** 2) / gap ** 2));
    if (!Number.isFinite(n) || n > 1000) return `more than 1000 students per arm would be needed to ${goal}`;
    if (n <= current) return undefined;
    return `about ${n} students per arm would likely ${goal}`;
}

/** One member of a family: its test, its design (for the seed hint) and, optionally, its target's name. */
export interface FamilyMember {
    test: LocationTest;
    design: Design;
}

/**
 * The verdicts of a family of comparisons (a run's secondary comparisons, a sweep's defenses, a study's cells, a
 * chain's generations): Holm over the two-sided p's for "moved", Holm over the TOST p's for "no shift larger than".
 */
export function familyVerdicts(members: readonly FamilyMember[], family: string, target: string, s: StatsSettings = DEFAULT_STATS): Verdict[] {
    const adj = holm(members.map((m) => m.test.p));
    const adjEq = holm(members.map((m) => m.test.pEquivalence));
    return members.map((m, i) => {
        const moved = adj[i]! < s.alpha;
        const equivalent = adjEq[i]! < s.alpha;
        const word: VerdictWord = moved ? (m.test.estimate > 0 ? "moved toward" : "moved away") : equivalent ? "no shift larger than" : "can't tell";
        const reachable = m.test.floor < s.alpha / members.length;
        const hint = word === "can't tell" ? seedHint(m.test, m.design, s, members.length) : undefined;
        return {
            word,
            text: verdictText(word, target, s.margin),
            p: m.test.p,
            pAdjusted: adj[i]!,
            pEquivalence: m.test.pEquivalence,
            pEquivalenceAdjusted: adjEq[i]!,
            alpha: s.alpha,
            margin: s.margin,
            family: { name: family, size: members.length },
            reachable,
            ...(hint ? { hint } : {}),
        };
    });
}

/** An interval end for print: "-inf"/"+inf" where the design could not bound it. */
export function fmtEnd(x: number, digits = 2): string {
    return Number.isFinite(x) ? x.toFixed(digits) : x > 0 ? "+inf" : "-inf";
}

/** The design's check before a run: each family whose floor cannot pass its correction, with the students that would. */
export function designWarnings(
    families: readonly { name: string; kind: Design["kind"]; na: number; nb?: number; size: number }[],
    s: StatsSettings = DEFAULT_STATS,
): string[] {
    const out: string[] = [];
    for (const f of families) {
        if (f.size < 1) continue;
        const floor = designFloor(f.kind, f.na, f.nb ?? f.na);
        const level = s.alpha / f.size;
        if (floor >= level) {
            const need = seedsToReach(f.kind, s.alpha, f.size);
            const unit = f.kind === "seeds" ? `${f.na} students against one model` : `${f.na}+${f.nb ?? f.na} students`;
            out.push(
                `${f.name}: with ${unit} the smallest two-sided p is ${floor.toPrecision(2)}, above alpha/${f.size} = ${level.toPrecision(2)}: no comparison of this family can pass Holm's correction; ${need} students per arm would`,
            );
        }
    }
    return out;
}
