/** The `remote` block of nixgen.config.ts: the strategy, the executor and the platforms of actions and builds. */
import type { Literal, Property } from "./literal.js";
import type { Reader } from "./reader.js";
import { isRemotableStrategy, type ResolvedRemote } from "./resolved.js";

const REMOTE_KEYS = [
  "strategy",
  "executor",
  "instanceName",
  "execProperties",
  "nixBuildExecProperties",
  "remotePath",
  "maxClosureMib",
] as const;
/** Keys of `remote` that only the remotable strategies take. */
const REMOTABLE_KEYS = ["nixBuildExecProperties", "remotePath", "maxClosureMib"] as const;
/** Keys of `remote` that earlier versions documented and never implemented: [message, hint]. */
const RETIRED_REMOTE_KEYS: Readonly<Record<string, readonly [string, string]>> = {
  sharedStore: [
    'remote: "sharedStore" (copying the closures this machine builds into a store, nix copy --to) is not implemented',
    'remove it: strategy "shared-store" builds each package on the Nix pool (nixBuildExecProperties) ' +
      "into the store its executors share",
  ],
};
const STRATEGIES = ["launcher", "remotable", "shared-store"] as const;
export type Strategy = (typeof STRATEGIES)[number];

/** A record of exec properties; `flag` says how they are written, for the message. */
function readExecProperties(
  r: Reader,
  prop: Property | undefined,
  flag: string,
  check: (key: string, value: string) => boolean,
  rule: string,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [entry, value] of r.stringRecord(prop, "remote")) {
    if (entry.key === "" || !check(entry.key, value)) {
      r.error(
        entry.keyPos,
        `remote: exec property "${entry.key}=${value}" cannot be written as ${flag}`,
        rule,
      );
    } else {
      out[entry.key] = value;
    }
  }
  return out;
}

/** The keys of the remotable strategies: the packages' remote build settings. */
function readRemotable(r: Reader, props: Map<string, Property>) {
  const what = "remote";
  const nixBuildExecProperties = readExecProperties(
    r,
    props.get("nixBuildExecProperties"),
    "the packages' exec_properties",
    (key) => !/[=\s]/.test(key),
    "names cannot be empty or contain = or white space",
  );
  const remotePath = r.text(props.get("remotePath"), what);
  if (remotePath !== null && !remotePath.split(":").every((dir) => dir.startsWith("/"))) {
    r.error(
      props.get("remotePath")!.value.pos,
      `remote: "remotePath" is "${remotePath}", not a PATH of absolute directories`,
      'separate the worker\'s directories with ":", e.g. "/nix/var/nix/profiles/default/bin:/usr/bin:/bin"',
    );
  }
  let maxClosureMib: number | null = null;
  const max = props.get("maxClosureMib");
  if (max !== undefined) {
    if (max.value.kind === "number" && Number.isSafeInteger(max.value.value) && max.value.value > 0) {
      maxClosureMib = max.value.value;
    } else if (max.value.kind !== "opaque") {
      r.error(max.value.pos, `remote: "maxClosureMib" must be a whole number of MiB above 0`, "e.g. maxClosureMib: 512");
    }
  }
  return { nixBuildExecProperties, remotePath, maxClosureMib };
}

/** Reports the retired keys of the `remote` block; returns the block without them. */
function withoutRetiredKeys(r: Reader, lit: Literal): Literal {
  if (lit.kind !== "object") return lit;
  for (const prop of lit.props) {
    const retired = RETIRED_REMOTE_KEYS[prop.key];
    if (retired !== undefined) r.error(prop.keyPos, retired[0], retired[1]);
  }
  return { ...lit, props: lit.props.filter((p) => RETIRED_REMOTE_KEYS[p.key] === undefined) };
}

