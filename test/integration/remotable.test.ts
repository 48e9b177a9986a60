// Remotable packages (rules/remotable.bzl) on the real Buildbarn cluster of test/buildbarn: the
// Nix build runs on its Nix pool (exec_properties {"pool": "nix"}: a runner with Nix on PATH and
// a store of its own), the closure comes back to the client as the remote command's stdout, and
// the consumers run on the default pool, which has no Nix, through the launcher. The client's
// Nix commands are replaced by failing stand-ins that log their calls: none may run.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { execa } from "execa";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LOGS, casBytesUploaded, leaseCluster, type ClusterLease } from "./buildbarn.js";
import {
  EXPECT_OUTPUT_SH,
  FIXTURE,
  FLAVORS,
  Workspace,
  copyExample,
  explain,
  hostStoreEntries,
  leavingMachineStore,
  makeWorkspace,
  nixgenBazelrc,
  processes,
  type SourceSpec,
} from "./harness.js";
import { HOSTILE_ARGS, HOSTILE_NAMES, RUN_EACH_BZL, hostileOutput, unlabelable } from "./hygiene-support.js";
import { remotableDeclarations, remotablePackageDir, workerRuns, type Remotable } from "./remotable-support.js";

const BUILD = `
genrule(
    name = "hello_out",
    outs = ["hello.txt"],
    tools = ["@hello//:bin/hello"],
    cmd = "$(location @hello//:bin/hello) > $@",
)

# Where the action ran: whether /nix exists outside the launcher.
genrule(
    name = "worker_view",
    outs = ["worker_view.txt"],
    cmd = "(id -u; test -e /nix && echo nix-present || echo nix-absent) > $@",
)

# buildifier: disable=native-sh-test
sh_test(
    name = "hello_test",
    srcs = ["expect_output.sh"],
    data = ["@hello//:bin/hello"],
    args = ["'hello from nix'", "$(rootpath @hello//:bin/hello)"],
)
`;

/**
 * forge.bzl: package repositories that lay out a record given as files (closure.txt and
 * closure.tar.gz.b64 in `dir`) as if a remote build had sent it, beside a repository holding
 * that record; `forged(name, dir)` under WORKSPACE, the `forge` extension's `package` tag under
 * bzlmod (a package and its remote build are siblings of one extension; Bazel 4 has no
 * module_extension).
 */
const forgeBzl = (bzlmod: boolean) => `
load("@rules_nixstore//rules/private:package.bzl", "nixpkgs_package_rule")

def _record_impl(repository_ctx):
    for f in ["closure.txt", "closure.tar.gz.b64"]:
        repository_ctx.symlink(repository_ctx.attr.dir + "/" + f, f)
    repository_ctx.file("BUILD.bazel", 'exports_files(["closure.txt", "closure.tar.gz.b64"])')
    repository_ctx.file("WORKSPACE", "")

_record = repository_rule(implementation = _record_impl, attrs = {"dir": attr.string()})

def forged(name, dir):
    _record(name = name + "_record", dir = dir)
    nixpkgs_package_rule(name = name, remote_build = name + "_record")
${bzlmod ? FORGE_EXTENSION : ""}`;

const FORGE_EXTENSION = `
def _forge_impl(module_ctx):
    for mod in module_ctx.modules:
        for tag in mod.tags.package:
            forged(tag.name, tag.dir)

forge = module_extension(
    implementation = _forge_impl,
    tag_classes = {"package": tag_class(attrs = {"name": attr.string(), "dir": attr.string()})},
)
`;

/** Failing stand-ins for the client's Nix commands, which log each call to `log`. */
function fakeNix(dir: string, log: string): string {
  const bin = join(dir, "fake-nix-bin");
  mkdirSync(bin, { recursive: true });
  for (const tool of ["nix", "nix-build", "nix-instantiate", "nix-store", "nix-env", "nix-hash"]) {
    writeFileSync(join(bin, tool), `#!/bin/sh\necho "${tool} $*" >> '${log}'\necho "${tool}: the client must run no Nix command" >&2\nexit 97\n`);
    chmodSync(join(bin, tool), 0o755);
  }
  return bin;
}

