// Helpers of the binary cache tests, the example's check and the benchmark: a real signed Nix
// binary cache (`nix-store --generate-binary-cache-key`, `nix copy --to file://...`) served over
// http://127.0.0.1 by a small static server that logs what it sent (and can be told to
// misbehave), failing stand-ins for the Nix commands, and a PATH with no Nix at all.
import { execa } from "execa";
import { createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync, chmodSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join, normalize } from "node:path";
import { run, type Flavor } from "./harness.js";

/** One request the server answered. */
export interface Served {
  readonly path: string;
  readonly status: number;
  /** Body bytes sent. */
  readonly bytes: number;
}

/** How the server misbehaves for one file: other bytes, half the file, or a cut connection. */
export type Fault = "tamper" | "truncate" | "cut";

export interface CacheServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** Every request since the start (or the last `reset`). */
  readonly log: Served[];
  /** Requests of NAR files (`/nar/...`). */
  narRequests(): Served[];
  /** Body bytes sent since the start (or the last `reset`). */
  bytes(): number;
  reset(): void;
  /** Makes the file at `path` (e.g. `/nar/x.nar.xz`) misbehave until `clearFaults`. */
  fault(path: string, fault: Fault): void;
  clearFaults(): void;
  /** Closes the port (the cache is then unreachable); `start` opens it again, on the same port (a no-op while open). */
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** Serves `dir` read-only on 127.0.0.1 (a free port, or `port`). */
export async function startCacheServer(dir: string, port = 0): Promise<CacheServer> {
  const log: Served[] = [];
  const faults = new Map<string, Fault>();
  let server: Server | null = null;
  let bound = port;
  const handler = (req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname));
    const file = join(dir, path);
    if (path.includes("..") || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end();
      log.push({ path, status: 404, bytes: 0 });
      return;
    }
    const fault = faults.get(path);
    const body = readFileSync(file);
    if (fault === "tamper" || fault === "truncate") {
      const sent = fault === "truncate" ? body.subarray(0, Math.floor(body.length / 2)) : Buffer.from(body.map((b, i) => (i === body.length >> 1 ? b ^ 0xff : b)));
      res.writeHead(200, { "content-length": sent.length }).end(sent);
      log.push({ path, status: 200, bytes: sent.length });
      return;
    }
    if (fault === "cut") {
      res.writeHead(200, { "content-length": body.length });
      res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.destroy());
      log.push({ path, status: 200, bytes: Math.floor(body.length / 2) });
      return;
    }
    res.writeHead(200, { "content-length": body.length });
    if (req.method === "HEAD") {
      res.end();
      log.push({ path, status: 200, bytes: 0 });
      return;
    }
    createReadStream(file).pipe(res);
    log.push({ path, status: 200, bytes: body.length });
  };
  const start = async () => {
    if (server !== null) return;
    server = createServer(handler);
    await new Promise<void>((resolve, reject) => {
      server!.once("error", reject);
      server!.listen(bound, "127.0.0.1", () => resolve());
    });
    bound = (server!.address() as AddressInfo).port;
  };
  await start();
  return {
    get url() {
      return `http://127.0.0.1:${bound}`;
    },
    get port() {
      return bound;
    },
    log,
    narRequests: () => log.filter((r) => r.path.startsWith("/nar/")),
    bytes: () => log.reduce((n, r) => n + r.bytes, 0),
    reset: () => void log.splice(0),
    fault: (path, fault) => void faults.set(path, fault),
    clearFaults: () => faults.clear(),
    stop: () =>
      new Promise<void>((resolve) => {
        if (server === null) return resolve();
        server.closeAllConnections();
        server.close(() => resolve());
        server = null;
      }),
    start,
  };
}

/** A cache signing key made by Nix: the secret key's file and the public key's text. */
export interface CacheKey {
  readonly name: string;
  readonly secretFile: string;
  readonly publicKey: string;
}

