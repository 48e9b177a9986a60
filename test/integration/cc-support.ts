// The C/C++ sources the toolchain tests build (cc-toolchain.test.ts, remote-team.test.ts): a C
// library, a C++ program using it and the C++ standard library, a cc_test, and a genrule that
// runs the program as a tool (exec configuration). `nonce` makes their actions new to a shared
// remote cache.
import { execa } from "execa";
import type { Flavor } from "./harness.js";

/** What the program prints, and the genrule writes. */
export const GREETING = "hello from a Nix toolchain";

export function ccFiles(nonce = ""): Record<string, string> {
  return {
    "greeting.h": `#ifndef GREETING_H
#define GREETING_H
#ifdef __cplusplus
extern "C" {
#endif
const char *greeting(void);
#ifdef __cplusplus
}
#endif
#endif
`,
    "greeting.c": `#include "greeting.h"
/* ${nonce} */
const char *greeting(void) { return "${GREETING}"; }
`,
    "hello.cc": `#include <iostream>
#include <string>
#include <vector>
#include "greeting.h"
// ${nonce}
int main() {
  std::vector<std::string> lines{greeting()};
  for (const auto &line : lines) std::cout << line << std::endl;
  return 0;
}
`,
    "hello_test.cc": `#include <cstring>
#include <iostream>
#include "greeting.h"
// ${nonce}
int main() {
  bool ok = std::strcmp(greeting(), "${GREETING}") == 0;
  std::cout << (ok ? "PASS" : "FAIL") << std::endl;
  return ok ? 0 : 1;
}
`,
  };
}

export const CC_BUILD = `
cc_library(
    name = "greeting",
    srcs = ["greeting.c"],
    hdrs = ["greeting.h"],
)

cc_binary(
    name = "hello_cc",
    srcs = ["hello.cc"],
    deps = [":greeting"],
)

cc_test(
    name = "hello_cc_test",
    srcs = ["hello_test.cc"],
    deps = [":greeting"],
)

# The program as a tool: built for the exec platform, run by the genrule's action.
genrule(
    name = "greeting_txt",
    outs = ["greeting.txt"],
    tools = [":hello_cc"],
    cmd = "$(location :hello_cc) > $@",
)
`;

export const CC_TARGETS = ["//:greeting", "//:hello_cc", "//:hello_cc_test", "//:greeting_txt"];

/** The ELF interpreter and RUNPATH of a program, as the machine's readelf shows them. */
export async function elfLinks(flavor: Flavor, program: string): Promise<{ interpreter: string; runpath: string }> {
  const [cmd, args] = flavor.command(["readelf", "-l", "-d", program]);
  const r = await execa(cmd, args, { reject: false });
  return {
    interpreter: /Requesting program interpreter: ([^\]]+)\]/.exec(r.stdout)?.[1] ?? "",
    runpath: /\((?:RUNPATH|RPATH)\)\s+Library r(?:un)?path: \[([^\]]+)\]/.exec(r.stdout)?.[1] ?? "",
  };
}
