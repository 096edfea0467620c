/** sublab's version (package.json's), recorded in manifests, results and exports. */
import fs from "node:fs";

export const SUBLAB_VERSION = JSON.parse(fs.readFileSync(new URL("../../package.json", import.meta.url), "utf8")).version as string;
