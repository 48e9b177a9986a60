#!/usr/bin/env node
// @ts-check
/**
 * Launcher overhead per invocation (rules_nixstore).
 *
 * Median, p95 and mean wall time of one process spawn, over RUNS timed runs
 * after WARMUP warm-up runs, for:
 *   direct           the program's ELF at /nix/store/...-hello/bin/hello, in a
 *                    private mount namespace where the chroot store is bound
 *                    onto /nix/store (root; the host is untouched)
 *   launcher-visible the shell launcher in that same namespace: /nix/store
 *                    shows the program, so it just execs it
 *   launcher-mapped  the shell launcher where /nix/store does not show the
 *                    program: it runs _nixstore/enter, which creates a user +
 *                    mount namespace and binds the closure (uid 65534)
 *   enter-mapped     _nixstore/enter run directly, without the shell launcher
 *                    (uid 65534), to split the cost between sh and the mapping
 *   launcher-mapped-root  launcher-mapped, run as root (for reference)
 *
 * Every run's stdout must be "hello from nix"; any failure aborts.
 *
 *   sudo node bench/launcher-overhead.mjs [--runs N] [--warmup N] [--keep]
 *
 * Needs root (bind mount for the baseline; setpriv to an unprivileged uid),
 * nix-build, unshare and setpriv (util-linux), and
 * unprivileged user namespaces. Writes bench/results/launcher-overhead.json.
 */
import { spawnSync, execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const SELF = fileURLToPath(import.meta.url);
const REPO = path.resolve(path.dirname(SELF), "..");
const EXPECTED = "hello from nix";
const UNPRIVILEGED = ["--reuid=65534", "--regid=65534", "--clear-groups"];

/**
 * @typedef {{ case: string, description: string, uid: number, runs: number, warmup: number,
 *   median_ms: number, p95_ms: number, mean_ms: number, min_ms: number, max_ms: number }} CaseResult
 * @typedef {{ name: string, description: string, argv: string[], bindStore?: string }} InnerCase
 */

/** @param {string} msg @returns {never} */
function die(msg) {
  throw new Error(msg);
}

/**
 * Runs a command, failing with its stderr.
 * @param {string} cmd @param {string[]} args @param {import("node:child_process").SpawnSyncOptions} [opts]
 * @returns {string} stdout
 */
function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 64 << 20, ...opts });
  if (r.error) die(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) die(`${cmd} ${args.join(" ")} exited ${r.status}:\n${r.stderr}`);
  return String(r.stdout);
}

/** @param {number[]} sorted @param {number} q nearest-rank quantile */
function quantile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** @param {number} x */
const r3 = (x) => Math.round(x * 1000) / 1000;

/**
 * Times `runs` spawns of argv after `warmup` untimed ones, checking stdout.
 * @param {string[]} argv @param {number} runs @param {number} warmup @param {string} cwd
 */
function timeSpawns(argv, runs, warmup, cwd) {
  const env = { PATH: "/usr/bin:/bin", LANG: "C" };
  const [cmd, ...args] = argv;
  /** @type {number[]} */
  const samples = [];
  for (let i = 0; i < warmup + runs; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { encoding: "utf8", env, cwd });
    const t1 = process.hrtime.bigint();
    if (r.error || r.status !== 0 || r.stdout.trim() !== EXPECTED) {
      const why = r.error ? r.error.message : `exit ${r.status}, stdout ${JSON.stringify(r.stdout)}`;
      throw new Error(`run ${i} of ${argv.join(" ")} failed (${why}):\n${r.stderr}`);
    }
    if (i >= warmup) samples.push(Number(t1 - t0) / 1e6);
  }
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    runs,
    warmup,
    median_ms: r3(quantile(sorted, 0.5)),
    p95_ms: r3(quantile(sorted, 0.95)),
    mean_ms: r3(samples.reduce((a, b) => a + b, 0) / samples.length),
    min_ms: r3(sorted[0]),
    max_ms: r3(sorted[sorted.length - 1]),
  };
}

/**
 * Inner mode: runs inside the namespace / as the uid the outer process chose,
 * optionally binds the chroot store onto /nix/store, times each case and
 * prints the results as JSON on stdout.
 * @param {{ cases: InnerCase[], runs: number, warmup: number, cwd: string, bindStore?: string }} spec
 */
function inner(spec) {
  if (spec.bindStore) {
    if (!fs.existsSync("/nix/store")) {
      if (!fs.existsSync("/nix")) die("/nix does not exist: the direct case cannot be measured with a bind mount here");
      run("mount", ["-t", "tmpfs", "nixbench", "/nix"]); // private namespace: host untouched
      fs.mkdirSync("/nix/store");
    }
    run("mount", ["--bind", spec.bindStore, "/nix/store"]);
  }
  const out = [];
  for (const c of spec.cases) {
    try {
      out.push({ case: c.name, description: c.description, uid: process.getuid?.() ?? -1, ...timeSpawns(c.argv, spec.runs, spec.warmup, spec.cwd) });
    } catch (e) {
      die(/** @type {Error} */ (e).message);
    }
  }
  process.stdout.write(JSON.stringify(out));
}

