#!/usr/bin/env node
// @ts-check
/**
 * Launcher overhead per invocation (rules_nixstore).
 *
 * Median, p95 and mean wall time of one process spawn, over RUNS timed runs
 * (after WARMUP warm-up runs) per case, for:
 *   direct           the program's ELF at /nix/store/...-hello/bin/hello, in a
 *                    private mount namespace where the chroot store is bound
 *                    onto /nix/store (root; the host is untouched)
 *   launcher-visible the launcher (a link to _nixstore/enter beside its data
 *                    file, as nixstore_executable writes them) in that same
 *                    namespace: /nix/store shows the program, so it execs it
 *   launcher-mapped  the launcher where /nix/store does not show the program:
 *                    it creates a user + mount namespace, binds the closure and
 *                    execs the program (uid 65534)
 *   enter-mapped     _nixstore/enter run as `enter <closure> <program>`
 *                    (uid 65534), as the shell launcher of earlier versions ran it
 *   shell-launcher-visible, shell-launcher-mapped
 *                    the shell launcher of earlier versions (SHELL_LAUNCHER
 *                    below: /bin/sh, then enter), for comparison in the same run
 *   launcher-mapped-root  launcher-mapped, run as root (for reference)
 *
 * The runs are spread over ROUNDS rounds; in each, every group of cases runs
 * RUNS/ROUNDS times, its cases alternating run by run, so that load from other
 * work falls on every case alike. Every run's stdout must be "hello from nix";
 * any failure aborts.
 *
 *   sudo node bench/launcher-overhead.mjs [--runs N] [--warmup N] [--rounds N] [--keep]
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
 * The shell launcher of rules_nixstore before issue 10 (rules/private/launcher.sh.tpl, as
 * expand_template rendered it), kept here only to compare it with the native launcher.
 */
const SHELL_LAUNCHER = `#!/bin/sh
program='%{PROGRAM}'
case $program in
  *\\\\*) program=$(printf '%bx' "$program") && program=\${program%x} ;;
esac
if [ -e "$program" ]; then
  exec "$program" "$@"
fi
self=$0
for base in "$self.runfiles/%{RUNFILES_REPO}" "\${RUNFILES_DIR:+$RUNFILES_DIR/%{RUNFILES_REPO}}" "\${self%/*}/../.." '%{EXEC_REPO}'; do
  if [ -n "$base" ] && [ -x "$base/_nixstore/enter" ] && [ -d "$base/nix/store" ]; then
    exec "$base/_nixstore/enter" "$base/nix/store" "$program" "$@"
  fi
done
echo "rules_nixstore launcher: cannot run $program" >&2
exit 127
`;

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

/** @param {number[]} samples */
function stats(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    runs: samples.length,
    median_ms: r3(quantile(sorted, 0.5)),
    p95_ms: r3(quantile(sorted, 0.95)),
    mean_ms: r3(samples.reduce((a, b) => a + b, 0) / samples.length),
    min_ms: r3(sorted[0]),
    max_ms: r3(sorted[sorted.length - 1]),
  };
}

/**
 * Times one spawn of argv (ms), checking its stdout.
 * @param {string[]} argv @param {string} cwd
 */
function timeSpawn(argv, cwd) {
  const env = { PATH: "/usr/bin:/bin", LANG: "C" };
  const [cmd, ...args] = argv;
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: "utf8", env, cwd });
  const t1 = process.hrtime.bigint();
  if (r.error || r.status !== 0 || r.stdout.trim() !== EXPECTED) {
    const why = r.error ? r.error.message : `exit ${r.status}, stdout ${JSON.stringify(r.stdout)}`;
    throw new Error(`${argv.join(" ")} failed (${why}):\n${r.stderr}`);
  }
  return Number(t1 - t0) / 1e6;
}

/**
 * Inner mode: runs inside the namespace / as the uid the outer process chose,
 * optionally binds the chroot store onto /nix/store, runs `warmup` untimed and
 * `runs` timed spawns of each case, alternating the cases run by run, and
 * prints each case's samples (ms) as JSON on stdout.
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
  /** @type {Record<string, number[]>} */
  const samples = Object.fromEntries(spec.cases.map((c) => [c.name, []]));
  for (let i = 0; i < spec.warmup + spec.runs; i++) {
    for (const c of spec.cases) {
      const ms = timeSpawn(c.argv, spec.cwd);
      if (i >= spec.warmup) samples[c.name].push(ms);
    }
  }
  process.stdout.write(JSON.stringify({ uid: process.getuid?.() ?? -1, samples }));
}

