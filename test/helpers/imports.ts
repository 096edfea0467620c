/**
 * The folder import graph of src/ (type-only imports included: a folder that names another's types depends on
 * it too), and the two rules the architecture keeps: no cycle between folders, and no import from a lower
 * layer to a higher one.
 */
import fs from "node:fs";
import path from "node:path";

/** Layers, top to bottom: a folder may import its own layer's folders (without a cycle) and the layers below. */
export const LAYERS: readonly (readonly string[])[] = [
    ["cli"],
    ["studies", "forge", "export"],
    ["workshop"],
    ["teacher", "data", "students", "evaluate", "stats", "report"],
    ["core"],
    ["engine", "prompts"],
    ["util"],
];

/** An import between folders: from, to, and the files that make it. */
export type FolderEdges = Map<string, Map<string, string[]>>;

/** src/'s TypeScript files by path relative to src/. */
export function sourceFiles(src: string): Map<string, string> {
    const out = new Map<string, string>();
    const walk = (dir: string) => {
        for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
            const p = path.join(dir, e.name);
            if (e.isDirectory()) walk(p);
            else if (e.name.endsWith(".ts")) out.set(path.relative(src, p).split(path.sep).join("/"), fs.readFileSync(p, "utf8"));
        }
    };
    walk(src);
    return out;
}

const folderOf = (file: string) => (file.includes("/") ? file.slice(0, file.indexOf("/")) : ".");

/** The folder graph of a set of files (relative path -> text): every relative import and re-export. */
export function folderEdges(files: ReadonlyMap<string, string>): FolderEdges {
    const edges: FolderEdges = new Map();
    for (const [file, text] of files) {
        const from = folderOf(file);
        for (const m of text.matchAll(
            /^\s*(?:import|export)\b[^;]*?\bfrom\s+["'](\.{1,2}\/[^"']+)["']|^\s*import\s+["'](\.{1,2}\/[^"']+)["']|\bimport\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/gm,
        )) {
            const spec = m[1] ?? m[2] ?? m[3]!;
            const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec));
            if (target.startsWith("..")) continue; // outside src/ (package.json)
            const to = folderOf(target);
            if (to === from) continue;
            const byTo = edges.get(from) ?? new Map<string, string[]>();
            edges.set(from, byTo);
            byTo.set(to, [...(byTo.get(to) ?? []), file]);
        }
    }
    return edges;
}

/** Cycles between folders (strongly connected components of more than one folder), each with the edges inside it. */
export function folderCycles(edges: FolderEdges): string[] {
    const nodes = new Set<string>([...edges.keys(), ...[...edges.values()].flatMap((m) => [...m.keys()])]);
    const index = new Map<string, number>();
    const low = new Map<string, number>();
    const stack: string[] = [];
    const onStack = new Set<string>();
    const out: string[] = [];
    let next = 0;
    const visit = (v: string) => {
        index.set(v, next);
        low.set(v, next++);
        stack.push(v);
        onStack.add(v);
        for (const w of edges.get(v)?.keys() ?? []) {
            if (!index.has(w)) {
                visit(w);
                low.set(v, Math.min(low.get(v)!, low.get(w)!));
            } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
        }
        if (low.get(v) !== index.get(v)) return;
        const scc: string[] = [];
        let w: string;
        do {
            w = stack.pop()!;
            onStack.delete(w);
            scc.push(w);
        } while (w !== v);
        if (scc.length < 2) return;
        const inside = scc.flatMap((a) => [...(edges.get(a) ?? [])].filter(([b]) => scc.includes(b)).map(([b, files]) => `${a} -> ${b} (${files.join(", ")})`));
        out.push(`${scc.sort().join(", ")}: ${inside.join("; ")}`);
    };
    for (const v of [...nodes].sort()) if (!index.has(v)) visit(v);
    return out;
}

/** Imports that go up the layers (or name a folder no layer lists). */
export function layerViolations(edges: FolderEdges, layers: readonly (readonly string[])[] = LAYERS): string[] {
    const rank = new Map(layers.flatMap((fs, k) => fs.map((f) => [f, k] as const)));
    const out: string[] = [];
    for (const [from, byTo] of edges) {
        for (const [to, files] of byTo) {
            const a = rank.get(from);
            const b = rank.get(to);
            if (a === undefined || b === undefined)
                out.push(`${from} -> ${to}: ${a === undefined ? from : to} is in no layer (test/helpers/imports.ts LAYERS)`);
            else if (b < a) out.push(`${from} -> ${to} goes up the layers (${files.join(", ")})`);
        }
    }
    return out;
}
