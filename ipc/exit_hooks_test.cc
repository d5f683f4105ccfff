#include "ipc/exit_hooks.h"

#include "gtest/gtest.h"

namespace mp {
namespace {

int runs = 0;
void Count() { ++runs; }

TEST(ExitHooksTest, AddedOnceRunInOrder) {
  AddExitHook(Count);
  AddExitHook(Count);
  RunExitHooks();
  EXPECT_EQ(runs, 1);
  RunExitHooks();
  EXPECT_EQ(runs, 2);
}

}  // namespace
}  // namespace mp
