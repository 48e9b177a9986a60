// The ccToolchain block of nixgen.config.ts: a C/C++ toolchain from Nix, its defaults, and every
// mistake reported at its position with what to do.
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig, type ResolvedConfig } from "../../generator/config/index.js";

const FILE = "nixgen.config.ts";
const LOCAL = `nixpkgs: { nixpkgs: { local: "//nix:nixpkgs.nix" } }`;

function config(body: string): string {
  return `import { defineConfig } from "rules_nixstore/config";\n\nexport default defineConfig(${body});\n`;
}

function ok(body: string): ResolvedConfig {
  return parseConfig(FILE, config(body));
}

function errors(body: string): string {
  try {
    parseConfig(FILE, config(body));
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  throw new Error("the config was accepted");
}

describe("ccToolchain in nixgen.config.ts", () => {
  it("defaults to @local_config_cc from the nixpkgs source, leaving every attribute to the rule", () => {
    expect(ok(`{ ${LOCAL}, ccToolchain: {} }`).ccToolchain).toEqual({
      name: "local_config_cc",
      attributePath: null,
      nixFile: null,
      nixFileContent: null,
      nixFileDeps: [],
      repositories: { nixpkgs: "nixpkgs" },
      nixopts: [],
      quiet: null,
      failNotSupported: null,
      ccLang: null,
      ccStd: null,
      execConstraints: [],
      targetConstraints: [],
      packedClosure: null,
    });
    expect(ok(`{ ${LOCAL} }`).ccToolchain).toBeNull();
  });

  it("reads every key, and takes the only source when none is named nixpkgs", () => {
    const c = ok(`{
  nixpkgs: { pinned: { local: "//nix:pinned.nix" } },
  ccToolchain: {
    name: "nix_cc",
    attributePath: "gcc13Stdenv.cc",
    nixopts: ["--option", "substituters", ""],
    quiet: true,
    failNotSupported: false,
    ccLang: "c++",
    ccStd: "c++17",
    execConstraints: ["@platforms//os:linux", "@platforms//cpu:x86_64"],
    targetConstraints: ["@platforms//os:linux"],
    packedClosure: false,
  },
}`).ccToolchain;
    expect(c).toMatchObject({
      name: "nix_cc",
      attributePath: "gcc13Stdenv.cc",
      repositories: { nixpkgs: "pinned" },
      nixopts: ["--option", "substituters", ""],
      quiet: true,
      failNotSupported: false,
      ccLang: "c++",
      ccStd: "c++17",
      execConstraints: ["@platforms//os:linux", "@platforms//cpu:x86_64"],
      targetConstraints: ["@platforms//os:linux"],
      packedClosure: false,
    });
    const own = ok(`{ ${LOCAL}, ccToolchain: { nixFile: "//nix:cc.nix", nixFileDeps: ["//nix:lib.nix"] } }`).ccToolchain;
    expect(own).toMatchObject({ nixFile: "//nix:cc.nix", nixFileDeps: ["//nix:lib.nix"], attributePath: null });
  });

  it("reports unknown keys with a did-you-mean hint, and wrong types", () => {
    const message = errors(`{ ${LOCAL}, ccToolchain: { atributePath: "gcc", quiet: "yes", execConstraints: "@platforms//os:linux" } }`);
    expect(message).toContain('ccToolchain: unknown key "atributePath"\n  hint: did you mean "attributePath"? known keys: name, attributePath,');
    expect(message).toContain('ccToolchain: "quiet" must be true or false, not a string');
    expect(message).toContain('ccToolchain: "execConstraints" must be an array of strings, not a string');
    expect(errors(`{ ${LOCAL}, ccToolchain: true }`)).toContain("ccToolchain must be an object, not a boolean");
  });

  it("refuses nixFile with nixFileContent, nixFileDeps alone, and labels that are not absolute", () => {
    const message = errors(`{
  ${LOCAL},
  ccToolchain: { nixFile: "//nix:cc.nix", nixFileContent: "{ }", targetConstraints: ["platforms//os:linux"] },
}`);
    expect(message).toContain('5:43: error: ccToolchain: "nixFile" and "nixFileContent" cannot both be set\n  hint: keep one of "nixFile", "nixFileContent"');
    expect(message).toContain('ccToolchain: "platforms//os:linux" in "targetConstraints" is not an absolute Bazel label');
    expect(errors(`{ ${LOCAL}, ccToolchain: { nixFileDeps: ["//nix:lib.nix"] } }`)).toContain(
      'ccToolchain: "nixFileDeps" without "nixFile" or "nixFileContent"',
    );
  });

  it("reports a name that cannot be a repository name, or whose repositories a source or package already is", () => {
    expect(errors(`{ ${LOCAL}, ccToolchain: { name: "my cc" } }`)).toContain(
      'ccToolchain: "name" is "my cc", not a valid Bazel repository name\n  hint: start with a letter',
    );
    expect(errors(`{ ${LOCAL}, packages: { cc: {} }, ccToolchain: { name: "cc" } }`)).toContain(
      'ccToolchain makes the repository @cc, and so does package "cc"\n' +
        '  hint: rename one of them: the toolchain\'s "name" (default "local_config_cc") makes @<name> and @<name>_toolchains',
    );
    expect(errors(`{ ${LOCAL}, packages: { cc_toolchains: {} }, ccToolchain: { name: "cc" } }`)).toContain(
      'ccToolchain makes the repository @cc_toolchains, and so does package "cc_toolchains"',
    );
    // The default name clashes too; the error then points at the ccToolchain key.
    expect(errors(`{ ${LOCAL}, packages: { local_config_cc: {} },\n  ccToolchain: {} }`)).toContain(
      '4:3: error: ccToolchain makes the repository @local_config_cc, and so does package "local_config_cc"',
    );
    expect(errors(`{ ${LOCAL}, ccToolchain: { name: "nixpkgs" } }`)).toContain(
      'ccToolchain makes the repository @nixpkgs, and so does nixpkgs source "nixpkgs"',
    );
  });

  it("needs <nixpkgs>: a source to default to, or a repositories entry named nixpkgs, even with nixFile", () => {
    expect(errors(`{ ccToolchain: { nixFileContent: "{ }" } }`)).toContain(
      "ccToolchain has no nixpkgs to build from\n  hint: add a source under nixpkgs",
    );
    expect(errors(`{ nixpkgs: { a: { local: "//:a.nix" }, b: { local: "//:b.nix" } }, ccToolchain: {} }`)).toContain(
      'hint: set repositories, e.g. { nixpkgs: "a" }: the config defines 2 sources and none is named "nixpkgs"',
    );
    expect(errors(`{ ${LOCAL}, ccToolchain: { nixFile: "//nix:cc.nix", repositories: { mine: "nixpkgs" } } }`)).toContain(
      'ccToolchain: "repositories" has no "nixpkgs" entry\n  hint: add one, e.g. nixpkgs: "<source>"',
    );
    expect(errors(`{ ${LOCAL}, ccToolchain: { repositories: { nixpkgs: "nixpgks" } } }`)).toContain(
      'ccToolchain: repositories.nixpkgs names the nixpkgs source "nixpgks", which the config does not define\n  hint: did you mean "nixpkgs"?',
    );
  });

  it("reports an attribute path, ccLang or ccStd that the compiler cannot be given", () => {
    const message = errors(`{ ${LOCAL}, ccToolchain: { attributePath: "gcc cc", ccLang: "c++ -v", ccStd: "" } }`);
    expect(message).toContain('ccToolchain: "attributePath" is "gcc cc", not a dotted Nix attribute path');
    expect(message).toContain('ccToolchain: "ccLang" is "c++ -v", not a single compiler word\n  hint: e.g. "c++" or "objective-c++"');
    expect(message).toContain('ccToolchain: "ccStd" is empty');
  });

  it("refuses the remotable strategies, whose client does without Nix, and takes the launcher strategy", () => {
    for (const strategy of ["remotable", "shared-store"]) {
      const message = errors(`{
  ${LOCAL},
  ccToolchain: {},
  remote: { strategy: "${strategy}", executor: "grpc://bb:8980", nixBuildExecProperties: { pool: "nix" } },
}`);
      expect(message).toContain(
        `5:3: error: ccToolchain does not apply with remote strategy "${strategy}"\n` +
          "  hint: the toolchain is built by this machine's Nix when Bazel fetches it",
      );
    }
    const c = ok(`{ ${LOCAL}, ccToolchain: {}, remote: { strategy: "launcher", executor: "grpc://bb:8980" } }`);
    expect(c.ccToolchain?.name).toBe("local_config_cc");
  });
});
