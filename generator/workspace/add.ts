/**
 * `nixgen add <attribute>`: inserts a package into the `packages` object of nixgen.config.ts.
 * The edit is a text insertion at positions ts-morph finds, so every other byte of the file
 * (comments, formatting, quotes) stays as it was.
 */
import { Node, type ObjectLiteralExpression } from "ts-morph";
import { type Diagnostic, ConfigError } from "../config/index.js";
import { findConfigObject, parseConfigSource, positionOf } from "../config/literal.js";

/** A dotted Nix attribute path, e.g. `jq` or `python3Packages.numpy`. */
const ATTRIBUTE_PATH = /^[A-Za-z0-9_'-]+(\.[A-Za-z0-9_'-]+)*$/;
const REPO_NAME = /^[A-Za-z][A-Za-z0-9_.-]*$/;
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** Raised for a bad `add` request (not a bad config). */
export class AddError extends Error {}

/** The package name `add` uses by default: the attribute path's last part. */
export function defaultPackageName(attribute: string): string {
  return attribute.split(".").pop() as string;
}

function propertyName(node: Node): string | null {
  if (!Node.isPropertyAssignment(node) && !Node.isShorthandPropertyAssignment(node)) return null;
  const name = node.getNameNode();
  if (Node.isStringLiteral(name) || Node.isNoSubstitutionTemplateLiteral(name)) {
    return name.getLiteralValue();
  }
  return name.getText();
}

/** The indentation of the line holding `pos`. */
function lineIndent(text: string, pos: number): string {
  const start = text.lastIndexOf("\n", pos - 1) + 1;
  return /^[ \t]*/.exec(text.slice(start))?.[0] ?? "";
}

/** The indentation unit of the file (two spaces unless it says otherwise). */
function indentUnit(text: string): string {
  const first = /\n([ \t]+)\S/.exec(text)?.[1];
  return first === undefined ? "  " : first.startsWith("\t") ? "\t" : first;
}

/**
 * Inserts `lines` (a property, one line each, without indentation or trailing comma) as the
 * last member of `object`; returns the new text.
 */
function insertProperty(text: string, object: ObjectLiteralExpression, lines: string[]): string {
  const unit = indentUnit(text);
  const members = object.getProperties();
  const close = object.getEnd() - 1; // the "}"
  const last = members[members.length - 1];
  if (last === undefined) {
    const open = object.getStart();
    const inner = text.slice(open + 1, close);
    const base = lineIndent(text, open);
    const indent = base + unit;
    const body = lines.map((l) => indent + l).join("\n") + ",\n";
    if (!inner.includes("\n")) {
      // `{}` or `{ }` on one line: open it up.
      return `${text.slice(0, open)}{\n${body}${base}}${text.slice(close + 1)}`;
    }
    // An empty object spanning lines (maybe comments only): insert before the "}" line.
    const closeLineStart = text.lastIndexOf("\n", close - 1) + 1;
    const beforeClose = text.slice(closeLineStart, close);
    if (beforeClose.trim() === "") {
      return text.slice(0, closeLineStart) + body + text.slice(closeLineStart);
    }
    return `${text.slice(0, close)}\n${body}${base}${text.slice(close)}`;
  }
  const indent = lineIndent(text, last.getStart());
  const lastEnd = last.getEnd();
  if (!text.slice(object.getStart(), close).includes("\n")) {
    // A one-line object `{ a: {} }`: continue the line.
    return `${text.slice(0, lastEnd)}, ${lines.join(" ")}${text.slice(lastEnd)}`;
  }
  // After the last member and its comma (added when missing) ...
  const comma = /^\s*,/.exec(text.slice(lastEnd));
  const out = comma ? text : `${text.slice(0, lastEnd)},${text.slice(lastEnd)}`;
  const afterComma = comma ? lastEnd + comma[0].length : lastEnd + 1;
  // ... and after a comment that ends its line, which stays with it.
  const newline = out.indexOf("\n", afterComma);
  const rest = out.slice(afterComma, newline < 0 ? out.length : newline);
  const at = newline >= 0 && /^\s*(\/\/.*|\/\*.*\*\/\s*)?$/.test(rest) ? newline : afterComma;
  const body = lines.map((l) => `\n${indent}${l}`).join("") + ",";
  return out.slice(0, at) + body + out.slice(at);
}

/** The config text with package `name` (attribute `attribute`) added; the file is `file` in messages. */
export function addPackageToConfig(
  file: string,
  text: string,
  attribute: string,
  name: string = defaultPackageName(attribute),
): string {
  if (!ATTRIBUTE_PATH.test(attribute)) {
    throw new AddError(
      `"${attribute}" is not a Nix attribute path; give one like jq or python3Packages.numpy`,
    );
  }
  if (!REPO_NAME.test(name)) {
    throw new AddError(
      `"${name}" is not a valid Bazel repository name (start with a letter; letters, digits, _, - and . only); ` +
        "choose one with --name NAME",
    );
  }
  const source = parseConfigSource(file, text);
  const found = findConfigObject(file, source);
  if (!Node.isNode(found)) throw new ConfigError([found]);
  const key = IDENTIFIER.test(name) ? name : JSON.stringify(name);
  const value = name === attribute ? "{}" : `{ attributePath: ${JSON.stringify(attribute)} }`;

  const packages = found.getProperties().find((p) => propertyName(p) === "packages");
  if (packages === undefined) {
    return insertProperty(text, found, ["packages: {", `${indentUnit(text)}${key}: ${value},`, "}"]);
  }
  const initializer = Node.isPropertyAssignment(packages) ? packages.getInitializer() : undefined;
  if (initializer === undefined || !Node.isObjectLiteralExpression(initializer)) {
    const diagnostic: Diagnostic = {
      file,
      position: positionOf(packages),
      message: "packages is not an object literal, so nixgen add cannot insert into it",
      hint: "write packages: { ... } with the packages as its properties",
    };
    throw new ConfigError([diagnostic]);
  }
  const existing = initializer.getProperties().find((p) => propertyName(p) === name);
  if (existing !== undefined) {
    const { line, column } = positionOf(existing);
    throw new AddError(
      `${file}:${line}:${column}: package "${name}" is already in the config; ` +
        "edit it there, or add this attribute under another name with --name NAME",
    );
  }
  return insertProperty(text, initializer, [`${key}: ${value}`]);
}