/** Reports the strategy-specific keys that `strategy` does not take. */
function checkStrategyKeys(r: Reader, props: Map<string, Property>, strategy: Strategy | null): void {
  for (const key of REMOTABLE_KEYS) {
    if (props.has(key) && !isRemotableStrategy(strategy)) {
      r.error(
        props.get(key)!.keyPos,
        `remote: "${key}" applies only to strategies "remotable" and "shared-store"`,
        'remove it, or set strategy: "remotable" or "shared-store"',
      );
    }
  }
  if (strategy === "shared-store" && props.has("maxClosureMib")) {
    r.error(
      props.get("maxClosureMib")!.keyPos,
      `remote: "maxClosureMib" does not apply with strategy "shared-store"`,
      "remove it: the closures stay in the Nix pool's shared store, and no archive is sent back",
    );
  }
}

/**
 * The `remote` block; `strategy` is null when it is missing or unknown. With "shared-store" and
 * no `execProperties`, the consumers' actions get `nixBuildExecProperties`: they must run on
 * the pool whose store holds the closures.
 */
export function readRemote(r: Reader, prop: Property): { remote: ResolvedRemote | null; strategy: Strategy | null } {
  const what = "remote";
  const props = r.object(withoutRetiredKeys(r, prop.value), what, REMOTE_KEYS);
  if (props === null) return { remote: null, strategy: null };
  if (!props.has("strategy")) {
    r.error(prop.keyPos, `remote needs a "strategy"`, 'use "launcher", "remotable" or "shared-store"');
  }
  const strategy = r.oneOf(props.get("strategy"), what, STRATEGIES);
  checkStrategyKeys(r, props, strategy);
  if (!props.has("executor")) {
    r.error(
      prop.keyPos,
      `remote needs an "executor"`,
      'e.g. executor: "grpc://buildbarn.example:8980" (passed as --remote_executor)',
    );
  }
  const executor = r.text(props.get("executor"), what);
  if (executor !== null && !/^(grpcs?|unix|https?):\/\/\S+$/.test(executor)) {
    r.error(
      props.get("executor")!.value.pos,
      `remote: "executor" is "${executor}", not a URL Bazel accepts`,
      'e.g. "grpc://host:8980" or "grpcs://host:443"',
    );
  }
  const instanceName = r.text(props.get("instanceName"), what);
  if (instanceName !== null && /\s/.test(instanceName)) {
    r.error(props.get("instanceName")!.value.pos, `remote: "instanceName" contains white space`);
  }
  const execProperties = readExecProperties(
    r,
    props.get("execProperties"),
    "--remote_default_exec_properties",
    (key, value) => !/[=\s]/.test(key) && !/\s/.test(value),
    "names cannot be empty or contain = or white space, values cannot contain white space",
  );
  const remotable = readRemotable(r, props);
  const consumers =
    strategy === "shared-store" && !props.has("execProperties")
      ? poolExecProperties(r, props.get("nixBuildExecProperties"), remotable.nixBuildExecProperties)
      : execProperties;
  if (executor === null || strategy === null) return { remote: null, strategy };
  const base = { executor, instanceName, execProperties: consumers };
  if (strategy === "launcher") return { remote: { strategy, ...base }, strategy };
  return { remote: { strategy, ...base, ...remotable }, strategy };
}

/**
 * The consumers' platform under "shared-store" without `execProperties`: the pool's (`prop`,
 * read as `pool`), as `--remote_default_exec_properties`, whose values cannot hold white space.
 */
function poolExecProperties(r: Reader, prop: Property | undefined, pool: Readonly<Record<string, string>>): Record<string, string> {
  for (const [key, value] of Object.entries(pool)) {
    if (!/\s/.test(value)) continue;
    r.error(
      prop!.keyPos,
      `remote: the consumers' actions of strategy "shared-store" run on the Nix pool, but its exec property ` +
        `"${key}=${value}" cannot be written as --remote_default_exec_properties`,
      "set execProperties to a platform without white space in its values that selects executors sharing the pool's store",
    );
  }
  return { ...pool };
}
