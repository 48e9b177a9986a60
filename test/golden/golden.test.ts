// Golden files: the generated files of several checked-in configurations, compared byte for
// byte. After an intended change to templates or the model, refresh them with
//   UPDATE_GOLDEN=1 npx vitest run test/golden
// and review the diff.
import fs from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { renderWorkspaceFiles } from "../../generator/workspace/index.js";

const GOLDEN = import.meta.dirname;
const REPO_ROOT = path.resolve(GOLDEN, "..", "..");
const UPDATE = process.env.UPDATE_GOLDEN === "1";
const CASES = fs
  .readdirSync(GOLDEN, { withFileTypes: true })
  .filter((e) => e.isDirectory() && fs.existsSync(path.join(GOLDEN, e.name, "nixgen.config.ts")))
  .map((e) => e.name)
  .sort();

function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

describe.each(CASES)("golden %s", (name) => {
  const dir = path.join(GOLDEN, name);
  const expectedDir = path.join(dir, "expected");

  it("renders exactly the checked-in files", () => {
    const files = renderWorkspaceFiles(dir, dir);
    if (UPDATE) {
      fs.rmSync(expectedDir, { recursive: true, force: true });
      for (const f of files) {
        fs.mkdirSync(path.dirname(path.join(expectedDir, f.path)), { recursive: true });
        fs.writeFileSync(path.join(expectedDir, f.path), f.content);
      }
    }
    expect(files.map((f) => f.path).sort()).toEqual(listFiles(expectedDir));
    for (const f of files) {
      expect(f.content, `${name}/expected/${f.path} (UPDATE_GOLDEN=1 to refresh)`).toBe(
        fs.readFileSync(path.join(expectedDir, f.path), "utf8"),
      );
    }
  });

  it("is buildifier --lint=warn clean", async () => {
    const starlark = listFiles(expectedDir)
      .filter((f) => /(\.bzl|BUILD\.bazel|\.MODULE\.bazel)$/.test(f))
      .map((f) => path.join(expectedDir, f));
    // With no file, buildifier would read stdin and wait.
    expect(starlark.length, `${name}/expected has no Starlark file`).toBeGreaterThan(0);
    const r = await execa(path.join(REPO_ROOT, "node_modules/.bin/buildifier"), ["--lint=warn", "--mode=check", "-v", ...starlark], {
      reject: false,
      all: true,
    });
    expect(r.exitCode, r.all).toBe(0);
  });
});
