// The workspace model: a checked config becomes calls of the rules_nixstore repository rules
// whose attributes all exist in the rule model, plus Bazel flags.
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../generator/config/index.js";
import { NIXPKGS_CC_CONFIGURE, RULES } from "../../generator/model/index.js";
import { starlarkLayout } from "../../generator/workspace/starlark.js";
import { workspaceModel } from "../../generator/workspace/index.js";

const NO_LOCK = { lockFile: false, discovered: {} };

function model(body: string, facts = NO_LOCK) {
  return workspaceModel(parseConfig("nixgen.config.ts", `export default defineConfig(${body});`), facts);
}

function kwargs(call: { kwargs: readonly { name: string; value: unknown }[] } | undefined) {
  return Object.fromEntries((call?.kwargs ?? []).map((k) => [k.name, k.value]));
}

describe("workspace model", () => {
  it("declares sources, then packages, with name first and other attributes sorted", () => {
    const m = model(`{
  nixpkgs: { nixpkgs: { local: "//nix:nixpkgs.nix", nixFileDeps: ["//nix:a.nix"] } },
  packages: { zed: { quiet: true, attributePath: "zed-editor" }, jq: {} },
}`);
    expect(m.calls.map((c) => [c.rule, c.name])).toEqual([
      ["nixpkgs_local_repository", "nixpkgs"],
      ["nixpkgs_package", "zed"],
      ["nixpkgs_package", "jq"],
    ]);
    expect(m.calls[1]?.kwargs.map((k) => k.name)).toEqual(["name", "attribute_path", "quiet", "repositories"]);
    expect(kwargs(m.calls[2])).toEqual({ name: "jq", attribute_path: "jq", repositories: { nixpkgs: "@nixpkgs" } });
    // WORKSPACE declares the packages together, so that those of one nixpkgs share its evaluation.
    expect(m.loads).toEqual(["nixpkgs_local_repository", "nixpkgs_packages"]);
    expect(m.sourceCalls.map((c) => c.name)).toEqual(["nixpkgs"]);
    expect(m.packageCalls.map((c) => c.name)).toEqual(["zed", "jq"]);
    expect(m.packageNames).toEqual(["jq", "zed"]);
  });

  it("gives each call a tag of the module extension with the same attributes, naming other repositories", () => {
    const m = model(`{
  nixpkgs: { nixpkgs: { local: "//nix:nixpkgs.nix" }, extra: { url: "https://x/e.tgz", sha256: "${"0".repeat(64)}" } },
  packages: { jq: { nixopts: ["-j1"], repositories: { nixpkgs: "nixpkgs", extra: "extra" } } },
}`, { lockFile: true, discovered: {} });
    expect(m.calls.map((c) => c.tag)).toEqual(["local_repository", "http_repository", "package"]);
    expect(m.extension).toEqual({ bzl: "@rules_nixstore//rules:extensions.bzl", name: "nixstore" });
    for (const call of m.calls) {
      const { repositories, ...rest } = kwargs({ kwargs: call.tagKwargs });
      const { repositories: labels, ...same } = kwargs(call);
      expect(rest).toEqual(same);
      expect(call.tagKwargs.map((k) => k.name)).toEqual(call.kwargs.map((k) => k.name));
      if (call.tag === "package") {
        expect(labels).toEqual({ nixpkgs: "@nixpkgs", extra: "@extra" });
        expect(repositories).toEqual({ nixpkgs: "nixpkgs", extra: "extra" });
      }
    }
    const jq = m.calls[2]!;
    expect(kwargs({ kwargs: jq.tagKwargs })).toMatchObject({ lock: "//:nixstore.lock.json", nixopts: ["-j1"] });
    // Tags sit at the top level of a MODULE.bazel file, which buildifier formats like BUILD files.
    expect(jq.tagKwargs.find((k) => k.name === "repositories")?.code).toBe(
      '{\n        "extra": "extra",\n        "nixpkgs": "nixpkgs",\n    }',
    );
    expect(jq.kwargs.find((k) => k.name === "repositories")?.code).toBe('{"extra": "@extra", "nixpkgs": "@nixpkgs"}');
  });

  it("uses only attributes that the rule model declares", () => {
    const m = model(`{
  nixpkgs: { a: { url: "https://x/a.tgz", sha256: "${"0".repeat(64)}", stripPrefix: "a" }, b: { nixFileContent: "x" } },
  packages: { p: { nixFile: "//:p.nix", nixFileDeps: ["//:q.nix"], buildFileContent: "", nixopts: ["-j1"], failNotSupported: false, repositories: { nixpkgs: "a", b: "b" } } },
  store: "system",
}`, { lockFile: true, discovered: {} });
    for (const call of m.calls) {
      const rule = RULES.find((r) => r.name === call.rule);
      const names = new Set(["name", ...(rule?.attrs.map((a) => a.name) ?? [])]);
      for (const k of call.kwargs) expect(names, `${call.rule}.${k.name}`).toContain(k.name);
    }
    expect(kwargs(m.calls[2])).toMatchObject({ store: "system", lock: "//:nixstore.lock.json", build_file_content: "" });
    expect(kwargs(m.calls[2])).not.toHaveProperty("attribute_path");
  });

  it("passes escapingSymlinks on as escaping_symlinks, to the rule and to the tag", () => {
    const m = model(`{ nixpkgs: { nixpkgs: { local: "//:n.nix" } }, packages: { strict: { escapingSymlinks: "fail" }, plain: {} } }`);
    const [strict, plain] = m.calls.slice(1);
    expect(kwargs(strict)).toMatchObject({ escaping_symlinks: "fail" });
    expect(kwargs({ kwargs: strict!.tagKwargs })).toMatchObject({ escaping_symlinks: "fail" });
    expect(kwargs(plain)).not.toHaveProperty("escaping_symlinks");
  });

  it("passes packedClosure on as packed_closure, to the rule and to the tag, and only when set", () => {
    const m = model(`{ nixpkgs: { nixpkgs: { local: "//:n.nix" } }, packages: { big: { packedClosure: true }, plain: {} } }`);
    const [big, plain] = m.calls.slice(1);
    expect(kwargs(big)).toMatchObject({ packed_closure: true });
    expect(kwargs({ kwargs: big!.tagKwargs })).toMatchObject({ packed_closure: true });
    expect(kwargs(plain)).not.toHaveProperty("packed_closure");
  });

  it("leaves store and lock out by default", () => {
    const call = model(`{ nixpkgs: { nixpkgs: { local: "//:n.nix" } }, packages: { jq: {} } }`).calls[1];
    expect(kwargs(call)).not.toHaveProperty("store");
    expect(kwargs(call)).not.toHaveProperty("lock");
  });

  it("turns remote settings into --config=nixstore-remote flags, exec properties sorted", () => {
    const m = model(`{ remote: { strategy: "launcher", executor: "grpc://bb:8980", execProperties: { b: "2", a: "1" } } }`);
    expect(m.remote).toEqual({
      config: "nixstore-remote",
      flags: [
        "--remote_executor=grpc://bb:8980",
        "--remote_default_exec_properties=a=1",
        "--remote_default_exec_properties=b=2",
        "--spawn_strategy=remote",
        "--remote_local_fallback=false",
        "--incompatible_strict_action_env",
      ],
      fetch: null,
    });
    expect(model("{}").remote).toBeNull();
    expect(model("{}").remotable).toBeNull();
  });

  it("declares remotable packages with their build platform, no lock, and the executor for fetching commands too", () => {
    const m = model(
      `{
  nixpkgs: { nixpkgs: { local: "//:n.nix" }, extra: { nixFileContent: "x" } },
  packages: { jq: {}, two: { repositories: { nixpkgs: "nixpkgs", extra: "extra" } }, own: { nixFile: "//:own.nix" } },
  remote: { strategy: "remotable", executor: "grpc://bb:8980", instanceName: "i", nixBuildExecProperties: { pool: "nix" }, maxClosureMib: 64 },
}`,
      { lockFile: true, discovered: {} },
    );
    expect(m.loads).toEqual(["nixpkgs_local_repository"]);
    expect(m.remotable).toEqual({
      strategy: "remotable",
      sharedStore: false,
      bzl: "@rules_nixstore//rules:remotable.bzl",
      extension: { bzl: "@rules_nixstore//rules:remotable_extensions.bzl", name: "nixstore_remotable" },
      sourceNames: ["extra", "nixpkgs"],
      flag: "--experimental_repo_remote_exec",
    });
    const [jq, two, own] = m.packageCalls;
    // The lock file does not apply to remotable packages: no lock attribute although it exists.
    expect(kwargs(jq)).toEqual({
      name: "jq",
      attribute_path: "jq",
      exec_properties: { pool: "nix" },
      max_closure_mib: 64,
      remotable: true,
      repositories: { nixpkgs: "@nixpkgs" },
    });
    // The tag names the sources by label (repositories of the nixstore extension).
    expect(kwargs({ kwargs: jq!.tagKwargs })).toMatchObject({ repository: "@nixpkgs" });
    expect(kwargs({ kwargs: jq!.tagKwargs })).not.toHaveProperty("remotable");
    expect(kwargs({ kwargs: two!.tagKwargs })).toMatchObject({
      repositories: { "@nixpkgs": "nixpkgs", "@extra": "extra" },
    });
    expect(kwargs({ kwargs: own!.tagKwargs })).toMatchObject({ nix_file: "//:own.nix", repository: "@nixpkgs" });
    expect(m.remote?.fetch).toEqual({
      commands: ["fetch", "query", "sync"],
      flags: ["--remote_executor=grpc://bb:8980", "--remote_instance_name=i"],
    });
    expect(m.remote?.flags[0]).toBe("--remote_executor=grpc://bb:8980");
  });

  it("declares shared-store packages as remotable ones that keep their closure in the pool's store, and sends consumers to the pool", () => {
    const config = (execProperties: string) => `{
  nixpkgs: { nixpkgs: { local: "//:n.nix" } },
  packages: { jq: {} },
  remote: { strategy: "shared-store", executor: "grpc://bb:8980", nixBuildExecProperties: { pool: "nix", OSFamily: "linux" }${execProperties} },
}`;
    const m = model(config(""), { lockFile: true, discovered: {} });
    expect(m.remotable).toMatchObject({ strategy: "shared-store", sharedStore: true, flag: "--experimental_repo_remote_exec" });
    const [jq] = m.packageCalls;
    expect(kwargs(jq)).toEqual({
      name: "jq",
      attribute_path: "jq",
      exec_properties: { OSFamily: "linux", pool: "nix" },
      remotable: true,
      remote_closure: "shared-store",
      repositories: { nixpkgs: "@nixpkgs" },
    });
    expect(kwargs({ kwargs: jq!.tagKwargs })).toEqual({
      name: "jq",
      attribute_path: "jq",
      exec_properties: { OSFamily: "linux", pool: "nix" },
      remote_closure: "shared-store",
      repository: "@nixpkgs",
    });
    // The consumers' actions run on the pool whose store holds the closures.
    expect(m.remote?.flags).toEqual([
      "--remote_executor=grpc://bb:8980",
      "--remote_default_exec_properties=OSFamily=linux",
      "--remote_default_exec_properties=pool=nix",
      "--spawn_strategy=remote",
      "--remote_local_fallback=false",
      "--incompatible_strict_action_env",
    ]);
    expect(m.remote?.fetch).toEqual({ commands: ["fetch", "query", "sync"], flags: ["--remote_executor=grpc://bb:8980"] });
    // Given execProperties select the consumers' executors instead.
    const given = model(config(`, execProperties: { pool: "nix-runners" }`), { lockFile: false, discovered: {} });
    expect(given.remote?.flags.filter((f) => f.startsWith("--remote_default_exec_properties"))).toEqual([
      "--remote_default_exec_properties=pool=nix-runners",
    ]);
    // Strategy remotable leaves remote_closure at the rule's default, "fetch".
    const remotable = model(config("").replace('"shared-store"', '"remotable"'), { lockFile: false, discovered: {} });
    expect(kwargs(remotable.packageCalls[0])).not.toHaveProperty("remote_closure");
    expect(remotable.remote?.flags).not.toContain("--remote_default_exec_properties=pool=nix");
  });
});

