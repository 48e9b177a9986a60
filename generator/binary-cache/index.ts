/**
 * Where each store path of a lock lives in the configured binary caches: for every path, the
 * first cache (in the order given) whose `.narinfo` of it is signed by that cache's public key
 * and names the NAR hash the lock pins. `nixgen lock` records the result per store path
 * (`nars` in nixstore.lock.json), so that a machine without Nix (and without the keys) fetches
 * the NARs with Bazel's downloader: the file's sha256 is checked by Bazel, the NAR's by the
 * repository rule (rules/private/binary_cache.bzl). Signatures are checked here, once, by the
 * person who locks: the committed lock then pins the bytes.
 */
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import {
  COMPRESSIONS,
  NarInfoError,
  canonicalSha256,
  parseNarInfo,
  parsePublicKey,
  signedBy,
  type NarInfo,
  type PublicKey,
} from "./narinfo.js";

export * from "./narinfo.js";

/** A configured cache: its URL and the public key its narinfos must be signed with. */
export interface BinaryCache {
  readonly url: string;
  readonly publicKey: string;
}

/** Where one store path's NAR is, as `nixgen lock` records it (the narinfo's fields). */
export interface NarRecord {
  /** The cache's URL (no trailing slash). */
  readonly cache: string;
  /** The NAR file, relative to `cache` (as the narinfo says). */
  readonly url: string;
  readonly compression: string;
  /** `sha256:<Nix base32>` of the file as served. */
  readonly fileHash: string;
  readonly fileSize: number;
  /** `sha256:<Nix base32>` of the NAR: the hash the lock pins for the path. */
  readonly narHash: string;
  readonly narSize: number;
  /** Full store paths, sorted. */
  readonly references: readonly string[];
}

/** A problem the user must fix; the message names the paths, packages and caches. */
export class BinaryCacheError extends Error {}

/** The URL schemes a cache may have: what Bazel's downloader fetches. */
const SCHEMES = ["http:", "https:", "file:"];

/** A cache URL without its trailing slashes; throws when it is not one Bazel can download from. */
export function normalizeCacheUrl(url: string): string {
  let parsed: URL | null = null;
  try {
    parsed = new URL(url);
  } catch {
    parsed = null;
  }
  if (parsed === null || !SCHEMES.includes(parsed.protocol) || parsed.search !== "" || parsed.hash !== "") {
    throw new BinaryCacheError(
      `"${url}" is not a binary cache URL Bazel can download from: give an http://, https:// or file:// URL ` +
        "without a query, e.g. https://cache.nixos.org",
    );
  }
  return url.replace(/\/+$/, "");
}

/** What a lookup of one URL found: the text, `null` for "not there" (404), or why it failed. */
type Fetched = { text: string } | { missing: true } | { error: string };

/** Reads a cache's file: over HTTP(S), or from disk for file:// caches. */
export type Fetcher = (url: string) => Promise<Fetched>;

export const fetchUrl: Fetcher = async (url) => {
  if (url.startsWith("file:")) {
    try {
      return { text: fs.readFileSync(fileURLToPath(url), "utf8") };
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === "ENOENT" ? { missing: true } : { error: (e as Error).message };
    }
  }
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(60_000), redirect: "follow" });
    if (response.status === 404 || response.status === 403) return { missing: true };
    if (!response.ok) return { error: `HTTP ${response.status} ${response.statusText}` };
    return { text: await response.text() };
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    return { error: cause?.code ?? cause?.message ?? (e as Error).message };
  }
};

/** The store path's hash part, the name of its narinfo. */
function hashPart(storePath: string): string {
  return storePath.slice("/nix/store/".length, "/nix/store/".length + 32);
}

/** A path to look up: the NAR hash the lock pins and the packages whose closures hold it. */
export interface Wanted {
  readonly narHash: string;
  readonly packages: readonly string[];
}

export interface LookupOptions {
  readonly fetch?: Fetcher;
  /** Narinfos fetched at once. */
  readonly concurrency?: number;
  readonly progress?: ((line: string) => void) | null;
}

interface Cache {
  readonly url: string;
  readonly key: PublicKey;
  readonly keyText: string;
}

/** Why one path was not taken from one cache (it is taken from another, or the lock fails). */
type Refusal = { cache: string; why: string };

function record(cache: string, info: NarInfo): NarRecord {
  return {
    cache,
    url: info.url,
    compression: info.compression,
    fileHash: info.fileHash,
    fileSize: info.fileSize,
    narHash: info.narHash,
    narSize: info.narSize,
    references: info.references,
  };
}

