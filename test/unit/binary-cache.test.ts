// Binary caches as nixgen lock reads them: Nix base32, narinfos, Ed25519 signatures over Nix's
// fingerprint (checked against a narinfo that Nix 2.8 signed), and the lookup of a lock's paths
// across caches with every refusal named.
import crypto from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  BinaryCacheError,
  canonicalSha256,
  checkNarRecord,
  fingerprint,
  lookUpNars,
  nix32Decode,
  nix32Encode,
  normalizeCacheUrl,
  parseNarInfo,
  parsePublicKey,
  sha256Hex,
  signedBy,
  type Fetcher,
  type Wanted,
} from "../../generator/binary-cache/index.js";

// Written and signed by `nix copy --to file://...?secret-key=...&compression=zstd` (Nix 2.8).
const NIX_KEY = "test-1:qhEv4RX9BLfpwfghnPNW9PAfuK4vAMFgVmKo3xx4YR4=";
const NIX_NARINFO = `StorePath: /nix/store/cbwddvfr0af28ygjc9fybwd0v848nis6-tiny01
URL: nar/0p5fh94mb2wq7blm8xkxxn81dn1fqm03vn24xz50361i831zn3kd.nar.zst
Compression: zstd
FileHash: sha256:0p5fh94mb2wq7blm8xkxxn81dn1fqm03vn24xz50361i831zn3kd
FileSize: 222
NarHash: sha256:042p0ymliwdkz2l822zw692asbkmggnqwy1dfbcnvl45qq9j8hws
NarSize: 560
References: 95jayqq325p4p36s6jwgd5rd6lvi8kk1-busybox
Deriver: d0maizqxlz0crzmib3l1h3d8b3k5ip8w-tiny01.drv
Sig: test-1:bkh2jU6V6v5k47K0IywKjC7IdSDG9yavC1Ko9ahT5+I98WjlOkwT46KuirvWssmrXsBQgITpc9PAJpTxx/OdBg==
`;
// sha256sum of that .nar.zst file.
const NIX_FILE_SHA256 = "6d0efbc340319801caef44d83d40c52ed81690ed7d7654e93a988b554982ae5c";

/** A key pair as nix-store --generate-binary-cache-key makes one: the public key's text and a signer. */
function keyPair(name: string) {
  const { publicKey, privateKey } = crypto.generateKeyPairSync("ed25519");
  const raw = publicKey.export({ format: "der", type: "spki" }).subarray(-32);
  return {
    text: `${name}:${raw.toString("base64")}`,
    sign: (data: string) => `${name}:${crypto.sign(null, Buffer.from(data), privateKey).toString("base64")}`,
  };
}

const P = (hash: string, name: string) => `/nix/store/${hash.repeat(32)}-${name}`;
const TINY = P("a", "tiny01");
const BUSYBOX = P("b", "busybox");
const hashOf = (text: string) => `sha256:${nix32Encode(crypto.createHash("sha256").update(text).digest())}`;

/** A narinfo of `path`, signed by `sign` (unsigned without it). */
function narinfo(path: string, narHash: string, refs: string[], sign?: (data: string) => string, compression = "xz"): string {
  const lines = [
    `StorePath: ${path}`,
    `URL: nar/${path.slice(11, 43)}.nar.${compression}`,
    `Compression: ${compression}`,
    `FileHash: ${hashOf(path + "file")}`,
    `FileSize: 100`,
    `NarHash: ${narHash}`,
    `NarSize: 200`,
    `References: ${refs.map((r) => r.slice("/nix/store/".length)).join(" ")}`,
  ];
  const fp = `1;${path};${narHash};200;${[...refs].sort().join(",")}`;
  if (sign) lines.push(`Sig: ${sign(fp)}`);
  return lines.join("\n") + "\n";
}

/** A fetcher over fixed URL → text maps (missing URLs are 404s, `down` hosts unreachable). */
function served(files: Record<string, string>, down: string[] = []): Fetcher {
  return async (url) => {
    if (down.some((d) => url.startsWith(d))) return { error: "ECONNREFUSED" };
    return url in files ? { text: files[url]! } : { missing: true };
  };
}

describe("Nix base32 and hashes", () => {
  it("round-trips and agrees with Nix (a narinfo's FileHash is the sha256 of its file)", () => {
    const digest = crypto.randomBytes(32);
    expect(nix32Decode(nix32Encode(digest))).toEqual(digest);
    expect(sha256Hex("sha256:0p5fh94mb2wq7blm8xkxxn81dn1fqm03vn24xz50361i831zn3kd")).toBe(NIX_FILE_SHA256);
    expect(canonicalSha256(`sha256:${NIX_FILE_SHA256}`)).toBe("sha256:0p5fh94mb2wq7blm8xkxxn81dn1fqm03vn24xz50361i831zn3kd");
    expect(canonicalSha256(`sha256-${Buffer.from(NIX_FILE_SHA256, "hex").toString("base64")}`)).toBe(
      "sha256:0p5fh94mb2wq7blm8xkxxn81dn1fqm03vn24xz50361i831zn3kd",
    );
    expect(nix32Decode("e".repeat(52))).toBeNull();
    // The first digit carries 2 bits of the last byte only: "z" there overflows.
    expect(nix32Decode("z" + "0".repeat(51))).toBeNull();
    expect(canonicalSha256("md5:abc")).toBeNull();
  });
});

