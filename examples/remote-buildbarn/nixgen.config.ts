// The Nix packages of this workspace and where its actions run. `npx nixgen` turns this file
// into nixstore/ (commit both); `npx nixgen --check` fails when nixstore/ is stale. nixgen reads
// this file without running it, so every value is a literal.
import { defineConfig } from "rules_nixstore/config";

export default defineConfig({
  nixpkgs: {
    // The small fixture nixpkgs that ships with rules_nixstore, so that this example runs
    // offline. Pin a real nixpkgs in your workspace:
    //
    //   nixpkgs: {
    //     git: "https://github.com/NixOS/nixpkgs",
    //     revision: "<40-hex commit>",
    //     sha256: "<sha256 of https://github.com/NixOS/nixpkgs/archive/<commit>.tar.gz>",
    //   },
    nixpkgs: {
      local: "@rules_nixstore//test/fixtures/nixpkgs:default.nix",
      nixFileDeps: [
        "@rules_nixstore//test/fixtures/nixpkgs:elf/hello.sh",
        "@rules_nixstore//test/fixtures/nixpkgs:elf/libgreet.sh",
        "@rules_nixstore//test/fixtures/nixpkgs:elf/mkelf.sh",
      ],
    },
  },
  packages: {
    // A dynamically linked ELF whose interpreter and libraries live in /nix/store.
    hello: {},
    // A script whose shebang is a /nix/store path.
    greet: {},
    // A package of absolute symlinks into other store paths, with a rules_nixpkgs-style
    // build file.
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
    // A shell, to show what the worker sees.
    busybox: {},
  },
  // `bazel build --config=nixstore-remote ...` runs every action on this executor. The
  // closures travel as ordinary inputs; the worker needs no Nix, only unprivileged user
  // namespaces. This is the loopback Buildbarn of test/buildbarn (`npm run buildbarn:up`).
  remote: {
    strategy: "launcher",
    executor: "grpc://127.0.0.1:8980",
    instanceName: "nixstore",
  },
});
