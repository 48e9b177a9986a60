// The fixture packages of the hygiene suites (hygiene.test.ts, hygiene-remote.test.ts,
// hostile-names.test.ts): what they hold, and the targets and rules that use them.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PackageSpec } from "./harness.js";

/** The host file and the out-of-closure store path of `leaky`, with content unique to this run. */
export interface LeakyInputs {
  dir: string;
  hostFile: string;
  hostBytes: string;
  secret: string;
  packages: PackageSpec[];
}

export function leakyInputs(): LeakyInputs {
  const nonce = `${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  const dir = mkdtempSync(join(tmpdir(), "nixstore-leaky-"));
  const hostFile = join(dir, "host-file");
  const hostBytes = `host file marker ${nonce}\n`;
  writeFileSync(hostFile, hostBytes);
  const secret = `leaky secret marker ${nonce}`;
  // The fixture's arguments; an expression of our own, as `-A` on the fixture's default
  // expression (`import <nixpkgs> {}`) passes no --argstr on.
  const fixture = `import <nixpkgs> { leakyHostFile = ${JSON.stringify(hostFile)}; leakySecret = ${JSON.stringify(secret)}; }`;
  const extra = `nix_file_content = ${JSON.stringify(fixture)}`;
  return {
    dir,
    hostFile,
    hostBytes,
    secret,
    packages: [
      { name: "leaky", extra },
      { name: "leaky_secret", attribute_path: "leaky-secret", extra },
      { name: "leaky_strict", attribute_path: "leaky", extra: `${extra}, escaping_symlinks = "fail"` },
      { name: "busybox" },
    ],
  };
}

/** Paths under the `leaky` store path that stay in the closure, and the links that leave it. */
export const KEPT = ["bin/leaky", "share/doc/own.txt", "share/in-closure", "share/other-path", "share/doc-link/own.txt", "share/dir/kept.txt", "share/dir-link/kept.txt"];
export const ESCAPING = ["share/abs", "share/rel", "share/chain", "share/dir/abs", "share/sibling", "share/abs-sibling", "share/newline-target"];

/** What `@leaky//:bin/leaky` prints: files reached through the three in-closure links. */
export const LEAKY_OUTPUT = "leaky own data\nlinked data\nleaky own data\n";

export const LEAKY_BUILD = `
genrule(
    name = "closure_bytes",
    srcs = ["@leaky//:closure"],
    outs = ["closure_bytes.txt"],
    cmd = "for f in $(SRCS); do echo \\"== $$f\\"; cat \\"$$f\\"; done > $@",
)

genrule(
    name = "leaky_out",
    outs = ["leaky.txt"],
    tools = ["@leaky//:bin/leaky"],
    cmd = "$(location @leaky//:bin/leaky) > $@",
)
`;


/** Executable names of the fixture's `hostile` (its hostileNames). */
export const HOSTILE_NAMES = [
  "with space", "quote'", "dollar$x", "back\\slash", "new\nline", 'dq"x', "colon:x", "...",
  "semi;x", "star*x", "paren(x)", "amp&x", "pipe|x", "lt<x>", "tilde~x", "bang!x", "hash#x",
  "$(touch injected)", "`touch injected`", "';touch injected;'", "%{PROGRAM}", "-dash",
  "$(touch$IFS'injected')", "`touch$IFS'injected'`", "';touch$IFS'injected';'",
];

/**
 * The names Bazel labels cannot hold (a backslash, a colon, a control character, `...`), and,
 * on Bazel 4.2.3, whose runfiles trees cannot hold them, those with a space.
 */
export function unlabelable(bazel7: boolean): string[] {
  // eslint-disable-next-line no-control-regex
  return HOSTILE_NAMES.filter((n) => /[\\:\x00-\x1f\x7f]/.test(n) || n === "..." || (!bazel7 && n.includes(" ")));
}

/** Arguments every hostile executable gets: they must reach it unchanged. */
export const HOSTILE_ARGS = ["two  words", "$HOME", "'", "*", ""];

/** What `bin/<name>` of `hostile` prints when called with HOSTILE_ARGS. */
export function hostileOutput(name: string): string {
  return [`hostile:${name}`, ...HOSTILE_ARGS].join("\n") + "\n";
}

/**
 * `run_each(name, tools, args)`: runs each tool with `args`, its stdout to `<name>/<i>.txt`.
 * The command is a fixed string; the tool's path and the output's reach it as argv.
 */
export const RUN_EACH_BZL = `
def _run_each_impl(ctx):
    outs = []
    for i, tool in enumerate(ctx.attr.tools):
        out = ctx.actions.declare_file("{}/{}.txt".format(ctx.label.name, i))
        exe = tool[DefaultInfo].files_to_run
        ctx.actions.run_shell(
            command = 'tool=$1 out=$2; shift 2; "$tool" "$@" > "$out"',
            arguments = [exe.executable.path, out.path] + ctx.attr.args,
            tools = [exe],
            outputs = [out],
        )
        outs.append(out)
    return [DefaultInfo(files = depset(outs))]

run_each = rule(
    implementation = _run_each_impl,
    attrs = {
        "args": attr.string_list(),
        "tools": attr.label_list(cfg = "exec", allow_files = True),
    },
)
`;

/** A BUILD file whose `//:hostile_runs` runs each of `names`' launchers with HOSTILE_ARGS. */
export function hostileBuild(names: string[]): string {
  const labels = names.map((n) => JSON.stringify(`@hostile//:bin/${n}`));
  return `load(":run_each.bzl", "run_each")

run_each(
    name = "hostile_runs",
    tools = [${labels.join(", ")}],
    args = [${HOSTILE_ARGS.map((a) => JSON.stringify(a)).join(", ")}],
)
`;
}