describe("workspace model: the C/C++ toolchain", () => {
  const LOCAL = `nixpkgs: { nixpkgs: { local: "//:n.nix" } }`;

  it("declares @local_config_cc by default: nixpkgs_cc_configure after the packages, registering by its default", () => {
    const m = model(`{ ${LOCAL}, packages: { jq: {} }, ccToolchain: {} }`);
    expect(m.calls.map((c) => [c.rule, c.name])).toEqual([
      ["nixpkgs_local_repository", "nixpkgs"],
      ["nixpkgs_package", "jq"],
      ["nixpkgs_cc_configure", "local_config_cc"],
    ]);
    expect(m.loads).toEqual(["nixpkgs_cc_configure", "nixpkgs_local_repository", "nixpkgs_packages"]);
    // Every attribute left to the rule's default, register = True included.
    expect(kwargs(m.ccToolchain?.call)).toEqual({ name: "local_config_cc", repositories: { nixpkgs: "@nixpkgs" } });
    expect(m.ccToolchain?.toolchainsRepository).toBe("local_config_cc_toolchains");
    expect(m.ccToolchain?.register).toBe("@local_config_cc_toolchains//:all");
    expect(model(`{ ${LOCAL} }`).ccToolchain).toBeNull();
  });

  it("passes every key on under the model's attribute names, to the macro and to the tag alike", () => {
    const m = model(
      `{
  ${LOCAL},
  ccToolchain: {
    name: "nix_cc", attributePath: "clangStdenv.cc", nixFile: "//:cc.nix", nixFileDeps: ["//:lib.nix"], nixopts: ["-j1"],
    quiet: true, failNotSupported: false, ccLang: "c++", ccStd: "c++20", packedClosure: false,
    execConstraints: ["@platforms//os:linux"], targetConstraints: ["@platforms//cpu:x86_64"],
  },
  store: "system",
}`,
      { lockFile: true, discovered: { "//:cc.nix": { label: "//:cc.nix", deps: ["//:found.nix"], notes: [] } } },
    );
    const call = m.ccToolchain!.call;
    expect(kwargs(call)).toEqual({
      name: "nix_cc",
      attribute_path: "clangStdenv.cc",
      cc_lang: "c++",
      cc_std: "c++20",
      exec_constraints: ["@platforms//os:linux"],
      fail_not_supported: false,
      nix_file: "//:cc.nix",
      nix_file_deps: ["//:found.nix", "//:lib.nix"],
      nixopts: ["-j1"],
      packed_closure: false,
      quiet: true,
      repositories: { nixpkgs: "@nixpkgs" },
      store: "system",
      target_constraints: ["@platforms//cpu:x86_64"],
    });
    // No lock: nixgen lock does not pin the toolchain, and the label would refetch it on every lock.
    expect(kwargs(call)).not.toHaveProperty("lock");
    const tag = NIXPKGS_CC_CONFIGURE.tag;
    expect(call.tag).toBe(tag.name);
    const tagNames = new Set([
      "name",
      ...NIXPKGS_CC_CONFIGURE.attrs.map((a) => a.name).filter((n) => !(tag.omit ?? []).includes(n)),
      ...tag.replace.map((a) => a.name),
    ]);
    for (const k of call.tagKwargs) expect(tagNames, `cc_configure.${k.name}`).toContain(k.name);
    const { repositories, ...rest } = kwargs({ kwargs: call.tagKwargs });
    const { repositories: labels, ...same } = kwargs(call);
    expect(rest).toEqual(same);
    expect([repositories, labels]).toEqual([{ nixpkgs: "nixpkgs" }, { nixpkgs: "@nixpkgs" }]);
  });

  it("runs programs under @<name>_toolchains//:runtime and links exec tools statically; --crosstool_top only for another name under WORKSPACE", () => {
    expect(model(`{ ${LOCAL}, ccToolchain: {} }`).ccToolchain).toMatchObject({
      flags: ["--run_under=@local_config_cc_toolchains//:runtime", "--host_linkopt=-static"],
      crosstoolFlags: [],
    });
    expect(model(`{ ${LOCAL}, ccToolchain: { name: "nix_cc" } }`).ccToolchain).toMatchObject({
      flags: ["--run_under=@nix_cc_toolchains//:runtime", "--host_linkopt=-static"],
      crosstoolFlags: ["--crosstool_top=@nix_cc//:toolchain", "--host_crosstool_top=@nix_cc//:toolchain"],
    });
    // bzlmod imports only <name>_toolchains, which names the runtime too; Bazel 7 resolves C++ toolchains.
    expect(model(`{ ${LOCAL}, ccToolchain: { name: "nix_cc" }, bzlmod: true }`).ccToolchain).toMatchObject({
      flags: ["--run_under=@nix_cc_toolchains//:runtime", "--host_linkopt=-static"],
      crosstoolFlags: [],
    });
  });
});

