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
 * `value` as Starlark source whose continuation lines are indented by `indent` (the column of
 * the line holding the value).
 */
export function starlarkLayout(value: StarlarkValue, indent: string): string {
  if (typeof value === "string") {
    return fitsTripleQuotes(value) ? `"""\\\n${value}"""` : starlarkString(value);
  }
  if (Array.isArray(value) && value.length > 1) {
    const items = (value as readonly StarlarkValue[]).map(
      (v) => `${indent}    ${starlarkLayout(v, `${indent}    `)},`,
    );
    return `[\n${items.join("\n")}\n${indent}]`;
  }
  return starlarkValue(value);
}
