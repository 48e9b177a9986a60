/**
 * The reference of the public API (docs/reference.md): every rule, macro and tag users load,
 * with each attribute's name, type, default and doc, all read from the model (generator/model),
 * so that the reference and the rules cannot drift apart (`nixgen --check` fails when the
 * generated file is stale).
 */
import {
  BUILD_RULES,
  EXTENSION_TAGS,
  NIXPKGS_CC_CONFIGURE,
  NIXPKGS_GIT_REPOSITORY,
  NIXPKGS_HTTP_REPOSITORY,
  NIXPKGS_LOCAL_REPOSITORY,
  NIXPKGS_PACKAGE,
  TAG_NAME_ATTR,
  type AttrSpec,
  type RuleSpec,
  type StarlarkAttrType,
} from "./model/index.js";
import { starlarkValue } from "./render/starlark.js";

/** One row of an attribute table. */
interface AttrRow {
  readonly name: string;
  readonly type: string;
  readonly default: string;
  readonly doc: string;
}

/** One entry of the reference: a rule, macro or tag, how to load it, and its attributes. */
interface Entry {
  readonly name: string;
  readonly anchor: string;
  readonly kind: string;
  readonly usage: string;
  readonly doc: string;
  readonly attrs: readonly AttrRow[];
}

interface Section {
  readonly title: string;
  readonly anchor: string;
  readonly doc: string;
  readonly entries: readonly Entry[];
}

const TYPE_NAMES: Record<StarlarkAttrType, string> = {
  bool: "bool",
  int: "int",
  label: "label",
  label_keyed_string_dict: "dict: label → string",
  label_list: "list of labels",
  string: "string",
  string_dict: "dict: string → string",
  string_list: "list of strings",
};

/** Text for a Markdown table cell: no pipe or newline may end it early. */
function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

function row(attr: AttrSpec): AttrRow {
  const constraint = attr.values ? ` (one of ${attr.values.map((v) => `\`"${v}"\``).join(", ")})` : "";
  return {
    name: `\`${attr.name}\``,
    type: cell(TYPE_NAMES[attr.type] + constraint),
    default: attr.mandatory ? "required" : cell(`\`${starlarkValue(attr.default)}\``),
    doc: cell(attr.doc),
  };
}

function rows(attrs: readonly AttrSpec[], first: readonly AttrSpec[] = []): AttrRow[] {
  const byName = (a: AttrSpec, b: AttrSpec) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return [...first, ...[...attrs].sort(byName)].map(row);
}

/** The name every repository rule and tag takes. */
function nameAttr(doc: string, dflt?: string): AttrSpec {
  return dflt === undefined
    ? { name: "name", type: "string", default: "", mandatory: true, doc }
    : { name: "name", type: "string", default: dflt, mandatory: false, doc };
}

const REPO_NAME = nameAttr("The repository's name: `@<name>//...` in labels.");

function entry(name: string, kind: string, usage: string, doc: string, attrs: AttrRow[], anchor = name): Entry {
  return { name, anchor: anchor.replace(/[^a-z0-9_.-]/g, "").replace(/[_.]/g, "-"), kind, usage, doc, attrs };
}

function repositoryRule(rule: RuleSpec, kind: string, usage: string, first: AttrSpec[] = [REPO_NAME]): Entry {
  return entry(rule.name, kind, usage, rule.doc, rows(rule.attrs, first));
}

/** The attributes of a remotable package (its tag's, which the remotable macro takes too). */
function remotableAttrs(): AttrSpec[] {
  const tag = EXTENSION_TAGS[0]!;
  const replaced = new Map(tag.replace.map((a) => [a.name, a]));
  return [...tag.base.attrs.filter((a) => !tag.omit.includes(a.name)).map((a) => replaced.get(a.name) ?? a), ...tag.add];
}

/** The tag's attributes: `name`, the rule's but those omitted, the tag's replacements. */
function tagAttrs(rule: RuleSpec): AttrSpec[] {
  const replaced = new Map(rule.tag.replace.map((a) => [a.name, a]));
  const omitted = new Set(rule.tag.omit ?? []);
  return rule.attrs.filter((a) => !omitted.has(a.name)).map((a) => replaced.get(a.name) ?? a);
}

const DEFS = '`load("@rules_nixstore//rules:defs.bzl", ...)`';

