/**
 * Procedurally drawn digits for the theorem's small-network experiment (issue 18): 28x28 grey images of the
 * digits 0-9, each drawn from a few strokes (lines and arcs on a unit box) under a random shift, scale,
 * rotation, slant and stroke width, with pixel noise, so that no download is needed and every set is fixed by
 * its seed. `noiseSet` gives the uniform-noise images the students are distilled on.
 */
import { Rng } from "../util/rng.ts";

export const SIDE = 28;
export const PIXELS = SIDE * SIDE;

type Point = [number, number];

/** An arc of the ellipse centred at (cx, cy) with radii (rx, ry), from angle a0 to a1 (radians, y down). */
function arc(cx: number, cy: number, rx: number, ry: number, a0: number, a1: number, steps = 16): Point[] {
    return Array.from({ length: steps + 1 }, (_, k) => {
        const a = a0 + ((a1 - a0) * k) / steps;
        return [cx + rx * Math.cos(a), cy + ry * Math.sin(a)] as Point;
    });
}

const PI = Math.PI;

/** Each digit's strokes (polylines) in a unit box, x right and y down. */
const STROKES: Point[][][] = [
    /* 0 */ [arc(0.5, 0.5, 0.28, 0.4, 0, 2 * PI, 24)],
    /* 1 */ [
        [
            [0.38, 0.25],
            [0.55, 0.1],
            [0.55, 0.9],
        ],
    ],
    /* 2 */ [[...arc(0.5, 0.32, 0.26, 0.22, PI, 2.15 * PI), [0.24, 0.9], [0.8, 0.9]]],
    /* 3 */ [arc(0.48, 0.3, 0.24, 0.2, 1.1 * PI, 2.5 * PI), arc(0.48, 0.7, 0.27, 0.2, 1.5 * PI, 2.9 * PI)],
    /* 4 */ [
        [
            [0.62, 0.9],
            [0.62, 0.1],
            [0.2, 0.65],
            [0.82, 0.65],
        ],
    ],
    /* 5 */ [[[0.78, 0.1], [0.3, 0.1], [0.27, 0.45], ...arc(0.5, 0.65, 0.28, 0.25, 1.25 * PI, 2.85 * PI)]],
    /* 6 */ [
        [
            [0.7, 0.1],
            [0.28, 0.62],
        ],
        arc(0.5, 0.68, 0.24, 0.22, 0, 2 * PI, 20),
    ],
    /* 7 */ [
        [
            [0.2, 0.1],
            [0.8, 0.1],
            [0.4, 0.9],
        ],
    ],
    /* 8 */ [arc(0.5, 0.3, 0.22, 0.19, 0, 2 * PI, 20), arc(0.5, 0.7, 0.27, 0.21, 0, 2 * PI, 20)],
    /* 9 */ [
        arc(0.5, 0.32, 0.25, 0.22, 0, 2 * PI, 20),
        [
            [0.75, 0.32],
            [0.68, 0.9],
        ],
    ],
];

/** How one drawn digit varies: shift in pixels, scale, rotation and slant, stroke width in pixels, noise level. */
export interface DrawStyle {
    dx: number;
    dy: number;
    scale: number;
    rotate: number;
    slant: number;
    width: number;
    noise: number;
    ink: number;
}

export function randomStyle(rng: Rng): DrawStyle {
    const u = (lo: number, hi: number) => lo + (hi - lo) * rng.next();
    return {
        dx: u(-3, 3),
        dy: u(-3, 3),
        scale: u(0.75, 1.05),
        rotate: u(-0.2, 0.2),
        slant: u(-0.25, 0.25),
        width: u(1.2, 2.8),
        noise: u(0, 0.12),
        ink: u(0.75, 1),
    };
}

/** The strokes of `digit` as pixel-space segments under a style. */
function segments(digit: number, s: DrawStyle): [Point, Point][] {
    const box = 20 * s.scale;
    const [cos, sin] = [Math.cos(s.rotate), Math.sin(s.rotate)];
    const place = ([x, y]: Point): Point => {
        const px = (x - 0.5 + s.slant * (0.5 - y)) * box;
        const py = (y - 0.5) * box;
        return [SIDE / 2 + s.dx + cos * px - sin * py, SIDE / 2 + s.dy + sin * px + cos * py];
    };
    return STROKES[digit]!.flatMap((line) => {
        const pts = line.map(place);
        return pts.slice(1).map((p, k) => [pts[k]!, p] as [Point, Point]);
    });
}

