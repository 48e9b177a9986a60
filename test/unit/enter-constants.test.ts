// The launcher helper `enter` is C (rules/private/nixstore_enter.c), built by scripts/build-enter.sh
// outside nixgen: the facts it shares with the rules and nixgen are literals there, each checked
// here against the one place it is defined (generator/model), so that changing one side fails.
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { LAUNCH_SUFFIX, NAR_CACHE_PREFIX, NIX_BASE32_DIGITS } from "../../generator/model/index.js";
import { REPO_ROOT } from "./support.js";

const SOURCE = fs.readFileSync(path.join(REPO_ROOT, "rules/private/nixstore_enter.c"), "utf8");

/** The string literal of `#define <name> "..."` in nixstore_enter.c (no escapes in these). */
function defined(name: string): string | undefined {
  return new RegExp(`^#define ${name} "([^"\\\\]*)"$`, "m").exec(SOURCE)?.[1];
}

describe("nixstore_enter.c's literals are the model's constants", () => {
  it("reads the launcher data at <launcher> + LAUNCH_SUFFIX", () => {
    expect(defined("LAUNCH_SUFFIX")).toBe(LAUNCH_SUFFIX);
  });

  it("unpacks packed closures under NAR_CACHE_PREFIX<uid>", () => {
    expect(defined("NAR_CACHE_PREFIX")).toBe(NAR_CACHE_PREFIX);
  });

  it("prints NAR hashes (enter --nar-hash) in Nix's base32 digits", () => {
    expect(/static const char digits\[\] = "([^"]*)";/.exec(SOURCE)?.[1]).toBe(NIX_BASE32_DIGITS);
  });
});
