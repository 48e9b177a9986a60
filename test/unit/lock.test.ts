import { describe, expect, it } from "vitest";
import { LOCK_COMMENT, parseLock, renderLock, type LockEntry } from "../../generator/lock/index.js";

const A = "/nix/store/" + "a".repeat(32) + "-tiny01";
const B = "/nix/store/" + "b".repeat(32) + "-busybox";
const H1 = "sha256:" + "1".repeat(52);
const H2 = "sha256:" + "2".repeat(52);
const entry: LockEntry = { inputs: "sha256:" + "f".repeat(64), out: [A], closure: { [B]: H2, [A]: H1 } };

describe("the lock file", () => {
  it("renders with sorted keys, two-space indent and a trailing newline, whatever the input order", () => {
    const one = renderLock({ zeta: entry, alpha: entry });
    const two = renderLock({ alpha: { closure: { [A]: H1, [B]: H2 }, out: [A], inputs: entry.inputs }, zeta: entry });
    expect(one).toBe(two);
    expect(one.endsWith("}\n")).toBe(true);
    const parsed = JSON.parse(one) as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual(["_comment", "packages", "version"]);
    expect(parsed._comment).toBe(LOCK_COMMENT);
    expect(Object.keys((parsed.packages as Record<string, unknown>).alpha as object)).toEqual(["closure", "inputs", "out"]);
    expect(one.indexOf(A)).toBeLessThan(one.indexOf(B));
  });

  it("parses what it renders", () => {
    const lock = parseLock(renderLock({ tiny01: entry }), "nixstore.lock.json");
    expect(lock.packages.tiny01).toEqual(entry);
  });

  it("names the file, the package and what to do when the lock is malformed", () => {
    expect(() => parseLock("{", "ws/nixstore.lock.json")).toThrow(/ws\/nixstore\.lock\.json is not valid JSON .*run `nixgen lock`/);
    expect(() => parseLock('{"version": 2, "packages": {}}', "f.json")).toThrow(/f\.json has version 2, nixgen reads version 1/);
    const bad = JSON.stringify({ version: 1, packages: { tiny01: { ...entry, out: ["/tmp/x"] } } });
    expect(() => parseLock(bad, "f.json")).toThrow(/f\.json: package "tiny01": out holds "\/tmp\/x", not a store path/);
    const badHash = JSON.stringify({ version: 1, packages: { tiny01: { ...entry, closure: { [A]: "md5:x" } } } });
    expect(() => parseLock(badHash, "f.json")).toThrow(/closure hash of .*-tiny01 is "md5:x"/);
  });
});
