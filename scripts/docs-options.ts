// Writes docs/options.md from the option schema (src/options/schema.ts): `npm run docs:options`.
import { writeFileSync } from "node:fs";
import { renderOptionsDoc } from "../src/options/help.ts";

writeFileSync(new URL("../docs/options.md", import.meta.url), renderOptionsDoc());
process.stdout.write("wrote docs/options.md\n");
