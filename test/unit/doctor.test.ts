import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { checkBinaryCaches, probeWorkspace } from "../../generator/doctor/index.js";
import { REPO_ROOT, tempDir } from "./support.js";

describe("nixgen doctor --remote: the probe workspace", () => {
  const version = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")).version as string;

  it("is a bzlmod module on Bazel 7 and later, which may run without WORKSPACE support", () => {
    for (const major of [7, 8]) {
      const files = probeWorkspace(major, "/usr/bin");
      expect(Object.keys(files)).toEqual(["MODULE.bazel"]);
      const module = files["MODULE.bazel"]!;
      expect(module).toContain(`bazel_dep(name = "rules_nixstore", version = "${version}")\n`);
      expect(module).toContain(`local_path_override(module_name = "rules_nixstore", path = ${JSON.stringify(REPO_ROOT)})\n`);
      expect(module).toContain('nixstore = use_extension("@rules_nixstore//rules:extensions.bzl", "nixstore")\nnixstore.package(\n    name = "nixstore_probe",\n');
      expect(module).toContain("path = /usr/bin;");
      expect(module.endsWith('use_repo(nixstore, "nixstore_probe")\n')).toBe(true);
    }
  });

  it("is a WORKSPACE on Bazel 4 and when the version is unknown", () => {
    for (const major of [4, null]) {
      const files = probeWorkspace(major, "/bin");
      expect(Object.keys(files)).toEqual(["WORKSPACE"]);
      expect(files.WORKSPACE).toContain(`local_repository(name = "rules_nixstore", path = ${JSON.stringify(REPO_ROOT)})\n`);
      expect(files.WORKSPACE).toContain('nixpkgs_package(\n    name = "nixstore_probe",\n');
    }
  });
});

describe("nixgen doctor: can this machine fetch the locked packages without Nix", () => {
  const A = "/nix/store/" + "a".repeat(32) + "-tiny01";
  const B = "/nix/store/" + "b".repeat(32) + "-busybox";
  const nar = (cache: string, compression: string) => ({
    cache,
    url: "nar/x.nar",
    compression,
    fileHash: "sha256:" + "0".repeat(52),
    fileSize: 1,
    narHash: "sha256:" + "0".repeat(52),
    narSize: 1,
    references: [],
  });
  const entry = (closure: string[]) => ({ inputs: "sha256:" + "f".repeat(64), out: [closure[0]!], closure: Object.fromEntries(closure.map((p) => [p, "sha256:" + "0".repeat(52)])) });

  it("is ok when every cache answers and every decompressor is on PATH; names the packages that still need Nix", async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, "nix-cache-info"), "StoreDir: /nix/store\n");
    const cache = `file://${dir}`;
    const all = await checkBinaryCaches({ version: 1, packages: { tiny01: entry([A, B]) }, nars: { [A]: nar(cache, "none"), [B]: nar(cache, "none") } });
    expect(all).toMatchObject({ id: "binary-cache", status: "ok", summary: `this machine can fetch all 1 locked package(s) without Nix (caches ${cache} answer)` });
    const some = await checkBinaryCaches({ version: 1, packages: { tiny01: entry([A, B]), other: entry([A]) }, nars: { [A]: nar(cache, "none") } });
    expect(some).toMatchObject({ status: "warn", summary: expect.stringContaining("tiny01 has no binary cache record and needs Nix") });
  });

  it("fails naming a cache that does not answer and a decompressor that is missing", async () => {
    const dir = tempDir();
    const previous = process.env.PATH;
    process.env.PATH = dir;
    try {
      const report = await checkBinaryCaches({ version: 1, packages: { tiny01: entry([A]) }, nars: { [A]: nar(`file://${dir}/none`, "zstd") } });
      expect(report.status).toBe("fail");
      expect(report.detail).toContain(`file://${dir}/none cannot be reached (no nix-cache-info: not a binary cache)`);
      expect(report.detail).toContain("zstd is not on PATH, and 1 NAR(s) are zstd-compressed");
      expect(report.fix).toContain("apt-get install zstd");
    } finally {
      process.env.PATH = previous;
    }
  });
});