/** Looks one path up in each cache in turn: its record, or why no cache serves it. */
async function lookUp(path: string, wanted: Wanted, caches: readonly Cache[], fetch: Fetcher): Promise<NarRecord | Refusal[]> {
  const refusals: Refusal[] = [];
  for (const cache of caches) {
    const where = `${cache.url}/${hashPart(path)}.narinfo`;
    const got = await fetch(where);
    if ("missing" in got) {
      refusals.push({ cache: cache.url, why: "not there" });
      continue;
    }
    if ("error" in got) {
      refusals.push({ cache: cache.url, why: `cannot be reached (${got.error}) at ${where}` });
      continue;
    }
    let info: NarInfo;
    try {
      info = parseNarInfo(got.text, where);
    } catch (e) {
      refusals.push({ cache: cache.url, why: (e as Error).message });
      continue;
    }
    if (info.storePath !== path) {
      refusals.push({ cache: cache.url, why: `${where} describes ${info.storePath}, not this path` });
      continue;
    }
    if (!signedBy(info, cache.key)) {
      const names = info.sigs.map((s) => s.name);
      refusals.push({
        cache: cache.url,
        why:
          `its narinfo (${where}) has no valid signature by the configured key ${cache.keyText.split(":")[0]} ` +
          (names.length === 0 ? "(it is unsigned)" : `(signed by: ${names.join(", ")}; none verifies with the configured key)`),
      });
      continue;
    }
    if (info.narHash !== wanted.narHash) {
      refusals.push({
        cache: cache.url,
        why: `it holds another build of it (NAR hash ${info.narHash}; the lock pins ${wanted.narHash}, what this machine built)`,
      });
      continue;
    }
    if (!(COMPRESSIONS as readonly string[]).includes(info.compression)) {
      refusals.push({
        cache: cache.url,
        why: `it serves the NAR compressed with ${info.compression}; rules_nixstore unpacks ${COMPRESSIONS.join(", ")}`,
      });
      continue;
    }
    return record(cache.url, info);
  }
  return refusals;
}

/**
 * The record of every wanted store path, from the first cache that serves it signed and with the
 * pinned NAR hash. Throws BinaryCacheError naming every path no cache serves (and its packages),
 * with each cache's reason; also the paths of a cache that cannot be reached, or whose answer is
 * badly signed or names another build.
 */
export async function lookUpNars(
  caches: readonly BinaryCache[],
  wanted: ReadonlyMap<string, Wanted>,
  options: LookupOptions = {},
): Promise<Record<string, NarRecord>> {
  const parsed: Cache[] = caches.map((c) => {
    try {
      return { url: normalizeCacheUrl(c.url), key: parsePublicKey(c.publicKey), keyText: c.publicKey };
    } catch (e) {
      if (e instanceof NarInfoError) throw new BinaryCacheError(`binary cache ${c.url}: ${e.message}`);
      throw e;
    }
  });
  const fetch = options.fetch ?? fetchUrl;
  const paths = [...wanted.keys()].sort();
  options.progress?.(`nixgen lock: looking up ${paths.length} store path(s) in ${parsed.map((c) => c.url).join(", ")}`);
  const results = new Map<string, NarRecord | Refusal[]>();
  let next = 0;
  const worker = async () => {
    while (next < paths.length) {
      const path = paths[next++]!;
      results.set(path, await lookUp(path, wanted.get(path)!, parsed, fetch));
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency ?? 8, paths.length)) }, worker));

  const found: Record<string, NarRecord> = {};
  const problems: string[] = [];
  for (const path of paths) {
    const result = results.get(path)!;
    if (!Array.isArray(result)) {
      found[path] = result;
      continue;
    }
    const packages = wanted.get(path)!.packages;
    const why = result.map((r) => `${r.cache}: ${r.why}`).join("; ");
    problems.push(`  ${path} (package${packages.length > 1 ? "s" : ""} ${packages.join(", ")}): ${why}`);
  }
  if (problems.length > 0) {
    const unreachable = [...results.values()].some((r) => Array.isArray(r) && r.some((x) => x.why.startsWith("cannot be reached")));
    throw new BinaryCacheError(
      [
        `${problems.length} store path(s) of the lock are not served by any configured binary cache ` +
          `(${parsed.map((c) => c.url).join(", ")}) with a valid signature and the pinned NAR hash:`,
        ...problems.slice(0, 40),
        ...(problems.length > 40 ? [`  ... and ${problems.length - 40} more`] : []),
        unreachable
          ? "Check that the cache is up and its URL right (binaryCaches in nixgen.config.ts, or --binary-cache)."
          : "Push them to a cache (nix copy --to '<cache>?secret-key=<key file>' <paths>), check the public key, " +
            "or remove binaryCaches (then machines without Nix cannot fetch the packages).",
      ].join("\n"),
    );
  }
  return found;
}

/** Checks one lock record's shape; `where` names it in messages. Returns it normalised. */
export function checkNarRecord(value: unknown, where: string): NarRecord {
  const fail = (what: string): never => {
    throw new BinaryCacheError(`${where}: ${what}`);
  };
  if (typeof value !== "object" || value === null || Array.isArray(value)) fail("not an object");
  const v = value as Record<string, unknown>;
  for (const key of ["cache", "url", "compression", "fileHash", "narHash"]) {
    if (typeof v[key] !== "string" || v[key] === "") fail(`${key} is not a string`);
  }
  for (const key of ["fileSize", "narSize"]) {
    if (typeof v[key] !== "number" || !Number.isSafeInteger(v[key]) || (v[key] as number) < 0) fail(`${key} is not a size`);
  }
  for (const key of ["fileHash", "narHash"]) {
    if (canonicalSha256(v[key] as string) !== v[key]) fail(`${key} is not a sha256:<Nix base32> hash`);
  }
  if (!(COMPRESSIONS as readonly string[]).includes(v.compression as string)) fail(`compression "${String(v.compression)}" is not one of ${COMPRESSIONS.join(", ")}`);
  if (!Array.isArray(v.references) || !v.references.every((r) => typeof r === "string" && r.startsWith("/nix/store/"))) {
    fail("references is not a list of store paths");
  }
  return {
    cache: v.cache as string,
    url: v.url as string,
    compression: v.compression as string,
    fileHash: v.fileHash as string,
    fileSize: v.fileSize as number,
    narHash: v.narHash as string,
    narSize: v.narSize as number,
    references: v.references as string[],
  };
}
