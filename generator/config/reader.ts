/**
 * Reads typed values out of the config's literals, recording each problem with its position:
 * wrong types, unknown and repeated keys (with a did-you-mean), labels and repository names.
 */
import { closest, type Diagnostic, type Position } from "./diagnostics.js";
import type { Literal, Property } from "./literal.js";

/** Bazel repository names (WORKSPACE and bzlmod apparent names alike). */
const REPO_NAME = /^[A-Za-z][A-Za-z0-9_.-]*$/;
/** A label as nixgen passes it on: absolute (`//pkg:file`) or in a repository (`@repo//...`). */
const LABEL = /^(@@?[A-Za-z0-9_.~+-]*)?\/\/[^:\s]*(:[^\s]+)?$/;

/** Reads typed values out of literals, recording what does not fit. */
export class Reader {
  readonly diagnostics: Diagnostic[] = [];

  constructor(readonly file: string) {}

  error(position: Position, message: string, hint?: string): void {
    this.diagnostics.push({ file: this.file, position, message, ...(hint ? { hint } : {}) });
  }

  private wrongType(lit: Literal, what: string, expected: string): void {
    if (lit.kind === "opaque") return; // reported as not a literal already
    const got = lit.kind === "object" ? "an object" : lit.kind === "array" ? "an array" : `a ${lit.kind}`;
    this.error(lit.pos, `${what} must be ${expected}, not ${got}`);
  }

  /**
   * The properties of an object, keyed by name; unknown and repeated keys are errors. Returns
   * null (after an error) when `lit` is not an object.
   */
  object(lit: Literal, what: string, allowed: readonly string[]): Map<string, Property> | null {
    if (lit.kind !== "object") {
      this.wrongType(lit, what, "an object");
      return null;
    }
    const props = new Map<string, Property>();
    for (const prop of lit.props) {
      if (!allowed.includes(prop.key)) {
        const guess = closest(prop.key, allowed);
        this.error(
          prop.keyPos,
          `${what}: unknown key "${prop.key}"`,
          (guess ? `did you mean "${guess}"? ` : "") + `known keys: ${allowed.join(", ")}`,
        );
      } else if (props.has(prop.key)) {
        this.error(prop.keyPos, `${what}: "${prop.key}" is given twice`, "keep one of them");
      } else {
        props.set(prop.key, prop);
      }
    }
    return props;
  }

  /** The entries of a record (an object with names chosen by the user). */
  record(lit: Literal, what: string): Property[] {
    if (lit.kind !== "object") {
      this.wrongType(lit, what, "an object");
      return [];
    }
    const seen = new Set<string>();
    return lit.props.filter((prop) => {
      if (seen.has(prop.key)) {
        this.error(prop.keyPos, `${what}: "${prop.key}" is given twice`, "keep one of them");
        return false;
      }
      seen.add(prop.key);
      return true;
    });
  }

  string(prop: Property | undefined, what: string): string | null {
    if (prop === undefined) return null;
    if (prop.value.kind !== "string") {
      this.wrongType(prop.value, `${what}: "${prop.key}"`, "a string");
      return null;
    }
    return prop.value.value;
  }

  /** A non-empty string. */
  text(prop: Property | undefined, what: string): string | null {
    const value = this.string(prop, what);
    if (value !== null && value.trim() === "") {
      this.error((prop as Property).value.pos, `${what}: "${(prop as Property).key}" is empty`);
      return null;
    }
    return value;
  }

  boolean(prop: Property | undefined, what: string): boolean | null {
    if (prop === undefined) return null;
    if (prop.value.kind !== "boolean") {
      this.wrongType(prop.value, `${what}: "${prop.key}"`, "true or false");
      return null;
    }
    return prop.value.value;
  }

