// nixgen as users install it: `npm pack` of this checkout (prepack builds dist/), installed into
// a fresh workspace with `npm i -D ./rules_nixstore-<version>.tgz`, then `npx nixgen init
// --bzlmod`, `npx nixgen add`, and Bazel 7.7.1 + Nix 2.34 testing the workspace, with
// rules_nixstore resolved from a local file registry in the BCR's layout (release-support.ts),
// as the bazel_dep that `nixgen init` writes asks. Also: every dependency in package.json is used.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync, cpSync, appendFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  CONSUMER_BUILD,
  CONSUMER_OUT,
  EXPECT_OUTPUT_SH,
  FIXTURE,
  REPO_ROOT,
  bazel7,
  cloneHead,
  explain,
  makeRegistry,
  release,
  removeTree,
  run,
  unpack,
  versionAt,
} from "./release-support.js";
import { BAZEL7, FLAVORS } from "./harness.js";

interface PackageJson {
  version: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  scripts?: Record<string, string>;
  bin?: Record<string, string> | string;
}

const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as PackageJson;
let tmp: string;
let tarball: string;
let files: string[];
let registry: string;
const servers: { cwd: string; outputBase: string }[] = [];

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith(".ts"))
    .map((e) => join(e.parentPath, e.name));
}

/** Package names imported (statically or dynamically) by the TypeScript files under `dir`. */
function importedPackages(dir: string): Set<string> {
  const names = new Set<string>();
  for (const file of tsFiles(dir)) {
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^\s*import\s+)"([^"]+)"/gm)) {
      const spec = m[1]!;
      if (spec.startsWith(".") || spec.startsWith("node:")) continue;
      const parts = spec.split("/");
      names.add(spec.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!);
    }
  }
  return names;
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "nixstore-npm-"));
  // rules_nixstore for Bazel: its release, in a registry, as for registry.test.ts.
  const clone = await cloneHead(join(tmp, "clone"));
  const rel = await release(clone, versionAt(clone), join(tmp, "release"));
  registry = await makeRegistry(join(tmp, "registry"), clone, rel, await unpack(rel.archive, join(tmp, "unpacked")));
  // nixgen for npm: this checkout packed (prepack compiles dist/).
  mkdirSync(join(tmp, "pack"));
  await run("npm", ["pack", "--pack-destination", join(tmp, "pack"), "--loglevel=warn"], { cwd: REPO_ROOT });
  tarball = join(tmp, `rules_nixstore-${pkg.version}.tgz`);
  cpSync(join(tmp, "pack", `rules_nixstore-${pkg.version}.tgz`), tarball);
  files = String((await run("tar", ["-tzf", tarball])).stdout).split("\n").filter(Boolean);
});

afterAll(async () => {
  for (const s of servers) await bazel7(s.cwd, s.outputBase, ["shutdown"]);
  if (tmp) await removeTree(tmp);
});

describe("package.json", () => {
  test("every runtime dependency is imported by generator/, and generator/ imports nothing else", () => {
    const imported = [...importedPackages(join(REPO_ROOT, "generator"))].filter((n) => n !== "rules_nixstore").sort();
    expect(Object.keys(pkg.dependencies ?? {}).sort()).toEqual(imported);
  });

  test("every devDependency is used: imported by the tests, or its binary or types are used", () => {
    const testImports = importedPackages(join(REPO_ROOT, "test"));
    const tsconfig = readFileSync(join(REPO_ROOT, "tsconfig.json"), "utf8");
    const commands = [
      ...Object.values(pkg.scripts ?? {}),
      ...readdirSync(join(REPO_ROOT, "scripts")).map((f) => readFileSync(join(REPO_ROOT, "scripts", f), "utf8")),
    ].join("\n");
    const unused = Object.keys(pkg.devDependencies ?? {}).filter((dep) => {
      if (testImports.has(dep)) return false;
      if (dep.startsWith("@types/")) return !tsconfig.includes(JSON.stringify(dep.slice("@types/".length)));
      const depPkg = JSON.parse(readFileSync(join(REPO_ROOT, "node_modules", dep, "package.json"), "utf8")) as PackageJson;
      const bins = typeof depPkg.bin === "string" ? [dep.split("/").pop()!] : Object.keys(depPkg.bin ?? {});
      return !bins.some((b) => new RegExp(`(^|[\\s/])${b}(\\s|$)`, "m").test(commands));
    });
    expect(unused).toEqual([]);
    // Nothing the tests import is missing from package.json.
    const declared = new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.devDependencies ?? {}), "rules_nixstore"]);
    expect([...testImports].filter((n) => !declared.has(n))).toEqual([]);
  });

  test("npm pack ships the compiled CLI, the config types, templates, rules and offline stand-ins, and no sources or tests", () => {
    for (const needed of [
      "package/package.json",
      "package/dist/generator/cli.js",
      "package/dist/generator/config/types.js",
      "package/dist/generator/config/types.d.ts",
      "package/templates/partials/header.hbs",
      "package/templates/workspace/init/MODULE.bazel.hbs",
      "package/rules/defs.bzl",
      "package/WORKSPACE",
      "package/third_party/offline/rules_cc/WORKSPACE",
      "package/third_party/offline/remote_coverage_tools/WORKSPACE",
    ]) {
      expect(files, needed).toContain(needed);
    }
    const unwanted = files.filter((f) =>
      /^package\/(generator|test|node_modules|bench|examples|e2e|scripts|\.bcr)\/|\.map$|^package\/dist\/(?!generator\/)/.test(f),
    );
    expect(unwanted).toEqual([]);
  });
});

