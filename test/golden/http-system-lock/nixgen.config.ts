// Two archive sources (mirrors, SRI hash), the host's system store, a lock file next to the
// config, and packages with their own Nix expressions and BUILD files; rendered for WORKSPACE
// and, with the same attributes, as tags of rules_nixstore's module extension (bzlmod).
import { defineConfig } from "rules_nixstore/config";

export default defineConfig({
  nixpkgs: {
    stable: {
      urls: [
        "https://mirror.example/nixpkgs-24.05.tar.gz",
        "https://github.com/NixOS/nixpkgs/archive/refs/tags/24.05.tar.gz",
      ],
      integrity: "sha256-Pp3x/Js0tU6dOgXE1UwPbL0d5Br4BSg8Zfsm5Cw/nQ8=",
      stripPrefix: "nixpkgs-24.05",
    },
    overlay: { nixFileContent: "import <stable> { overlays = [ (import ./overlay.nix) ]; }" },
  },
  packages: {
    hello: { repositories: { nixpkgs: "stable" }, quiet: true },
    custom: {
      nixFile: "//nix:custom.nix",
      nixFileDeps: ["//nix:lib.nix"],
      repositories: { nixpkgs: "stable", overlay: "overlay" },
      buildFile: "//nix:custom.BUILD.bazel",
      failNotSupported: false,
    },
    inline: { nixFileContent: "with import <nixpkgs> {};\nhello\n", repositories: { nixpkgs: "stable" } },
  },
  store: "system",
  bzlmod: true,
});
