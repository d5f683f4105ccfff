// main() for test binaries whose children are the test binary started
// again (platform::LaunchProgram of ProgramPath(), with --child-* switches):
// link //platform:child_main and register what a child does.
//
//   std::optional<int> ChildMain() {  // nullopt: not a child, run the tests
//     if (ProgramArguments().size() < 2) return std::nullopt;
//     ...
//     return 0;  // the child's exit code
//   }
//   MP_TEST_CHILD_MAIN(ChildMain);
#ifndef MULTIPROCESSING_PLATFORM_CHILD_MAIN_H_
#define MULTIPROCESSING_PLATFORM_CHILD_MAIN_H_

#include <optional>

namespace mp::test_util {

using ChildMainFunction = std::optional<int> (*)();

// Makes main() call `child_main` first and exit with its code, if any.
// Returns true, for the static initializer MP_TEST_CHILD_MAIN makes.
bool RegisterChildMain(ChildMainFunction child_main);

}  // namespace mp::test_util

#define MP_TEST_CHILD_MAIN(function)                     \
  [[maybe_unused]] static const bool mp_child_main_set = \
      ::mp::test_util::RegisterChildMain(function)

#endif  // MULTIPROCESSING_PLATFORM_CHILD_MAIN_H_