describe("narinfos and their signatures", () => {
  it("reads a narinfo Nix wrote and verifies Nix's signature with the cache's public key", () => {
    const info = parseNarInfo(NIX_NARINFO, "http://cache/cbwd.narinfo");
    expect(info).toMatchObject({
      storePath: "/nix/store/cbwddvfr0af28ygjc9fybwd0v848nis6-tiny01",
      compression: "zstd",
      fileSize: 222,
      narSize: 560,
      references: ["/nix/store/95jayqq325p4p36s6jwgd5rd6lvi8kk1-busybox"],
    });
    expect(fingerprint(info)).toBe(
      "1;/nix/store/cbwddvfr0af28ygjc9fybwd0v848nis6-tiny01;sha256:042p0ymliwdkz2l822zw692asbkmggnqwy1dfbcnvl45qq9j8hws;560;/nix/store/95jayqq325p4p36s6jwgd5rd6lvi8kk1-busybox",
    );
    expect(signedBy(info, parsePublicKey(NIX_KEY))).toBe(true);
    expect(signedBy(info, parsePublicKey(keyPair("test-1").text))).toBe(false);
    expect(signedBy(parseNarInfo(NIX_NARINFO.replace("NarSize: 560", "NarSize: 561"), "x"), parsePublicKey(NIX_KEY))).toBe(false);
  });

  it("names what is wrong with a narinfo or a key", () => {
    expect(() => parseNarInfo("StorePath: /nix/store/x\n", "http://c/x.narinfo")).toThrow(/http:\/\/c\/x\.narinfo: StorePath is "\/nix\/store\/x", not a path of \/nix\/store/);
    expect(() => parseNarInfo(NIX_NARINFO.replace(/^URL.*\n/m, ""), "u")).toThrow("u is not a complete narinfo: it has no URL");
    expect(() => parseNarInfo("<html>", "u")).toThrow('u is not a narinfo: the line "<html>" is not "Key: value"');
    expect(() => parsePublicKey("test-1")).toThrow(/is not a binary cache public key/);
    expect(() => parsePublicKey(`k:${crypto.randomBytes(64).toString("base64")}`)).toThrow(/looks like a secret key/);
    expect(() => normalizeCacheUrl("s3://bucket")).toThrow(/not a binary cache URL Bazel can download from/);
    expect(normalizeCacheUrl("http://127.0.0.1:8080/")).toBe("http://127.0.0.1:8080");
  });
});

describe("looking a lock's paths up in binary caches", () => {
  const good = keyPair("good-1");
  const other = keyPair("other-1");
  const tinyHash = hashOf("tiny");
  const busyboxHash = hashOf("busybox");
  const wanted = new Map<string, Wanted>([
    [TINY, { narHash: tinyHash, packages: ["tiny01"] }],
    [BUSYBOX, { narHash: busyboxHash, packages: ["greet", "tiny01"] }],
  ]);
  const url = (cache: string, path: string) => `${cache}/${path.slice(11, 43)}.narinfo`;

  it("takes each path from the first cache that serves it signed, with the pinned NAR hash", async () => {
    const fetch = served({
      [url("http://a", BUSYBOX)]: narinfo(BUSYBOX, busyboxHash, [], good.sign, "zstd"),
      [url("http://b", TINY)]: narinfo(TINY, tinyHash, [BUSYBOX], other.sign),
      [url("http://b", BUSYBOX)]: narinfo(BUSYBOX, busyboxHash, [], other.sign),
    });
    const nars = await lookUpNars(
      [
        { url: "http://a/", publicKey: good.text },
        { url: "http://b", publicKey: other.text },
      ],
      wanted,
      { fetch },
    );
    expect(Object.keys(nars)).toEqual([TINY, BUSYBOX]);
    expect(nars[BUSYBOX]).toMatchObject({ cache: "http://a", compression: "zstd", narHash: busyboxHash, references: [] });
    expect(nars[TINY]).toMatchObject({ cache: "http://b", url: `nar/${"a".repeat(32)}.nar.xz`, references: [BUSYBOX], fileSize: 100, narSize: 200 });
    expect(checkNarRecord(nars[TINY], "x")).toEqual(nars[TINY]);
  });

  it("refuses unsigned and wrongly signed narinfos, other builds and unreachable caches, naming each path and package", async () => {
    const fetch = served({
      [url("http://a", TINY)]: narinfo(TINY, tinyHash, [BUSYBOX], other.sign),
      [url("http://a", BUSYBOX)]: narinfo(BUSYBOX, hashOf("another build"), [], good.sign),
    });
    const error = await lookUpNars([{ url: "http://a", publicKey: good.text }], wanted, { fetch }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BinaryCacheError);
    const message = (error as Error).message;
    expect(message).toContain("2 store path(s) of the lock are not served by any configured binary cache (http://a)");
    expect(message).toContain(`${TINY} (package tiny01): http://a: its narinfo (http://a/${"a".repeat(32)}.narinfo) has no valid signature by the configured key good-1 (signed by: other-1`);
    expect(message).toContain(`${BUSYBOX} (packages greet, tiny01): http://a: it holds another build of it`);

    const unsigned = served({ [url("http://a", TINY)]: narinfo(TINY, tinyHash, [BUSYBOX]), [url("http://a", BUSYBOX)]: narinfo(BUSYBOX, busyboxHash, []) });
    await expect(lookUpNars([{ url: "http://a", publicKey: good.text }], wanted, { fetch: unsigned })).rejects.toThrow("(it is unsigned)");

    const missing = await lookUpNars([{ url: "http://a", publicKey: good.text }], wanted, { fetch: served({}) }).catch((e: Error) => e.message);
    expect(missing).toContain(`${TINY} (package tiny01): http://a: not there`);
    expect(missing).toContain("Push them to a cache (nix copy --to");

    const down = await lookUpNars([{ url: "http://a", publicKey: good.text }], wanted, { fetch: served({}, ["http://a"]) }).catch((e: Error) => e.message);
    expect(down).toContain("http://a: cannot be reached (ECONNREFUSED)");
    expect(down).toContain("Check that the cache is up and its URL right");
  });
});