/** @param {string[]} argv */
function parseArgs(argv) {
  const o = { runs: 1000, warmup: 50, keep: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--runs") o.runs = Number(argv[++i]);
    else if (argv[i] === "--warmup") o.warmup = Number(argv[++i]);
    else if (argv[i] === "--keep") o.keep = true;
    else die(`unknown argument ${argv[i]}`);
  }
  if (!(o.runs > 0 && o.warmup >= 0)) die("--runs must be > 0 and --warmup >= 0");
  return o;
}

/**
 * Builds the fixture packages into a chroot store and lays out a package
 * repository as rules_nixstore does: nix/store/<hash-name> links, the mapper
 * compiled like the repository rule, and the rendered shell launcher.
 * @param {string} tmp
 */
function setup(tmp) {
  const store = path.join(tmp, "store");
  const pkg = path.join(tmp, "pkg");
  // Offline, and without build users (nixbld may not exist; the repository rule does the same).
  const env = { ...process.env, NIX_CONFIG: "substituters =\nbuild-users-group =" };
  /** @type {Record<string, string>} */
  const outs = {};
  for (const attr of ["hello", "busybox"]) {
    outs[attr] = run("nix-build", ["--store", store, path.join(REPO, "test/fixtures/nixpkgs"), "-A", attr,
      "--no-out-link", "--option", "build-users-group", ""], { env }).trim();
  }
  fs.mkdirSync(path.join(pkg, "_nixstore/bin"), { recursive: true });
  fs.mkdirSync(path.join(pkg, "nix/store"), { recursive: true });
  const enter = path.join(pkg, "_nixstore/enter");
  // The prebuilt helper every package repository gets (rules/private/enter, scripts/build-enter.sh).
  const platform = os.arch() === "arm64" ? "aarch64-linux" : "x86_64-linux";
  fs.copyFileSync(path.join(REPO, "rules/private/enter", platform, "enter"), enter);
  fs.chmodSync(enter, 0o755);
  const closure = run("nix-store", ["--store", store, "-qR", outs.hello]).trim().split("\n");
  for (const p of closure) {
    const name = path.basename(p);
    fs.symlinkSync(path.join(store, "nix/store", name), path.join(pkg, "nix/store", name));
  }
  const program = `${outs.hello}/bin/hello`;
  const tpl = fs.readFileSync(path.join(REPO, "rules/private/launcher.sh.tpl"), "utf8");
  const launcher = path.join(pkg, "_nixstore/bin/hello");
  fs.writeFileSync(launcher, tpl.replaceAll("%{PROGRAM}", program).replaceAll("%{RUNFILES_REPO}", "pkg")
    .replaceAll("%{EXEC_REPO}", "external/pkg"));
  fs.chmodSync(launcher, 0o755);
  for (const d of [tmp, pkg, path.join(pkg, "_nixstore"), path.join(pkg, "_nixstore/bin"), path.join(pkg, "nix"),
    path.join(pkg, "nix/store")]) fs.chmodSync(d, 0o755);
  return { store, pkg, enter, launcher, program, outs, closure };
}

/**
 * Re-runs this file in inner mode under `prefix` (unshare / setpriv).
 * @param {string[]} prefix @param {object} spec @param {string} innerScript
 * @returns {CaseResult[]}
 */
