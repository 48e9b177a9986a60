/**
 * Types of nixgen's model of the rule library: repository rules, their attributes and the
 * constants shared between the Starlark rules and nixgen. Plain typed objects, never strings
 * of Starlark: rendering is the templates' job.
 */

/** The `attr.*` constructors the model uses (the Starlark type of an attribute). */
export type StarlarkAttrType =
  | "bool"
  | "int"
  | "label"
  | "label_keyed_string_dict"
  | "label_list"
  | "string"
  | "string_dict"
  | "string_list";

/** A value that has a Starlark literal: `None`, bools, ints, strings, lists and dicts. */
export type StarlarkValue =
  | null
  | boolean
  | number
  | string
  | readonly StarlarkValue[]
  | { readonly [key: string]: StarlarkValue };

/** One attribute of a repository rule. */
export interface AttrSpec {
  /** Attribute name as users write it, e.g. `attribute_path`. */
  readonly name: string;
  /** Which `attr.<type>(...)` constructor declares it. */
  readonly type: StarlarkAttrType;
  /** Value Bazel uses when the attribute is not set. */
  readonly default: StarlarkValue;
  /** Whether users must set it. */
  readonly mandatory: boolean;
  /** One to three sentences for users; rendered as the attribute's `doc`. */
  readonly doc: string;
  /** For `label` attributes: the file extensions accepted (`allow_single_file`), or any (`true`). */
  readonly allowSingleFile?: readonly string[] | true;
  /** For `string` attributes: the only values accepted (`values`); the default must be one. */
  readonly values?: readonly string[];
  /** For `label` attributes of build rules: any file (`allow_files = True`). */
  readonly allowFiles?: boolean;
  /** For `label` attributes of build rules: the target must be executable (`executable = True`). */
  readonly executable?: boolean;
  /** For `label` attributes of build rules: the configuration it is built in (`cfg`). */
  readonly cfg?: "target" | "exec";
}

/** A build rule of the library (`rule(...)`, used in BUILD files): its attributes and doc. */
export interface BuildRuleSpec {
  /** Public name of the rule, e.g. `nixstore_executable`. */
  readonly name: string;
  /** Prefix of its Starlark constants: `<prefix>_ATTRS` and `<prefix>_DOC`. */
  readonly starlarkPrefix: string;
  /** What the rule is, for users; rendered as the rule's `doc`. */
  readonly doc: string;
  /** Attributes in any order; renderers sort them by name. */
  readonly attrs: readonly AttrSpec[];
}

/**
 * A tag class of another module extension than `nixstore` (the remotable one), made of a
 * rule's attributes: those it keeps, those it replaces, and its own.
 */
export interface ExtensionTagSpec {
  /** The extension, e.g. `nixstore_remotable`, and the file users load it from. */
  readonly extension: string;
  readonly bzlFile: string;
  /** The tag's name, e.g. `package`. */
  readonly name: string;
  /** Prefix of its Starlark constants: `<prefix>_ATTRS` and `<prefix>_DOC`. */
  readonly starlarkPrefix: string;
  readonly doc: string;
  /** The rule whose attributes it takes (all but `omit`; `replace` and `add` win). */
  readonly base: RuleSpec;
  readonly omit: readonly string[];
  readonly replace: readonly AttrSpec[];
  readonly add: readonly AttrSpec[];
}

/** One repository rule of the library. */
export interface RuleSpec {
  /** Public name of the rule (or of the macro in front of it), e.g. `nixpkgs_package`. */
  readonly name: string;
  /**
   * Prefix of the Starlark constants rendered for this rule:
   * `<prefix>_ATTRS` (the attrs dict) and `<prefix>_DOC` (the rule's doc).
   */
  readonly starlarkPrefix: string;
  /** One to three sentences for users; rendered as the rule's `doc`. */
  readonly doc: string;
  /** Attributes in any order; renderers sort them by name. */
  readonly attrs: readonly AttrSpec[];
  /** The tag of the bzlmod extension (`nixstore.<tag>(...)`) that declares this rule's repositories. */
  readonly tag: TagSpec;
}

/**
 * A tag class of the module extension (rules/extensions.bzl). A tag takes the rule's
 * attributes plus a mandatory `name`; `replace` lists the attributes whose type differs in a
 * tag (e.g. labels of other repositories become the names of other tags).
 */
export interface TagSpec {
  /** The tag's name, e.g. `package` for `nixstore.package(...)`. */
  readonly name: string;
  /** One to three sentences for users; rendered as the tag class's `doc`. */
  readonly doc: string;
  /** Attributes that replace the rule's attributes of the same name in the tag. */
  readonly replace: readonly AttrSpec[];
  /** Attributes of the rule that the tag leaves out (the extension sets them itself). */
  readonly omit?: readonly string[];
}

/** A constant shared by the Starlark rules and nixgen. */
export interface ConstantSpec {
  /** Starlark name, e.g. `STORE_DIRNAME`. */
  readonly name: string;
  readonly value: StarlarkValue;
  /** One sentence; rendered as a comment above the constant. */
  readonly doc: string;
}
