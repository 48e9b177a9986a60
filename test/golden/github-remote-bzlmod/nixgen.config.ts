// A pinned GitHub nixpkgs, remote execution with exec properties, and the bzlmod files.
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
    numpy: { attributePath: "python3Packages.numpy" },
    "python3.11": { attributePath: "python311", nixopts: ["--argstr", "system", "x86_64-linux"] },
  },
  remote: {
    strategy: "launcher",
    executor: "grpcs://remote.example:443",
    instanceName: "main",
    execProperties: { OSFamily: "linux", "container-image": "docker://debian:bookworm" },
  },
  bzlmod: true,
});
