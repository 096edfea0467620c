/**
 * Dose-response: transfer against the share f of the teacher's rows a student trained on (student.mix). Two
 * shapes are fitted by least squares to every student's transfer (its value minus its cell's control mean):
 *   slope      y = b f
 *   threshold  y = top (s((f - m) / w) - s(-m / w)) / (s((1 - m) / w) - s(-m / w)), s the logistic: a rise
 *              around the midpoint m, w wide, passing through 0 at f = 0 and top at f = 1
 * and compared by AICc (Gaussian errors). The midpoint's interval is a bootstrap over seeds, drawn jointly
 * for every dose, since a seed's students at every dose share its control student and its prompts. A logistic
 * that fits better is a threshold only when its midpoint lies inside the doses tried (curveShape).
 */
import type { DoseFit } from "../core/results.ts";
import { Rng } from "../util/rng.ts";

export type { DoseFit };

export interface DosePoint {
    f: number;
    /** Per-seed values of the treated students and of the control students (the same seeds, in order). */
    treated: readonly number[];
    control: readonly number[];
}

const sig = (x: number) => 1 / (1 + Math.exp(-x));

/** The threshold curve's shape at f for midpoint m and width w, 0 at f = 0 and 1 at f = 1. */
function unit(f: number, m: number, w: number): number {
    const lo = sig(-m / w);
    return (sig((f - m) / w) - lo) / (sig((1 - m) / w) - lo);
}

const GRID_M = Array.from({ length: 80 }, (_, k) => 10 ** (-2.5 + (2.5 * k) / 79)); // 0.003 .. 1
const GRID_W = Array.from({ length: 40 }, (_, k) => 10 ** (-3 + (3 * k) / 39)); // 0.001 .. 1

/**
 * Least squares of y = c g over the doses, each dose's mean weighted by the students behind it (`seeds`): c and
 * the residual sum. `g` is the curve's value at each dose.
 */
function scaleFit(g: readonly number[], ys: readonly number[], seeds: number): { c: number; rss: number } {
    let sgy = 0;
    let sgg = 0;
    for (let k = 0; k < g.length; k++) {
        sgy += seeds * g[k]! * ys[k]!;
        sgg += seeds * g[k]! * g[k]!;
    }
    const c = sgg > 0 ? sgy / sgg : 0;
    let rss = 0;
    for (let k = 0; k < g.length; k++) rss += seeds * (ys[k]! - c * g[k]!) ** 2;
    return { c, rss };
}

/** Every threshold curve of the grid at the doses: computed once, fitted to the data and to every resample. */
type Curve = { mid: number; width: number; g: number[] };
const thresholdCurves = (fs: readonly number[]): Curve[] =>
    GRID_M.flatMap((mid) => GRID_W.map((width) => ({ mid, width, g: fs.map((f) => unit(f, mid, width)) })));

function bestThreshold(curves: readonly Curve[], ys: readonly number[], seeds: number): { top: number; mid: number; width: number; rss: number } {
    let best = { top: 0, mid: GRID_M[0]!, width: GRID_W[0]!, rss: Infinity };
    for (const { mid, width, g } of curves) {
        const { c, rss } = scaleFit(g, ys, seeds);
        if (rss < best.rss) best = { top: c, mid, width, rss };
    }
    return best;
}

const aicc = (rss: number, n: number, k: number) => n * Math.log(Math.max(rss, 1e-300) / n) + 2 * k + (2 * k * (k + 1)) / Math.max(1, n - k - 1);

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Fits both shapes to the doses (at least 3, every one with the same seeds) and bootstraps the midpoint. */
export function fitDose(points: readonly DosePoint[], o: { resamples?: number; seed?: number } = {}): DoseFit {
    if (points.length < 3) throw new Error(`a dose-response needs at least 3 doses, got ${points.length}`);
    const seeds = points[0]!.treated.length;
    if (points.some((p) => p.treated.length !== seeds || p.control.length !== seeds))
        throw new Error("every dose needs one treated and one control student per seed, the same seeds");
    const fs = points.map((p) => p.f);
    const curves = thresholdCurves(fs);
    const cellMeans = (pick: readonly number[]) => points.map((p) => mean(pick.map((s) => p.treated[s]!)) - mean(pick.map((s) => p.control[s]!)));
    const all = Array.from({ length: seeds }, (_, s) => s);
    const ys = cellMeans(all);
    // Every student's own transfer scatters around its dose's mean: that part of the residuals is the same for
    // both shapes, and counts in the sums the AICc compares.
    let within = 0;
    for (const p of points) {
        const c = mean(p.control);
        const t = mean(p.treated) - c;
        for (const v of p.treated) within += (v - c - t) ** 2;
    }
    const n = points.length * seeds;
    const lin = scaleFit(fs, ys, seeds);
    const thr = bestThreshold(curves, ys, seeds);
    const slope = { b: lin.c, rss: lin.rss + within, aicc: aicc(lin.rss + within, n, 2) };
    const resamples = o.resamples ?? 400;
    const rng = new Rng(o.seed ?? 1);
    const mids: number[] = [];
    for (let r = 0; r < resamples; r++) {
        const pick = Array.from({ length: seeds }, () => Math.floor(rng.next() * seeds));
        mids.push(bestThreshold(curves, cellMeans(pick), seeds).mid);
    }
    mids.sort((a, b) => a - b);
    const q = (p: number) => mids[Math.min(mids.length - 1, Math.max(0, Math.round(p * (mids.length - 1))))]!;
    const threshold = { ...thr, rss: thr.rss + within, aicc: aicc(thr.rss + within, n, 4), midCi95: [q(0.025), q(0.975)] as [number, number] };
    const deltaAicc = slope.aicc - threshold.aicc;
    return {
        points: fs.map((f, k) => ({ f, transfer: ys[k]! })),
        slope,
        threshold,
        deltaAicc,
        shape: deltaAicc < -2 ? "slope" : deltaAicc > 2 ? curveShape(threshold, fs) : "can't tell",
        resamples,
    };
}

/**
 * What a logistic that fits better than a slope says: a threshold when its midpoint lies inside the doses tried
 * (its whole bootstrap interval above the smallest dose given); saturating when its midpoint is below the smallest
 * dose (transfer rises fastest at the smallest doses, and no dose tried shows a floor to cross); else can't tell.
 */
function curveShape(t: DoseFit["threshold"], fs: readonly number[]): DoseFit["shape"] {
    const smallest = Math.min(...fs.filter((f) => f > 0));
    if (t.midCi95[0] > smallest) return "threshold";
    if (t.mid < smallest) return "saturating";
    return "can't tell";
}

/** The threshold curve at f (for plots). */
export const thresholdAt = (fit: DoseFit, f: number): number => fit.threshold.top * unit(f, fit.threshold.mid, fit.threshold.width);
