/**
 * Nix binary caches, as far as `nixgen lock` reads them: the `.narinfo` of a store path (plain
 * `Key: value` lines), its signatures (Ed25519 over Nix's fingerprint
 * `1;<StorePath>;<NarHash>;<NarSize>;<references, full paths, comma separated>`), public keys
 * (`<name>:<base64 of the 32-byte key>`) and Nix's own base32.
 */
import crypto from "node:crypto";

/** Nix's base32 alphabet (no e, o, u, t). */
export const NIX32_ALPHABET = "0123456789abcdfghijklmnpqrsvwxyz";

/** Compressions of a NAR that the repository rule can undo (with the host's xz, zstd, bzip2). */
export const COMPRESSIONS = ["none", "xz", "zstd", "bzip2"] as const;
export type Compression = (typeof COMPRESSIONS)[number];

const STORE_DIR = "/nix/store/";
const BASE_NAME = /^[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+\-._?=]+$/;

/** A problem with a cache's answer or a key; its message names what and where. */
export class NarInfoError extends Error {}

/** Nix's base32 of `bytes`: the last bits first, as Nix prints hashes. */
export function nix32Encode(bytes: Uint8Array): string {
  const len = Math.floor((bytes.length * 8 - 1) / 5) + 1;
  let out = "";
  for (let n = len - 1; n >= 0; n--) {
    const b = n * 5;
    const i = Math.floor(b / 8);
    const j = b % 8;
    const c = (bytes[i]! >> j) | (i + 1 < bytes.length ? bytes[i + 1]! << (8 - j) : 0);
    out += NIX32_ALPHABET[c & 0x1f];
  }
  return out;
}

/** The bytes of Nix base32 text of a `size`-byte digest; null when it is not one. */
export function nix32Decode(text: string, size = 32): Buffer | null {
  if (text.length !== Math.floor((size * 8 - 1) / 5) + 1) return null;
  const bytes = Buffer.alloc(size);
  for (let k = 0; k < text.length; k++) {
    const c = NIX32_ALPHABET.indexOf(text[k]!);
    if (c < 0) return null;
    const n = text.length - 1 - k;
    const b = n * 5;
    const i = Math.floor(b / 8);
    const j = b % 8;
    bytes[i] = bytes[i]! | ((c << j) & 0xff);
    const carry = c >> (8 - j);
    if (i + 1 < size) bytes[i + 1] = bytes[i + 1]! | carry;
    else if (carry !== 0) return null;
  }
  return bytes;
}

/**
 * A sha256 as Nix writes it in a lock and a narinfo, `sha256:<Nix base32>`, from any of the
 * forms Nix accepts (Nix base32, hex, base64, SRI `sha256-<base64>`); null when it is none.
 */
export function canonicalSha256(text: string): string | null {
  let digest: Buffer | null = null;
  if (text.startsWith("sha256-")) {
    digest = Buffer.from(text.slice("sha256-".length), "base64");
  } else if (text.startsWith("sha256:")) {
    const value = text.slice("sha256:".length);
    if (/^[0-9a-f]{64}$/.test(value)) digest = Buffer.from(value, "hex");
    else if (value.length === 52) digest = nix32Decode(value);
    else if (value.length === 44) digest = Buffer.from(value, "base64");
  }
  return digest !== null && digest.length === 32 ? `sha256:${nix32Encode(digest)}` : null;
}

/** The hex digits of a `sha256:<Nix base32>` hash (Bazel's `sha256 =`). */
export function sha256Hex(hash: string): string {
  const digest = nix32Decode(hash.slice("sha256:".length));
  if (!hash.startsWith("sha256:") || digest === null) throw new NarInfoError(`${hash} is not a sha256:<Nix base32> hash`);
  return digest.toString("hex");
}

/** A trusted public key of a cache. */
export interface PublicKey {
  /** The key's name, which signatures carry (e.g. `cache.nixos.org-1`). */
  readonly name: string;
  readonly key: crypto.KeyObject;
}

/** The DER prefix of an Ed25519 SubjectPublicKeyInfo; the raw 32-byte key follows it. */
const ED25519_SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

