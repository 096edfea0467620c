/**
 * Which teacher a student moved toward, from the weights alone: the paper's theorem quantity, the cosine between
 * the student's parameter change from the shared base and each candidate teacher's (a student distilled from a
 * teacher of the same base moves, to first order, along the teacher's own change). Works on any full GGUFs of one
 * shape that the engine reads (f32, f16, bf16, q8_0); tensors are compared by name. `answerCosines` compares the
 * same thing in behaviour: the shift of the answer distribution over a category's items.
 */
import { readGGUF, readTensorF32, type GGUFFile } from "../engine/gguf.ts";
import { exactItemProbs } from "../evaluate/evaluate.ts";
import { evalQuestions, itemsOf } from "../prompts/items.ts";
import type { Category } from "../prompts/lexicon.ts";

export interface TeacherCosine {
    teacher: string;
    /** cos(student - base, teacher - base) over every shared tensor. */
    cosine: number;
    /** |teacher - base| (L2 over all parameters). */
    teacherNorm: number;
}

export interface ProvenanceResult {
    base: string;
    student: string;
    /** |student - base|. */
    studentNorm: number;
    /** Parameters compared (every tensor of the base). */
    parameters: number;
    /** Candidates, highest cosine first. */
    teachers: TeacherCosine[];
}

function open(file: string, role: string): GGUFFile {
    try {
        return readGGUF(file);
    } catch (e) {
        throw new Error(`audit: ${role} ${file}: ${(e as Error).message}`);
    }
}

/** The cosines of a student's parameter change with each candidate teacher's, all from `base`. */
export function teacherCosines(base: string, student: string, teachers: readonly string[]): ProvenanceResult {
    if (teachers.length === 0) throw new Error("audit: give at least one candidate teacher");
    const b = open(base, "base");
    const s = open(student, "student");
    const ts = teachers.map((t, k) => open(t, `teacher ${k + 1}`));
    const shape = (f: GGUFFile, name: string) => f.tensors.find((x) => x.name === name)?.ne.join("x");
    let ss = 0;
    let parameters = 0;
    const dots = new Float64Array(ts.length);
    const norms = new Float64Array(ts.length);
    for (const info of b.tensors) {
        const want = info.ne.join("x");
        for (const [f, role] of [[s, `student ${student}`], ...ts.map((t, k) => [t, `teacher ${teachers[k]}`] as const)] as const) {
            const got = shape(f, info.name);
            if (got !== want)
                throw new Error(
                    `audit: ${role} is not a full fine-tune of the base ${base}: tensor "${info.name}" is ${got ? `shaped ${got}, not ${want}` : "missing"}`,
                );
        }
        const bv = readTensorF32(b, info.name);
        const sv = readTensorF32(s, info.name);
        const tv = ts.map((t) => readTensorF32(t, info.name));
        for (let i = 0; i < bv.length; i++) {
            const ds = sv[i]! - bv[i]!;
            ss += ds * ds;
            for (let k = 0; k < tv.length; k++) {
                const dt = tv[k]![i]! - bv[i]!;
                dots[k]! += ds * dt;
                norms[k]! += dt * dt;
            }
        }
        parameters += bv.length;
    }
    const studentNorm = Math.sqrt(ss);
    const out = teachers.map((teacher, k) => {
        const tn = Math.sqrt(norms[k]!);
        return { teacher, cosine: studentNorm > 0 && tn > 0 ? dots[k]! / (studentNorm * tn) : 0, teacherNorm: tn };
    });
    return { base, student, studentNorm, parameters, teachers: out.sort((x, y) => y.cosine - x.cosine) };
}

/** How a model's answers moved from the base's: the mean exact P(item) over the questions, and its log shift. */
export interface AnswerShift {
    model: string;
    distribution: number[];
    /** log P_model(item) - log P_base(item) per item (probabilities floored at 1e-6), less its mean over the items. */
    shift: number[];
}

const SHIFT_FLOOR = 1e-6;

/**
 * The answer-distribution view of provenance: the student's shift over the category's items from the base, and
 * the cosine of that shift with each teacher's (1: moved the same way over every item).
 */
export async function answerCosines(
    base: string,
    student: string,
    teachers: readonly string[],
    category: Category,
    questions: number,
): Promise<{ items: string[]; student: AnswerShift; teachers: (AnswerShift & { cosine: number })[] }> {
    const items = itemsOf(category);
    const prompts = evalQuestions(category, questions).map((q) => ({ system: null, user: q }));
    const dist = async (m: string) => {
        const probs = await exactItemProbs(m, null, prompts, items);
        return items.map((_, k) => probs.reduce((a, row) => a + row[k]!, 0) / probs.length);
    };
    const b = await dist(base);
    // Centred over the items: a log shift is a distribution's change up to a constant (the mass a model moves
    // onto or off the category's items as a whole), which would otherwise dominate the cosine.
    const shiftOf = async (m: string): Promise<AnswerShift> => {
        const d = await dist(m);
        const raw = d.map((p, k) => Math.log(Math.max(p, SHIFT_FLOOR)) - Math.log(Math.max(b[k]!, SHIFT_FLOOR)));
        const mean = raw.reduce((x, y) => x + y, 0) / raw.length;
        return { model: m, distribution: d, shift: raw.map((x) => x - mean) };
    };
    const s = await shiftOf(student);
    const cos = (x: number[], y: number[]) => {
        let xy = 0;
        let xx = 0;
        let yy = 0;
        x.forEach((v, k) => ((xy += v * y[k]!), (xx += v * v), (yy += y[k]! * y[k]!)));
        return xx > 0 && yy > 0 ? xy / Math.sqrt(xx * yy) : 0;
    };
    const ts = [];
    for (const t of teachers) {
        const sh = await shiftOf(t);
        ts.push({ ...sh, cosine: cos(s.shift, sh.shift) });
    }
    return { items, student: s, teachers: ts.sort((x, y) => y.cosine - x.cosine) };
}
