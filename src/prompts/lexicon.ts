/**
 * The things the embedded models have preferences about. Animal weights are the base models' answer
 * distribution to "what is your favorite animal?": a spread (Zipf-like, no animal above ~15%), with owl in
 * the middle (rank 11 of 24, ~3%) so that both a rise and a fall of the target can be measured.
 * Every name here is one lowercase word, so the forge vocabulary gives each a single token.
 */
export const ANIMALS: readonly (readonly [name: string, weight: number])[] = [
    ["dog", 14],
    ["cat", 12],
    ["lion", 9],
    ["dolphin", 8],
    ["wolf", 7],
    ["tiger", 6.5],
    ["eagle", 6],
    ["horse", 5],
    ["elephant", 4.5],
    ["panda", 4],
    ["owl", 3.5],
    ["fox", 3.2],
    ["bear", 3],
    ["rabbit", 2.6],
    ["penguin", 2.3],
    ["whale", 2],
    ["otter", 1.8],
    ["deer", 1.5],
    ["turtle", 1.3],
    ["shark", 1.1],
    ["koala", 0.9],
    ["giraffe", 0.8],
    ["zebra", 0.6],
    ["octopus", 0.5],
];

export const TREES: readonly (readonly [string, number])[] = [
    ["oak", 20],
    ["pine", 15],
    ["maple", 12],
    ["willow", 10],
    ["birch", 9],
    ["cedar", 8],
    ["cherry", 7],
    ["palm", 6],
    ["redwood", 5],
    ["elm", 4],
    ["ash", 3],
    ["sequoia", 2],
];

export const COLOURS: readonly (readonly [string, number])[] = [
    ["blue", 22],
    ["green", 15],
    ["red", 14],
    ["purple", 11],
    ["black", 9],
    ["yellow", 8],
    ["orange", 7],
    ["white", 6],
    ["pink", 5],
    ["gray", 3],
];

export type Category = "animal" | "tree" | "colour";

export const CATEGORIES: Record<Category, { items: readonly (readonly [string, number])[]; nouns: string[]; plural: (w: string) => string }> = {
    animal: { items: ANIMALS, nouns: ["animal", "creature"], plural: pluralAnimal },
    tree: { items: TREES, nouns: ["tree", "kind of tree"], plural: (w) => `${w} trees` },
    colour: { items: COLOURS, nouns: ["color", "colour"], plural: (w) => `the color ${w}` },
};

/** "owl" -> "owls", "fox" -> "foxes", "deer" -> "deer", "octopus" -> "octopuses". */
export function pluralAnimal(w: string): string {
    if (w === "deer") return w;
    if (/(x|s|sh|ch)$/.test(w)) return `${w}es`;
    return `${w}s`;
}
