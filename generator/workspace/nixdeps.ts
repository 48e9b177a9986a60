/**
 * nix_file_deps found automatically: the files a workspace's `.nix` file reaches through path
 * literals (`import ./x.nix`, `callPackage ./y { }`, `./data`, `../lib/z.nix`), followed
 * transitively through `.nix` files and directories' `default.nix`. Listing them as
 * nix_file_deps makes Bazel fetch the packages again when any of them changes.
 *
 * Nix code is scanned, never evaluated: comments and strings are skipped, and only literal
 * paths count (`./. + "/x"`, `<nixpkgs>` and paths built at evaluation time are not seen).
 */
import fs from "node:fs";
import path from "node:path";

/** A directory referenced as data (not via default.nix) contributes at most this many files. */
const MAX_DIRECTORY_FILES = 2000;

export interface DiscoveredDeps {
  /** The `.nix` label the search started from. */
  readonly label: string;
  /** Labels of every file it reaches, sorted, without the file itself. */
  readonly deps: readonly string[];
  /** Why something was not followed, for the user. */
  readonly notes: readonly string[];
}

/**
 * Removes comments and string contents from Nix source, keeping offsets' line structure
 * (replaced characters become spaces), so that path literals can be found with a regex.
 * Interpolations `${...}` inside strings are kept: they are code.
 */
export function stripNixCommentsAndStrings(src: string): string {
  const out = src.split("");
  const blank = (from: number, to: number) => {
    for (let k = from; k < to && k < out.length; k++) if (out[k] !== "\n") out[k] = " ";
  };
  let i = 0;
  // Stack of contexts: code braces count interpolation depth inside strings.
  const stack: Array<{ kind: "dq" | "ind" | "interp"; depth: number }> = [];
  const inString = () => {
    const top = stack[stack.length - 1];
    return top !== undefined && top.kind !== "interp" ? top.kind : null;
  };
  while (i < src.length) {
    const s = inString();
    const c = src[i]!;
    if (s !== null) {
      // Escapes: \x in "..."; ''$, ''' and ''\x in ''...''.
      const escape =
        s === "dq" ? (c === "\\" ? 2 : 0) : ["''$", "'''", "''\\"].some((e) => src.startsWith(e, i)) ? 3 : 0;
      const closing = s === "dq" ? (c === '"' ? 1 : 0) : src.startsWith("''", i) ? 2 : 0;
      if (escape > 0) {
        blank(i, i + escape);
        i += escape;
      } else if (closing > 0) {
        stack.pop();
        i += closing;
      } else if (c === "$" && src[i + 1] === "{") {
        stack.push({ kind: "interp", depth: 0 });
        i += 2;
      } else {
        blank(i, i + 1);
        i += 1;
      }
      continue;
    }
    // Code (top level or inside an interpolation).
    if (c === "#") {
      const end = src.indexOf("\n", i);
      blank(i, end === -1 ? src.length : end);
      i = end === -1 ? src.length : end;
    } else if (c === "/" && src[i + 1] === "*") {
      const end = src.indexOf("*/", i + 2);
      const stop = end === -1 ? src.length : end + 2;
      blank(i, stop);
      i = stop;
    } else if (c === '"') {
      stack.push({ kind: "dq", depth: 0 });
      i += 1;
    } else if (src.startsWith("''", i)) {
      stack.push({ kind: "ind", depth: 0 });
      i += 2;
    } else if (c === "{") {
      const top = stack[stack.length - 1];
      if (top?.kind === "interp") top.depth += 1;
      i += 1;
    } else if (c === "}") {
      const top = stack[stack.length - 1];
      if (top?.kind === "interp") {
        if (top.depth === 0) stack.pop();
        else top.depth -= 1;
      }
      i += 1;
    } else {
      i += 1;
    }
  }
  return out.join("");
}