function runInner(prefix, spec, innerScript) {
  const r = spawnSync(prefix[0], [...prefix.slice(1), process.execPath, innerScript, "--inner", JSON.stringify(spec)], {
    encoding: "utf8",
    maxBuffer: 64 << 20,
    stdio: ["ignore", "pipe", "pipe"],
  });
  if (r.error) die(`${prefix[0]}: ${r.error.message}`);
  if (r.status !== 0) die(`benchmark aborted (${prefix.join(" ")}):\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

function main() {
  if (process.argv[2] === "--inner") return inner(JSON.parse(process.argv[3]));
  const opts = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) die("run as root (sudo node bench/launcher-overhead.mjs): the baseline binds the store onto /nix/store in a private mount namespace");
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "launcher-bench-"));
  try {
    process.stderr.write(`setup in ${tmp}\n`);
    const s = setup(tmp);
    if (fs.existsSync(s.program)) die(`${s.program} exists on the host /nix/store: the mapped case would not map`);
    // A copy of this file any uid can read (the checkout may not be).
    const innerScript = path.join(tmp, "launcher-overhead.mjs");
    fs.copyFileSync(SELF, innerScript);
    fs.chmodSync(innerScript, 0o644);
    const common = { runs: opts.runs, warmup: opts.warmup, cwd: tmp };
    const storeDir = path.join(s.store, "nix/store");

    process.stderr.write("timing direct and launcher-visible (root, private mount namespace)\n");
    const visible = runInner(["unshare", "--mount", "--propagation", "private", "--"], {
      ...common,
      bindStore: storeDir,
      cases: [
        { name: "direct", description: "ELF at /nix/store run directly (store bound on /nix/store)", argv: [s.program] },
        { name: "launcher-visible", description: "shell launcher, /nix/store shows the program: exec", argv: [s.launcher] },
      ],
    }, innerScript);
    process.stderr.write("timing launcher-mapped and enter-mapped (uid 65534)\n");
    const mapped = runInner(["setpriv", ...UNPRIVILEGED, "--"], {
      ...common,
      cases: [
        { name: "launcher-mapped", description: "shell launcher -> enter: user+mount namespace, bind closure", argv: [s.launcher] },
        { name: "enter-mapped", description: "enter run directly (no sh): user+mount namespace, bind closure", argv: [s.enter, path.join(s.pkg, "nix/store"), s.program] },
      ],
    }, innerScript);
    process.stderr.write("timing launcher-mapped as root\n");
    const mappedRoot = runInner(["env", "--"], {
      ...common,
      cases: [{ name: "launcher-mapped-root", description: "launcher-mapped, run as root", argv: [s.launcher] }],
    }, innerScript);

    const results = [...visible, ...mapped, ...mappedRoot];
    const by = Object.fromEntries(results.map((r) => [r.case, r]));
    const overhead = {
      "launcher-mapped_vs_direct": {
        median_ms: r3(by["launcher-mapped"].median_ms - by.direct.median_ms),
        p95_ms: r3(by["launcher-mapped"].p95_ms - by.direct.p95_ms),
      },
      "launcher-visible_vs_direct": {
        median_ms: r3(by["launcher-visible"].median_ms - by.direct.median_ms),
        p95_ms: r3(by["launcher-visible"].p95_ms - by.direct.p95_ms),
      },
      "enter-mapped_vs_direct": {
        median_ms: r3(by["enter-mapped"].median_ms - by.direct.median_ms),
        p95_ms: r3(by["enter-mapped"].p95_ms - by.direct.p95_ms),
      },
    };

    const pad = (/** @type {string|number} */ v, /** @type {number} */ n) => String(v).padStart(n);
    console.log(`${"case".padEnd(22)} ${pad("uid", 5)} ${pad("runs", 5)} ${pad("median ms", 10)} ${pad("p95 ms", 8)} ${pad("mean ms", 8)}`);
    for (const r of results) {
      console.log(`${r.case.padEnd(22)} ${pad(r.uid, 5)} ${pad(r.runs, 5)} ${pad(r.median_ms.toFixed(3), 10)} ${pad(r.p95_ms.toFixed(3), 8)} ${pad(r.mean_ms.toFixed(3), 8)}`);
    }
    for (const [k, v] of Object.entries(overhead)) {
      console.log(`overhead ${k}: median ${v.median_ms.toFixed(3)} ms, p95 ${v.p95_ms.toFixed(3)} ms`);
    }

    const report = {
      benchmark: "launcher-overhead",
      date: new Date().toISOString(),
      machine: {
        nproc: Number(execFileSync("nproc", { encoding: "utf8" }).trim()),
        kernel: execFileSync("uname", ["-r"], { encoding: "utf8" }).trim(),
        cpu: os.cpus()[0]?.model ?? "unknown",
        node: process.version,
      },
      method: "wall time of one spawnSync (Node child_process) per run, process.hrtime.bigint() around it; " +
        `${opts.warmup} warm-up runs, then ${opts.runs} timed runs per case; stdout checked to be "${EXPECTED}"; ` +
        "p95 is nearest-rank. direct/launcher-visible run as root in unshare --mount with the chroot store bound on /nix/store; " +
        "mapped cases run outside it (host /nix/store does not show the program).",
      program: s.program,
      closure: s.closure,
      results,
      overhead,
    };
    const outFile = path.join(REPO, "bench/results/launcher-overhead.json");
    fs.mkdirSync(path.dirname(outFile), { recursive: true });
    fs.writeFileSync(outFile, JSON.stringify(report, null, 2) + "\n");
    console.log(`wrote ${path.relative(process.cwd(), outFile) || outFile}`);
  } finally {
    if (!opts.keep) fs.rmSync(tmp, { recursive: true, force: true });
    else process.stderr.write(`kept ${tmp}\n`);
  }
}

try {
  main();
} catch (e) {
  process.stderr.write(`launcher-overhead: ${/** @type {Error} */ (e).message}\n`);
  process.exit(1);
}
