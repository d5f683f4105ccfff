// A program whose main() calls mp::Init and returns 7, and that registers a
// target returning 42. spawn_test runs it with forged spawn command lines:
// each must run main() (7), never the target and never exit 1.
#include "multiprocessing/process/process.h"

int Pwned() { return 42; }
MP_REGISTER_TARGET(Pwned);

int main(int argc, char** argv) {
  mp::Init(argc, argv);
  return 7;
}
