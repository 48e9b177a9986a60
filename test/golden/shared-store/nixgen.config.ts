// Remote strategy "shared-store": the packages' Nix builds run on the executor's Nix pool and
// their closures stay in the pool's shared store (remote_closure = "shared-store"); without
// execProperties, the consumers' actions get the pool's platform. From local nixpkgs sources
// (one not named nixpkgs, one on a second search path name) and a pinned GitHub nixpkgs
// (fetched on the executor), in WORKSPACE and bzlmod form.
import { defineConfig } from "rules_nixstore/config";

export default defineConfig({
  nixpkgs: {
    pinned: { local: "//nix:nixpkgs.nix", nixFileDeps: ["//nix:overlay.nix"] },
    tools: { nixFileContent: "import <pinned> { overlays = []; }" },
    upstream: {
      git: "https://github.com/NixOS/nixpkgs",
      revision: "e6f23dc08d3624daab7094b701aa3954923c6bbb",
      sha256: "0b5ae42f1ab2ee68f3a2c2e2b4cf8de7b2e0a1a3f7c4e0c54a0f0a6c3f0e4d17",
    },
  },
  packages: {
    hello: { repositories: { nixpkgs: "pinned" }, nixopts: ["--option", "substituters", ""] },
    greet: { attributePath: "greet", repositories: { nixpkgs: "pinned", tools: "tools" }, quiet: true },
    local: { nixFile: "//nix:local.nix" },
    jq: { repositories: { nixpkgs: "upstream" } },
  },
  remote: {
    strategy: "shared-store",
    executor: "grpc://buildbarn.example:8980",
    instanceName: "main",
    nixBuildExecProperties: { pool: "nix", OSFamily: "linux" },
    remotePath: "/nix/var/nix/profiles/default/bin:/usr/bin:/bin",
  },
  bzlmod: true,
});
