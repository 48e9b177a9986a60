// A C/C++ toolchain from Nix for both Bazels: `npx nixgen` turns this file into nixstore/ (commit
// both): nixstore.MODULE.bazel (Bazel 7+, included by MODULE.bazel), repositories.bzl (Bazel 4.2.3,
// loaded by WORKSPACE) and nixstore.bazelrc (the toolchain's two flags, and --config=nixstore-remote).
import { defineConfig } from "rules_nixstore/config";

export default defineConfig({
  nixpkgs: {
    // The offline fixture nixpkgs of rules_nixstore's tests, whose stdenv.cc is this machine's
    // Debian GCC imported into store paths. With network access, pin a real nixpkgs instead:
    //   nixpkgs: { git: "https://github.com/NixOS/nixpkgs", revision: "<commit>", sha256: "<sha256>" },
    nixpkgs: {
      local: "@rules_nixstore//test/fixtures/nixpkgs:default.nix",
      nixFileDeps: [
        "@rules_nixstore//test/fixtures/nixpkgs:cc.nix",
        "@rules_nixstore//test/fixtures/nixpkgs:elf/hello.sh",
        "@rules_nixstore//test/fixtures/nixpkgs:elf/libgreet.sh",
        "@rules_nixstore//test/fixtures/nixpkgs:elf/mkelf.sh",
      ],
    },
  },
  bzlmod: true,
  packages: {},
  // @local_config_cc from the nixpkgs' stdenv.cc, and @local_config_cc_toolchains, registered.
  ccToolchain: {},
  // --config=nixstore-remote: the loopback Buildbarn cluster of test/buildbarn.
  remote: {
    strategy: "launcher",
    executor: "grpc://127.0.0.1:8980",
    instanceName: "nixstore",
  },
});
