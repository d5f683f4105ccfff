#include "multiprocessing/ipc/exit_hooks.h"

#include <string>

#include "gtest/gtest.h"

namespace mp {
namespace {

std::string ran;
void A() { ran += "a"; }
void B() { ran += "b"; }
void C() { ran += "c"; }

TEST(ExitHooksTest, AddedOnceRunInOrder) {
  AddExitHook(B);
  AddExitHook(A);
  AddExitHook(B);  // again: still once, in its first place
  AddExitHook(C);
  RunExitHooks();
  EXPECT_EQ(ran, "bac");
  RunExitHooks();  // hooks may run twice (a child's exit, then std::atexit)
  EXPECT_EQ(ran, "bacbac");
}

}  // namespace
}  // namespace mp
