/**
 * A population's charts: the epidemic curves (infected share per round with Wilson intervals, one line per
 * population) and a heatmap of every agent's drift per round.
 */
import type { PopulationResults, PopulationRun } from "../core/results.ts";
import { lineChart } from "./charts.ts";
import { escapeHtml, r1 } from "./report-files.ts";

export const VARIANT_TEXT: Record<PopulationRun["variant"], string> = {
    open: "open (no monitor)",
    quarantine: "with monitor and quarantine",
    "quarantine-data": "with the data-level monitor and quarantine",
    recovery: "with quarantine, treatment and readmission",
    null: "null (no agent carries the trait; monitor and quarantine on)",
    "in-context": "in context, never trained (each agent holds its latest exchanges as earlier turns)",
    "null-in-context": "null in context (no agent carries the trait; never trained)",
};

const COLOURS: Record<PopulationRun["variant"], string> = {
    open: "#c4500f",
    quarantine: "#3a6ea5",
    "quarantine-data": "#7b4fa0",
    recovery: "#2e8b57",
    null: "#777",
    "in-context": "#b8860b",
    "null-in-context": "#aaa",
};

export function epidemicChart(r: PopulationResults): string {
    return lineChart({
        title: "Infected share per round, with Wilson 95% intervals",
        xLabel: "round",
        yLabel: "infected share",
        log: false,
        yMax: 1,
        series: r.runs.map((run) => ({
            name: run.variant,
            colour: COLOURS[run.variant],
            dashed: run.variant === "null" || run.variant === "null-in-context",
            points: run.curve.map((x) => ({ x: x.round, y: x.share, lo: x.ci95[0], hi: x.ci95[1], note: `${x.infected}/${r.agents} infected` })),
        })),
    });
}

/** The drift (a ratio of P(target) over the base's) at which the heatmap's colour saturates. */
const SATURATION = 1.5;

/** Drift as a colour: white at none, orange toward the trait, blue away, saturating at a ratio of SATURATION (or its inverse). */
function driftColour(d: number): string {
    const t = Math.max(-1, Math.min(1, d / Math.log(SATURATION)));
    const mix = (a: number, b: number) => Math.round(a + (b - a) * Math.abs(t));
    return t >= 0 ? `rgb(${mix(255, 196)},${mix(255, 80)},${mix(255, 15)})` : `rgb(${mix(255, 58)},${mix(255, 110)},${mix(255, 165)})`;
}

/** Agents (rows) by rounds (columns), coloured by drift; a thick border: infected; a cross: quarantined. */
export function heatmap(r: PopulationResults, run: PopulationRun): string {
    const cell = 34;
    const m = { left: 80, top: 36 };
    const W = Math.max(m.left + cell * run.history.length + 16, 660);
    const H = m.top + cell * r.agents + 44;
    const parts = [
        `<svg class="chart" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="drift per agent and round, ${escapeHtml(run.variant)}">`,
        `<text x="${m.left}" y="16" class="title">${escapeHtml(VARIANT_TEXT[run.variant])}: drift per agent and round</text>`,
    ];
    run.history.forEach((row, k) => {
        parts.push(`<text x="${r1(m.left + k * cell + cell / 2)}" y="${m.top - 6}" text-anchor="middle" class="tick">${k}</text>`);
        for (const x of row) {
            const cx = m.left + k * cell;
            const cy = m.top + x.agent * cell;
            const label = `agent ${x.agent + 1}, round ${x.round}: x${Math.exp(x.drift).toFixed(2)} [x${Math.exp(x.ci95[0]).toFixed(2)}, x${Math.exp(x.ci95[1]).toFixed(2)}]${x.infected ? ", infected" : ""}${x.flagged ? ", flagged" : ""}${x.quarantined ? ", quarantined" : ""}`;
            parts.push(
                `<rect x="${cx + 1}" y="${cy + 1}" width="${cell - 2}" height="${cell - 2}" fill="${driftColour(x.drift)}" stroke="${x.infected ? "#000" : "#ccc"}" stroke-width="${x.infected ? 2.5 : 1}" data-agent="${x.agent}" data-round="${x.round}"><title>${escapeHtml(label)}</title></rect>`,
            );
            if (x.quarantined)
                parts.push(
                    `<path d="M${cx + 8} ${cy + 8} L${cx + cell - 8} ${cy + cell - 8} M${cx + cell - 8} ${cy + 8} L${cx + 8} ${cy + cell - 8}" stroke="#333" stroke-width="1.5"/>`,
                );
        }
    });
    for (let a = 0; a < r.agents; a++) {
        const tag = `${r.infected.includes(a) && !run.variant.startsWith("null") ? "* " : ""}agent ${a + 1}${r.bases[a] === "cross" ? " (x)" : ""}`;
        parts.push(`<text x="${m.left - 6}" y="${r1(m.top + a * cell + cell / 2 + 4)}" text-anchor="end" class="tick">${escapeHtml(tag)}</text>`);
    }
    parts.push(
        `<text x="${m.left}" y="${H - 24}" class="tick">columns: rounds; orange: toward ${escapeHtml(r.target)}, blue: away (full colour at x${SATURATION} or 1/${SATURATION})</text>`,
        `<text x="${m.left}" y="${H - 8}" class="tick">thick border: infected; cross: quarantined; *: started as the teacher; (x): the other base</text>`,
        "</svg>",
    );
    return parts.join("\n");
}
