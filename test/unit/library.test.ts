import fs from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { checkLibrary, renderLibraryFiles } from "../../generator/generate.js";
import { LIBRARY_OUTPUTS, libraryContext } from "../../generator/library.js";
import {
  BUILD_RULES,
  EXTENSION_TAGS,
  NIXPKGS_PACKAGE,
  RULES,
  libraryConstants,
  type AttrSpec,
  type RuleSpec,
  type StarlarkValue,
} from "../../generator/model/index.js";
import { extensionTagAttrs } from "../../generator/library.js";
import { starlarkString, starlarkValue } from "../../generator/render/starlark.js";
import { REPO_ROOT } from "./support.js";

function rendered(file: string): string {
  const out = renderLibraryFiles().find((f) => f.path === file);
  if (!out) throw new Error(`no output ${file}`);
  return out.content as string;
}

/** Bazel's own defaults of each attr type: a `default =` equal to these says nothing. */
const BAZEL_DEFAULTS: Record<string, StarlarkValue> = {
  bool: false,
  int: 0,
  label: null,
  label_keyed_string_dict: {},
  label_list: [],
  string: "",
  string_dict: {},
  string_list: [],
};

/** One `"name": attr.<type>(...)` entry of a rendered dict: its type and keyword arguments as written. */
interface RenderedAttr {
  readonly type: string;
  readonly kwargs: Record<string, string>;
}

/**
 * The top-level assignments of a rendered attrs.bzl: a dict of attr calls (`<X>_ATTRS = {`,
 * parsed to its entries, in order) or a one-line value. Throws on any line it cannot place.
 */
