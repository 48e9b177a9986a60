import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  CC_TOOLCHAIN_NAMES,
  NIXPKGS_HTTP_REPOSITORY,
  NIXPKGS_LOCAL_REPOSITORY,
  NIXPKGS_PACKAGE,
  RULES,
  validateRules,
  type AttrSpec,
  type RuleSpec,
} from "../../generator/model/index.js";
import { REPO_ROOT } from "./support.js";

type Known = Record<string, Pick<AttrSpec, "type" | "default"> & { allowSingleFile?: readonly string[] }>;

/**
 * The parameters of rules_nixpkgs' nixpkgs_package, nixpkgs_local_repository and
 * nixpkgs_http_repository that these rules share, as users write them (the macros' parameters;
 * tweag/rules_nixpkgs core/nixpkgs.bzl at 09627c38, 2026-07-09). Not listed: what rules_nixpkgs
 * has and these rules do not (auth, nix_flake_lock_file, nix_license_path).
 */
const RULES_NIXPKGS: ReadonlyArray<[RuleSpec, Known]> = [
  [
    NIXPKGS_PACKAGE,
    {
      attribute_path: { type: "string", default: "" },
      build_file: { type: "label", default: null },
      build_file_content: { type: "string", default: "" },
      fail_not_supported: { type: "bool", default: true },
      nix_file: { type: "label", default: null, allowSingleFile: [".nix"] },
      nix_file_content: { type: "string", default: "" },
      nix_file_deps: { type: "label_list", default: [] },
      nixopts: { type: "string_list", default: [] },
      quiet: { type: "bool", default: false },
      repositories: { type: "label_keyed_string_dict", default: {} },
      repository: { type: "label", default: null },
    },
  ],
  [
    NIXPKGS_LOCAL_REPOSITORY,
    {
      nix_file: { type: "label", default: null, allowSingleFile: [".nix"] },
      nix_file_content: { type: "string", default: "" },
      nix_file_deps: { type: "label_list", default: [] },
    },
  ],
  [
    NIXPKGS_HTTP_REPOSITORY,
    {
      integrity: { type: "string", default: "" },
      sha256: { type: "string", default: "" },
      strip_prefix: { type: "string", default: "" },
      url: { type: "string", default: "" },
      urls: { type: "string_list", default: [] },
    },
  ],
];

describe("the rule model", () => {
  it("is consistent (names, default types, docs)", () => {
    expect(validateRules(RULES)).toEqual([]);
  });

  it("keeps the names, types and defaults of the attributes users know from rules_nixpkgs", () => {
    // Where a name is rules_nixpkgs', so is its meaning: its type (as users write it) and its
    // default must be the same, or a user's declaration would change meaning when moved here.
    for (const [rule, attrs] of RULES_NIXPKGS) {
      const byName = new Map(rule.attrs.map((a) => [a.name, a]));
      for (const [name, want] of Object.entries(attrs)) {
        const have = byName.get(name);
        expect(have, `${rule.name}.${name}`).toBeDefined();
        expect({ type: have!.type, default: have!.default, allowSingleFile: have!.allowSingleFile }, `${rule.name}.${name}`).toEqual({
          allowSingleFile: undefined,
          ...want,
        });
      }
    }
  });

  it("names the toolchain's repositories and targets as the Starlark rules make them", () => {
    // nixgen writes these names into MODULE.bazel and the bazelrc; the rules are hand-written.
    const read = (file: string) => fs.readFileSync(path.join(REPO_ROOT, file), "utf8");
    const defs = read("rules/defs.bzl");
    const macro = defs.slice(defs.indexOf("def nixpkgs_cc_configure("));
    expect(macro).toMatch(new RegExp(`^\\s+name = "${CC_TOOLCHAIN_NAMES.defaultName}",$`, "m"));
    expect(macro).toContain(`name = name + "${CC_TOOLCHAIN_NAMES.toolchainsSuffix}",`);
    expect(read("rules/private/extension.bzl")).toContain(`name = request.name + "${CC_TOOLCHAIN_NAMES.toolchainsSuffix}",`);
    const build = read("rules/private/cc_configure.bzl");
    expect(build).toContain(`"    name = \\"${CC_TOOLCHAIN_NAMES.runtime}\\",",`);
    expect(build).toContain(`"    name = \\"${CC_TOOLCHAIN_NAMES.suite}\\",",`);
  });

  it("reports a default of the wrong type, a duplicate and a doc that is no sentence", () => {
    const bad: RuleSpec = {
      name: "broken_rule",
      starlarkPrefix: "BROKEN",
      doc: "A rule.",
      tag: {
        name: "broken",
        doc: "A tag.",
        replace: [
          { name: "nope", type: "string", default: "", mandatory: false, doc: "Nope." },
          { name: "name", type: "string", default: "", mandatory: false, doc: "Name." },
        ],
      },
      attrs: [
        { name: "quiet", type: "bool", default: "no", mandatory: false, doc: "Quiet." },
        { name: "quiet", type: "bool", default: false, mandatory: false, doc: "Quiet." },
        { name: "url", type: "string", default: "", mandatory: false, doc: "no period" },
        { name: "f", type: "string", default: "", mandatory: false, doc: "F.", allowSingleFile: [".x"] },
        { name: "mode", type: "string", default: "c", mandatory: false, doc: "M.", values: ["a", "b"] },
        { name: "n", type: "int", default: 0, mandatory: false, doc: "N.", values: ["a"] },
      ],
    };
    const problems = validateRules([bad]);
    expect(problems).toContain('rule broken_rule, attribute quiet: default "no" is not a bool');
    expect(problems).toContain("rule broken_rule, attribute quiet: declared twice");
    expect(problems).toContain('rule broken_rule, attribute url: doc must be sentences ending with "."');
    expect(problems).toContain(
      "rule broken_rule, attribute f: allowSingleFile, allowFiles, executable and cfg apply to label attributes only",
    );
    expect(problems).toContain('rule broken_rule, attribute mode: default "c" is not one of its values');
    expect(problems).toContain("rule broken_rule, attribute n: values applies to string attributes only");
    expect(problems).toContain("rule broken_rule, tag broken, attribute nope: replaces no attribute of the rule");
    expect(problems).toContain("rule broken_rule, tag broken, attribute name: every tag has its own name attribute");
  });
});
