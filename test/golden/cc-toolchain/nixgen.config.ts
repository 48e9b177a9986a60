// A C/C++ toolchain from Nix beside a package, with the bzlmod files: the toolchain under a name
// of its own (bzlmod registers it; no --crosstool_top), a compiler other than stdenv.cc, and Nix
// options (no binary cache) as a package would have them.
import { defineConfig } from "rules_nixstore/config";

export default defineConfig({
  nixpkgs: {
    nixpkgs: {
      git: "https://github.com/NixOS/nixpkgs",
      revision: "e6f23dc08d3624daab7094b701aa3954923c6bbb",
      sha256: "0b5ae42f1ab2ee68f3a2c2e2b4cf8de7b2e0a1a3f7c4e0c54a0f0a6c3f0e4d17",
    },
  },
  packages: {
    jq: {},
  },
  ccToolchain: {
    name: "nixpkgs_cc",
    attributePath: "gcc13Stdenv.cc",
    ccStd: "c++17",
    nixopts: ["--option", "substituters", ""],
    execConstraints: ["@platforms//os:linux", "@platforms//cpu:x86_64"],
  },
  bzlmod: true,
});
