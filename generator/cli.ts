#!/usr/bin/env node
// The `nixgen` executable (package.json "bin"); the commands live in main.ts.
import { main } from "./main.js";

process.exitCode = await main(process.argv.slice(2), {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  cwd: process.cwd(),
});
