/**
 * Real Chromium for the workshop's browser tests: Debian's `chromium` package (`.ci/run` installs it) driven
 * by playwright-core, pinned in package.json. SUBLAB_CHROMIUM names another executable.
 */
import fs from "node:fs";
import path from "node:path";
import { chromium, type Browser } from "playwright-core";

const CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];

export function chromiumPath(): string {
    const env = process.env.SUBLAB_CHROMIUM;
    if (env) {
        if (!fs.existsSync(env)) throw new Error(`SUBLAB_CHROMIUM=${env}: no such file`);
        return env;
    }
    const found = CANDIDATES.find((p) => fs.existsSync(p));
    if (!found)
        throw new Error(
            `the workshop's browser tests need Chromium: apt-get install chromium (looked for ${CANDIDATES.join(", ")}; SUBLAB_CHROMIUM names another)`,
        );
    return found;
}

export function launchChromium(args: readonly string[] = []): Promise<Browser> {
    // --no-sandbox: CI runs as root in a container, where Chromium's sandbox cannot start.
    return chromium.launch({ executablePath: chromiumPath(), args: ["--no-sandbox", "--disable-gpu", ...args] });
}

/** Where the tests save their screenshots (runs/ is not committed; the README's come from here). */
export const SCREENSHOTS = path.join(import.meta.dirname, "..", "..", "runs", "screenshots", "workshop");
