/**
 * Checks the literal tree of nixgen.config.ts against the `Config` type (types.ts) and resolves
 * defaults, collecting every problem with its position: unknown keys (with a did-you-mean),
 * wrong types, conflicting options and references to sources that do not exist.
 */
import { readBinaryCaches } from "./binary-caches.js";
import { readCcToolchain } from "./cc-toolchain.js";
import type { Diagnostic } from "./diagnostics.js";
import type { ObjectLiteral, Property } from "./literal.js";
import { readPackages } from "./packages.js";
import { Reader } from "./reader.js";
import { readRemote } from "./remote.js";
import { isRemotableStrategy, type RemotableStrategy, type ResolvedConfig } from "./resolved.js";
import { readSources } from "./sources.js";

const TOP_KEYS = ["nixpkgs", "packages", "ccToolchain", "store", "remote", "bzlmod", "binaryCaches"] as const;
const STORES = ["output-base", "system"] as const;

/** The config's `store`; the remotable strategies take none. */
function readStore(r: Reader, top: Map<string, Property>, remotable: RemotableStrategy | null): "output-base" | "system" {
  const store = r.oneOf(top.get("store"), "the config", STORES) ?? "output-base";
  if (remotable !== null && top.has("store")) {
    r.error(
      top.get("store")!.keyPos,
      `the config: "store" does not apply with remote strategy "${remotable}"`,
      "remove it: each package builds in the Nix store of the machine that runs its remotable build " +
        "(the worker, or this machine's own store without an executor)",
    );
  }
  return store;
}

/** Checks the config's literal tree; returns the resolved config and every problem found. */
export function resolveConfig(
  file: string,
  literal: ObjectLiteral,
): { config: ResolvedConfig; diagnostics: Diagnostic[] } {
  const r = new Reader(file);
  const top = r.object(literal, "the config", TOP_KEYS) ?? new Map<string, Property>();

  const { sources, props: sourceProps } = readSources(r, top.get("nixpkgs"));
  // Read before the packages and the toolchain: the remotable strategies ask more of them.
  const { remote, strategy } = top.has("remote") ? readRemote(r, top.get("remote")!) : { remote: null, strategy: null };
  const remotable = isRemotableStrategy(strategy) ? strategy : null;
  const packages = readPackages(r, top.get("packages"), sourceProps, remotable);
  const ccToolchain = top.has("ccToolchain")
    ? readCcToolchain(r, top.get("ccToolchain")!, sourceProps, new Set(packages.map((p) => p.name)), remotable)
    : null;
  const store = readStore(r, top, remotable);
  const bzlmod = r.boolean(top.get("bzlmod"), "the config") ?? false;
  const binaryCaches = readBinaryCaches(r, top.get("binaryCaches"));
  if (remotable !== null && top.has("binaryCaches")) {
    r.error(
      top.get("binaryCaches")!.keyPos,
      `the config: "binaryCaches" does not apply with remote strategy "${remotable}"`,
      "remove it: nixgen lock does not pin remotable packages, so nothing records where their NARs are " +
        '(strategy "launcher" builds them here, and can lock them against a cache)',
    );
  }
  return { config: { sources, packages, store, remote, ccToolchain, bzlmod, binaryCaches }, diagnostics: r.diagnostics };
}
