// A C/C++ toolchain from Nix for WORKSPACE builds: under a name of its own (so Bazel 4 to 6 need
// --crosstool_top), the compiler selected by a workspace .nix file (whose imports nixgen finds),
// built into the host's store, its closure carried as files rather than packed.
import { defineConfig } from "rules_nixstore/config";

export default defineConfig({
  nixpkgs: {
    nixpkgs: { local: "//nix:nixpkgs.nix" },
  },
  packages: {
    hello: {},
  },
  ccToolchain: {
    name: "nix_cc",
    nixFile: "//nix:cc.nix",
    failNotSupported: false,
    packedClosure: false,
    targetConstraints: ["@platforms//os:linux"],
  },
  store: "system",
});
