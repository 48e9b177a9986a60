import { IMPLICIT_DEFAULTS } from "./rules.js";
import type { AttrSpec, BuildRuleSpec, ExtensionTagSpec, RuleSpec, StarlarkValue } from "./types.js";

const SNAKE_CASE = /^[a-z][a-z0-9_]*$/;
const CONSTANT_CASE = /^[A-Z][A-Z0-9_]*$/;

/** Whether `value` is a valid default for an attribute of `attr.type`. */
function defaultFits(attr: AttrSpec): boolean {
  const value: StarlarkValue = attr.default;
  const isList = Array.isArray(value);
  const isDict = value !== null && typeof value === "object" && !isList;
  switch (attr.type) {
    case "bool":
      return typeof value === "boolean";
    case "int":
      return typeof value === "number" && Number.isSafeInteger(value);
    case "string":
      return typeof value === "string";
    case "label":
      return value === null || typeof value === "string";
    case "label_list":
    case "string_list":
      return isList && (value as readonly StarlarkValue[]).every((v) => typeof v === "string");
    case "label_keyed_string_dict":
    case "string_dict":
      return isDict && Object.values(value).every((v) => typeof v === "string");
  }
}

/**
 * Checks the model's invariants and returns one message per problem (empty when sound):
 * unique snake_case names, defaults of the attribute's type, docs written as sentences,
 * `allowSingleFile` only on labels. Cheap, so the generator runs it on every invocation.
 */
export function validateRules(
  rules: readonly RuleSpec[],
  buildRules: readonly BuildRuleSpec[] = [],
  extensionTags: readonly ExtensionTagSpec[] = [],
): string[] {
  const problems: string[] = [];
  const ruleNames = new Set<string>();
  const prefixes = new Set<string>();
  const tagNames = new Set<string>();
  problems.push(...otherProblems(buildRules, extensionTags, prefixes));
  for (const rule of rules) {
    const where = `rule ${rule.name}`;
    if (!SNAKE_CASE.test(rule.name)) problems.push(`${where}: name is not snake_case`);
    if (ruleNames.has(rule.name)) problems.push(`${where}: declared twice`);
    ruleNames.add(rule.name);
    if (!CONSTANT_CASE.test(rule.starlarkPrefix)) {
      problems.push(`${where}: starlarkPrefix ${rule.starlarkPrefix} is not CONSTANT_CASE`);
    }
    if (prefixes.has(rule.starlarkPrefix)) {
      problems.push(`${where}: starlarkPrefix ${rule.starlarkPrefix} is used by another rule`);
    }
    prefixes.add(rule.starlarkPrefix);
    if (!isSentence(rule.doc)) problems.push(`${where}: doc must be sentences ending with "."`);
    const attrNames = new Set<string>();
    for (const attr of rule.attrs) {
      const at = `${where}, attribute ${attr.name}`;
      if (attrNames.has(attr.name)) problems.push(`${at}: declared twice`);
      attrNames.add(attr.name);
      problems.push(...attrProblems(attr, at));
    }
    problems.push(...tagProblems(rule, attrNames, tagNames));
  }
  return problems;
}

/** Problems of the build rules and other extensions' tags: names, prefixes (unique with the rules'), docs, attributes. */
function otherProblems(buildRules: readonly BuildRuleSpec[], extensionTags: readonly ExtensionTagSpec[], prefixes: Set<string>): string[] {
  const problems: string[] = [];
  const entries = [
    ...buildRules.map((r) => ({ where: `build rule ${r.name}`, spec: r, attrs: r.attrs })),
    ...extensionTags.map((t) => ({ where: `${t.extension} tag ${t.name}`, spec: t, attrs: [...t.replace, ...t.add] })),
  ];
  for (const { where, spec, attrs } of entries) {
    if (!SNAKE_CASE.test(spec.name)) problems.push(`${where}: name is not snake_case`);
    if (!CONSTANT_CASE.test(spec.starlarkPrefix) || prefixes.has(spec.starlarkPrefix)) {
      problems.push(`${where}: starlarkPrefix ${spec.starlarkPrefix} is not CONSTANT_CASE or is used twice`);
    }
    prefixes.add(spec.starlarkPrefix);
    if (!isSentence(spec.doc)) problems.push(`${where}: doc must be sentences ending with "."`);
    for (const attr of attrs) problems.push(...attrProblems(attr, `${where}, attribute ${attr.name}`));
  }
  for (const tag of extensionTags) {
    const base = new Set(tag.base.attrs.map((a) => a.name));
    for (const name of [...tag.omit, ...tag.replace.map((a) => a.name)]) {
      if (!base.has(name)) problems.push(`${tag.extension} tag ${tag.name}: ${name} is no attribute of ${tag.base.name}`);
    }
  }
  return problems;
}

