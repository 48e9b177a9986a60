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
export const ESCAPING = ["share/abs", "share/rel", "share/chain", "share/dir/abs", "share/sibling", "share/abs-sibling"];

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


