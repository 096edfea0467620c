/** The binding: version pin, thread count, backend choice. */
import { describe, expect, it } from "vitest";
import { checkNodeLlamaCppVersion, getGgml, PINNED_NODE_LLAMA_CPP } from "../../src/engine/ggml.ts";

describe("ggml binding", () => {
    it("accepts the pinned node-llama-cpp and refuses any other version with what to run", () => {
        expect(() => checkNodeLlamaCppVersion(PINNED_NODE_LLAMA_CPP)).not.toThrow();
        expect(() => checkNodeLlamaCppVersion("3.23.0")).toThrow(/written for node-llama-cpp 3\.22\.1.*3\.23\.0 is installed.*npm install node-llama-cpp@3\.22\.1/s);
    });

    it("loads a backend with an explicit thread count, and changes it on request", () => {
        const g = getGgml({ threads: 2 });
        expect(["cpu", "cuda"]).toContain(g.backendKind);
        expect(g.deviceDescription.length).toBeGreaterThan(0);
        expect(g.threads).toBe(2);
        getGgml({ threads: 1 });
        expect(g.threads).toBe(1);
        expect(() => g.setThreads(0)).toThrow(/positive integer/);
        g.setThreads(2);
    });
});