// up.sh creates the runners' users and mount namespaces: it needs root (CI runs as root).
describe.runIf(process.getuid?.() === 0).each(FLAVORS)("remotable packages built on the Nix pool of Buildbarn, $title", (flavor) => {
  let cluster: ClusterLease | undefined;
  const workspaces: Workspace[] = [];
  const remote = () => [`--remote_executor=${cluster!.endpoint}`, "--remote_instance_name=nixstore"];
  const remotable = () => ["--experimental_repo_remote_exec", ...remote()];
  // Actions too: remotely only.
  const allRemote = () => [...remotable(), "--spawn_strategy=remote", "--remote_local_fallback=false"];

  async function workspace(
    packages: Remotable[] = [{ name: "hello", attribute_path: "hello" }],
    sources: SourceSpec[] = [],
  ): Promise<{ ws: Workspace; path: string; nixCalls: () => string }> {
    const ws = await makeWorkspace(flavor, { packages: [], sources, build: BUILD, files: { "expect_output.sh": EXPECT_OUTPUT_SH } });
    workspaces.push(ws);
    const { file, text } = remotableDeclarations(flavor, ws.dir, packages, sources);
    ws.write(file, text);
    const log = join(ws.root, "client-nix-calls.log");
    const path = `${fakeNix(ws.root, log)}:/usr/local/bin:/usr/bin:/bin`;
    // What the stand-ins logged: the client's Nix commands that ran.
    const nixCalls = () => (existsSync(log) ? readFileSync(log, "utf8") : "");
    return { ws, path, nixCalls };
  }

  beforeAll(async () => {
    cluster = await leaseCluster();
  });
  afterAll(async () => {
    for (const ws of workspaces) await ws.close();
    await cluster?.release();
  });

  test("the pool builds the package; consumers run on the default pool, in the sandbox and locally; the client runs no Nix", async () => {
    const { ws, path, nixCalls } = await workspace();
    // A change no earlier run made, so that the pool builds (its cache outlives test runs).
    ws.write("nixpkgs/elf/hello.sh", ws.read("nixpkgs/elf/hello.sh") + `\n# remotable.test.ts ${process.pid}-${Date.now()}\n`);
    const runs = await workerRuns();
    const fetched = await ws.bazel(["build", "--nobuild", ...remotable(), `--repo_env=PATH=${path}`, "//:hello_out"]);
    expect(fetched.exitCode, `${explain(fetched)}\n(cluster logs: ${LOGS})`).toBe(0);
    expect(nixCalls()).toBe("");
    expect(await workerRuns()).toBe(runs + 1);

    // Laid out as a local package: files at the root, the closure under nix/store, launchers.
    const closure = readFileSync(join(remotablePackageDir(ws, "hello"), "nix/closure.txt"), "utf8").trim().split("\n");
    expect(closure.map((p) => p.replace(/^\/nix\/store\/[a-z0-9]{32}-/, "")).sort()).toEqual(["glibc", "hello", "libgreet"]);

    const onRemote = await ws.bazel(["test", ...allRemote(), "--noremote_accept_cached", "//:hello_out", "//:worker_view", "//:hello_test"]);
    expect(onRemote.exitCode, explain(onRemote)).toBe(0);
    expect(processes(onRemote.all)).toMatch(/\d+ remote(,|\.|$)/);
    expect(ws.bin("hello.txt")).toBe("hello from nix\n");
    // The consumers ran on the default pool: no /nix there.
    expect(ws.bin("worker_view.txt").trim().split("\n")[1]).toBe("nix-absent");

    for (const strategy of ["linux-sandbox", "local"]) {
      await ws.bazel(["clean"]);
      const local = await ws.bazel(["test", ...remotable(), `--spawn_strategy=${strategy}`, "--noremote_accept_cached", "//:hello_out", "//:hello_test"]);
      expect(local.exitCode, `${strategy}\n${explain(local)}`).toBe(0);
      expect(ws.bin("hello.txt")).toBe("hello from nix\n");
    }
    expect(nixCalls()).toBe("");
  });

  test("a second client with a fresh output base gets the package without a build on the pool", async () => {
    // Two clients with the same Nix files, which no earlier run built (the cluster's cache
    // outlives test runs).
    const nonce = `\n# remotable.test.ts second client ${process.pid}-${Date.now()}\n`;
    const build = ["build", ...allRemote(), "//:hello_out"];
    const first = await workspace();
    first.ws.write("nixpkgs/elf/hello.sh", first.ws.read("nixpkgs/elf/hello.sh") + nonce);
    const runs = await workerRuns();
    const f1 = await first.ws.bazel([...build, "--nobuild", `--repo_env=PATH=${first.path}`]);
    expect(f1.exitCode, explain(f1)).toBe(0);
    // The package's build on the pool.
    expect(await workerRuns()).toBe(runs + 1);
    const r1 = await first.ws.bazel([...build, `--repo_env=PATH=${first.path}`]);
    expect(r1.exitCode, explain(r1)).toBe(0);
    // The genrule, on the default pool.
    expect(await workerRuns()).toBe(runs + 2);

    const { ws, path, nixCalls } = await workspace();
    ws.write("nixpkgs/elf/hello.sh", ws.read("nixpkgs/elf/hello.sh") + nonce);
    const r = await ws.bazel([...build, `--repo_env=PATH=${path}`]);
    expect(r.exitCode, explain(r)).toBe(0);
    expect(ws.bin("hello.txt")).toBe("hello from nix\n");
    // Remote cache hits for both: nothing ran on the worker.
    expect(await workerRuns()).toBe(runs + 2);
    expect(processes(r.all)).toMatch(/1 remote cache hit/);
    expect(nixCalls()).toBe("");
  });

  test("a change to a Nix file of the workspace builds again on the pool", async () => {
    const { ws, path } = await workspace();
    const first = await ws.bazel(["build", "--nobuild", ...remotable(), `--repo_env=PATH=${path}`, "//:hello_out"]);
    expect(first.exitCode, explain(first)).toBe(0);
    const before = readFileSync(join(remotablePackageDir(ws, "hello"), "nix/closure.txt"), "utf8");
    const runs = await workerRuns();
    // elf/hello.sh writes the hello ELF: a comment there changes the derivation.
    ws.write("nixpkgs/elf/hello.sh", ws.read("nixpkgs/elf/hello.sh") + `\n# changed by remotable.test.ts ${process.pid}-${Date.now()}\n`);
    const again = await ws.bazel(["build", ...allRemote(), `--repo_env=PATH=${path}`, "//:hello_out"]);
    expect(again.exitCode, explain(again)).toBe(0);
    expect(await workerRuns()).toBeGreaterThanOrEqual(runs + 1);
    expect(readFileSync(join(remotablePackageDir(ws, "hello"), "nix/closure.txt"), "utf8")).not.toBe(before);
    expect(ws.bin("hello.txt")).toBe("hello from nix\n");
  });

  test("packed_closure: the client packs the closure the pool sent, without Nix, and consumers on the default pool unpack it", async () => {
    const { ws, path, nixCalls } = await workspace([{ name: "hello", attribute_path: "hello", extra: "packed_closure = True" }]);
    const r = await ws.bazel(["build", ...allRemote(), "--noremote_accept_cached", `--repo_env=PATH=${path}`, "//:hello_out"]);
    expect(r.exitCode, `${explain(r)}\n(cluster logs: ${LOGS})`).toBe(0);
    expect(ws.bin("hello.txt")).toBe("hello from nix\n");
    expect(nixCalls()).toBe("");
    const pkg = remotablePackageDir(ws, "hello");
    const sha = /nar_sha256 = "([0-9a-f]{64})"/.exec(readFileSync(join(pkg, "BUILD.bazel"), "utf8"))?.[1];
    expect(sha).toBe(createHash("sha256").update(readFileSync(join(pkg, "_nixstore/closure.nar"))).digest("hex"));
  });

  test("a nixpkgs archive (nixpkgs_http_repository) is fetched on the pool by URL and SHA-256", async () => {
    // Where both the client and the pool's runner (another user) can read it.
    const dir = mkdtempSync(join(tmpdir(), "nixstore-remotable-archive-"));
    chmodSync(dir, 0o755);
    const tarball = join(dir, "nixpkgs-fixture.tar.gz");
    const made = await execa("tar", ["-czf", tarball, "--transform", "s|^\\.|nixpkgs-fixture|", "-C", FIXTURE, "."], { reject: false, all: true });
    expect(made.exitCode, made.all).toBe(0);
    chmodSync(tarball, 0o644);
    const sha256 = createHash("sha256").update(readFileSync(tarball)).digest("hex");
    const http: SourceSpec = { kind: "http_repository", name: "nixpkgs_http", attrs: `url = "file://${tarball}",\n    sha256 = "${sha256}",\n    strip_prefix = "nixpkgs-fixture"` };
    try {
      const { ws, path, nixCalls } = await workspace([{ name: "hello", attribute_path: "hello", repository: "nixpkgs_http" }], [http]);
      const r = await ws.bazel(["build", ...allRemote(), `--repo_env=PATH=${path}`, "//:hello_out"]);
      expect(r.exitCode, explain(r)).toBe(0);
      expect(ws.bin("hello.txt")).toBe("hello from nix\n");
      expect(nixCalls()).toBe("");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("shared-store: consumers on the Nix pool run the store paths, and no closure bytes are uploaded", async () => {
    // 2 MB of new random bytes in the closure, so that the launcher strategy has something the
    // CAS has never held to upload (bytes other closures hold are found there, not uploaded).
    const blob = [
      `let pkgs = import <nixpkgs> { }; in`,
      `pkgs.runCommand "blob" { nonce = "${process.pid}-${Date.now()}"; } ''`,
      `  mkdir -p $out/bin $out/share`,
      `  head -c 2000000 /dev/urandom > $out/share/blob`,
      `  { echo "#!\${pkgs.busybox}/bin/sh"; echo "echo blob"; } > $out/bin/blob`,
      `  chmod 0555 $out/bin/blob`,
      `''`,
    ].join("\n");
    const content = `nix_file_content = ${JSON.stringify(blob)}`;
    const { ws, path, nixCalls } = await workspace([
      { name: "blob", extra: content },
      { name: "blob_shared", extra: `${content},\n    remote_closure = "shared-store"` },
    ]);
    const genrule = (name: string, pkg: string, pool: boolean) => `genrule(
    name = "${name}",
    outs = ["${name}.txt"],
    tools = ["@${pkg}//:bin/blob"],
    cmd = "$(location @${pkg}//:bin/blob) > $@",${pool ? `\n    exec_properties = {"pool": "nix"},` : ""}
)
`;
    ws.write("shared/BUILD.bazel", [genrule("on_pool", "blob_shared", true), genrule("on_default_pool", "blob_shared", false), genrule("launcher", "blob", false)].join("\n"));
    const onRemote = [...allRemote(), `--repo_env=PATH=${path}`];
    const fetched = await ws.bazel(["build", "--nobuild", ...onRemote, "//shared:launcher", "//shared:on_pool"]);
    expect(fetched.exitCode, explain(fetched)).toBe(0);
    // The shared-store repository holds no closure: only the wrappers and the list of paths.
    expect(existsSync(join(remotablePackageDir(ws, "blob_shared"), "_nixstore"))).toBe(false);
    expect(readFileSync(join(remotablePackageDir(ws, "blob_shared"), "bin/blob"), "utf8")).toMatch(/^p='\/nix\/store\/[a-z0-9]{32}-blob\/bin\/blob'$/m);

    const before = await casBytesUploaded();
    const shared = await ws.bazel(["build", ...onRemote, "//shared:on_pool"]);
    expect(shared.exitCode, explain(shared)).toBe(0);
    expect(processes(shared.all)).toMatch(/1 remote(,|\.|$)/);
    expect(ws.bin("shared/on_pool.txt")).toBe("blob\n");
    const sharedBytes = (await casBytesUploaded()) - before;

    const launcher = await ws.bazel(["build", ...onRemote, "//shared:launcher"]);
    expect(launcher.exitCode, explain(launcher)).toBe(0);
    expect(ws.bin("shared/launcher.txt")).toBe("blob\n");
    const launcherBytes = (await casBytesUploaded()) - before - sharedBytes;
    // The action's Action and Command messages only, against the closure's new 2 MB.
    expect(sharedBytes).toBeLessThan(16 * 1024);
    expect(launcherBytes).toBeGreaterThan(2_000_000);
    console.log(`shared-store: ${sharedBytes} bytes uploaded; launcher: ${launcherBytes} bytes`);

    // On the default pool, whose workers do not share the Nix pool's store, the wrapper says so.
    const elsewhere = await ws.bazel(["build", ...onRemote, "//shared:on_default_pool"]);
    expect(elsewhere.exitCode).not.toBe(0);
    expect(elsewhere.all).toMatch(/is not in this machine's \/nix\/store\. Actions that use a shared-store package run on the executors that share the Nix pool's store/);
    expect(nixCalls()).toBe("");
  });

  test("shared-store wrappers quote what they name: executables named with quotes, $, ; and $(...) run on the pool under their exact names", async () => {
    // What the remote build sends (labels can hold them, and a record's words have no blank).
    const names = HOSTILE_NAMES.filter((n) => !unlabelable(true).includes(n) && !/\s/.test(n));
    expect(names).toEqual(expect.arrayContaining(["quote'", "dollar$x", "semi;x", "$(touch$IFS'injected')", "';touch$IFS'injected';'"]));
    const { ws, path, nixCalls } = await workspace([{ name: "hostile", attribute_path: "hostile", extra: `remote_closure = "shared-store"` }]);
    ws.write("run_each.bzl", RUN_EACH_BZL);
    ws.write("hostile/BUILD.bazel", `load("//:run_each.bzl", "run_each")

run_each(
    name = "runs",
    tools = [${names.map((n) => JSON.stringify(`@hostile//:bin/${n}`)).join(", ")}],
    args = [${HOSTILE_ARGS.map((a) => JSON.stringify(a)).join(", ")}],
)
`);
    const r = await ws.bazel(["build", ...allRemote(), "--remote_default_exec_properties=pool=nix", `--repo_env=PATH=${path}`, "//hostile:runs"]);
    expect(r.exitCode, `${explain(r)}\n(cluster logs: ${LOGS})`).toBe(0);
    names.forEach((n, i) => expect(ws.bin(`hostile/runs/${i}.txt`), n).toBe(hostileOutput(n)));
    const wrapper = readFileSync(join(remotablePackageDir(ws, "hostile"), "bin/quote'"), "utf8");
    expect(wrapper).toMatch(/^p='\/nix\/store\/[a-z0-9]{32}-hostile\/bin\/quote'\\'''$/m);
    expect(nixCalls()).toBe("");
  });

  test("a closure cut short or altered on its way, or unlike the executor's store, is refused naming the package, and nothing is laid out", async () => {
    const { ws, path, nixCalls } = await workspace();
    const fetched = await ws.bazel(["build", "--nobuild", ...remotable(), `--repo_env=PATH=${path}`, "//:hello_out"]);
    expect(fetched.exitCode, explain(fetched)).toBe(0);
    const record = remotablePackageDir(ws, "hello__nixstore_remote_build");
    const header = readFileSync(join(record, "closure.txt"), "utf8");
    const text = readFileSync(join(record, "closure.tar.gz.b64"), "utf8").replace(/\s/g, "");
    const archive = Buffer.from(text, "base64");
    const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
    expect(header).toContain(`\narchive ${archive.length} ${sha256(archive)}\n`);

    // The same closure with one file changed: a well-formed archive that the record's own size and
    // sha256 describe, whose store path no longer has the NAR hash the executor's store records.
    const work = mkdtempSync(join(tmpdir(), "nixstore-forged-"));
    chmodSync(work, 0o755);
    writeFileSync(join(work, "closure.tar.gz"), archive);
    const unpacked = join(work, "unpacked");
    mkdirSync(unpacked);
    const sh = (script: string, ...args: string[]) => execa("sh", ["-euc", script, "sh", ...args], { reject: true });
    await sh('tar -xzf "$1" -C "$2"', join(work, "closure.tar.gz"), unpacked);
    const helloPath = readdirSync(join(unpacked, "nix/store")).find((e) => e.endsWith("-hello"))!;
    await sh('chmod -R u+w "$1" && printf "changed" >> "$1/bin/hello"', join(unpacked, "nix/store", helloPath));
    await sh(
      'cd "$1" && find nix -mindepth 2 -maxdepth 2 | LC_ALL=C sort > ../members && tar --create --format=gnu --sort=name --mtime=@1 --owner=0 --group=0 --numeric-owner --files-from=../members | gzip -n > ../changed.tar.gz',
      unpacked,
    );
    const changed = readFileSync(join(work, "changed.tar.gz"));

    const cut = text.slice(0, 4 * Math.floor(text.length / 8));
    const flip = Math.floor(text.length / 2);
    const variants: Record<string, { header: string; text: string }> = {
      intact: { header, text },
      cut: { header, text: cut },
      altered: { header, text: text.slice(0, flip) + (text[flip] === "A" ? "B" : "A") + text.slice(flip + 1) },
      foreign: { header: header.replace(/^archive .*$/m, `archive ${changed.length} ${sha256(changed)}`), text: changed.toString("base64") },
    };
    const decls: string[] = [];
    for (const [name, v] of Object.entries(variants)) {
      mkdirSync(join(work, name));
      writeFileSync(join(work, name, "closure.txt"), v.header);
      writeFileSync(join(work, name, "closure.tar.gz.b64"), v.text);
      decls.push(flavor.bzlmod ? `forge.package(name = "forged_${name}", dir = ${JSON.stringify(join(work, name))})` : `forged("forged_${name}", ${JSON.stringify(join(work, name))})`);
    }
    const names = Object.keys(variants).map((n) => JSON.stringify(`forged_${n}`));
    ws.write("forge.bzl", forgeBzl(flavor.bzlmod));
    const file = flavor.bzlmod ? "MODULE.bazel" : "WORKSPACE";
    const head = flavor.bzlmod ? `forge = use_extension("//:forge.bzl", "forge")` : `load("//:forge.bzl", "forged")`;
    ws.write(file, [ws.read(file), head, ...decls, ...(flavor.bzlmod ? [`use_repo(forge, ${names.join(", ")})`] : []), ""].join("\n"));
    ws.write("forged/BUILD.bazel", Object.keys(variants).map((n) => `genrule(\n    name = "${n}",\n    outs = ["${n}.txt"],\n    tools = ["@forged_${n}//:bin/hello"],\n    cmd = "$(location @forged_${n}//:bin/hello) > $@",\n)\n`).join("\n"));

    try {
      // The record as it came: laid out, and its program runs.
      const ok = await ws.bazel(["build", "--experimental_repo_remote_exec", "--spawn_strategy=local", "//forged:intact"]);
      expect(ok.exitCode, explain(ok)).toBe(0);
      expect(ws.bin("forged/intact.txt")).toBe("hello from nix\n");

      const refusals: Record<string, RegExp> = {
        cut: new RegExp(`the archive that arrived is ${Buffer.from(cut, "base64").length} bytes, but the remote build sent ${archive.length}: it was cut short or altered on its way\\.`),
        altered: new RegExp(`the archive that arrived has sha256 [0-9a-f]{64}, but the remote build sent one with sha256 ${sha256(archive)}: it was altered on its way\\.`),
        foreign: new RegExp(`1 store path\\(s\\) of the closure differ from what the executor's Nix store holds \\(their NAR hashes\\):\\n  /nix/store/${helloPath}: sha256:[0-9a-z]{52} here, sha256:[0-9a-z]{52} in the executor's store\\n`),
      };
      for (const [name, message] of Object.entries(refusals)) {
        const r = await ws.bazel(["build", "--nobuild", "--experimental_repo_remote_exec", `//forged:${name}`]);
        expect(r.exitCode, name).not.toBe(0);
        expect(r.all, name).toContain(`nixpkgs_package(name = "forged_${name}"): the closure that the remote build forged_${name}_record sent is refused: `);
        expect(r.all, name).toMatch(message);
        expect(r.all, name).toContain("Nothing was laid out. The executor caches the build's result: fetch again with --noremote_accept_cached");
        // Nothing half-laid-out: no BUILD file, closure, launcher or archive in the repository.
        const dir = join(ws.outputBase, "external", flavor.bzlmod ? `_main~forge~forged_${name}` : `forged_${name}`);
        const left = existsSync(dir) ? readdirSync(dir) : [];
        expect(left.filter((e) => ["BUILD.bazel", "nix", "_nixstore", "bin", "closure.tar.gz"].includes(e)), name).toEqual([]);
      }
      expect(nixCalls()).toBe("");
    } finally {
      await execa("chmod", ["-R", "u+w", work], { reject: false });
      rmSync(work, { recursive: true, force: true });
    }
  });

  test("examples/remotable builds and passes its test through the Nix pool", async () => {
    const ws = new Workspace(mkdtempSync(join(tmpdir(), `nixstore-example-remotable-${flavor.id}-`)), flavor);
    workspaces.push(ws);
    copyExample("remotable", ws.dir);
    await nixgenBazelrc(ws.dir, ws.outputBase, [], flavor);
    const r = await ws.bazel(["test", "--config=remote", "//..."]);
    expect(r.exitCode, explain(r)).toBe(0);
    // Executed, or a remote cache hit of an earlier run.
    expect(r.all).toMatch(/Executed [01] out of 1 test: 1 test passes/);
    expect(ws.bin("greeting_shared.txt")).toBe("hello from nix\n");
  });

  test("a Nix error on the pool reaches the user with Nix's message, the package and the attribute", async () => {
    const { ws } = await workspace([{ name: "hello", attribute_path: "no_such_attribute" }]);
    const r = await ws.bazel(["build", "--nobuild", ...remotable(), "//:hello_out"]);
    expect(r.exitCode).not.toBe(0);
    expect(r.all).toMatch(/nixpkgs_package\(name = "hello", remotable = True\): the build of attribute_path 'no_such_attribute' failed/);
    expect(r.all).toMatch(/attribute 'no_such_attribute' in selection path 'no_such_attribute' not found/);
  });

  test("a closure over max_closure_mib fails with its size, not an out-of-memory crash", async () => {
    const { ws } = await workspace([{ name: "hello", attribute_path: "hello", extra: "max_closure_mib = 0" }]);
    const r = await ws.bazel(["build", "--nobuild", ...remotable(), "//:hello_out"]);
    expect(r.exitCode).not.toBe(0);
    expect(r.all).toMatch(/the closure of \/nix\/store\/[a-z0-9]{32}-hello is \d+ bytes as a compressed archive, more than the limit of 0 bytes \(max_closure_mib\)/);
  });

  test("without --remote_executor, the build runs on the client's own Nix", async () => {
    const { ws } = await workspace();
    const runs = await workerRuns();
    // Into the machine's Nix store (as root here: no build users, no binary cache).
    await leavingMachineStore(ws, async () => {
      const r = await ws.bazel(["build", "--experimental_repo_remote_exec", "--repo_env=NIX_CONFIG=build-users-group =\nsubstituters =", "//:hello_out"]);
      expect(r.exitCode, explain(r)).toBe(0);
      expect(ws.bin("hello.txt")).toBe("hello from nix\n");
      expect(await workerRuns()).toBe(runs);
      expect(hostStoreEntries(flavor).filter((e) => e.endsWith("-hello")).length).toBeGreaterThan(0);
    });
  });

  test("without --experimental_repo_remote_exec, loading fails naming the flag", async () => {
    const { ws } = await workspace();
    const r = await ws.bazel(["build", "--nobuild", ...remote(), "//:hello_out"]);
    expect(r.exitCode).not.toBe(0);
    expect(r.all).toMatch(/--experimental_repo_remote_exec/);
  });
});
