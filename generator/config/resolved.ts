/** The checked config's types: what resolveConfig makes of nixgen.config.ts. */
/** A nixpkgs source, resolved to the repository rule that provides it. */
export type ResolvedSource =
  | {
      readonly kind: "local";
      readonly name: string;
      readonly nixFile: string | null;
      readonly nixFileContent: string | null;
      readonly nixFileDeps: readonly string[];
    }
  | {
      readonly kind: "http";
      readonly name: string;
      /** Set for `url` (one URL), null for `urls`. */
      readonly url: string | null;
      readonly urls: readonly string[] | null;
      readonly sha256: string | null;
      readonly integrity: string | null;
      readonly stripPrefix: string | null;
      /** For `git` sources: the repository and commit the archive comes from. */
      readonly git: { readonly repository: string; readonly revision: string } | null;
    };

export interface ResolvedPackage {
  readonly name: string;
  /** Null when a nix file is given without one (its top-level expression is built). */
  readonly attributePath: string | null;
  readonly nixFile: string | null;
  readonly nixFileContent: string | null;
  readonly nixFileDeps: readonly string[];
  readonly buildFile: string | null;
  readonly buildFileContent: string | null;
  readonly nixopts: readonly string[];
  /** Nix search path name → source name. */
  readonly repositories: Readonly<Record<string, string>>;
  readonly quiet: boolean | null;
  readonly failNotSupported: boolean | null;
  readonly escapingSymlinks: "drop" | "fail" | null;
  readonly packedClosure: boolean | null;
}

/** The C/C++ toolchain (`nixpkgs_cc_configure`); nulls leave the rule's default. */
export interface ResolvedCcToolchain {
  /** `@<name>`; `@<name>_toolchains` holds its toolchain targets. */
  readonly name: string;
  readonly attributePath: string | null;
  readonly nixFile: string | null;
  readonly nixFileContent: string | null;
  readonly nixFileDeps: readonly string[];
  /** Nix search path name → source name; always has `nixpkgs`. */
  readonly repositories: Readonly<Record<string, string>>;
  readonly nixopts: readonly string[];
  readonly quiet: boolean | null;
  readonly failNotSupported: boolean | null;
  readonly ccLang: string | null;
  readonly ccStd: string | null;
  readonly execConstraints: readonly string[];
  readonly targetConstraints: readonly string[];
  readonly packedClosure: boolean | null;
}

interface RemoteBase {
  readonly executor: string;
  readonly instanceName: string | null;
  /** `--remote_default_exec_properties`: the platform of the build's actions. */
  readonly execProperties: Readonly<Record<string, string>>;
}

/** Remote execution: the client builds the packages, the launchers map them on the workers. */
export interface ResolvedLauncherRemote extends RemoteBase {
  readonly strategy: "launcher";
}

/**
 * Remote execution where each package's Nix build is a remotable repository rule on the Nix
 * pool: "remotable" sends the closure back to the client; "shared-store" leaves it in the pool's
 * shared store (`remote_closure = "shared-store"`), where the consumers' actions then run.
 */
export interface ResolvedRemotableRemote extends RemoteBase {
  readonly strategy: RemotableStrategy;
  /** The packages' `exec_properties`: the platform of their Nix builds. */
  readonly nixBuildExecProperties: Readonly<Record<string, string>>;
  /** The packages' `remote_path`, or null for the rule's default. */
  readonly remotePath: string | null;
  /** The packages' `max_closure_mib`, or null for the rule's default. */
  readonly maxClosureMib: number | null;
}

export type ResolvedRemote = ResolvedLauncherRemote | ResolvedRemotableRemote;

/** The strategies whose packages are remotable repository rules, built on the Nix pool. */
const REMOTABLE_STRATEGIES = ["remotable", "shared-store"] as const;
export type RemotableStrategy = (typeof REMOTABLE_STRATEGIES)[number];

/** Whether `strategy` builds the packages as remotable repository rules (on the Nix pool). */
export function isRemotableStrategy(strategy: string | null | undefined): strategy is RemotableStrategy {
  return (REMOTABLE_STRATEGIES as readonly string[]).includes(strategy ?? "");
}

/** The remote settings when the packages are remotable repository rules, else null. */
export function remotableRemote(remote: ResolvedRemote | null): ResolvedRemotableRemote | null {
  return remote !== null && remote.strategy !== "launcher" ? remote : null;
}

/** A binary cache of `binaryCaches`: its URL without a trailing slash, and its public key. */
export interface ResolvedBinaryCache {
  readonly url: string;
  readonly publicKey: string;
}

/** A checked config with its defaults filled in; the input of the workspace model. */
export interface ResolvedConfig {
  readonly sources: readonly ResolvedSource[];
  readonly packages: readonly ResolvedPackage[];
  readonly store: "output-base" | "system";
  readonly remote: ResolvedRemote | null;
  /** The C/C++ toolchain, or null without `ccToolchain`. */
  readonly ccToolchain: ResolvedCcToolchain | null;
  readonly bzlmod: boolean;
  /** `binaryCaches`, in order; [] by default. */
  readonly binaryCaches: readonly ResolvedBinaryCache[];
}
