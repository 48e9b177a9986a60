/**
 * What the CLI's commands share: where they print (`Io`), how a command is described
 * (`Command`), the exit codes and the usage error. main.ts holds the command table and runs a
 * command; the command modules import this module, never main.ts.
 */
import type { ParseArgsConfig } from "node:util";

/** Where the CLI prints; tests capture it. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  cwd: string;
}

/** Exit codes: 0 success, 1 failure or stale output, 2 usage error. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** A command's flags, as node:util's parseArgs takes them. */
export type Options = NonNullable<ParseArgsConfig["options"]>;

/** The flags' values, as parseArgs returns them (a list for a repeatable flag). */
export type Values = Record<string, string | boolean | string[] | undefined>;

/** A subcommand: its flags, help text and implementation. */
export interface Command {
  readonly name: string;
  /** Usage starting with "nixgen"; lines after the first are indented under its first option. */
  readonly synopsis: string;
  /** One line for the command table of --help. */
  readonly summary: string;
  readonly options: Options;
  /** [flag, explanation] rows for --help. */
  readonly help: ReadonlyArray<readonly [string, string]>;
  /** Names of the command's required arguments (none when absent), e.g. ["ATTRIBUTE"]. */
  readonly positionals?: readonly string[];
  run(values: Values, io: Io, positionals: readonly string[]): Promise<number>;
}

/** A command line nixgen cannot run; main prints it after "nixgen: " and exits with EXIT.usage. */
export class UsageError extends Error {}

/** Whether progress goes to the terminal: stderr is a TTY (quiet in CI and pipes). */
export function interactive(): boolean {
  return process.stderr.isTTY === true;
}
