#include <cstring>
#include <iostream>

#include "greeting.h"

int main() {
  bool ok = std::strcmp(greeting(), "hello from a Nix toolchain") == 0;
  std::cout << (ok ? "PASS" : "FAIL") << std::endl;
  return ok ? 0 : 1;
}