/** `nix-store --generate-binary-cache-key NAME` into `dir` (the host's Nix; keys are portable). */
export async function makeCacheKey(dir: string, name: string): Promise<CacheKey> {
  mkdirSync(dir, { recursive: true });
  const secretFile = join(dir, `${name}.sec`);
  const publicFile = join(dir, `${name}.pub`);
  await run("nix-store", ["--generate-binary-cache-key", name, secretFile, publicFile]);
  return { name, secretFile, publicKey: readFileSync(publicFile, "utf8").trim() };
}

/**
 * Copies store paths (and their closures) from the chroot store at `storeRoot` into the file
 * cache `cacheDir`, signed with `key` and compressed with `compression`, with the machine's Nix.
 * Paths the cache holds already are left as they are (so a second call with another
 * compression only adds the paths the first did not copy).
 */
export async function copyToCache(
  flavor: Flavor,
  storeRoot: string,
  paths: readonly string[],
  cacheDir: string,
  key: CacheKey | null,
  compression = "xz",
): Promise<void> {
  const to = `file://${cacheDir}?compression=${compression}${key ? `&secret-key=${key.secretFile}` : ""}`;
  const argv = ["nix", "--extra-experimental-features", "nix-command", "copy", "--from", storeRoot, "--to", to, ...paths];
  const [cmd, args] = flavor.command(argv);
  await run(cmd, args, { env: { NIX_CONFIG: "substituters =\nbuild-users-group =" } });
}

/** The narinfo of a store path in a file cache: its fields. */
export function readNarInfo(cacheDir: string, storePath: string): Record<string, string> {
  const text = readFileSync(join(cacheDir, `${storePath.slice(11, 43)}.narinfo`), "utf8");
  return Object.fromEntries(
    text
      .split("\n")
      .filter(Boolean)
      .map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 1).trim()]),
  );
}

/** Failing stand-ins for the Nix commands, which log each call to `log`; returns their directory. */
export function fakeNix(dir: string, log: string): string {
  const bin = join(dir, "fake-nix-bin");
  mkdirSync(bin, { recursive: true });
  for (const tool of ["nix", "nix-build", "nix-instantiate", "nix-store", "nix-env", "nix-hash", "nix-prefetch-url"]) {
    writeFileSync(join(bin, tool), `#!/bin/sh\necho "${tool} $*" >> '${log}'\necho "${tool}: this machine must run no Nix command" >&2\nexit 97\n`);
    chmodSync(join(bin, tool), 0o755);
  }
  return bin;
}

/**
 * A directory of links to every program of the machine's /usr/bin and /bin but Nix's (and the
 * ones in `without`): a PATH on which Nix does not exist at all.
 */
export function pathWithoutNix(dir: string, flavor: Flavor, without: readonly string[] = []): string {
  const bin = join(dir, `no-nix-bin${without.length ? "-" + without.join("-") : ""}`);
  mkdirSync(bin, { recursive: true });
  const made = new Set(readdirSync(bin));
  for (const sys of ["/usr/bin", "/bin"]) {
    const real = join(flavor.rootDir || "/", sys);
    if (!existsSync(real)) continue;
    for (const name of readdirSync(real)) {
      if (name.startsWith("nix") || without.includes(name) || made.has(name)) continue;
      symlinkSync(join(sys, name), join(bin, name));
      made.add(name);
    }
  }
  return bin;
}

/** The size of a file cache's NAR files, in bytes. */
export function narBytes(cacheDir: string): number {
  return readdirSync(join(cacheDir, "nar")).reduce((n, f) => n + statSync(join(cacheDir, "nar", f)).size, 0);
}

/** Runs `argv` on the flavor's machine, failing with its output. */
export async function onMachine(flavor: Flavor, argv: string[], env: Record<string, string> = {}): Promise<string> {
  const [cmd, args] = flavor.command(argv);
  return String((await execa(cmd, args, { env, stdin: "ignore" })).stdout);
}