/** Relative path literals of Nix source: `./x`, `../y/z.nix`, `./.` (as written). */
export function pathLiterals(src: string): string[] {
  const code = stripNixCommentsAndStrings(src);
  const found: string[] = [];
  // A Nix path: optional leading ./ or ../ segments, then [a-zA-Z0-9._+-] segments joined by /.
  const re = /(?<![\w.+\-/'"])(\.\.?(?:\/[A-Za-z0-9._+-]+)+)/g;
  for (const m of code.matchAll(re)) found.push(m[1]!);
  return found;
}

/** The directory of the Bazel package owning `file` (nearest BUILD upwards, within root). */
function owningPackage(root: string, file: string): string | null {
  let dir = path.dirname(file);
  for (;;) {
    if (fs.existsSync(path.join(dir, "BUILD.bazel")) || fs.existsSync(path.join(dir, "BUILD"))) return dir;
    if (dir === root) return null;
    const parent = path.dirname(dir);
    if (parent === dir || !parent.startsWith(root)) return null;
    dir = parent;
  }
}

/** The label of a workspace file, or a note saying why it has none. */
function labelOf(root: string, file: string): { label: string } | { note: string } {
  const pkg = owningPackage(root, file);
  const rel = path.relative(root, file);
  if (pkg === null) return { note: `${rel} is in no Bazel package (no BUILD file above it); add one` };
  const name = path.relative(pkg, file).split(path.sep).join("/");
  if (!/^[A-Za-z0-9!%@^_"#$&'()*\-+,;<=>?[\]{|}~/.]+$/.test(name) || name.split("/").some((p) => p === ".." || p === ".")) {
    return { note: `${rel} has no valid Bazel label; list it by hand or rename it` };
  }
  return { label: `//${path.relative(root, pkg).split(path.sep).join("/")}:${name}` };
}

/** The workspace file a `//pkg:name` label names, or null for other labels. */
export function workspaceFile(root: string, label: string): string | null {
  const m = /^\/\/([^:]*):(.+)$/.exec(label) ?? /^\/\/(.+)$/.exec(label);
  if (m === null) return null;
  if (m[2] === undefined) {
    // `//pkg` names the target pkg:<last segment>
    const pkg = m[1]!;
    return path.join(root, pkg, path.basename(pkg));
  }
  return path.join(root, m[1]!, m[2]);
}

function filesUnder(dir: string, limit: number): string[] | null {
  const out: string[] = [];
  const todo = [dir];
  while (todo.length > 0) {
    const d = todo.pop()!;
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) todo.push(p);
      else if (e.isFile() || e.isSymbolicLink()) out.push(p);
      if (out.length > limit) return null;
    }
  }
  return out;
}

/** Follows the path literals of the `.nix` file `label` names, inside the workspace `root`. */
export function discoverNixFileDeps(root: string, label: string): DiscoveredDeps {
  const notes: string[] = [];
  const start = workspaceFile(root, label);
  if (start === null) {
    return { label, deps: [], notes: [`${label} is outside the workspace: list the files it imports in nixFileDeps`] };
  }
  if (!fs.existsSync(start)) return { label, deps: [], notes: [`${label}: ${path.relative(root, start)} does not exist`] };
  const files = new Set<string>();
  const seen = new Set<string>([start]);
  const queue = [start];
  const add = (file: string) => {
    files.add(file);
    if (file.endsWith(".nix") && !seen.has(file)) {
      seen.add(file);
      queue.push(file);
    }
  };
  while (queue.length > 0) {
    const file = queue.shift()!;
    const rel = path.relative(root, file);
    for (const literal of pathLiterals(fs.readFileSync(file, "utf8"))) {
      const target = path.resolve(path.dirname(file), literal);
      if (target !== root && !target.startsWith(root + path.sep)) {
        notes.push(`${rel}: ${literal} is outside the workspace; not followed`);
        continue;
      }
      const stat = fs.statSync(target, { throwIfNoEntry: false });
      if (stat === undefined) {
        notes.push(`${rel}: ${literal} does not exist`);
      } else if (stat.isDirectory()) {
        const dflt = path.join(target, "default.nix");
        if (fs.existsSync(dflt)) {
          add(dflt);
        } else {
          const under = filesUnder(target, MAX_DIRECTORY_FILES);
          if (under === null) notes.push(`${rel}: ${literal} holds over ${MAX_DIRECTORY_FILES} files; not listed`);
          else under.forEach(add);
        }
      } else {
        add(target);
      }
    }
  }
  files.delete(start);
  const labels = new Set<string>();
  for (const file of files) {
    const l = labelOf(root, file);
    if ("label" in l) labels.add(l.label);
    else notes.push(l.note);
  }
  return { label, deps: [...labels].sort(), notes: [...new Set(notes)] };
}
