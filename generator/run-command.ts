/**
 * How nixgen runs other programs (Bazel, nix-store, flock): as argument lists, never through a
 * shell, and a failed command is reported with its command line, where it ran, its exit code
 * (or signal) and its stderr.
 */
import { execa } from "execa";

export interface RunOptions {
  /** The working directory (default: nixgen's). */
  readonly cwd?: string;
  /** Milliseconds before the command is killed (default: none). */
  readonly timeout?: number;
  /** Let the command's stderr through to the terminal instead of capturing it. */
  readonly showStderr?: boolean;
  /** Text given to the command on stdin (default: none). */
  readonly input?: string;
}

/** What a command did. */
export interface CommandResult {
  readonly argv: readonly string[];
  readonly cwd: string | undefined;
  readonly failed: boolean;
  /** The command could not be started because it does not exist (ENOENT). */
  readonly missing: boolean;
  /** How it ended: "exit 2", "killed by SIGTERM", "timed out", or why it did not start. */
  readonly ending: string;
  readonly exitCode: number | undefined;
  readonly stdout: string;
  /** "" when it went to the terminal (`showStderr`). */
  readonly stderr: string;
}

/** Raised for a command that failed; its message says which, where, how, and what it printed. */
export class CommandError extends Error {
  constructor(readonly result: CommandResult) {
    super(commandFailure(result) + (result.stderr.trim() ? `:\n${result.stderr.trim()}` : ""));
  }
}

/** The command as one line for messages. */
export function commandLine(argv: readonly string[]): string {
  return argv.join(" ");
}

/** "`<command line>` failed in <cwd> (<ending>)", the first line of a failure's message. */
export function commandFailure(result: CommandResult): string {
  const where = result.cwd === undefined ? "" : ` in ${result.cwd}`;
  return `\`${commandLine(result.argv)}\` failed${where} (${result.ending})`;
}

/** Runs `argv` and returns what it did; never throws for the command's failure. */
export async function runCommand(argv: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
  const [file, ...args] = argv;
  const r = await execa(file!, args, {
    reject: false,
    ...(options.input !== undefined ? { input: options.input } : { stdin: "ignore" as const }),
    stderr: options.showStderr ? "inherit" : "pipe",
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
    ...(options.timeout !== undefined ? { timeout: options.timeout } : {}),
  });
  const code = (r as { code?: string }).code;
  const ending =
    r.exitCode !== undefined
      ? `exit ${r.exitCode}`
      : r.timedOut
        ? "timed out"
        : r.signal !== undefined
          ? `killed by ${r.signal}`
          : `did not start: ${code ?? r.shortMessage}`;
  return {
    argv,
    cwd: options.cwd,
    failed: r.failed,
    missing: code === "ENOENT",
    ending,
    exitCode: r.exitCode,
    stdout: String(r.stdout ?? ""),
    stderr: String(r.stderr ?? ""),
  };
}

/** Runs `argv`; throws a CommandError (command line, exit code, stderr) when it fails. */
export async function runChecked(argv: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
  const result = await runCommand(argv, options);
  if (result.failed) throw new CommandError(result);
  return result;
}
