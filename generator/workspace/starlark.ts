/**
 * Starlark literals laid out for reading in generated .bzl files: lists of several items one
 * item a line, multi-line strings as triple-quoted text. buildifier keeps both layouts.
 */
import type { StarlarkValue } from "../model/index.js";
import { starlarkString, starlarkValue } from "../render/index.js";

/** Whether `text` can be written between `"""\` and `"""` and read back unchanged. */
function fitsTripleQuotes(text: string): boolean {
  return (
    text.includes("\n") &&
    !text.includes("\\") &&
    !text.includes('"""') &&
    !text.endsWith('"') &&
    // eslint-disable-next-line no-control-regex
    !/[\u0000-\u0008\u000b-\u001f\u007f]/.test(text)
  );
}

/**
 * How buildifier lays out a file: `bzl` keeps a dict on one line; `module` (MODULE.bazel files,
 * formatted like BUILD files) puts each entry of a dict of several entries on its own line.
 */
export type StarlarkFileType = "bzl" | "module";

/**
 * `value` as Starlark source whose continuation lines are indented by `indent` (the column of
 * the line holding the value), laid out as buildifier formats a file of `type`.
 */
export function starlarkLayout(value: StarlarkValue, indent: string, type: StarlarkFileType = "bzl"): string {
  const inner = `${indent}    `;
  if (typeof value === "string") {
    return fitsTripleQuotes(value) ? `"""\\\n${value}"""` : starlarkString(value);
  }
  if (Array.isArray(value) && value.length > 1) {
    const items = (value as readonly StarlarkValue[]).map((v) => `${inner}${starlarkLayout(v, inner, type)},`);
    return `[\n${items.join("\n")}\n${indent}]`;
  }
  if (type === "module" && isDict(value) && Object.keys(value).length > 1) {
    const items = Object.keys(value)
      .sort()
      .map((k) => `${inner}${starlarkString(k)}: ${starlarkLayout(value[k] as StarlarkValue, inner, type)},`);
    return `{\n${items.join("\n")}\n${indent}}`;
  }
  return starlarkValue(value);
}

function isDict(value: StarlarkValue): value is { readonly [key: string]: StarlarkValue } {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
