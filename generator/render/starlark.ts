import type { StarlarkValue } from "../model/types.js";

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  "\\": "\\\\",
  '"': '\\"',
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
};

/**
 * Renders `value` as a double-quoted Starlark string literal.
 *
 * Backslash, double quote, newline, carriage return and tab use their short escapes; every
 * other control character (and DEL) becomes a three-digit octal escape, the one form that
 * Bazel 4.2.3 and current Bazel both accept. Non-ASCII characters stay as they are: the file
 * is UTF-8, and Bazel passes those bytes through unchanged. Lone surrogates cannot be
 * encoded in UTF-8 and are rejected.
 */
export function starlarkString(value: string): string {
  let out = '"';
  for (let i = 0; i < value.length; i++) {
    const ch = value.charAt(i);
    const code = value.charCodeAt(i);
    const simple = SIMPLE_ESCAPES[ch];
    if (simple !== undefined) {
      out += simple;
    } else if (code < 0x20 || code === 0x7f) {
      out += "\\" + code.toString(8).padStart(3, "0");
    } else if (code >= 0xd800 && code <= 0xdbff) {
      const next = value.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) {
        throw new Error(`starlarkString: lone surrogate at index ${i} of ${JSON.stringify(value)}`);
      }
      out += value.slice(i, i + 2);
      i++;
    } else if (code >= 0xdc00 && code <= 0xdfff) {
      throw new Error(`starlarkString: lone surrogate at index ${i} of ${JSON.stringify(value)}`);
    } else {
      out += ch;
    }
  }
  return out + '"';
}

/**
 * Renders a model value as a one-line Starlark literal: `None`, `True`/`False`, integers,
 * strings, lists and dicts. Dict keys are sorted (buildifier's `unsorted-dict-items`).
 */
export function starlarkValue(value: StarlarkValue): string {
  if (value === null) return "None";
  switch (typeof value) {
    case "boolean":
      return value ? "True" : "False";
    case "number":
      if (!Number.isSafeInteger(value)) {
        throw new Error(`starlarkValue: ${value} is not an integer Starlark can hold`);
      }
      return String(value);
    case "string":
      return starlarkString(value);
    case "object":
      if (Array.isArray(value)) {
        return "[" + (value as readonly StarlarkValue[]).map(starlarkValue).join(", ") + "]";
      } else {
        const dict = value as { readonly [key: string]: StarlarkValue };
        const items = Object.keys(dict)
          .sort()
          .map((k) => `${starlarkString(k)}: ${starlarkValue(dict[k] as StarlarkValue)}`);
        return "{" + items.join(", ") + "}";
      }
    default:
      throw new Error(`starlarkValue: ${String(value)} (${typeof value}) has no Starlark literal`);
  }
}
