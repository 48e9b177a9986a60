// The `nixgen doctor` subcommand: flags and help; the checks are in ./index.ts.
import path from "node:path";
import { interactive, type Command, type Io, type Values } from "../cli-types.js";
import { loadConfig } from "../config/index.js";
import { workspaceMarker } from "../generate.js";
import { findWorkspace } from "../workspace/generate.js";
import { doctor, formatReport } from "./index.js";

export const doctorCommand: Command = {
  name: "doctor",
  synopsis:
    "nixgen doctor [--json] [--workspace DIR] [--output-base DIR] [--check-contents]\n" +
    "[--remote --executor grpc://HOST:PORT [--instance-name NAME]] [--bazel PATH]",
  summary: "Check this machine (Nix, Bazel, /nix/store, user namespaces, the store); --remote probes an executor.",
  options: {
    json: { type: "boolean" },
    workspace: { type: "string" },
    "output-base": { type: "string" },
    "check-contents": { type: "boolean" },
    remote: { type: "boolean" },
    executor: { type: "string" },
    "instance-name": { type: "string" },
    bazel: { type: "string" },
  },
  help: [
    ["--json", "print one JSON object {ok, checks: [{id, status, summary, detail?, fix?}]}"],
    [
      "--workspace DIR",
      "check the chroot store of this workspace's output base (default: the current directory, " +
        "if it has a WORKSPACE or MODULE.bazel)",
    ],
    ["--output-base DIR", "check the chroot store of this output base (no bazel info)"],
    ["--check-contents", "also hash the content of every store path (slow on large stores)"],
    ["--remote", "run a probe action on a remote executor through a package launcher"],
    [
      "--executor URL",
      "the executor for --remote, e.g. grpc://127.0.0.1:8980 (default: `remote` of nixgen.config.ts)",
    ],
    ["--instance-name NAME", "the REAPI instance name for --remote"],
    ["--bazel PATH", "the bazel executable (default: bazel on PATH)"],
  ],
  async run(values: Values, io: Io): Promise<number> {
    const str = (key: string) => (typeof values[key] === "string" ? (values[key] as string) : undefined);
    // Without --executor, --remote probes the executor of nixgen.config.ts's `remote` block.
    let executor = str("executor");
    let instanceName = str("instance-name");
    if (values.remote && executor === undefined) {
      const configRoot = findWorkspace(str("workspace") !== undefined ? path.resolve(io.cwd, str("workspace")!) : io.cwd);
      const remote = configRoot === null ? null : loadConfig(configRoot, io.cwd).remote;
      if (remote === null) {
        throw new Error(
          "--remote needs --executor grpc://HOST:PORT (the address you give Bazel as --remote_executor), " +
            "or a `remote` block in nixgen.config.ts",
        );
      }
      executor = remote.executor;
      instanceName ??= remote.instanceName ?? undefined;
    }
    if (!values.remote && (str("executor") || str("instance-name"))) {
      throw new Error("--executor and --instance-name only apply with --remote");
    }
    let workspace = str("workspace") !== undefined ? path.resolve(io.cwd, str("workspace")!) : undefined;
    // The current directory is a workspace when it has a WORKSPACE or a MODULE.bazel (bzlmod).
    if (workspace === undefined && workspaceMarker(io.cwd) !== null) workspace = io.cwd;
    const outputBase = str("output-base");
    const report = await doctor({
      ...(workspace !== undefined ? { workspace } : {}),
      ...(outputBase !== undefined ? { outputBase: path.resolve(io.cwd, outputBase) } : {}),
      ...(str("bazel") !== undefined ? { bazel: str("bazel")! } : {}),
      checkContents: values["check-contents"] === true,
      ...(values.remote
        ? {
            remote: {
              executor: executor!,
              ...(instanceName !== undefined ? { instanceName } : {}),
            },
          }
        : {}),
      progress: interactive() && !values.json ? (line: string) => io.err(line) : null,
    });
    io.out(values.json ? JSON.stringify(report, null, 2) : formatReport(report));
    return report.ok ? 0 : 1;
  },
};
