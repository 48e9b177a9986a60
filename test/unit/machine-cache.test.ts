// Where nixgen finds the machine cache: the same rule as rules/private/machine_cache.bzl, whose own
// tests (test/starlark/machine_cache_test.bzl) run the same cases in Starlark.
import { describe, expect, it } from "vitest";
import { gcMachineCache, machineCacheDir } from "../../generator/gc/index.js";
import { LockError } from "../../generator/lock/index.js";
import { tempDir } from "./support.js";

describe("machineCacheDir", () => {
  it("takes RULES_NIXSTORE_MACHINE_CACHE first, without a trailing slash", () => {
    expect(machineCacheDir({ RULES_NIXSTORE_MACHINE_CACHE: "/srv/cache/", XDG_CACHE_HOME: "/x", HOME: "/h" })).toBe("/srv/cache");
  });
  it("is off with RULES_NIXSTORE_MACHINE_CACHE=off", () => {
    expect(machineCacheDir({ RULES_NIXSTORE_MACHINE_CACHE: "off", HOME: "/h" })).toBeNull();
  });
  it("refuses a relative directory, naming the variable", () => {
    expect(() => machineCacheDir({ RULES_NIXSTORE_MACHINE_CACHE: "cache" })).toThrow(
      new LockError("RULES_NIXSTORE_MACHINE_CACHE=cache is not an absolute path"),
    );
  });
  it("falls back to $XDG_CACHE_HOME, then $HOME/.cache", () => {
    expect(machineCacheDir({ XDG_CACHE_HOME: "/x", HOME: "/h" })).toBe("/x/rules_nixstore/store");
    expect(machineCacheDir({ XDG_CACHE_HOME: "relative", HOME: "/h" })).toBe("/h/.cache/rules_nixstore/store");
    expect(machineCacheDir({ HOME: "/h" })).toBe("/h/.cache/rules_nixstore/store");
    expect(() => machineCacheDir({})).toThrow(/cannot find the machine cache/);
  });
});

describe("gcMachineCache", () => {
  it("deletes nothing and runs no Nix where no cache was made yet", async () => {
    const dir = tempDir();
    expect(await gcMachineCache({ dir })).toEqual({ store: dir, staleRepositories: [], deleted: [], summary: "" });
  });
});