function parseAttrsBzl(text: string): Map<string, string | Map<string, RenderedAttr>> {
  const out = new Map<string, string | Map<string, RenderedAttr>>();
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const dict = /^([A-Z_]+) = \{$/.exec(line);
    const value = /^([A-Z_]+) = (.+)$/.exec(line);
    if (dict) {
      const entries = new Map<string, RenderedAttr>();
      for (i++; lines[i] !== "}"; i++) {
        const entry = /^ {4}"(\w+)": attr\.(\w+)\($/.exec(lines[i]!);
        if (!entry) throw new Error(`${dict[1]}: line ${i + 1} is no attribute: ${lines[i]}`);
        const kwargs: Record<string, string> = {};
        for (i++; lines[i] !== "    ),"; i++) {
          const kwarg = /^ {8}(\w+) = (.+),$/.exec(lines[i]!);
          if (!kwarg) throw new Error(`${dict[1]}.${entry[1]}: line ${i + 1} is no keyword argument: ${lines[i]}`);
          kwargs[kwarg[1]!] = kwarg[2]!;
        }
        entries.set(entry[1]!, { type: entry[2]!, kwargs });
      }
      out.set(dict[1]!, entries);
    } else if (value) {
      out.set(value[1]!, value[2]!);
    }
  }
  return out;
}

/** What the rendered call of an attribute must say: each fact of the model, and nothing Bazel assumes anyway. */
function expectedKwargs(attr: AttrSpec): Record<string, string> {
  const kwargs: Record<string, string> = { doc: starlarkString(attr.doc) };
  if (JSON.stringify(attr.default) !== JSON.stringify(BAZEL_DEFAULTS[attr.type])) kwargs.default = starlarkValue(attr.default);
  if (attr.mandatory) kwargs.mandatory = "True";
  if (attr.values) kwargs.values = starlarkValue(attr.values);
  if (attr.allowSingleFile) kwargs.allow_single_file = starlarkValue(attr.allowSingleFile);
  if (attr.allowFiles) kwargs.allow_files = "True";
  if (attr.executable) kwargs.executable = "True";
  if (attr.cfg) kwargs.cfg = starlarkValue(attr.cfg);
  return kwargs;
}

/** The attributes of a rule's tag class: its own `name`, the rule's but those it omits, with its replacements. */
function expectedTagAttrs(rule: RuleSpec): AttrSpec[] {
  const replaced = new Map(rule.tag.replace.map((a) => [a.name, a]));
  const omitted = new Set(rule.tag.omit ?? []);
  return rule.attrs.filter((a) => !omitted.has(a.name)).map((a) => replaced.get(a.name) ?? a);
}

function expectDict(dicts: Map<string, string | Map<string, RenderedAttr>>, name: string, attrs: readonly AttrSpec[]): Map<string, RenderedAttr> {
  const dict = dicts.get(name);
  if (!(dict instanceof Map)) throw new Error(`attrs.bzl has no dict ${name}`);
  const keys = [...dict.keys()];
  expect(keys, `${name}: sorted`).toEqual([...keys].sort());
  expect(keys, `${name}: the model's attributes`).toEqual(expect.arrayContaining(attrs.map((a) => a.name)));
  for (const attr of attrs) {
    const got = dict.get(attr.name)!;
    expect(got.type, `${name}.${attr.name}: type`).toBe(attr.type);
    expect(got.kwargs, `${name}.${attr.name}: keyword arguments`).toEqual(expectedKwargs(attr));
    expect(Object.keys(got.kwargs), `${name}.${attr.name}: keyword arguments sorted`).toEqual(Object.keys(got.kwargs).sort());
  }
  return dict;
}

describe("rule library outputs", () => {
  it("finds every generated file in the repository fresh (npm run check would pass)", () => {
    expect(checkLibrary(REPO_ROOT)).toEqual([]);
  });

  it("starts every output with the generated-by header (in an HTML comment in Markdown)", () => {
    for (const output of LIBRARY_OUTPUTS) {
      const lines = rendered(output.path).split("\n");
      const [first, second] = output.path.endsWith(".md") ? [lines[1]?.trim(), lines[2]?.trim()] : [lines[0], lines[1]];
      if (output.path.endsWith(".md")) expect(lines[0]).toBe("<!--");
      expect(first).toMatch(/^#? ?generated by nixgen — do not edit$/);
      expect(second).toMatch(/^#? ?source: .*templates\/.*; refresh with: npm run generate$/);
    }
  });

  it("renders each build rule as <PREFIX>_DOC and <PREFIX>_ATTRS, and each other extension's tag with a mandatory name", () => {
    const dicts = parseAttrsBzl(rendered("rules/private/attrs.bzl"));
    for (const rule of BUILD_RULES) {
      expect(dicts.get(`${rule.starlarkPrefix}_DOC`), rule.name).toBe(starlarkString(rule.doc));
      expect(expectDict(dicts, `${rule.starlarkPrefix}_ATTRS`, rule.attrs).size).toBe(rule.attrs.length);
    }
    for (const tag of EXTENSION_TAGS) {
      const attrs = extensionTagAttrs(tag).filter((a) => a.name !== "name");
      const dict = expectDict(dicts, `${tag.starlarkPrefix}_ATTRS`, attrs);
      expect([...dict.keys()].sort()).toEqual(["name", ...attrs.map((a) => a.name)].sort());
      expect(dict.get("name")).toMatchObject({ type: "string", kwargs: { mandatory: "True" } });
      for (const omitted of tag.omit) expect(dict.has(omitted), `${tag.name} omits ${omitted}`).toBe(false);
    }
  });

  it("renders each rule of the model as <PREFIX>_DOC and <PREFIX>_ATTRS: every attribute with its type, default, doc and constraints", () => {
    const dicts = parseAttrsBzl(rendered("rules/private/attrs.bzl"));
    for (const rule of RULES) {
      expect(dicts.get(`${rule.starlarkPrefix}_DOC`), rule.name).toBe(starlarkString(rule.doc));
      const attrs = expectDict(dicts, `${rule.starlarkPrefix}_ATTRS`, rule.attrs);
      expect(attrs.size, `${rule.name}: no attribute besides the model's`).toBe(rule.attrs.length);
    }
  });

  it("renders each rule's tag class as <PREFIX>_TAG, _TAG_DOC and _TAG_ATTRS: a mandatory name, the rule's attributes but those omitted, replacements applied", () => {
    const dicts = parseAttrsBzl(rendered("rules/private/attrs.bzl"));
    for (const rule of RULES) {
      const p = rule.starlarkPrefix;
      expect(dicts.get(`${p}_TAG`), rule.name).toBe(starlarkString(rule.tag.name));
      expect(dicts.get(`${p}_TAG_DOC`), rule.name).toBe(starlarkString(rule.tag.doc));
      const attrs = expectedTagAttrs(rule);
      const tag = expectDict(dicts, `${p}_TAG_ATTRS`, attrs);
      expect([...tag.keys()].sort(), `${rule.name}'s tag: name and the rule's attributes`).toEqual(["name", ...attrs.map((a) => a.name)].sort());
      expect(tag.get("name")).toMatchObject({ type: "string", kwargs: { mandatory: "True" } });
    }
  });

  it("renders nothing in attrs.bzl but the model's rules, and every constant of it is loaded by a rule", () => {
    const dicts = parseAttrsBzl(rendered("rules/private/attrs.bzl"));
    const expected = [
      ...RULES.flatMap((r) => ["_DOC", "_ATTRS", "_TAG", "_TAG_DOC", "_TAG_ATTRS"].map((s) => r.starlarkPrefix + s)),
      ...[...BUILD_RULES, ...EXTENSION_TAGS].flatMap((r) => ["_DOC", "_ATTRS"].map((s) => r.starlarkPrefix + s)),
    ];
    expect([...dicts.keys()].sort()).toEqual([...expected].sort());
    // A dict no rule loads would be a model that Bazel never sees.
    const rules = fs
      .readdirSync(path.join(REPO_ROOT, "rules"), { recursive: true, encoding: "utf8" })
      .filter((f) => f.endsWith(".bzl") && f !== "private/attrs.bzl")
      .map((f) => fs.readFileSync(path.join(REPO_ROOT, "rules", f), "utf8"))
      .join("\n");
    for (const name of expected.filter((n) => !n.endsWith("_TAG_DOC") && !n.endsWith("_TAG"))) {
      expect(rules, `${name} is loaded by a rule`).toMatch(new RegExp(`load\\([^)]*attrs\\.bzl"[^)]*"${name}"`));
    }
  });

  it("renders every constant of the model into constants.bzl, with its doc", () => {
    const version = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")).version;
    const constants = rendered("rules/private/constants.bzl");
    for (const c of libraryConstants(version)) {
      expect(constants, c.name).toContain(`\n# ${c.doc}\n${c.name} = ${starlarkValue(c.value)}\n`);
    }
  });

  it("gives the package tag repository names where the rule takes labels", () => {
    const attrs = rendered("rules/private/attrs.bzl");
    const tag = attrs.slice(attrs.indexOf("PACKAGE_TAG_ATTRS = {"));
    expect(tag).toMatch(/^ {4}"repositories": attr\.string_dict\(/m);
    expect(tag).toMatch(/^ {4}"repository": attr\.string\(/m);
    const rule = attrs.slice(attrs.indexOf("PACKAGE_ATTRS = {"), attrs.indexOf("LOCAL_REPOSITORY_DOC"));
    expect(rule).toMatch(/^ {4}"repositories": attr\.label_keyed_string_dict\(/m);
  });

  it("writes docs/reference.md with every public rule, macro and tag of the model, each attribute a row with its type, default and doc", () => {
    const doc = rendered("docs/reference.md");
    /** The text of the section `### \`<title>\`` up to the next one. */
    const section = (title: string, kind: string): string => {
      const start = doc.indexOf(`### \`${title}\` (${kind})`);
      expect(start, `${title} (${kind}) has a section`).toBeGreaterThanOrEqual(0);
      const end = doc.indexOf("\n### ", start + 1);
      return doc.slice(start, end < 0 ? undefined : end);
    };
    const expectRows = (text: string, attrs: readonly AttrSpec[], where: string) => {
      for (const a of attrs) {
        const row = text.split("\n").find((l) => l.startsWith(`| \`${a.name}\` |`));
        expect(row, `${where}: a row for ${a.name}`).toBeDefined();
        expect(row, `${where}.${a.name}: its default`).toContain(a.mandatory ? "| required |" : `\`${starlarkValue(a.default)}\``);
        expect(row!.replace(/\\\|/g, "|"), `${where}.${a.name}: its doc`).toContain(a.doc);
      }
    };
    for (const rule of RULES) {
      const kind = rule.name === "nixpkgs_package" || rule.name === "nixpkgs_cc_configure" ? "macro" : "repository rule";
      expectRows(section(rule.name, kind), rule.attrs, rule.name);
      expectRows(section(`nixstore.${rule.tag.name}`, "tag"), expectedTagAttrs(rule), `nixstore.${rule.tag.name}`);
    }
    for (const rule of BUILD_RULES) expectRows(section(rule.name, "rule"), rule.attrs, rule.name);
    for (const tag of EXTENSION_TAGS) {
      expectRows(section(`${tag.extension}.${tag.name}`, "tag"), extensionTagAttrs(tag), `${tag.extension}.${tag.name}`);
    }
    expect(doc).toContain("### `nixpkgs_packages` (macro)");
  });

  it("renders constants.bzl with package.json's version", () => {
    const version = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")).version;
    expect(rendered("rules/private/constants.bzl")).toContain(`\nNIXSTORE_VERSION = "${version}"\n`);
  });

  it("renders the root MODULE.bazel with package.json's version and only the platforms dependency", () => {
    const version = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")).version;
    const module = rendered("MODULE.bazel");
    expect(module).toMatch(/^# generated by nixgen — do not edit\n# source: package\.json \+ templates\/MODULE\.bazel\.hbs;/);
    expect(module).toContain(
      '\nmodule(\n    name = "rules_nixstore",\n' +
        `    version = "${version}",\n` +
        '    bazel_compatibility = [">=7.0.0"],\n    compatibility_level = 1,\n)\n',
    );
    expect(module).toContain('\n"""rules_nixstore: Nix packages as Bazel repositories that carry their runtime closure."""\n');
    // The toolchains' constraints (@platforms//os:linux, //cpu:...) need platforms; nothing else.
    expect([...module.matchAll(/^bazel_dep\(name = "([^"]+)"/gm)].map((m) => m[1])).toEqual(["platforms"]);
    expect(module).not.toMatch(/use_extension|register_toolchains/);
    expect(fs.readFileSync(path.join(REPO_ROOT, "MODULE.bazel"), "utf8")).toBe(module);
  });

  it("refuses an inconsistent model instead of rendering it", () => {
    const broken: RuleSpec = {
      ...NIXPKGS_PACKAGE,
      attrs: [{ name: "quiet", type: "bool", default: 1, mandatory: false, doc: "Quiet." }],
    };
    expect(() => libraryContext("0.0.0", [broken])).toThrow(/default 1 is not a bool/);
  });

  it("renders .bzl files and MODULE.bazel that buildifier --lint=warn --warnings=all accepts as formatted and lint-clean", () => {
    const buildifier = path.join(REPO_ROOT, "node_modules", ".bin", "buildifier");
    const starlark = LIBRARY_OUTPUTS.filter((o) => o.path.endsWith(".bzl") || o.path === "MODULE.bazel");
    expect(starlark.map((o) => o.path)).toContain("MODULE.bazel");
    for (const output of starlark) {
      // Throws (non-zero exit) on a formatting difference or a lint warning.
      execFileSync(
        buildifier,
        ["--lint=warn", "--warnings=all", "--mode=check", `--type=${output.path === "MODULE.bazel" ? "module" : "bzl"}`, `--path=${output.path}`],
        { input: rendered(output.path), stdio: ["pipe", "pipe", "pipe"] },
      );
    }
  });
});
