import path from "node:path";
import { parseArgs } from "node:util";
import { writeBazelrc } from "./bazelrc.js";
import { EXIT, UsageError, type Command, type Io, type Values } from "./cli-types.js";
import { CONFIG_FILE, ConfigError } from "./config/index.js";
import { staleReport } from "./generate.js";
import { doctorCommand } from "./doctor/command.js";
import { gcCommand } from "./gc/command.js";
import { lockCommand } from "./lock/command.js";
import { REFRESH_COMMAND } from "./model/index.js";
import { packageVersion } from "./package-root.js";
import {
  WORKSPACE_REFRESH_COMMAND,
  hasConfig,
  locateTarget,
  obsoleteRepositoryFiles,
  obsoleteWorkspaceFiles,
  renderRepositoryFiles,
  renderWorkspaceFiles,
  type Target,
} from "./workspace/index.js";
import { addCommand, initCommand } from "./workspace/commands.js";
import { checkFiles, removeFiles, writeFiles } from "./write/index.js";

const generate: Command = {
  name: "generate",
  synopsis: "nixgen [generate] [--check] [--workspace DIR | --root DIR]",
  summary: "Regenerate nixstore/ from nixgen.config.ts (in rules_nixstore: rules/private/, examples/).",
  options: {
    check: { type: "boolean" },
    workspace: { type: "string" },
    root: { type: "string" },
  },
  help: [
    ["--check", "write nothing; exit 1 listing stale or missing files, 0 when all are fresh"],
    [
      "--workspace DIR",
      `a Bazel workspace with a ${CONFIG_FILE} (default: the nearest directory upwards ` +
        `that has one, unless the rules_nixstore root comes first)`,
    ],
    [
      "--root DIR",
      'the rules_nixstore root (default: the nearest directory upwards whose MODULE.bazel ' +
        'declares module(name = "rules_nixstore"))',
    ],
  ],
  async run(values, io) {
    if (typeof values.workspace === "string" && typeof values.root === "string") {
      throw new UsageError("give --workspace DIR or --root DIR, not both");
    }
    let target: Target;
    if (typeof values.workspace === "string") {
      const root = path.resolve(io.cwd, values.workspace);
      if (!hasConfig(root)) {
        throw new UsageError(
          `${root} has no ${CONFIG_FILE}; create one with \`nixgen init --workspace ${values.workspace}\``,
        );
      }
      target = { kind: "workspace", root };
    } else if (typeof values.root === "string") {
      target = { kind: "library", root: path.resolve(io.cwd, values.root) };
    } else {
      const found = locateTarget(io.cwd);
      if (found === null) {
        throw new UsageError(
          `${io.cwd} has no ${CONFIG_FILE} (here or above) and is not inside the rules_nixstore ` +
            "repository (no MODULE.bazel declaring " +
            'module(name = "rules_nixstore")); run `nixgen init` to start a config, or pass ' +
            "--workspace DIR or --root DIR",
        );
      }
      target = found;
    }
    const { root } = target;
    const [files, refresh] =
      target.kind === "workspace"
        ? [
            renderWorkspaceFiles(root, io.cwd, undefined, values.check ? undefined : (l) => io.out(`nixgen: ${l}`)),
            WORKSPACE_REFRESH_COMMAND,
          ]
        : [renderRepositoryFiles(root, io.cwd), REFRESH_COMMAND];
    // Files generated earlier that the config no longer asks for (e.g. bzlmod turned off).
    const obsolete =
      target.kind === "workspace" ? obsoleteWorkspaceFiles(root, files) : obsoleteRepositoryFiles(root, files);
    if (values.check) {
      const stale = [...checkFiles(root, files), ...obsolete.map((p) => ({ path: p, reason: "obsolete" as const }))];
      if (stale.length > 0) {
        io.err(staleReport(stale, refresh) + (target.kind === "workspace" ? ` (in ${root})` : ""));
        return EXIT.failure;
      }
      io.out(`nixgen: generated files are up to date in ${root}`);
      return EXIT.ok;
    }
    const { written, unchanged } = writeFiles(root, files);
    removeFiles(root, obsolete);
    for (const file of written) io.out(`nixgen: wrote ${file}`);
    for (const file of obsolete) io.out(`nixgen: removed ${file} (no longer generated)`);
    io.out(`nixgen: ${written.length} written, ${unchanged.length} unchanged in ${root}`);
    return EXIT.ok;
  },
};

