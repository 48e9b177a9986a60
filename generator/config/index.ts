/** nixgen.config.ts: its published types, and the reader that checks it without running it. */
import fs from "node:fs";
import path from "node:path";
import { ConfigError, type Diagnostic } from "./diagnostics.js";
import { readConfigLiteral } from "./literal.js";
import type { ResolvedConfig } from "./resolved.js";
import { resolveConfig } from "./validate.js";

export * from "./diagnostics.js";
export type * from "./types.js";
export type {
  RemotableStrategy,
  ResolvedBinaryCache,
  ResolvedCcToolchain,
  ResolvedConfig,
  ResolvedLauncherRemote,
  ResolvedPackage,
  ResolvedRemotableRemote,
  ResolvedRemote,
  ResolvedSource,
} from "./resolved.js";
export { remotableRemote } from "./resolved.js";

/** The config's file name, at the root of the Bazel workspace it describes. */
export const CONFIG_FILE = "nixgen.config.ts";

/** Reads and checks config text; `file` is the name shown in messages. */
export function parseConfig(file: string, text: string): ResolvedConfig {
  const { literal, diagnostics } = readConfigLiteral(file, text);
  const all: Diagnostic[] = [...diagnostics];
  let config: ResolvedConfig | null = null;
  if (literal !== null) {
    const resolved = resolveConfig(file, literal);
    all.push(...resolved.diagnostics);
    config = resolved.config;
  }
  if (all.length > 0 || config === null) throw new ConfigError(all);
  return config;
}

/** How a path is shown: relative to `cwd` when inside it. */
export function displayPath(file: string, cwd: string): string {
  const rel = path.relative(cwd, file);
  return rel !== "" && !rel.startsWith("..") && !path.isAbsolute(rel) ? rel : file;
}

/** Reads `<workspace>/nixgen.config.ts`. */
export function loadConfig(workspace: string, cwd: string = workspace): ResolvedConfig {
  const file = path.join(workspace, CONFIG_FILE);
  return parseConfig(displayPath(file, cwd), fs.readFileSync(file, "utf8"));
}
