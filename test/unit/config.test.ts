// The config reader: nixgen.config.ts is parsed with ts-morph, never run; every problem is
// reported with file:line:col and a hint, all of them at once.
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig, type ResolvedConfig } from "../../generator/config/index.js";

const FILE = "nixgen.config.ts";
const HASH = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const REV = "0123456789abcdef0123456789abcdef01234567";

/** A config file whose defineConfig argument is `body`. */
function config(body: string): string {
  return `import { defineConfig } from "rules_nixstore/config";\n\nexport default defineConfig(${body});\n`;
}

/** The error text of a config that must fail. */
function errors(text: string): string {
  try {
    parseConfig(FILE, text);
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  throw new Error("the config was accepted");
}

function ok(text: string): ResolvedConfig {
  return parseConfig(FILE, text);
}

const LOCAL = `nixpkgs: { nixpkgs: { local: "//nix:nixpkgs.nix" } }`;

describe("reading nixgen.config.ts", () => {
  it("resolves sources and packages with their defaults", () => {
    const c = ok(
      config(`{
  nixpkgs: {
    nixpkgs: { git: "https://github.com/NixOS/nixpkgs.git", revision: "${REV}", sha256: "${HASH}" },
    mirror: { urls: ["https://a.example/n.tgz", "https://b.example/n.tgz"], integrity: "sha256-AAAA", stripPrefix: "n" },
  },
  packages: {
    jq: {},
    numpy: { attributePath: "python3Packages.numpy", nixopts: ["--arg", "x", "1"], quiet: true },
    tool: { nixFile: "//nix:tool.nix", nixFileDeps: ["//nix:lib.nix"], repositories: { nixpkgs: "mirror" } },
    "with-dash": { buildFileContent: \`exports_files(["bin/x"])\n\` },
  },
  store: "system",
  remote: { strategy: "launcher", executor: "grpc://bb:8980", instanceName: "main", execProperties: { OSFamily: "linux" } },
  bzlmod: true,
}`),
    );
    expect(c.sources[0]).toEqual({
      kind: "http",
      name: "nixpkgs",
      url: `https://github.com/NixOS/nixpkgs/archive/${REV}.tar.gz`,
      urls: null,
      sha256: HASH,
      integrity: null,
      stripPrefix: `nixpkgs-${REV}`,
      git: { repository: "https://github.com/NixOS/nixpkgs", revision: REV },
    });
    expect(c.sources[1]).toMatchObject({ kind: "http", url: null, urls: ["https://a.example/n.tgz", "https://b.example/n.tgz"] });
    expect(c.packages.map((p) => [p.name, p.attributePath, p.repositories])).toEqual([
      ["jq", "jq", { nixpkgs: "nixpkgs" }],
      ["numpy", "python3Packages.numpy", { nixpkgs: "nixpkgs" }],
      ["tool", null, { nixpkgs: "mirror" }],
      ["with-dash", "with-dash", { nixpkgs: "nixpkgs" }],
    ]);
    expect(c.packages[3]?.buildFileContent).toBe('exports_files(["bin/x"])\n');
    expect(c).toMatchObject({ store: "system", bzlmod: true });
    expect(c.remote).toEqual({ strategy: "launcher", executor: "grpc://bb:8980", instanceName: "main", execProperties: { OSFamily: "linux" } });
  });

  it("accepts `export default {...} satisfies Config`, `as const` and an empty config", () => {
    const text = `import type { Config } from "rules_nixstore/config";\nexport default { ${LOCAL}, packages: { jq: {} } } as const satisfies Config;\n`;
    expect(ok(text).packages.map((p) => p.name)).toEqual(["jq"]);
    expect(ok(config("{}"))).toEqual({ sources: [], packages: [], store: "output-base", remote: null, ccToolchain: null, bzlmod: false, binaryCaches: [] });
  });

  it("uses the only source for packages when none is named nixpkgs", () => {
    const c = ok(config(`{ nixpkgs: { pinned: { local: "//:n.nix" } }, packages: { jq: {} } }`));
    expect(c.packages[0]?.repositories).toEqual({ nixpkgs: "pinned" });
  });

  it("reports a missing default export and a default export that is not an object literal", () => {
    expect(errors(`export const x = 1;\n`)).toMatch(/^nixgen.config.ts:1:1: error: no default export\n  hint: write `export default defineConfig/);
    expect(errors(`const c = {};\nexport default c;\n`)).toMatch(/^nixgen.config.ts:2:16: error: the default export is `c`, not an object literal/);
    expect(errors(`export default makeConfig({});\n`)).toMatch(/2?:16: error: the default export calls `makeConfig`/);
  });

  it("reports syntax errors with their position", () => {
    expect(errors(config(`{ packages: { jq: {} }`))).toMatch(/^nixgen.config.ts:3:51: error: syntax error: ',' expected/);
  });

  it("refuses everything that would need running: names, calls, spreads, shorthands, computed keys, substitutions", () => {
    const text = config(`{
  nixpkgs: { nixpkgs: { local: LABEL } },
  packages: {
    a: { nixopts: [...common] },
    b: { attributePath: pick("b") },
    c,
    [name]: {},
    d: { attributePath: \`x\${y}\` },
    ...more,
  },
}`);
    const message = errors(text);
    expect(message).toContain("nixgen.config.ts:4:32: error: the name `LABEL` is not a literal\n  hint: nixgen reads nixgen.config.ts without running it");
    expect(message).toContain("nixgen.config.ts:6:20: error: a spread is not a literal");
    expect(message).toContain("nixgen.config.ts:7:25: error: a call of `pick` is not a literal");
    expect(message).toContain("nixgen.config.ts:8:5: error: the shorthand property `c` is not a literal property");
    expect(message).toContain("nixgen.config.ts:9:5: error: the key `[name]` is computed");
    expect(message).toContain("nixgen.config.ts:10:25: error: a template with substitutions is not a literal");
    expect(message).toContain("nixgen.config.ts:11:5: error: a spread (`...`) is not a literal property");
    expect(message).toMatch(/7 errors in nixgen.config.ts; nothing was written\.$/);
  });

  it("reports unknown keys at every level with a did-you-mean hint", () => {
    const message = errors(
      config(`{
  nixpkg: {},
  packages: { jq: { atributePath: "jq" } },
  remote: { strategy: "launcher", executor: "grpc://x:1", instance: "a" },
}`),
    );
    expect(message).toContain('4:3: error: the config: unknown key "nixpkg"\n  hint: did you mean "nixpkgs"? known keys: nixpkgs, packages, ccToolchain, store, remote, bzlmod');
    expect(message).toContain('5:21: error: package "jq": unknown key "atributePath"\n  hint: did you mean "attributePath"?');
    expect(message).toContain('6:59: error: remote: unknown key "instance"\n  hint: did you mean "instanceName"?');
  });

  it("reports wrong types naming the expected type", () => {
    const message = errors(
      config(`{
  ${LOCAL},
  packages: { a: { attributePath: 3, quiet: "yes", nixopts: "--x", nixFileDeps: [1] , nixFile: "//:a.nix" }, b: [] },
  store: 1,
  bzlmod: "true",
}`),
    );
    expect(message).toContain('package "a": "attributePath" must be a string, not a number');
    expect(message).toContain('package "a": "quiet" must be true or false, not a string');
    expect(message).toContain('package "a": "nixopts" must be an array of strings, not a string');
    expect(message).toContain('package "a": each item of "nixFileDeps" must be a string, not a number');
    expect(message).toContain('package "b" must be an object, not an array');
    expect(message).toContain('the config: "store" must be a string, not a number');
    expect(message).toContain('the config: "bzlmod" must be true or false, not a string');
  });

  it("reads escapingSymlinks, and names the allowed values for another", () => {
    const c = ok(config(`{ ${LOCAL}, packages: { strict: { escapingSymlinks: "fail" }, lenient: { escapingSymlinks: "drop" }, plain: {} } }`));
    expect(c.packages.map((p) => [p.name, p.escapingSymlinks])).toEqual([
      ["strict", "fail"],
      ["lenient", "drop"],
      ["plain", null],
    ]);
    const message = errors(config(`{ ${LOCAL}, packages: { a: { escapingSymlinks: "fial" }, b: { escapingSymlinks: false } } }`));
    expect(message).toContain('package "a": "escapingSymlinks" is "fial"\n  hint: did you mean "fail"? use one of "drop", "fail"');
    expect(message).toContain('package "b": "escapingSymlinks" must be a string, not a boolean');
  });

  it("reports conflicting options", () => {
    const message = errors(
      config(`{
  nixpkgs: {
    nixpkgs: { url: "https://x/n.tgz", urls: ["https://y/n.tgz"], sha256: "${HASH}", integrity: "sha256-AA==" },
    other: { local: "//:o.nix", nixFileContent: "import <x>" },
  },
  packages: {
    a: { nixFile: "//:a.nix", nixFileContent: "{}" },
    b: { buildFile: "//:b.BUILD", buildFileContent: "" },
  },
}`),
    );
    expect(message).toContain('5:40: error: nixpkgs source "nixpkgs": "url" and "urls" cannot both be set\n  hint: keep one of "url", "urls"');
    expect(message).toContain('nixpkgs source "nixpkgs": "sha256" and "integrity" cannot both be set');
    expect(message).toContain('nixpkgs source "other": "local" and "nixFileContent" cannot both be set');
    expect(message).toContain('9:31: error: package "a": "nixFile" and "nixFileContent" cannot both be set');
    expect(message).toContain('package "b": "buildFile" and "buildFileContent" cannot both be set');
  });

  it("reports names that cannot be repositories, and a package named like a source", () => {
    const message = errors(config(`{ ${LOCAL}, packages: { "9lives": {}, "a b": {}, nixpkgs: {} } }`));
    expect(message).toContain('package name "9lives" is not a valid Bazel repository name');
    expect(message).toContain('package name "a b" is not a valid Bazel repository name\n  hint: start with a letter');
    expect(message).toContain('package "nixpkgs" has the name of a nixpkgs source; both would be the repository @nixpkgs');
  });

  it("reports packages that refer to unknown sources or have none", () => {
    expect(errors(config(`{ nixpkgs: { unstable: { local: "//:u.nix" } }, packages: { a: { repositories: { nixpkgs: "unstabel" } } } }`))).toContain(
      'package "a": repositories.nixpkgs names the nixpkgs source "unstabel", which the config does not define\n  hint: did you mean "unstable"?',
    );
    expect(errors(config(`{ packages: { jq: {} } }`))).toContain('package "jq" has no nixpkgs to build from\n  hint: add a source under nixpkgs');
    expect(errors(config(`{ nixpkgs: { a: { local: "//:a.nix" }, b: { local: "//:b.nix" } }, packages: { jq: {} } }`))).toContain(
      'hint: set repositories, e.g. { nixpkgs: "a" }: the config defines 2 sources and none is named "nixpkgs"',
    );
    // A package with its own Nix expression needs no source.
    expect(ok(config(`{ packages: { mine: { nixFileContent: "derivation {}" } } }`)).packages[0]?.attributePath).toBeNull();
  });

  it("reports bad git sources: other hosts, moving revisions, no revision", () => {
    const message = errors(
      config(`{ nixpkgs: {
  a: { git: "https://gitlab.com/x/nixpkgs", revision: "${REV}", sha256: "${HASH}" },
  b: { git: "https://github.com/NixOS/nixpkgs", revision: "nixos-24.05", sha256: "${HASH}" },
  c: { git: "https://github.com/NixOS/nixpkgs" },
} }`),
    );
    expect(message).toContain('only https://github.com/<owner>/<repo> repositories are supported\n  hint: for another host, use { url, sha256, stripPrefix }');
    expect(message).toContain('"revision" is "nixos-24.05", not a full commit hash\n  hint: branch and tag names move');
    expect(message).toContain('nixpkgs source "c": "git" needs a "revision"');
  });

  it("reports malformed hashes, labels and sources without a location", () => {
    const message = errors(
      config(`{ nixpkgs: {
  a: { url: "https://x/a.tgz", sha256: "sha256-abc=" },
  b: { url: "https://x/b.tgz", integrity: "${HASH}" },
  c: { local: "nix/nixpkgs.nix", nixFileDeps: ["nix/lib.nix"] },
  d: { stripPrefix: "x" },
} }`),
    );
    expect(message).toContain('"sha256" must be 64 lowercase hex digits\n  hint: for an SRI checksum ("sha256-...") use "integrity"');
    expect(message).toContain('"integrity" must be a Subresource Integrity checksum');
    expect(message).toContain('"local" is "nix/nixpkgs.nix", not an absolute Bazel label\n  hint: write a label such as "//nix:nixpkgs.nix"');
    expect(message).toContain('"nix/lib.nix" in "nixFileDeps" is not an absolute Bazel label');
    expect(message).toContain('nixpkgs source "d" does not say where nixpkgs comes from');
  });

  it("reports remote options that do not apply or cannot be expressed", () => {
    const message = errors(
      config(`{
  store: "systme",
  remote: { strategy: "shared-store", execProperties: { "a=b": "c", d: "e f" } },
}`),
    );
    expect(message).toContain('the config: "store" is "systme"\n  hint: did you mean "system"?');
    expect(message).toContain('remote needs an "executor"');
    expect(message).toContain('exec property "a=b=c" cannot be written');
    expect(message).toContain('exec property "d=e f" cannot be written');
    expect(errors(config(`{ remote: { strategy: "launcher", executor: "localhost:8980" } }`))).toContain(
      'remote: "executor" is "localhost:8980", not a URL Bazel accepts\n  hint: e.g. "grpc://host:8980"',
    );
  });

  it("reads strategy remotable with the platform, PATH and closure limit of the Nix builds", () => {
    const c = ok(
      config(`{
  ${LOCAL},
  packages: { jq: {} },
  remote: {
    strategy: "remotable",
    executor: "grpc://bb:8980",
    execProperties: { OSFamily: "linux" },
    nixBuildExecProperties: { pool: "nix", "container-image": "docker://nix image" },
    remotePath: "/nix/var/nix/profiles/default/bin:/bin",
    maxClosureMib: 512,
  },
}`),
    );
    expect(c.remote).toEqual({
      strategy: "remotable",
      executor: "grpc://bb:8980",
      instanceName: null,
      execProperties: { OSFamily: "linux" },
      nixBuildExecProperties: { pool: "nix", "container-image": "docker://nix image" },
      remotePath: "/nix/var/nix/profiles/default/bin:/bin",
      maxClosureMib: 512,
    });
    const minimal = ok(config(`{ ${LOCAL}, packages: { jq: {} }, remote: { strategy: "remotable", executor: "grpc://bb:8980" } }`));
    expect(minimal.remote).toMatchObject({ nixBuildExecProperties: {}, remotePath: null, maxClosureMib: null });
  });

  it("reports remotable settings that do not fit, and what remotable asks of the rest of the config (not a local source)", () => {
    const message = errors(
      config(`{
  nixpkgs: {
    nixpkgs: { git: "https://github.com/NixOS/nixpkgs", revision: "${REV}", sha256: "${HASH}" },
    mirror: { url: "https://a.example/n.tgz", sha256: "${HASH}" },
    mine: { local: "//nix:nixpkgs.nix" },
  },
  packages: {
    jq: {},
    tool: { repositories: { nixpkgs: "mine", extra: "mirror" }, failNotSupported: false },
    ok: { repositories: { nixpkgs: "mine" } },
  },
  store: "system",
  remote: {
    strategy: "remotable",
    executor: "grpc://bb:8980",
    nixBuildExecProperties: { "a=b": "c" },
    remotePath: "bin:/usr/bin",
    maxClosureMib: 0,
  },
}`),
    );
    // Downloaded sources are fine: the worker fetches them by URL and SHA-256.
    expect(message).not.toContain('package "jq"');
    expect(message).toContain('package "tool": "failNotSupported" does not apply with remote strategy "remotable"\n  hint: remove it');
    expect(message).toContain('the config: "store" does not apply with remote strategy "remotable"\n  hint: remove it');
    expect(message).toContain("remote: exec property \"a=b=c\" cannot be written as the packages' exec_properties\n  hint: names cannot be empty or contain = or white space\n");
    expect(message).toContain('remote: "remotePath" is "bin:/usr/bin", not a PATH of absolute directories');
    expect(message).toContain('remote: "maxClosureMib" must be a whole number of MiB above 0\n  hint: e.g. maxClosureMib: 512');
    expect(message).toContain("5 errors in nixgen.config.ts");

    const launcher = errors(
      config(`{ remote: { strategy: "launcher", executor: "grpc://bb:8980", nixBuildExecProperties: { pool: "nix" }, maxClosureMib: 1 } }`),
    );
    expect(launcher).toContain(
      'remote: "nixBuildExecProperties" applies only to strategies "remotable" and "shared-store"\n  hint: remove it, or set strategy: "remotable" or "shared-store"',
    );
    expect(launcher).toContain('remote: "maxClosureMib" applies only to strategies "remotable" and "shared-store"');
  });

  it("reads strategy shared-store: the remotable keys, and the Nix pool's platform for the consumers unless execProperties is given", () => {
    const remote = (extra: string) =>
      config(`{
  ${LOCAL},
  packages: { jq: {} },
  remote: {
    strategy: "shared-store",
    executor: "grpc://bb:8980",
    instanceName: "main",
    nixBuildExecProperties: { pool: "nix", OSFamily: "linux" },
    remotePath: "/nix/var/nix/profiles/default/bin:/bin",${extra}
  },
}`);
    expect(ok(remote("")).remote).toEqual({
      strategy: "shared-store",
      executor: "grpc://bb:8980",
      instanceName: "main",
      execProperties: { pool: "nix", OSFamily: "linux" },
      nixBuildExecProperties: { pool: "nix", OSFamily: "linux" },
      remotePath: "/nix/var/nix/profiles/default/bin:/bin",
      maxClosureMib: null,
    });
    // Given, execProperties is kept as it is: executors that share the pool's store, or none.
    expect(ok(remote(`\n    execProperties: { pool: "nix-runners" },`)).remote).toMatchObject({
      execProperties: { pool: "nix-runners" },
      nixBuildExecProperties: { pool: "nix", OSFamily: "linux" },
    });
    expect(ok(remote(`\n    execProperties: {},`)).remote).toMatchObject({ execProperties: {} });
    const minimal = ok(config(`{ ${LOCAL}, packages: { jq: {} }, remote: { strategy: "shared-store", executor: "grpc://bb:8980" } }`));
    expect(minimal.remote).toMatchObject({ execProperties: {}, nixBuildExecProperties: {}, remotePath: null, maxClosureMib: null });
  });

  it("reports what shared-store does not take: maxClosureMib, the keys of a laid-out closure, store, failNotSupported", () => {
    const message = errors(
      config(`{
  ${LOCAL},
  packages: {
    jq: { buildFile: "//:jq.BUILD", escapingSymlinks: "fail" },
    tool: { buildFileContent: "exports_files([])", failNotSupported: false },
    ok: { attributePath: "hello", nixopts: ["--option", "a", "b"], quiet: true },
  },
  store: "system",
  remote: { strategy: "shared-store", executor: "grpc://bb:8980", maxClosureMib: 64 },
}`),
    );
    const closure = "hint: remove it: the package's closure stays in the Nix pool's shared store, and its repository holds only bin/<exe> wrappers";
    expect(message).toContain(`package "jq": "buildFile" does not apply with remote strategy "shared-store"\n  ${closure}`);
    expect(message).toContain(`package "jq": "escapingSymlinks" does not apply with remote strategy "shared-store"\n  ${closure}`);
    expect(message).toContain(`package "tool": "buildFileContent" does not apply with remote strategy "shared-store"\n  ${closure}`);
    expect(message).toContain('package "tool": "failNotSupported" does not apply with remote strategy "shared-store"\n  hint: remove it');
    expect(message).toContain('the config: "store" does not apply with remote strategy "shared-store"\n  hint: remove it');
    expect(message).toContain(
      'remote: "maxClosureMib" does not apply with strategy "shared-store"\n  hint: remove it: the closures stay in the Nix pool\'s shared store, and no archive is sent back',
    );
    expect(message).not.toContain('package "ok"');
    expect(message).toContain("6 errors in nixgen.config.ts");
  });

  it("refuses a pool platform that --remote_default_exec_properties cannot carry when shared-store has no execProperties", () => {
    const remote = (extra: string) =>
      config(`{ remote: { strategy: "shared-store", executor: "grpc://bb:8980", nixBuildExecProperties: { image: "docker://nix image" }${extra} } }`);
    expect(errors(remote(""))).toContain(
      'nixgen.config.ts:3:95: error: remote: the consumers\' actions of strategy "shared-store" run on the Nix pool, but its exec property ' +
        '"image=docker://nix image" cannot be written as --remote_default_exec_properties\n' +
        "  hint: set execProperties to a platform without white space in its values that selects executors sharing the pool's store",
    );
    expect(ok(remote(`, execProperties: { pool: "nix" }`)).remote).toMatchObject({ execProperties: { pool: "nix" } });
  });

  it("refuses sharedStore, a key that copied client-built closures and was never implemented", () => {
    for (const strategy of ["shared-store", "remotable", "launcher"]) {
      const message = errors(config(`{ remote: { strategy: "${strategy}", executor: "grpc://x:1", sharedStore: "ssh://x" } }`));
      expect(message).toContain(
        'remote: "sharedStore" (copying the closures this machine builds into a store, nix copy --to) is not implemented\n' +
          '  hint: remove it: strategy "shared-store" builds each package on the Nix pool (nixBuildExecProperties) into the store its executors share',
      );
      // One error for the key, not a second one as an unknown key.
      expect(message).not.toContain("unknown key");
      expect(message).toContain("1 error in nixgen.config.ts");
    }
  });

  it("reads binaryCaches in order, without trailing slashes; none by default", () => {
    const KEY = "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=";
    const c = ok(config(`{ ${LOCAL}, binaryCaches: [{ url: "https://cache.nixos.org/", publicKey: "${KEY}" }, { url: "http://127.0.0.1:8080", publicKey: "${KEY}" }] }`));
    expect(c.binaryCaches).toEqual([
      { url: "https://cache.nixos.org", publicKey: KEY },
      { url: "http://127.0.0.1:8080", publicKey: KEY },
    ]);
    expect(ok(config(`{ ${LOCAL} }`)).binaryCaches).toEqual([]);
  });

  it("reports binary caches without a URL Bazel can download or a public key, listed twice, or with a remotable strategy", () => {
    const KEY = "k-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=";
    const text = errors(
      config(`{ ${LOCAL}, binaryCaches: [
  { url: "s3://bucket", publicKey: "${KEY}" },
  { url: "https://a.example", publicKey: "k-1" },
  { url: "https://b.example" },
  { url: "https://c.example", publicKey: "${KEY}" },
  { url: "https://c.example/", publicKey: "${KEY}" },
] }`),
    );
    expect(text).toContain('binaryCaches[0]: "s3://bucket" is not a binary cache URL Bazel can download from');
    expect(text).toContain('binaryCaches[1]: "k-1" is not a binary cache public key');
    expect(text).toContain('binaryCaches[2]: "publicKey" is missing');
    expect(text).toContain("binaryCaches[4]: the cache https://c.example is listed twice");
    expect(errors(config(`{ binaryCaches: { url: "x" } }`))).toContain('the config: "binaryCaches" must be an array of { url, publicKey }');
    const remotable = errors(
      config(`{ ${LOCAL}, packages: { jq: {} }, remote: { strategy: "remotable", executor: "grpc://x:1" }, binaryCaches: [] }`),
    );
    expect(remotable).toContain('the config: "binaryCaches" does not apply with remote strategy "remotable"');
  });

  it("reports a key given twice", () => {
    expect(errors(config(`{ ${LOCAL}, packages: { jq: {}, jq: { quiet: true } } }`))).toContain('packages: "jq" is given twice');
  });
});