/** Parses `<name>:<base64 of 32 bytes>` (what `nix-store --generate-binary-cache-key` writes). */
export function parsePublicKey(text: string): PublicKey {
  const colon = text.indexOf(":");
  const name = colon > 0 ? text.slice(0, colon) : "";
  const raw = colon > 0 ? Buffer.from(text.slice(colon + 1), "base64") : Buffer.alloc(0);
  if (name === "" || raw.length !== 32 || raw.toString("base64") !== text.slice(colon + 1).trim()) {
    throw new NarInfoError(
      `"${text}" is not a binary cache public key: write it as <name>:<base64 of the 32-byte Ed25519 key>, ` +
        "as `nix-store --generate-binary-cache-key` writes the public key file (e.g. " +
        '"cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=")' +
        (raw.length === 64 ? "; this looks like a secret key, which must not leave the cache's machine" : ""),
    );
  }
  const key = crypto.createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: "der", type: "spki" });
  return { name, key };
}

/** One signature line: the key's name and the signature's bytes. */
export interface Signature {
  readonly name: string;
  readonly sig: Buffer;
}

/** What a `.narinfo` says about one store path. */
export interface NarInfo {
  readonly storePath: string;
  /** The NAR file, relative to the cache (or absolute). */
  readonly url: string;
  readonly compression: string;
  /** `sha256:<Nix base32>` of the (compressed) file. */
  readonly fileHash: string;
  readonly fileSize: number;
  /** `sha256:<Nix base32>` of the NAR. */
  readonly narHash: string;
  readonly narSize: number;
  /** Full store paths, sorted. */
  readonly references: readonly string[];
  readonly sigs: readonly Signature[];
}

/** Parses a narinfo's text; `where` (its URL) names it in errors. */
export function parseNarInfo(text: string, where: string): NarInfo {
  const fields = new Map<string, string>();
  const sigs: Signature[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const colon = line.indexOf(":");
    if (colon <= 0) throw new NarInfoError(`${where} is not a narinfo: the line "${line.slice(0, 80)}" is not "Key: value"`);
    const key = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    if (key === "Sig") {
      const c = value.indexOf(":");
      if (c > 0) sigs.push({ name: value.slice(0, c), sig: Buffer.from(value.slice(c + 1), "base64") });
    } else {
      fields.set(key, value);
    }
  }
  const need = (key: string): string => {
    const value = fields.get(key);
    if (value === undefined || value === "") throw new NarInfoError(`${where} is not a complete narinfo: it has no ${key}`);
    return value;
  };
  const size = (key: string): number => {
    const value = need(key);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new NarInfoError(`${where}: ${key} is "${value}", not a size in bytes`);
    return Number(value);
  };
  const hash = (key: string): string => {
    const value = canonicalSha256(need(key));
    if (value === null) throw new NarInfoError(`${where}: ${key} is "${fields.get(key)}", not a sha256 hash`);
    return value;
  };
  const storePath = need("StorePath");
  if (!storePath.startsWith(STORE_DIR) || !BASE_NAME.test(storePath.slice(STORE_DIR.length))) {
    throw new NarInfoError(`${where}: StorePath is "${storePath}", not a path of /nix/store`);
  }
  const references = (fields.get("References") ?? "")
    .split(" ")
    .filter(Boolean)
    .map((ref) => {
      if (!BASE_NAME.test(ref)) throw new NarInfoError(`${where}: References holds "${ref}", not a store path's name`);
      return STORE_DIR + ref;
    })
    .sort();
  return {
    storePath,
    url: need("URL"),
    // Nix's default when a narinfo says nothing: bzip2.
    compression: fields.get("Compression") || "bzip2",
    fileHash: hash("FileHash"),
    fileSize: size("FileSize"),
    narHash: hash("NarHash"),
    narSize: size("NarSize"),
    references,
    sigs,
  };
}

/** What a cache signs for a path: `1;<path>;<NarHash>;<NarSize>;<references, comma separated>`. */
export function fingerprint(info: NarInfo): string {
  return `1;${info.storePath};${info.narHash};${info.narSize};${info.references.join(",")}`;
}

/** Whether a signature of `info` by `key` (by its name) verifies. */
export function signedBy(info: NarInfo, key: PublicKey): boolean {
  const data = Buffer.from(fingerprint(info));
  return info.sigs.some((s) => s.name === key.name && crypto.verify(null, data, key.key, s.sig));
}