describe("starlarkLayout", () => {
  it("writes lists of several items one a line, and multi-line text triple-quoted", () => {
    expect(starlarkLayout(["a", "b"], "    ")).toBe('[\n        "a",\n        "b",\n    ]');
    expect(starlarkLayout(["a", "b"], "", "module")).toBe('[\n    "a",\n    "b",\n]');
    expect(starlarkLayout(["a"], "")).toBe('["a"]');
    expect(starlarkLayout("x\ny\n", "")).toBe('"""\\\nx\ny\n"""');
  });

  it("keeps dicts on one line in .bzl files, and one entry a line in MODULE.bazel files from two entries on", () => {
    expect(starlarkLayout({ b: "2", a: "1" }, "")).toBe('{"a": "1", "b": "2"}');
    expect(starlarkLayout({ b: "2", a: "1" }, "", "module")).toBe('{\n    "a": "1",\n    "b": "2",\n}');
    expect(starlarkLayout({ a: "1" }, "", "module")).toBe('{"a": "1"}');
  });

  it("falls back to an escaped string where triple quotes would change the text", () => {
    for (const text of ['a\\nb\n', 'say """hi"""\n', 'ends with a quote\n"', "tab\tok\n\u0001"]) {
      expect(starlarkLayout(text, "").startsWith('"""')).toBe(false);
    }
  });
});
