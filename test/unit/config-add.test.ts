// `nixgen add` edits the config as text: the new package goes into `packages`, and every other
// byte (comments, layout, quotes) stays as it was.
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../generator/config/index.js";
import { AddError, addPackageToConfig } from "../../generator/workspace/add.js";

const add = (text: string, attribute: string, name?: string) =>
  addPackageToConfig("nixgen.config.ts", text, attribute, name);

const CONFIG = `// Our packages.
import { defineConfig } from "rules_nixstore/config";

export default defineConfig({
  nixpkgs: { nixpkgs: { local: '//nix:nixpkgs.nix' } }, // single quotes stay
  packages: {
    /* the first */
    hello: {}, // trailing comment
    greet: { quiet: true }
  },
});
`;

describe("nixgen add (config edit)", () => {
  it("appends after the last package, keeping every other byte", () => {
    const out = add(CONFIG, "python3Packages.numpy");
    expect(out).toBe(
      CONFIG.replace(
        "    greet: { quiet: true }\n",
        '    greet: { quiet: true },\n    numpy: { attributePath: "python3Packages.numpy" },\n',
      ),
    );
    expect(parseConfig("nixgen.config.ts", out).packages.map((p) => p.name)).toEqual(["hello", "greet", "numpy"]);
  });

  it("keeps a comment that ends the last package's line on that line", () => {
    const text = CONFIG.replace("    greet: { quiet: true }\n", "");
    expect(add(text, "jq")).toContain("    hello: {}, // trailing comment\n    jq: {},\n  },");
  });

  it("fills an empty packages object, one-line or holding comments only", () => {
    expect(add(`export default defineConfig({\n  packages: {},\n});\n`, "jq")).toBe(
      `export default defineConfig({\n  packages: {\n    jq: {},\n  },\n});\n`,
    );
    expect(add(`export default defineConfig({\n  packages: {\n    // none yet\n  },\n});\n`, "jq")).toBe(
      `export default defineConfig({\n  packages: {\n    // none yet\n    jq: {},\n  },\n});\n`,
    );
  });

  it("adds a packages object when there is none, in the file's indentation", () => {
    expect(add(`export default defineConfig({\n    store: "system",\n});\n`, "jq")).toBe(
      `export default defineConfig({\n    store: "system",\n    packages: {\n        jq: {},\n    },\n});\n`,
    );
  });

  it("continues a one-line object on its line and quotes names that are not identifiers", () => {
    expect(add(`export default { packages: { a: {} } };\n`, "python311", "python3.11")).toBe(
      `export default { packages: { a: {}, "python3.11": { attributePath: "python311" } } };\n`,
    );
  });

  it("refuses a name already in the config, naming where it is", () => {
    expect(() => add(CONFIG, "hello")).toThrow(AddError);
    expect(() => add(CONFIG, "hello")).toThrow(/^nixgen.config.ts:8:5: package "hello" is already in the config; .*--name NAME/);
  });

  it("refuses bad attribute paths and repository names", () => {
    expect(() => add(CONFIG, "foo bar")).toThrow(/"foo bar" is not a Nix attribute path/);
    expect(() => add(CONFIG, "jq", "1jq")).toThrow(/"1jq" is not a valid Bazel repository name.*--name NAME/);
  });

  it("refuses configs it cannot edit: no default export, packages not an object literal", () => {
    expect(() => add("export const x = 1;\n", "jq")).toThrow(ConfigError);
    expect(() => add("export default defineConfig({ packages: PKGS });\n", "jq")).toThrow(
      /1:31: error: packages is not an object literal/,
    );
  });
});