/** Distance from (x, y) to the segment a-b. */
function segmentDistance(x: number, y: number, [a, b]: [Point, Point]): number {
    const [vx, vy] = [b[0] - a[0], b[1] - a[1]];
    const len2 = vx * vx + vy * vy;
    const t = len2 > 0 ? Math.max(0, Math.min(1, ((x - a[0]) * vx + (y - a[1]) * vy) / len2)) : 0;
    return Math.hypot(x - a[0] - t * vx, y - a[1] - t * vy);
}

/** One image of `digit` (0-9) drawn in `style`, values in [0, 1], row-major; noise drawn from `rng`. */
export function drawDigit(digit: number, style: DrawStyle, rng: Rng): Float32Array {
    if (!Number.isInteger(digit) || digit < 0 || digit > 9) throw new Error(`drawDigit: expected a digit 0-9, got ${digit}`);
    const segs = segments(digit, style);
    // Distance to the nearest stroke, computed only near each segment: beyond half the width plus a pixel the
    // ink is 0 whatever the distance, so pixels far from every segment keep Infinity.
    const dist = new Float64Array(PIXELS).fill(Infinity);
    const reach = style.width / 2 + 1;
    for (const s of segs) {
        const [x0, x1] = [Math.max(0, Math.floor(Math.min(s[0][0], s[1][0]) - reach)), Math.min(SIDE - 1, Math.ceil(Math.max(s[0][0], s[1][0]) + reach))];
        const [y0, y1] = [Math.max(0, Math.floor(Math.min(s[0][1], s[1][1]) - reach)), Math.min(SIDE - 1, Math.ceil(Math.max(s[0][1], s[1][1]) + reach))];
        for (let y = y0; y <= y1; y++) {
            for (let x = x0; x <= x1; x++) {
                const d = segmentDistance(x + 0.5, y + 0.5, s);
                if (d < dist[y * SIDE + x]!) dist[y * SIDE + x] = d;
            }
        }
    }
    const img = new Float32Array(PIXELS);
    for (let i = 0; i < PIXELS; i++) {
        // Anti-aliased stroke: full ink within half the width, fading over one pixel.
        const v = style.ink * Math.max(0, Math.min(1, style.width / 2 + 0.5 - dist[i]!)) + style.noise * rng.normal();
        img[i] = Math.max(0, Math.min(1, v));
    }
    return img;
}

export interface ImageSet {
    /** n x 784, row-major images. */
    images: Float32Array;
    labels: Int32Array;
    n: number;
}

/** `n` digits, classes in turn (0, 1, ..., 9, 0, ...) then shuffled, each in its own random style; fixed by `seed`. */
export function digitSet(seed: number, n: number): ImageSet {
    const rng = new Rng(seed);
    const labels = rng.shuffle(Array.from({ length: n }, (_, k) => k % 10));
    const images = new Float32Array(n * PIXELS);
    labels.forEach((d, k) => images.set(drawDigit(d, randomStyle(rng), rng), k * PIXELS));
    return { images, labels: Int32Array.from(labels), n };
}

/** `n` images of uniform noise in [0, 1] (the students' only inputs); labels are -1. */
export function noiseSet(seed: number, n: number): ImageSet {
    const rng = new Rng(seed);
    return { images: Float32Array.from({ length: n * PIXELS }, () => rng.next()), labels: new Int32Array(n).fill(-1), n };
}

/** An image as text (for logs and tests): one character per pixel by intensity. */
export function asciiDigit(img: Float32Array): string {
    const shades = " .:-=+*#%@";
    const rows: string[] = [];
    for (let y = 0; y < SIDE; y++) rows.push(Array.from({ length: SIDE }, (_, x) => shades[Math.min(9, Math.floor(img[y * SIDE + x]! * 10))]).join(""));
    return rows.join("\n");
}
