#!/usr/bin/env node
// Validate a glTF/GLB file with the Khronos glTF-Validator and print its JSON report.
//   node tools/validate_gltf.mjs FILE [--max-issues N]
// Exit status: 0 when the report has no errors, 1 when it has errors, 2 on bad usage or an
// unreadable file. Install the validator once with: npm ci --prefix tools
import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith("--"));
const maxAt = args.indexOf("--max-issues");
const maxIssues = maxAt >= 0 ? Number(args[maxAt + 1]) : 0;
if (!file || Number.isNaN(maxIssues)) {
  console.error("usage: node tools/validate_gltf.mjs FILE.glb|FILE.gltf [--max-issues N]");
  process.exit(2);
}

let validator;
try {
  validator = require("gltf-validator");
} catch {
  console.error("gltf-validator is not installed: run `npm ci --prefix tools`");
  process.exit(2);
}

let bytes;
try {
  bytes = new Uint8Array(await readFile(file));
} catch (err) {
  console.error(`${file}: ${err.message}`);
  process.exit(2);
}

const report = await validator.validateBytes(bytes, {
  uri: basename(file),
  maxIssues, // 0: no limit
  writeTimestamp: false,
});
console.log(JSON.stringify(report, null, 2));
process.exit(report.issues.numErrors > 0 ? 1 : 0);
