// A program that spawns a child but whose main() forgets mp::Init. The
// child (this program again) must not run main()'s code as if it were the
// parent; the parent's Start() must say what is missing. Exits 0 when it
// does, 1 otherwise (spawn_test runs it).
#include <cstdio>
#include <string>

#include "multiprocessing/process/process.h"

int Child() { return 0; }
MP_REGISTER_TARGET(Child);

int main() {
  mp::Process p(Child);
  if (!p.set_start_method(mp::StartMethod::kSpawn).ok()) return 1;
  absl::Status s = p.Start();
  std::fprintf(stderr, "Start(): %s\n", s.ToString().c_str());
  return !s.ok() &&
                 s.message().find("mp::Init(argc, argv)") != std::string::npos
             ? 0
             : 1;
}
