// Remote strategy "remotable": the packages' Nix builds run on the executor's Nix pool, from
// local nixpkgs sources (one not named nixpkgs, one on a second search path name), in
// WORKSPACE and bzlmod form.
import { defineConfig } from "rules_nixstore/config";

export default defineConfig({
  nixpkgs: {
    pinned: { local: "//nix:nixpkgs.nix", nixFileDeps: ["//nix:overlay.nix"] },
    tools: { nixFileContent: "import <pinned> { overlays = []; }" },
  },
  packages: {
    hello: { repositories: { nixpkgs: "pinned" }, nixopts: ["--option", "substituters", ""] },
    greet: { attributePath: "greet", repositories: { nixpkgs: "pinned", tools: "tools" }, quiet: true },
    local: { nixFile: "//nix:local.nix" },
  },
  remote: {
    strategy: "remotable",
    executor: "grpc://buildbarn.example:8980",
    instanceName: "main",
    execProperties: { OSFamily: "linux" },
    nixBuildExecProperties: { pool: "nix", OSFamily: "linux" },
    remotePath: "/nix/var/nix/profiles/default/bin:/usr/bin:/bin",
    maxClosureMib: 512,
  },
  bzlmod: true,
});
