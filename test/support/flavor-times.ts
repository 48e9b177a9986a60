// A vitest reporter that adds up where the time of a run went: in the suites of each machine
// (their describe titles name it, e.g. "..., Bazel 7.7.1 + Nix 2.34 (bzlmod)", hooks
// included), and in the rest. scripts/test.sh prints it as CI's time split by Bazel version.
import type { Reporter, TestModule, TestSuite } from "vitest/node";

const MACHINES = ["Bazel 4.2.3", "Bazel 7.7.1"] as const;

function seconds(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
}

export default class FlavorTimes implements Reporter {
  private readonly started = new Map<string, number>();
  private readonly byMachine = new Map<string, number>();
  private modules = 0;

  onTestSuiteReady(suite: TestSuite): void {
    this.started.set(suite.id, Date.now());
  }

  onTestSuiteResult(suite: TestSuite): void {
    const start = this.started.get(suite.id);
    // Top-level describes only: nested ones are inside their parent's time.
    if (start === undefined || suite.parent.type !== "module") return;
    const machine = MACHINES.find((m) => suite.name.includes(m));
    if (machine) this.byMachine.set(machine, (this.byMachine.get(machine) ?? 0) + Date.now() - start);
  }

  onTestModuleEnd(module: TestModule): void {
    this.modules += module.diagnostic().duration;
  }

  onTestRunEnd(): void {
    const machines = MACHINES.map((m) => `${m}: ${seconds(this.byMachine.get(m) ?? 0)}`);
    const attributed = [...this.byMachine.values()].reduce((a, b) => a + b, 0);
    console.log(`time by machine: ${machines.join(", ")}, other tests: ${seconds(Math.max(0, this.modules - attributed))}`);
  }
}
