import path from "node:path";
import {
  BUILD_RULES,
  EXTENSION_TAGS,
  HEADER,
  LOGICAL_STORE_DIR,
  REFRESH_COMMAND,
  RULES,
  STORE_DIRNAME,
  TAG_NAME_ATTR,
  libraryConstants,
  validateRules,
  type AttrSpec,
  type BuildRuleSpec,
  type ExtensionTagSpec,
  type RuleSpec,
  type StarlarkValue,
} from "./model/index.js";
import { IMPLICIT_DEFAULTS } from "./model/rules.js";
import { sameValue } from "./model/validate.js";
import type { Renderer } from "./render/index.js";
import { referenceView } from "./reference.js";
import type { OutputFile } from "./write/index.js";

/** One generated file of the rule library. */
export interface LibraryOutput {
  /** Path relative to the rules_nixstore root. */
  readonly path: string;
  /** Template path relative to the templates directory. */
  readonly template: string;
  /** What the template is rendered from besides itself, named in the header's source line. */
  readonly from: "generator/model" | "package.json" | null;
}

/** The rule library's generated files: what `nixgen generate` writes and `--check` checks. */
export const LIBRARY_OUTPUTS: readonly LibraryOutput[] = [
  {
    path: "rules/private/attrs.bzl",
    template: "rules/private/attrs.bzl.hbs",
    from: "generator/model",
  },
  {
    path: "rules/private/constants.bzl",
    template: "rules/private/constants.bzl.hbs",
    from: "generator/model",
  },
  {
    // The reference of every public rule, macro, tag and attribute (docs/), from the model.
    path: "docs/reference.md",
    template: "docs/reference.md.hbs",
    from: "generator/model",
  },
  {
    // The module's version is package.json's: one fact in one place. No bazel_dep: the rules
    // load nothing outside @bazel_tools.
    path: "MODULE.bazel",
    template: "MODULE.bazel.hbs",
    from: "package.json",
  },
];

/** A keyword argument of an `attr.<type>(...)` call, in the order rendered. */
interface Kwarg {
  readonly name: string;
  readonly value: StarlarkValue;
}

/** Template view of one attribute. */
interface AttrView {
  readonly name: string;
  readonly type: string;
  readonly kwargs: readonly Kwarg[];
}

/** Template view of one rule. */
interface RuleView {
  readonly name: string;
  readonly prefix: string;
  readonly doc: string;
  readonly attrs: readonly AttrView[];
  /** The extension's tag class of the rule: its name, doc and attributes (with `name`). */
  readonly tag: { readonly name: string; readonly doc: string; readonly attrs: readonly AttrView[] };
}


function attrView(attr: AttrSpec): AttrView {
  return { name: attr.name, type: attr.type, kwargs: attrKwargs(attr) };
}

/** The tag's attributes: `name`, then the rule's but those it omits, with the tag's replacements. */
function tagAttrs(rule: RuleSpec): AttrSpec[] {
  const replaced = new Map(rule.tag.replace.map((a) => [a.name, a]));
  const omitted = new Set(rule.tag.omit ?? []);
  return [TAG_NAME_ATTR, ...rule.attrs.filter((a) => !omitted.has(a.name)).map((a) => replaced.get(a.name) ?? a)];
}

/**
 * Keyword arguments of an attribute's `attr.*` call, sorted by name; `default` and
 * `mandatory` only where they differ from what Bazel assumes anyway.
 */
function attrKwargs(attr: AttrSpec): Kwarg[] {
  const kwargs: Kwarg[] = [];
  if (attr.allowSingleFile) kwargs.push({ name: "allow_single_file", value: attr.allowSingleFile });
  if (attr.allowFiles) kwargs.push({ name: "allow_files", value: true });
  if (attr.cfg) kwargs.push({ name: "cfg", value: attr.cfg });
  if (attr.executable) kwargs.push({ name: "executable", value: true });
  if (!sameValue(attr.default, IMPLICIT_DEFAULTS[attr.type])) {
    kwargs.push({ name: "default", value: attr.default });
  }
  kwargs.push({ name: "doc", value: attr.doc });
  if (attr.mandatory) kwargs.push({ name: "mandatory", value: true });
  if (attr.values) kwargs.push({ name: "values", value: attr.values });
  return kwargs.sort(byName);
}

