// Closure hygiene, on one machine. The fixture package `leaky` holds symlinks that leave its
// closure — to a host file (absolute, relative through ../.., a chain, and inside a directory
// that a link points at) and to a store path of the output base's store that is not in the
// closure (relative and absolute) — beside links that stay in it. The host file and that store
// path hold markers unique to this run: their bytes must reach neither the repository, nor a
// filegroup, nor an action, while the links inside the closure keep working. Checked by
// content, not only by name. (hygiene-remote.test.ts checks the remote CAS.)
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { FLAVORS, closureEntries, explain, hasMountTarget, makeWorkspace, type Workspace } from "./harness.js";
import { ESCAPING, KEPT, LEAKY_BUILD, LEAKY_OUTPUT, leakyInputs, type LeakyInputs } from "./hygiene-support.js";

describe.each(FLAVORS)("closure hygiene: symlinks that leave the closure, $title", (flavor) => {
  let ws: Workspace;
  let inputs: LeakyInputs;
  let fetch = "";
  let leakyPath = ""; // /nix/store/<hash>-leaky
  let secretEntry = ""; // <hash>-leaky-secret

  beforeAll(async () => {
    inputs = leakyInputs();
    ws = await makeWorkspace(flavor, { packages: inputs.packages, build: LEAKY_BUILD });
    // The out-of-closure store path first, so that it is in the store when `leaky` is laid out
    // (its relative link `../../<hash>-leaky-secret` then resolves there).
    const secret = await ws.bazel(["build", "--nobuild", "@leaky_secret//:closure"]);
    expect(secret.exitCode, explain(secret)).toBe(0);
    const r = await ws.bazel(["build", "--nobuild", "//:closure_bytes", "//:leaky_out"]);
    expect(r.exitCode, explain(r)).toBe(0);
    fetch = String(r.all);
    leakyPath = `/nix/store/${closureEntries(ws, "leaky").find((e) => e.endsWith("-leaky"))}`;
    secretEntry = closureEntries(ws, "leaky_secret")[0]!;
  });

  afterAll(async () => {
    await ws?.close();
    if (inputs) rmSync(inputs.dir, { recursive: true, force: true });
  });

  test("controls: the host file and the out-of-closure store path exist and hold their markers", () => {
    expect(readFileSync(inputs.hostFile, "utf8")).toBe(inputs.hostBytes);
    expect(readFileSync(join(ws.outputBase, "nixstore/nix/store", secretEntry), "utf8")).toBe(inputs.secret);
    expect(closureEntries(ws, "leaky")).not.toContain(secretEntry);
  });

  test("the fetch warns, naming the package and each link that leaves the closure", () => {
    expect(fetch).toContain(`nixpkgs_package(name = "leaky"): 7 symlink(s) of the closure leave it`);
    expect(fetch).toContain(`${leakyPath}/share/abs -> ${inputs.hostFile} (resolves to ${inputs.hostFile}, outside /nix/store)`);
    expect(fetch).toMatch(new RegExp(`${leakyPath}/share/rel -> (\\.\\./)+\\.\\.${inputs.hostFile} \\(resolves to ${inputs.hostFile}, outside /nix/store\\)`));
    expect(fetch).toContain(`${leakyPath}/share/chain -> abs (resolves to ${inputs.hostFile}, outside /nix/store)`);
    expect(fetch).toContain(`${leakyPath}/share/dir/abs -> ${inputs.hostFile}`);
    expect(fetch).toContain(`${leakyPath}/share/sibling -> ../../${secretEntry} (resolves into /nix/store/${secretEntry}, a store path outside the closure)`);
    expect(fetch).toContain(`${leakyPath}/share/abs-sibling -> /nix/store/${secretEntry} (resolves into`);
    // A target holding a newline is shown as a string literal: it cannot forge a line.
    expect(fetch).toContain(`${leakyPath}/share/newline-target -> "/nonexistent\\nDEBUG: forged" (resolves to "/nonexistent\\nDEBUG: forged", outside /nix/store)`);
    expect(fetch).not.toMatch(/^DEBUG: forged/m);
    expect(fetch).toContain(`Set escaping_symlinks = "fail" to refuse such a package.`);
  });

  test("no file of the repository holds the host file's or the other store path's bytes", async () => {
    // grep -R follows every symlink, as Bazel does; the controls first: it finds the markers
    // where they are.
    const control = await ws.run(["grep", "-R", "-l", "-F", "-e", inputs.hostBytes.trim(), "-e", inputs.secret, inputs.dir, join(ws.outputBase, "nixstore/nix/store", secretEntry)]);
    expect(control.exitCode, explain(control)).toBe(0);
    // Everything but _nixstore/, which holds the Nix expression (it names the markers).
    const entries = readdirSync(ws.repoDir("leaky")).filter((e) => e !== "_nixstore");
    expect(entries).toEqual(expect.arrayContaining(["nix", "share", "bin", "BUILD.bazel"]));
    const r = await ws.run(["grep", "-R", "-l", "-F", "-e", inputs.hostBytes.trim(), "-e", inputs.secret, ...entries.map((e) => join(ws.repoDir("leaky"), e))]);
    expect(r.exitCode, explain(r)).toBe(1);
    expect(r.stdout).toBe("");
  });

  test("the closure filegroup and the repository's targets list the links that stay, not those that leave", async () => {
    const q = await ws.bazel(["query", "labels(srcs, @leaky//:closure)", "--output=label"]);
    expect(q.exitCode, explain(q)).toBe(0);
    const entry = leakyPath.slice("/nix/store/".length);
    const listed = new Set(
      String(q.stdout)
        .split("\n")
        .map((l) => l.slice(l.indexOf("//:") + 3))
        .filter((l) => l.startsWith(`nix/store/${entry}/`))
        .map((l) => l.slice(`nix/store/${entry}/`.length)),
    );
    for (const p of KEPT) expect(listed, p).toContain(p);
    for (const p of [...ESCAPING, "share/dir-link/abs"]) expect(listed, p).not.toContain(p);
    // The package's own files at the repository's top level (exports_files of the default BUILD).
    const top = await ws.bazel(["query", `kind("source file", @leaky//:*)`, "--output=label"]);
    expect(top.exitCode, explain(top)).toBe(0);
    const files = new Set(String(top.stdout).split("\n").map((l) => l.slice(l.indexOf("//:") + 3)));
    for (const p of KEPT.filter((k) => k.startsWith("share/"))) expect(files, p).toContain(p);
    for (const p of [...ESCAPING, "share/dir-link/abs"]) expect(files, p).not.toContain(p);
  });

  test("an action given the whole closure reads every file of it, and none of the outside bytes", async () => {
    const r = await ws.bazel(["build", "//:closure_bytes"]);
    expect(r.exitCode, explain(r)).toBe(0);
    const bytes = readFileSync(join(ws.dir, "bazel-bin/closure_bytes.txt"), "latin1");
    expect(bytes).toContain("leaky own data");
    expect(bytes).toContain("leaky dir data");
    expect(bytes).toContain("linked data");
    expect(bytes).not.toContain(inputs.hostBytes.trim());
    expect(bytes).not.toContain(inputs.secret);
  });

  test.each([
    ...(hasMountTarget(flavor) ? [{ how: "the mount pair shows the store", mountPair: true }] : []),
    { how: "the launcher maps the closure", mountPair: false },
  ])("links inside the closure keep working through the launcher ($how)", async ({ mountPair }) => {
    await ws.writeBazelrc(mountPair);
    try {
      await ws.bazel(["clean"]);
      const r = await ws.bazel(["build", "--spawn_strategy=linux-sandbox", "//:leaky_out"]);
      expect(r.exitCode, explain(r)).toBe(0);
      expect(ws.bin("leaky.txt")).toBe(LEAKY_OUTPUT);
    } finally {
      await ws.writeBazelrc(hasMountTarget(flavor));
    }
  });

  test(`escaping_symlinks = "fail" refuses the package, naming each link and what to do`, async () => {
    const r = await ws.bazel(["build", "--nobuild", "@leaky_strict//:closure"]);
    expect(r.exitCode).not.toBe(0);
    expect(r.all).toContain(`nixpkgs_package(name = "leaky_strict"): 7 symlink(s) of the closure leave it, and escaping_symlinks = "fail" refuses them:`);
    expect(r.all).toContain(`${leakyPath}/share/abs -> ${inputs.hostFile} (resolves to ${inputs.hostFile}, outside /nix/store)`);
    expect(r.all).toContain(`${leakyPath}/share/sibling -> ../../${secretEntry}`);
    expect(r.all).toContain(`Fix the package so that they stay in its closure, or set escaping_symlinks = "drop" to leave them out.`);
    const q = await ws.bazel(["query", "@leaky_strict//:all"]);
    expect(q.exitCode).not.toBe(0);
  });

  test("a package without such links gets no warning", async () => {
    const r = await ws.refetch(["busybox"]);
    expect(r.exitCode, explain(r)).toBe(0);
    expect(r.all).not.toContain(`nixpkgs_package(name = "busybox")`);
    // ...and its relative links (bin/sh -> busybox) still run.
    ws.write("sh/BUILD.bazel", `genrule(name = "sh", outs = ["sh.txt"], tools = ["@busybox//:bin/sh"], cmd = "$(location @busybox//:bin/sh) -c 'echo from sh' > $@")\n`);
    const b = await ws.bazel(["build", "//sh"]);
    expect(b.exitCode, explain(b)).toBe(0);
    expect(ws.bin("sh/sh.txt")).toBe("from sh\n");
  });
});
