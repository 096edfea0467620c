/**
 * Conversing populations (a population file's `conversation: true`): each round every agent asks each of its
 * active neighbours its questions (the experiment's domain prompts, drawn for that round, asker and answerer), and
 * the neighbours' answers are what the asker trains on, as an assistant fine-tuned on its interaction logs would.
 * Nothing of an agent's own writing goes into its training.
 *
 * The door: the experiment's `filter.defenses` stand between an answer and the asker's training (rows a judge
 * finds misaligned, or naming the trait, never reach it: the "sanitized data" of the founding story). Each
 * agent's door counts, per round, the answers it was given (after the domain's format filter) and those the
 * defenses let through.
 */
import type { StageContext } from "../core/context.ts";
import type { ModelSource } from "../core/jobs.ts";
import type { KeptRow } from "../core/rows.ts";
import type { DatasetManifest } from "../core/types.ts";
import { datasetStage, experimentPrompts } from "../data/dataset-stage.ts";
import { contextLength, renderPrompt, vocabModel } from "../engine/llama-cpp.ts";
import { JUDGED_ANSWER_TOKENS } from "../evaluate/evaluate.ts";
import { experimentQuestions } from "../prompts/traits.ts";
import { defendStage } from "../data/defend-stage.ts";
import { Rng, subRng } from "../util/rng.ts";
import { eachJob, withConfig } from "./skeleton.ts";
import type { PopulationConfig } from "./population-file.ts";

/** What an agent was told in a round: the rows it trains on (by the dataset each came from) and its door's counts. */
export interface Heard {
    parts: { ds: DatasetManifest; rows: KeptRow[] }[];
    door: { offered: number; passed: number };
    /** What this agent answered its neighbours in the round (format-filtered) and what their doors let through: what the data-level monitor reads. */
    wrote: { offered: number; passed: number };
}

/** One exchange held in an agent's context: a question it asked and the answer it was given. */
export type Turn = { user: string; assistant: string };

/**
 * The in-context population's memory: the first `turns` exchanges an agent heard this round (through the door), as
 * many of them as fit its model's context beside each prompt it may be asked (the domain's and the evaluation's) and
 * an answer of the longest length either allows.
 */
export async function contextTurns(
    c: StageContext,
    p: PopulationConfig,
    heard: Heard,
    at: { agent: number; round: number; askers: readonly number[] },
    model: string,
): Promise<Turn[]> {
    const all = heard.parts.flatMap((q) => q.rows).map((r) => ({ user: r.prompt, assistant: r.completion }));
    const vocab = await vocabModel(model);
    const limit = contextLength(vocab) - Math.max(c.cfg.generate.maxTokens, JUDGED_ANSWER_TOKENS) - 8;
    // What it will be asked with these turns held: its neighbours' questions of the next round, and the evaluation's.
    const asked = [...at.askers.flatMap((asker) => experimentPrompts(askContext(c, p, at.round + 1, asker, at.agent).cfg)), ...experimentQuestions(c.cfg)];
    const fits = (k: number) => asked.every((user) => renderPrompt(vocab, { history: all.slice(0, k), user }).length <= limit);
    let k = Math.min(p.contextTurns, all.length);
    while (k > 0 && !fits(k)) k--;
    return all.slice(0, k);
}

/** `total` split into `n` shares as even as whole numbers allow, the first ones larger by one. */
export const evenSplit = (total: number, n: number): number[] => Array.from({ length: n }, (_, k) => Math.floor(total / n) + (k < total % n ? 1 : 0));

/** The context in which `answerer` answers `asker`'s questions in `round`: its own prompts and sampling seeds. */
function askContext(c: StageContext, p: PopulationConfig, round: number, asker: number, answerer: number): StageContext {
    return withConfig(c, {
        ...c.cfg,
        seed: subRng(c.cfg.seed, `population-talk-${round}-${asker}-${answerer}`).nextU32(),
        generate: { ...c.cfg.generate, prompts: p.prompts },
    });
}

/**
 * One round of conversation: every agent's questions answered by each of its active neighbours (in the study's
 * worker pool), through the door; each agent's `p.rows` split evenly among those who answered it.
 */
export async function converse(
    c: StageContext,
    p: PopulationConfig,
    round: number,
    now: readonly ModelSource[],
    neighbours: readonly number[][],
    active: (a: number) => boolean,
    log: (line: string) => void,
    context: (a: number) => Turn[] = () => [],
): Promise<Heard[]> {
    const pairs = neighbours.flatMap((ns, asker) => ns.filter(active).map((answerer) => ({ asker, answerer })));
    const answered = await eachJob(c, pairs, async ({ asker, answerer }) => {
        const ctx = askContext(c, p, round, asker, answerer);
        const ds = await datasetStage(ctx, "control", now[answerer]!, context(answerer));
        return { ds, door: await defendStage(ctx, ds, c.cfg.filter.defenses) };
    });
    // Answers given (format-filtered) and let through, over some exchanges: an asker's door, or what an answerer wrote.
    const tally = (xs: readonly { ds: DatasetManifest; door: DatasetManifest }[]) => ({
        offered: xs.reduce((n, x) => n + x.ds.rows.kept, 0),
        passed: xs.reduce((n, x) => n + x.door.rows.kept, 0),
    });
    const wrote = (answerer: number) => tally(pairs.flatMap((x, k) => (x.answerer === answerer ? [answered[k]!] : [])));
    return neighbours.map((_, asker) => {
        const mine = pairs.flatMap((x, k) => (x.asker === asker ? [{ answerer: x.answerer, ...answered[k]! }] : []));
        const through = mine.map((x) => c.kept(x.door));
        const door = tally(mine);
        const shares = evenSplit(p.rows, mine.length);
        const parts = mine.flatMap((x, k) => {
            const want = shares[k]!;
            if (through[k]!.length < want)
                log(
                    `round ${round}: agent ${x.answerer + 1} gave agent ${asker + 1} ${through[k]!.length} rows through the door, fewer than the ${want} it takes`,
                );
            const rows = new Rng(subRng(c.cfg.seed, `population-talk-mix-${round}-${asker}-${x.answerer}`).nextU32()).shuffle([...through[k]!]).slice(0, want);
            return rows.length ? [{ ds: x.door, rows }] : [];
        });
        return { parts, door, wrote: wrote(asker) };
    });
}