/** Orders by name in code-unit order, independent of the locale. */
function byName(a: { readonly name: string }, b: { readonly name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** Template view of a build rule or another extension's tag: a doc and its attributes. */
interface AttrsView {
  readonly name: string;
  readonly prefix: string;
  readonly doc: string;
  readonly attrs: readonly AttrView[];
}

function buildRuleView(rule: BuildRuleSpec): AttrsView {
  return { name: rule.name, prefix: rule.starlarkPrefix, doc: rule.doc, attrs: [...rule.attrs].sort(byName).map(attrView) };
}

/** An extension tag's attributes: `name`, the base rule's but those omitted (replaced where given), its own. */
export function extensionTagAttrs(tag: ExtensionTagSpec): AttrSpec[] {
  const replaced = new Map(tag.replace.map((a) => [a.name, a]));
  const omitted = new Set(tag.omit);
  return [TAG_NAME_ATTR, ...tag.base.attrs.filter((a) => !omitted.has(a.name)).map((a) => replaced.get(a.name) ?? a), ...tag.add];
}

function extensionTagView(tag: ExtensionTagSpec): AttrsView {
  return { name: tag.name, prefix: tag.starlarkPrefix, doc: tag.doc, attrs: extensionTagAttrs(tag).sort(byName).map(attrView) };
}

function ruleView(rule: RuleSpec): RuleView {
  return {
    name: rule.name,
    prefix: rule.starlarkPrefix,
    doc: rule.doc,
    attrs: [...rule.attrs].sort(byName).map(attrView),
    tag: { name: rule.tag.name, doc: rule.tag.doc, attrs: tagAttrs(rule).sort(byName).map(attrView) },
  };
}

/**
 * The context every library template gets. Besides `generated` (added by the renderer for
 * the header partial), templates may use:
 * - `rules`: [{ name, prefix, doc, attrs: [{ name, type, kwargs: [{ name, value }] }], tag }],
 *   where `tag` is { name, doc, attrs } of the rule's tag class in the module extension
 * - `constants`: [{ name, value, doc }] as in constants.bzl
 * - `store`: { dirname: "nixstore", logicalDir: "/nix/store" }
 * - `version`: the package version
 */
export function libraryContext(version: string, rules: readonly RuleSpec[] = RULES): object {
  const problems = validateRules(rules, BUILD_RULES, EXTENSION_TAGS);
  if (problems.length > 0) {
    throw new Error(`the rule model is inconsistent:\n  ${problems.join("\n  ")}`);
  }
  return {
    rules: rules.map(ruleView),
    buildRules: BUILD_RULES.map(buildRuleView),
    extensionTags: EXTENSION_TAGS.map(extensionTagView),
    reference: referenceView(rules),
    constants: libraryConstants(version),
    store: { dirname: STORE_DIRNAME, logicalDir: LOGICAL_STORE_DIR },
    version,
  };
}

/** Renders every library output to its final bytes. */
export function renderLibrary(renderer: Renderer, version: string): OutputFile[] {
  const context = libraryContext(version);
  const templatesName = path.basename(renderer.templatesDir);
  return LIBRARY_OUTPUTS.map((output) => {
    const templateRef = `${templatesName}/${output.template}`;
    const source = output.from === null ? templateRef : `${output.from} + ${templateRef}`;
    return {
      path: output.path,
      content: renderer.render(output.template, context, {
        header: HEADER,
        source,
        refresh: REFRESH_COMMAND,
      }),
    };
  });
}