describe.runIf(FLAVORS.includes(BAZEL7))("installed from the tarball into a fresh workspace (Bazel 7.7.1, Nix 2.34)", () => {
  test("npx nixgen init --bzlmod, npx nixgen add, then bazel test //... passes", async () => {
    const ws = join(tmp, "ws");
    const outputBase = join(tmp, "ob");
    mkdirSync(ws);
    const read = (f: string) => readFileSync(join(ws, f), "utf8");
    writeFileSync(join(ws, "package.json"), JSON.stringify({ name: "nixgen-consumer", private: true }, null, 2) + "\n");
    // Offline from the npm cache: everything the package depends on is there.
    await run("npm", ["i", "-D", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=warn", `../${basename(tarball)}`], { cwd: ws });
    const npx = (args: string[]) => run("npx", ["--no-install", "nixgen", ...args], { cwd: ws });
    expect(String((await npx(["--version"])).stdout).trim()).toBe(pkg.version);

    await npx(["init", "--bzlmod"]);
    const module = read("MODULE.bazel");
    expect(module).toContain(`bazel_dep(name = "rules_nixstore", version = "${pkg.version}")`);
    expect(module).toContain(`include("//nixstore:nixstore.MODULE.bazel")`);
    expect(module).not.toMatch(/override/);

    // The config's types resolve through the package's exports ("rules_nixstore/config").
    writeFileSync(join(ws, "tsconfig.json"), JSON.stringify({ compilerOptions: { strict: true, noEmit: true, module: "preserve", moduleResolution: "bundler", types: [] }, include: ["nixgen.config.ts"] }));
    await run("node", [join(REPO_ROOT, "node_modules/typescript/bin/tsc"), "-p", "."], { cwd: ws });

    // A nixpkgs of the workspace (the offline fixture), as the starter config suggests.
    cpSync(FIXTURE, join(ws, "nix/fixture"), { recursive: true });
    writeFileSync(join(ws, "nix/BUILD.bazel"), "");
    writeFileSync(join(ws, "nix/nixpkgs.nix"), "import ./fixture\n");
    const starter = read("nixgen.config.ts");
    const suggestion = `    // or a .nix file of this workspace: nixpkgs: { local: "//nix:nixpkgs.nix" },`;
    expect(starter).toContain(suggestion);
    expect(starter).toMatch(/^\s*bzlmod: true,$/m);
    writeFileSync(join(ws, "nixgen.config.ts"), starter.replace(suggestion, `    nixpkgs: { local: "//nix:nixpkgs.nix" },`));
    await npx(["add", "hello"]);
    await npx(["add", "greet"]);
    await npx(["--check"]);
    // The packages are tags of the extension rules_nixstore ships, from the registry's module.
    expect(read("nixstore/nixstore.MODULE.bazel")).toContain(`use_extension("@rules_nixstore//rules:extensions.bzl", "nixstore")`);

    writeFileSync(join(ws, "BUILD.bazel"), CONSUMER_BUILD);
    writeFileSync(join(ws, "expect_output.sh"), EXPECT_OUTPUT_SH, { mode: 0o755 });
    // No binary cache: there is no network here.
    appendFileSync(join(ws, ".bazelrc"), 'build "--repo_env=NIX_CONFIG=substituters ="\n');
    servers.push({ cwd: ws, outputBase });
    const tested = await bazel7(ws, outputBase, ["test", `--registry=${pathToFileURL(registry).href}`, "--test_output=errors", "//..."]);
    expect(tested.exitCode, explain(tested, ws)).toBe(0);
    expect(tested.stdout).toMatch(/\/\/:greet_test\s+PASSED/);
    expect(read("bazel-bin/out.txt")).toBe(CONSUMER_OUT);
  });
});
