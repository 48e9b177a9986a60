import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { probeWorkspace } from "../../generator/doctor/index.js";
import { REPO_ROOT } from "./support.js";

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