  oneOf<T extends string>(prop: Property | undefined, what: string, values: readonly T[]): T | null {
    const value = this.string(prop, what);
    if (value === null) return null;
    if (!(values as readonly string[]).includes(value)) {
      const guess = closest(value, values);
      this.error(
        (prop as Property).value.pos,
        `${what}: "${(prop as Property).key}" is "${value}"`,
        (guess ? `did you mean "${guess}"? ` : "") +
          `use one of ${values.map((v) => `"${v}"`).join(", ")}`,
      );
      return null;
    }
    return value as T;
  }

  strings(prop: Property | undefined, what: string): string[] {
    if (prop === undefined) return [];
    if (prop.value.kind !== "array") {
      this.wrongType(prop.value, `${what}: "${prop.key}"`, "an array of strings");
      return [];
    }
    const out: string[] = [];
    for (const item of prop.value.items) {
      if (item.kind === "string") out.push(item.value);
      else this.wrongType(item, `${what}: each item of "${prop.key}"`, "a string");
    }
    return out;
  }

  stringRecord(prop: Property | undefined, what: string): Array<[Property, string]> {
    if (prop === undefined) return [];
    const out: Array<[Property, string]> = [];
    for (const entry of this.record(prop.value, `${what}: "${prop.key}"`)) {
      if (entry.value.kind === "string") out.push([entry, entry.value.value]);
      else this.wrongType(entry.value, `${what}: "${prop.key}.${entry.key}"`, "a string");
    }
    return out;
  }

  label(prop: Property | undefined, what: string): string | null {
    const value = this.text(prop, what);
    if (value !== null && !LABEL.test(value)) {
      this.error(
        (prop as Property).value.pos,
        `${what}: "${(prop as Property).key}" is "${value}", not an absolute Bazel label`,
        `write a label such as "${labelGuess(value)}" (the file's package and name, from the workspace root)`,
      );
      return null;
    }
    return value;
  }

  labels(prop: Property | undefined, what: string): string[] {
    const values = this.strings(prop, what);
    if (prop === undefined || prop.value.kind !== "array") return values;
    const items = prop.value.items;
    return values.filter((value, i) => {
      if (LABEL.test(value)) return true;
      this.error(
        (items[i] as Literal).pos,
        `${what}: "${value}" in "${prop.key}" is not an absolute Bazel label`,
        `write a label such as "${labelGuess(value)}"`,
      );
      return false;
    });
  }

  /** Reports that at most one of `keys` may be set; returns whether that holds. */
  exclusive(props: Map<string, Property>, what: string, keys: readonly string[]): boolean {
    const given = keys.filter((k) => props.has(k));
    if (given.length <= 1) return true;
    const second = props.get(given[1] as string) as Property;
    this.error(
      second.keyPos,
      `${what}: "${given[0]}" and "${given[1]}" cannot both be set`,
      `keep one of ${keys.map((k) => `"${k}"`).join(", ")}`,
    );
    return false;
  }
}

/** `nix/nixpkgs.nix` → `//nix:nixpkgs.nix`, for hints. */
function labelGuess(value: string): string {
  const clean = value.replace(/^\.?\//, "");
  const slash = clean.lastIndexOf("/");
  return slash < 0 ? `//:${clean}` : `//${clean.slice(0, slash)}:${clean.slice(slash + 1)}`;
}

/** Whether `name` can be a Bazel repository name (WORKSPACE and bzlmod apparent names alike). */
export function isRepoName(name: string): boolean {
  return REPO_NAME.test(name);
}

/** What to do about a name that cannot be a repository name. */
export function repoNameHint(name: string): string {
  return (
    "start with a letter and use letters, digits, _, - and . only (it becomes @" +
    `${name.replace(/[^A-Za-z0-9_.-]/g, "_")})`
  );
}

/** Reports a source or package name that cannot be a Bazel repository name; returns whether it can. */
export function checkRepoName(r: Reader, prop: Property, what: string): boolean {
  if (isRepoName(prop.key)) return true;
  r.error(prop.keyPos, `${what} name "${prop.key}" is not a valid Bazel repository name`, repoNameHint(prop.key));
  return false;
}
