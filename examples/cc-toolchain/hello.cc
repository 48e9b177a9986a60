#include <iostream>
#include <string>
#include <vector>

#include "greeting.h"

int main() {
  std::vector<std::string> lines{greeting()};
  for (const auto &line : lines) std::cout << line << std::endl;
  return 0;
}
