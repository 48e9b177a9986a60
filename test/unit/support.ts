import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach } from "vitest";

const created: string[] = [];

/** A fresh temporary directory, removed after the test. */
export function tempDir(prefix = "nixgen-test-"): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  created.push(dir);
  return dir;
}

afterEach(() => {
  for (const dir of created.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** The repository root (test/unit/ is two levels down). */
export const REPO_ROOT = path.resolve(import.meta.dirname, "..", "..");