const bazelrc: Command = {
  name: "bazelrc",
  synopsis:
    "nixgen bazelrc [--workspace DIR] [--output-base DIR] [--mount-target DIR]\n" +
    "[--bazel-version VERSION] [--bazel PATH]",
  summary: "Write DIR/.nixstore.bazelrc, the Bazel flags this machine needs.",
  options: {
    workspace: { type: "string" },
    "output-base": { type: "string" },
    "mount-target": { type: "string" },
    "bazel-version": { type: "string" },
    bazel: { type: "string" },
  },
  help: [
    ["--workspace DIR", "the Bazel workspace (default: the current directory)"],
    ["--output-base DIR", "Bazel's output base (default: ask `bazel info output_base`)"],
    ["--mount-target DIR", "where the sandbox maps the store (default: /nix/store)"],
    ["--bazel-version V", "Bazel's version, e.g. 4.2.3 (default: ask `bazel --version`)"],
    ["--bazel PATH", "the bazel executable (default: bazel on PATH)"],
  ],
  async run(values, io) {
    const str = (key: string) => (typeof values[key] === "string" ? values[key] : undefined);
    const workspace = path.resolve(io.cwd, str("workspace") ?? ".");
    const outputBase = str("output-base");
    const mountTarget = str("mount-target");
    const result = await writeBazelrc({
      workspace,
      ...(outputBase !== undefined ? { outputBase: path.resolve(io.cwd, outputBase) } : {}),
      ...(mountTarget !== undefined ? { mountTarget: path.resolve(io.cwd, mountTarget) } : {}),
      ...(str("bazel-version") !== undefined ? { bazelVersion: str("bazel-version") } : {}),
      ...(str("bazel") !== undefined ? { bazel: str("bazel") } : {}),
      warn: (m) => io.err(m),
    });
    io.out(`nixgen: ${result.written ? "wrote" : "unchanged"} ${result.path}`);
    return EXIT.ok;
  },
};

/** Subcommands by name. */
export const COMMANDS: ReadonlyMap<string, Command> = new Map(
  [
    generate,
    bazelrc,
    initCommand,
    addCommand,
    lockCommand,
    doctorCommand,
    gcCommand,
  ].map((c) => [c.name, c]),
);

const DEFAULT_COMMAND = generate;

/** The synopsis after `prefix`, continuation lines aligned under the first option. */
function synopsis(command: Command, prefix: string): string {
  const indent = " ".repeat(prefix.length + `nixgen ${command.name} `.length);
  return prefix + command.synopsis.split("\n").join(`\n${indent}`);
}

function commandHelp(command: Command): string {
  const width = Math.max(...command.help.map(([flag]) => flag.length));
  return [
    synopsis(command, "Usage: "),
    "",
    command.summary,
    "",
    "Options:",
    ...command.help.map(([flag, text]) => `  ${flag.padEnd(width)}  ${text}`),
  ].join("\n");
}

export function usage(): string {
  const width = Math.max(...[...COMMANDS.keys()].map((n) => n.length));
  return [
    "nixgen — code generator of rules_nixstore",
    "",
    "Usage:",
    ...[...COMMANDS.values()].map((c) => synopsis(c, "  ")),
    "  nixgen <command> --help",
    "  nixgen --help | --version",
    "",
    "Commands:",
    ...[...COMMANDS.values()].map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    `Without a command, nixgen runs generate. After editing the model or templates, run` +
      ` \`${REFRESH_COMMAND}\`.`,
    "Exit status: 0 success, 1 failure or stale files (--check), 2 usage error.",
  ].join("\n");
}

/** Explains a parseArgs error in our words. */
function parseError(e: unknown, command: Command): UsageError {
  const err = e as { code?: string; message: string };
  const quoted = /'([^']+)'/.exec(err.message)?.[1];
  const hint = `run \`nixgen ${command.name} --help\` for its options`;
  switch (err.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return new UsageError(`unknown option ${quoted ?? ""} for \`${command.name}\`; ${hint}`);
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return new UsageError(`unexpected argument ${quoted ?? ""} for \`${command.name}\`; ${hint}`);
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      return new UsageError(`${err.message}; ${hint}`);
    default:
      return new UsageError(err.message);
  }
}

/** Runs nixgen with `argv` (without node and script) and returns the exit code. */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  try {
    const first = argv[0];
    let command = DEFAULT_COMMAND;
    let rest = [...argv];
    if (first !== undefined && !first.startsWith("-")) {
      const named = COMMANDS.get(first);
      if (named === undefined) {
        throw new UsageError(
          `unknown command ${JSON.stringify(first)}; commands: ${[...COMMANDS.keys()].join(", ")}`,
        );
      }
      command = named;
      rest = rest.slice(1);
    }
    const commandGiven = rest.length !== argv.length;
    if (rest.includes("--version") || rest.includes("-V")) {
      io.out(packageVersion());
      return EXIT.ok;
    }
    if (rest.includes("--help") || rest.includes("-h")) {
      io.out(commandGiven ? commandHelp(command) : usage());
      return EXIT.ok;
    }
    let values: Values;
    let positionals: string[];
    try {
      ({ values, positionals } = parseArgs({
        args: rest,
        options: command.options,
        strict: true,
        allowPositionals: command.positionals !== undefined,
      }) as { values: Values; positionals: string[] });
    } catch (e) {
      throw parseError(e, command);
    }
    const wanted = command.positionals ?? [];
    if (positionals.length !== wanted.length) {
      throw new UsageError(
        `\`${command.name}\` takes ${wanted.length === 0 ? "no arguments" : wanted.join(" ")}, ` +
          `got ${positionals.length === 0 ? "none" : positionals.join(" ")}; ` +
          `run \`nixgen ${command.name} --help\``,
      );
    }
    return await command.run(values, io, positionals);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`nixgen: ${e.message}`);
      return EXIT.usage;
    }
    if (e instanceof ConfigError) {
      io.err(e.message); // one file:line:col line per problem, then a summary
      return EXIT.failure;
    }
    io.err(`nixgen: error: ${(e as Error).message}`);
    return EXIT.failure;
  }
}
