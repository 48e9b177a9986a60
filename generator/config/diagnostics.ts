/** Errors in a user's nixgen.config.ts: where (file:line:col), what, and what to do. */

/** A 1-based position in the config file. */
export interface Position {
  readonly line: number;
  readonly column: number;
}

export interface Diagnostic {
  /** The config file as shown to the user (relative to the current directory when inside it). */
  readonly file: string;
  readonly position: Position;
  readonly message: string;
  /** What to do about it, when there is something better to say than the message. */
  readonly hint?: string;
}

/** `file:line:col: error: message` and an indented hint line. */
export function formatDiagnostic(d: Diagnostic): string {
  const head = `${d.file}:${d.position.line}:${d.position.column}: error: ${d.message}`;
  return d.hint ? `${head}\n  hint: ${d.hint}` : head;
}

/** Raised when a config cannot be used; carries every problem found, in file order. */
export class ConfigError extends Error {
  readonly diagnostics: readonly Diagnostic[];

  constructor(diagnostics: readonly Diagnostic[]) {
    const sorted = [...diagnostics].sort(
      (a, b) => a.position.line - b.position.line || a.position.column - b.position.column,
    );
    const noun = sorted.length === 1 ? "error" : "errors";
    super(
      [
        ...sorted.map(formatDiagnostic),
        `${sorted.length} ${noun} in ${sorted[0]?.file ?? "the config"}; nothing was written.`,
      ].join("\n"),
    );
    this.name = "ConfigError";
    this.diagnostics = sorted;
  }
}

/** Edit distance of two short strings (for did-you-mean hints). */
function distance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0] as number;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = prev[j] as number;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      prev[j] = Math.min(above + 1, (prev[j - 1] as number) + 1, diag + cost);
      diag = above;
    }
  }
  return prev[b.length] as number;
}

/**
 * The candidate closest to `word`: one that `word` begins, or else the nearest by edit
 * distance (case-insensitive, at most a third of it changed); null if none is close.
 */
export function closest(word: string, candidates: readonly string[]): string | null {
  const lower = word.toLowerCase();
  if (lower.length >= 3) {
    const extended = candidates.find((c) => c.toLowerCase().startsWith(lower));
    if (extended !== undefined) return extended;
  }
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = distance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best !== null && bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : null;
}
