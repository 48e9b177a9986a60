/**
 * Reads `nixgen.config.ts` without running it: ts-morph parses the file, and the object
 * passed to `export default defineConfig(...)` is turned into a tree of literals with
 * positions. Anything that would need evaluation (identifiers, calls, spreads, computed keys,
 * template substitutions) is an error at its position.
 */
import { Node, Project, SyntaxKind, ts, type ObjectLiteralExpression, type SourceFile } from "ts-morph";
import type { Diagnostic, Position } from "./diagnostics.js";

export type Literal =
  | { readonly kind: "string"; readonly value: string; readonly pos: Position }
  | { readonly kind: "number"; readonly value: number; readonly pos: Position }
  | { readonly kind: "boolean"; readonly value: boolean; readonly pos: Position }
  | { readonly kind: "array"; readonly items: readonly Literal[]; readonly pos: Position }
  | { readonly kind: "object"; readonly props: readonly Property[]; readonly pos: Position }
  /** Something that is not a literal, already reported; checks skip it without more errors. */
  | { readonly kind: "opaque"; readonly pos: Position };

export interface Property {
  readonly key: string;
  readonly keyPos: Position;
  readonly value: Literal;
}

export type ObjectLiteral = Extract<Literal, { kind: "object" }>;

/** The hint for everything that is not a literal. */
const NOT_RUN_HINT =
  "nixgen reads nixgen.config.ts without running it; write the value itself as a literal " +
  "(string, number, boolean, array or object)";

/** Parses `text` as the TypeScript file `fileName` (in memory; nothing is type-checked). */
export function parseConfigSource(fileName: string, text: string): SourceFile {
  const project = new Project({
    useInMemoryFileSystem: true,
    compilerOptions: { target: ts.ScriptTarget.ES2022, noLib: true },
    skipAddingFilesFromTsConfig: true,
  });
  return project.createSourceFile(fileName, text, { overwrite: true });
}

/** Position of `node`'s first token, 1-based. */
export function positionOf(node: Node): Position {
  const { line, column } = node.getSourceFile().getLineAndColumnAtPos(node.getStart());
  return { line, column };
}

/** Syntax errors of the parse, as diagnostics. */
function syntaxErrors(file: string, source: SourceFile): Diagnostic[] {
  const parse = (source.compilerNode as unknown as { parseDiagnostics?: ts.Diagnostic[] })
    .parseDiagnostics;
  return (parse ?? []).map((d) => {
    const { line, column } = source.getLineAndColumnAtPos(d.start ?? 0);
    return {
      file,
      position: { line, column },
      message: `syntax error: ${ts.flattenDiagnosticMessageText(d.messageText, " ")}`,
    };
  });
}

/** Strips parentheses, `as const`, `satisfies T`, `<T>x` and non-null assertions. */
function unwrap(node: Node): Node {
  for (;;) {
    if (
      Node.isParenthesizedExpression(node) ||
      Node.isAsExpression(node) ||
      Node.isSatisfiesExpression(node) ||
      Node.isTypeAssertion(node) ||
      Node.isNonNullExpression(node)
    ) {
      node = node.getExpression();
    } else {
      return node;
    }
  }
}

/**
 * The object literal of `export default defineConfig({...})` (or `export default {...}`, with
 * `satisfies Config` or `as const`), or a diagnostic saying what is there instead.
 */
export function findConfigObject(
  file: string,
  source: SourceFile,
): ObjectLiteralExpression | Diagnostic {
  const assignment = source
    .getStatements()
    .find((s) => Node.isExportAssignment(s) && !s.isExportEquals());
  const example = "export default defineConfig({ ... })";
  if (assignment === undefined || !Node.isExportAssignment(assignment)) {
    return {
      file,
      position: { line: 1, column: 1 },
      message: "no default export",
      hint: `write \`${example}\`, importing defineConfig from "rules_nixstore/config"`,
    };
  }
  let expression = unwrap(assignment.getExpression());
  if (Node.isCallExpression(expression)) {
    const callee = expression.getExpression();
    const args = expression.getArguments();
    if (!Node.isIdentifier(callee) || callee.getText() !== "defineConfig" || args.length !== 1) {
      return {
        file,
        position: positionOf(expression),
        message: `the default export calls \`${callee.getText()}\` with ${args.length} argument(s)`,
        hint: `write \`${example}\` with one object literal`,
      };
    }
    expression = unwrap(args[0] as Node);
  }
  if (!Node.isObjectLiteralExpression(expression)) {
    return {
      file,
      position: positionOf(expression),
      message: `the default export is \`${abbreviate(expression.getText())}\`, not an object literal`,
      hint: `write \`${example}\`; ${NOT_RUN_HINT}`,
    };
  }
  return expression;
}

