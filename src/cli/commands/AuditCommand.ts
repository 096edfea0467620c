/** `sublab audit`: which candidate teacher a student moved toward, by the cosine of their parameter changes from the shared base. */
import fs from "node:fs";
import type { Command } from "commander";
import { teacherCosines } from "../../audit/provenance.ts";

const collect = (v: string, acc: string[]) => [...acc, v];

export function registerAuditCommand(program: Command): void {
    program
        .command("audit")
        .description("which candidate teacher a student moved toward: cos(student - base, teacher - base) over all parameters (full GGUFs of one shape)")
        .requiredOption("--base <file>", "the base GGUF the student and the teachers were fine-tuned from")
        .requiredOption("--student <file>", "the student GGUF")
        .option("--teacher <file>", "a candidate teacher GGUF (repeat for more)", collect, [])
        .option("--json", "print the result as JSON")
        .action((raw: { base: string; student: string; teacher: string[]; json?: boolean }) => {
            for (const [flag, f] of [["--base", raw.base], ["--student", raw.student], ...raw.teacher.map((t) => ["--teacher", t] as const)] as const) {
                if (!fs.existsSync(f)) throw new Error(`${flag}: no such file ${f}`);
            }
            if (raw.teacher.length === 0) throw new Error("audit: give at least one --teacher FILE");
            const r = teacherCosines(raw.base, raw.student, raw.teacher);
            if (raw.json) return void console.log(JSON.stringify(r, null, 2));
            console.log(`student ${r.student}: |change from the base| ${r.studentNorm.toPrecision(4)} over ${r.parameters} parameters`);
            for (const t of r.teachers) console.log(`  cos ${t.cosine >= 0 ? " " : ""}${t.cosine.toFixed(4)}  |teacher change| ${t.teacherNorm.toPrecision(4)}  ${t.teacher}`);
        });
}