/** Problems of one attribute; `at` names it. */
function attrProblems(attr: AttrSpec, at: string): string[] {
  const problems: string[] = [];
  if (!SNAKE_CASE.test(attr.name)) problems.push(`${at}: name is not snake_case`);
  if (attr.name.startsWith("_")) problems.push(`${at}: private attributes are not modelled`);
  if (!defaultFits(attr)) {
    problems.push(`${at}: default ${JSON.stringify(attr.default)} is not a ${attr.type}`);
  }
  if (attr.mandatory && !sameValue(attr.default, IMPLICIT_DEFAULTS[attr.type])) {
    problems.push(`${at}: a mandatory attribute cannot have a default`);
  }
  if ((attr.allowSingleFile || attr.allowFiles || attr.executable || attr.cfg) && attr.type !== "label") {
    problems.push(`${at}: allowSingleFile, allowFiles, executable and cfg apply to label attributes only`);
  }
  if (attr.values !== undefined) {
    if (attr.type !== "string") problems.push(`${at}: values applies to string attributes only`);
    else if (!attr.values.includes(attr.default as string)) {
      problems.push(`${at}: default ${JSON.stringify(attr.default)} is not one of its values`);
    }
  }
  if (!isSentence(attr.doc)) problems.push(`${at}: doc must be sentences ending with "."`);
  return problems;
}

/** Problems of a rule's extension tag: a unique snake_case name, replacements of real attributes. */
function tagProblems(rule: RuleSpec, attrNames: ReadonlySet<string>, tagNames: Set<string>): string[] {
  const where = `rule ${rule.name}, tag ${rule.tag.name}`;
  const problems: string[] = [];
  if (!SNAKE_CASE.test(rule.tag.name)) problems.push(`${where}: name is not snake_case`);
  if (tagNames.has(rule.tag.name)) problems.push(`${where}: used by another rule`);
  tagNames.add(rule.tag.name);
  if (!isSentence(rule.tag.doc)) problems.push(`${where}: doc must be sentences ending with "."`);
  for (const attr of rule.tag.replace) {
    const at = `${where}, attribute ${attr.name}`;
    if (attr.name === "name") problems.push(`${at}: every tag has its own name attribute`);
    else if (!attrNames.has(attr.name)) problems.push(`${at}: replaces no attribute of the rule`);
    problems.push(...attrProblems(attr, at));
  }
  for (const name of rule.tag.omit ?? []) {
    if (!attrNames.has(name)) problems.push(`${where}, omitted attribute ${name}: no attribute of the rule`);
  }
  return problems;
}

function isSentence(doc: string): boolean {
  return doc.trim() === doc && /^[A-Z`]/.test(doc) && doc.endsWith(".");
}

/** Structural equality of two Starlark values (dict key order ignored). */
export function sameValue(a: StarlarkValue, b: StarlarkValue): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((v, i) => sameValue(v, b[i] as StarlarkValue));
  }
  const ra = a as { readonly [key: string]: StarlarkValue };
  const rb = b as { readonly [key: string]: StarlarkValue };
  const keys = Object.keys(ra);
  return (
    keys.length === Object.keys(rb).length &&
    keys.every((k) => k in rb && sameValue(ra[k] as StarlarkValue, rb[k] as StarlarkValue))
  );
}
