// The Nix packages of this workspace (bzlmod). `npx nixgen` turns this file into nixstore/ (commit
// both); `npx nixgen --check` fails when nixstore/ is stale. nixgen reads this file without
// running it, so every value is a literal.
import { defineConfig } from "rules_nixstore/config";

export default defineConfig({
  nixpkgs: {
    // A pinned nixpkgs. This example runs offline, so it uses the small fixture nixpkgs that
    // ships with rules_nixstore. With network access, pin a real nixpkgs revision instead:
    //
    //   nixpkgs: {
    //     git: "https://github.com/NixOS/nixpkgs",
    //     revision: "<40-hex commit>",
    //     sha256: "<sha256 of https://github.com/NixOS/nixpkgs/archive/<commit>.tar.gz>",
    //   },
    //
    // and name real packages below (e.g. jq, python3; `npx nixgen add jq` adds one).
    nixpkgs: {
      local: "@rules_nixstore//test/fixtures/nixpkgs:default.nix",
      nixFileDeps: [
        "@rules_nixstore//test/fixtures/nixpkgs:elf/hello.sh",
        "@rules_nixstore//test/fixtures/nixpkgs:elf/libgreet.sh",
        "@rules_nixstore//test/fixtures/nixpkgs:elf/mkelf.sh",
      ],
    },
  },
  // nixstore/nixstore.MODULE.bazel, which MODULE.bazel includes, declares the packages below
  // with rules_nixstore's module extension.
  bzlmod: true,
  packages: {
    // A dynamically linked ELF whose interpreter and libraries live in /nix/store.
    hello: {},
    // A script whose shebang is a /nix/store path.
    greet: {},
    // A package whose files are absolute symlinks into other store paths, given an existing
    // rules_nixpkgs-style build file: it keeps working, and bin/* are runnable targets.
    linked: {
      buildFileContent: `package(default_visibility = ["//visibility:public"])

filegroup(
    name = "bin",
    srcs = glob(["bin/*"]),
)

filegroup(
    name = "data",
    srcs = glob(["share/greet/*"]),
)
`,
    },
  },
});
