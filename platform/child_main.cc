#include "multiprocessing/platform/child_main.h"

#include "gtest/gtest.h"

namespace mp::test_util {
namespace {
// Constant-initialized, so set before main() by any static initializer.
ChildMainFunction registered = nullptr;
}  // namespace

bool RegisterChildMain(ChildMainFunction child_main) {
  registered = child_main;
  return true;
}

}  // namespace mp::test_util

int main(int argc, char** argv) {
  if (mp::test_util::registered != nullptr) {
    if (std::optional<int> code = mp::test_util::registered()) return *code;
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
