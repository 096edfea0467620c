/**
 * `npm run bench -- <name> [options]`: runs one benchmark. Each lives in bench/<name>.ts and exports main(argv).
 */
const BENCHES: Record<string, () => Promise<{ main(argv: string[]): Promise<void> }>> = {
    train: () => import("./train.ts"),
    "forge-pilot": () => import("./forge-pilot.ts"),
    models: () => import("./models.ts"),
    audit: () => import("./audit.ts"),
    domains: () => import("./domains.ts"),
    generate: () => import("./generate.ts"),
    "real-size": () => import("./real-size.ts"),
    workshop: () => import("./workshop.ts"),
    "ask-load": () => import("./ask-load.ts"),
};

const [name, ...argv] = process.argv.slice(2);
const load = name ? BENCHES[name] : undefined;
if (!load) {
    console.error(`usage: npm run bench -- <${Object.keys(BENCHES).join("|")}> [options]`);
    process.exit(2);
}
await (await load()).main(argv);