function workspaceSection(rules: readonly RuleSpec[]): Section {
  const has = (r: RuleSpec) => rules.includes(r);
  const entries: Entry[] = [];
  if (has(NIXPKGS_PACKAGE)) {
    entries.push(repositoryRule(NIXPKGS_PACKAGE, "macro", DEFS));
    entries.push(
      entry(
        "nixpkgs_packages",
        "macro",
        DEFS,
        "Several `nixpkgs_package`s, those of one nixpkgs (same `repository`/`repositories`, `store` " +
          "and Nix settings, no Nix files of their own) evaluated together in one Nix process; each " +
          "takes the attributes of `nixpkgs_package` above.",
        [{ name: "`packages`", type: "list of dicts", default: "required", doc: "One dict per package: the keyword arguments of a `nixpkgs_package` call, `name` included." }],
      ),
    );
  }
  for (const r of [NIXPKGS_LOCAL_REPOSITORY, NIXPKGS_HTTP_REPOSITORY, NIXPKGS_GIT_REPOSITORY].filter(has)) {
    entries.push(repositoryRule(r, "repository rule", DEFS));
  }
  if (has(NIXPKGS_PACKAGE)) {
    const remotable: AttrSpec = {
      name: "remotable",
      type: "bool",
      default: false,
      mandatory: false,
      doc: "True: the package's Nix build runs where Bazel runs remotable repository rules (`--experimental_repo_remote_exec` and `--remote_executor`); the client runs no Nix command for it.",
    };
    entries.push(
      entry(
        "nixpkgs_package",
        "remotable macro",
        '`load("@rules_nixstore//rules:remotable.bzl", "nixpkgs_package")` (needs `--experimental_repo_remote_exec` on every command)',
        EXTENSION_TAGS[0]!.doc,
        rows([...remotableAttrs(), remotable], [REPO_NAME]),
        "nixpkgs_package-remotable",
      ),
    );
  }
  if (has(NIXPKGS_CC_CONFIGURE)) {
    entries.push(
      repositoryRule(NIXPKGS_CC_CONFIGURE, "macro", DEFS, [
        nameAttr("The toolchain repository's name; `<name>_toolchains` holds its `toolchain` targets and `:runtime`.", "local_config_cc"),
      ]),
    );
  }
  entries.push(
    entry(
      "rules_nixstore_dependencies",
      "macro",
      '`load("@rules_nixstore//rules:repositories.bzl", ...)`',
      "Declares the repositories rules_nixstore needs under WORKSPACE (none today); call it after loading, so that later versions can add some.",
      [],
    ),
  );
  return { title: "WORKSPACE (Bazel 4.2.3 and later)", anchor: "workspace", doc: "What a `WORKSPACE` file loads and calls.", entries };
}

function bzlmodSection(rules: readonly RuleSpec[]): Section {
  const usage = '`nixstore = use_extension("@rules_nixstore//rules:extensions.bzl", "nixstore")`';
  const entries = rules.map((r) => entry(`nixstore.${r.tag.name}`, "tag", usage, r.tag.doc, rows(tagAttrs(r), [TAG_NAME_ATTR])));
  for (const tag of EXTENSION_TAGS) {
    entries.push(
      entry(
        `${tag.extension}.${tag.name}`,
        "tag",
        `\`${tag.extension} = use_extension("${tag.bzlFile}", "${tag.extension}")\``,
        tag.doc,
        rows(remotableAttrs(), [TAG_NAME_ATTR]),
      ),
    );
  }
  return { title: "bzlmod (Bazel 7 and later)", anchor: "bzlmod", doc: "The module extensions' tags, in `MODULE.bazel`.", entries };
}

function buildRulesSection(): Section {
  return {
    title: "Build rules",
    anchor: "build-rules",
    doc: "Rules of BUILD files: package repositories declare these for their executables; a toolchain's runtime is one.",
    entries: BUILD_RULES.map((r) =>
      entry(r.name, "rule", `\`load("@rules_nixstore//rules:defs.bzl", "${r.name}")\``, r.doc, rows(r.attrs, [nameAttr("The target's name.")])),
    ),
  };
}

/** The reference's sections, for docs/reference.md.hbs. */
export function referenceView(rules: readonly RuleSpec[]): readonly Section[] {
  return [workspaceSection(rules), bzlmodSection(rules), buildRulesSection()];
}