/** @param {string[]} argv */
function parseArgs(argv) {
  const o = { runs: 1000, warmup: 50, rounds: 5, keep: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--runs") o.runs = Number(argv[++i]);
    else if (argv[i] === "--warmup") o.warmup = Number(argv[++i]);
    else if (argv[i] === "--rounds") o.rounds = Number(argv[++i]);
    else if (argv[i] === "--keep") o.keep = true;
    else die(`unknown argument ${argv[i]}`);
  }
  if (!(o.runs > 0 && o.warmup >= 0 && o.rounds > 0 && o.runs % o.rounds === 0)) {
    die("--runs must be > 0 and a multiple of --rounds (> 0), and --warmup >= 0");
  }
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
  // The launcher as nixstore_executable writes it: a link to enter, and its data beside it.
  const launcher = path.join(pkg, "_nixstore/bin/hello");
  fs.symlinkSync("../enter", launcher);
  fs.writeFileSync(`${launcher}.nixstore-launch`, `# launcher data\nprogram=${program}\nrunfiles_repo=pkg\nexec_repo=external/pkg\n`);
  // The shell launcher of earlier versions, for comparison.
  const shellLauncher = path.join(pkg, "_nixstore/bin/hello.sh");
  fs.writeFileSync(shellLauncher, SHELL_LAUNCHER.replaceAll("%{PROGRAM}", program).replaceAll("%{RUNFILES_REPO}", "pkg")
    .replaceAll("%{EXEC_REPO}", "external/pkg"));
  fs.chmodSync(shellLauncher, 0o755);
  fs.chmodSync(`${launcher}.nixstore-launch`, 0o644);
  for (const d of [tmp, pkg, path.join(pkg, "_nixstore"), path.join(pkg, "_nixstore/bin"), path.join(pkg, "nix"),
    path.join(pkg, "nix/store")]) fs.chmodSync(d, 0o755);
  return { store, pkg, enter, launcher, shellLauncher, program, outs, closure };
}

/**
 * Re-runs this file in inner mode under `prefix` (unshare / setpriv).
 * @param {string[]} prefix @param {object} spec @param {string} innerScript
 * @returns {{ uid: number, samples: Record<string, number[]> }}
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
    const storeDir = path.join(s.store, "nix/store");
    const closureDir = path.join(s.pkg, "nix/store");
    /** Groups of cases, each run by one inner process: how it is started, and what it times. */
    const groups = [
      {
        prefix: ["unshare", "--mount", "--propagation", "private", "--"],
        bindStore: storeDir,
        cases: [
          { name: "direct", description: "ELF at /nix/store run directly (store bound on /nix/store)", argv: [s.program] },
          { name: "launcher-visible", description: "launcher (link to enter + data), /nix/store shows the program: exec", argv: [s.launcher] },
          { name: "shell-launcher-visible", description: "shell launcher of earlier versions, /nix/store shows the program: exec", argv: [s.shellLauncher] },
        ],
      },
      {
        prefix: ["setpriv", ...UNPRIVILEGED, "--"],
        cases: [
          { name: "launcher-mapped", description: "launcher (link to enter + data): user+mount namespace, bind closure, exec", argv: [s.launcher] },
          { name: "enter-mapped", description: "enter <closure> <program>: user+mount namespace, bind closure, exec", argv: [s.enter, closureDir, s.program] },
          { name: "shell-launcher-mapped", description: "shell launcher of earlier versions -> enter: user+mount namespace, bind closure", argv: [s.shellLauncher] },
        ],
      },
      {
        prefix: ["env", "--"],
        cases: [{ name: "launcher-mapped-root", description: "launcher-mapped, run as root", argv: [s.launcher] }],
      },
    ];
    /** @type {Record<string, { uid: number, samples: number[] }>} */
    const collected = {};
    const perRound = opts.runs / opts.rounds;
    /** @type {number[][]} */
    const loads = []; // the 1/5/15-minute load average as each round starts
    for (let round = 0; round < opts.rounds; round++) {
      loads.push(os.loadavg().map((l) => Math.round(l * 100) / 100));
      process.stderr.write(`round ${round + 1}/${opts.rounds} (load ${loads[round].join(" ")})\n`);
      for (const g of groups) {
        const spec = { runs: perRound, warmup: round === 0 ? opts.warmup : Math.min(opts.warmup, 10), cwd: tmp, bindStore: g.bindStore, cases: g.cases };
        const got = runInner(g.prefix, spec, innerScript);
        for (const c of g.cases) {
          collected[c.name] ??= { uid: got.uid, samples: [] };
          collected[c.name].samples.push(...got.samples[c.name]);
        }
      }
    }
    /** @type {CaseResult[]} */
    const results = groups.flatMap((g) => g.cases).map((c) => ({
      case: c.name,
      description: c.description,
      uid: collected[c.name].uid,
      warmup: opts.warmup,
      ...stats(collected[c.name].samples),
    }));
    const by = Object.fromEntries(results.map((r) => [r.case, r]));
    /** @param {string} name */
    const overDirect = (name) => ({
      median_ms: r3(by[name].median_ms - by.direct.median_ms),
      p95_ms: r3(by[name].p95_ms - by.direct.p95_ms),
    });
    const overhead = Object.fromEntries(
      ["launcher-mapped", "launcher-visible", "enter-mapped", "shell-launcher-mapped", "shell-launcher-visible"].map((n) => [`${n}_vs_direct`, overDirect(n)]),
    );

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
      load_average_per_round: loads,
      load_average_at_end: os.loadavg().map((l) => Math.round(l * 100) / 100),
      method: "wall time of one spawnSync (Node child_process) per run, process.hrtime.bigint() around it; " +
        `${opts.runs} timed runs per case in ${opts.rounds} rounds (${opts.warmup} warm-up runs before the first, ` +
        `${Math.min(opts.warmup, 10)} before each other), the cases of a group alternating run by run; ` +
        `stdout checked to be "${EXPECTED}"; ` +
        "p95 is nearest-rank. direct and the *-visible cases run as root in unshare --mount with the chroot store bound on /nix/store; " +
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
