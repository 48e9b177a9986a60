// Packages fetched from a Nix binary cache, on machines with or without Nix: `npx nixgen` turns
// this file into nixstore/ (commit both); `npx nixgen lock` pins the packages and records, from
// the cache's signed narinfos, where each store path's NAR is (nixstore.lock.json). demo.sh makes
// the cache, serves it on 127.0.0.1 and runs the whole story (see README.md).
import { defineConfig } from "rules_nixstore/config";

export default defineConfig({
  nixpkgs: {
    // The offline fixture nixpkgs of rules_nixstore's tests. With a real nixpkgs, pin it here
    // (git, revision, sha256) and list cache.nixos.org below.
    nixpkgs: {
      local: "@rules_nixstore//test/fixtures/nixpkgs:default.nix",
      nixFileDeps: [
        "@rules_nixstore//test/fixtures/nixpkgs:elf/hello.sh",
        "@rules_nixstore//test/fixtures/nixpkgs:elf/libgreet.sh",
        "@rules_nixstore//test/fixtures/nixpkgs:elf/mkelf.sh",
      ],
    },
  },
  bzlmod: true,
  packages: {
    // A dynamically linked ELF whose interpreter and libraries live in /nix/store.
    hello: {},
    // A script whose shebang is a /nix/store path; its closure travels as one archive.
    greet: { packedClosure: true },
  },
  // Where machines without Nix download the closures from. demo.sh serves cache/ here, signed
  // with cache-key/ (a key for this example only). With a real nixpkgs, use e.g.
  //   { url: "https://cache.nixos.org", publicKey: "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=" }
  binaryCaches: [
    { url: "http://127.0.0.1:37515", publicKey: "rules-nixstore-example-1:qvSBar3pyyxhauQvRldXqAtDVPmam/QeBzmjl+0gSY8=" },
  ],
});