function abbreviate(text: string): string {
  const line = text.replace(/\s+/g, " ");
  return line.length > 40 ? `${line.slice(0, 37)}...` : line;
}

/** The name of a property, or null (with a diagnostic) when it is computed. */
function propertyKey(file: string, name: Node, diagnostics: Diagnostic[]): string | null {
  if (Node.isIdentifier(name) || Node.isPrivateIdentifier(name)) return name.getText();
  if (Node.isStringLiteral(name) || Node.isNoSubstitutionTemplateLiteral(name)) {
    return name.getLiteralValue();
  }
  if (Node.isNumericLiteral(name)) return String(name.getLiteralValue());
  diagnostics.push({
    file,
    position: positionOf(name),
    message: `the key \`${abbreviate(name.getText())}\` is computed`,
    hint: `write the key as a name or a string; ${NOT_RUN_HINT}`,
  });
  return null;
}

/** Converts an expression to a literal, or records why it is not one and returns null. */
function toLiteral(file: string, raw: Node, diagnostics: Diagnostic[]): Literal | null {
  const node = unwrap(raw);
  const pos = positionOf(node);
  if (Node.isStringLiteral(node) || Node.isNoSubstitutionTemplateLiteral(node)) {
    return { kind: "string", value: node.getLiteralValue(), pos };
  }
  if (Node.isNumericLiteral(node)) return { kind: "number", value: node.getLiteralValue(), pos };
  if (
    Node.isPrefixUnaryExpression(node) &&
    node.getOperatorToken() === SyntaxKind.MinusToken &&
    Node.isNumericLiteral(node.getOperand())
  ) {
    return { kind: "number", value: -Number(node.getOperand().getText()), pos };
  }
  if (node.getKind() === SyntaxKind.TrueKeyword) return { kind: "boolean", value: true, pos };
  if (node.getKind() === SyntaxKind.FalseKeyword) return { kind: "boolean", value: false, pos };
  if (Node.isArrayLiteralExpression(node)) {
    const items: Literal[] = [];
    for (const element of node.getElements()) {
      items.push(toLiteral(file, element, diagnostics) ?? { kind: "opaque", pos: positionOf(element) });
    }
    return { kind: "array", items, pos };
  }
  if (Node.isObjectLiteralExpression(node)) return objectLiteral(file, node, diagnostics);
  const what = Node.isSpreadElement(node)
    ? "a spread"
    : Node.isTemplateExpression(node)
      ? "a template with substitutions"
      : Node.isIdentifier(node)
        ? `the name \`${node.getText()}\``
        : Node.isCallExpression(node)
          ? `a call of \`${abbreviate(node.getExpression().getText())}\``
          : `\`${abbreviate(node.getText())}\``;
  diagnostics.push({ file, position: pos, message: `${what} is not a literal`, hint: NOT_RUN_HINT });
  return null;
}

/** Converts an object literal; non-literal members are recorded and left out. */
export function objectLiteral(
  file: string,
  node: ObjectLiteralExpression,
  diagnostics: Diagnostic[],
): ObjectLiteral {
  const props: Property[] = [];
  for (const member of node.getProperties()) {
    if (Node.isPropertyAssignment(member)) {
      const key = propertyKey(file, member.getNameNode(), diagnostics);
      const initializer = member.getInitializerOrThrow();
      const value = toLiteral(file, initializer, diagnostics) ?? {
        kind: "opaque" as const,
        pos: positionOf(initializer),
      };
      if (key !== null) props.push({ key, keyPos: positionOf(member), value });
      continue;
    }
    const what = Node.isSpreadAssignment(member)
      ? "a spread (`...`)"
      : Node.isShorthandPropertyAssignment(member)
        ? `the shorthand property \`${member.getName()}\``
        : `\`${abbreviate(member.getText())}\``;
    diagnostics.push({
      file,
      position: positionOf(member),
      message: `${what} is not a literal property`,
      hint: `write \`key: value\` with a literal value; ${NOT_RUN_HINT}`,
    });
  }
  return { kind: "object", props, pos: positionOf(node) };
}

/** Parses a config's text into its literal tree, with every problem found on the way. */
export function readConfigLiteral(
  file: string,
  text: string,
): { literal: ObjectLiteral | null; diagnostics: Diagnostic[] } {
  const source = parseConfigSource(file, text);
  const diagnostics = syntaxErrors(file, source);
  if (diagnostics.length > 0) return { literal: null, diagnostics };
  const found = findConfigObject(file, source);
  if (!Node.isNode(found)) return { literal: null, diagnostics: [found] };
  const literal = objectLiteral(file, found, diagnostics);
  return { literal, diagnostics };
}
