// The spawn start method: a child that is a fresh run of this program, told
// what to run by a bootstrap message. Internal to //process.
//
// The parent runs this binary again (platform::ExecutablePath()) with
// exactly the switches --mp-spawn=<target> --mp-bootstrap=<handle>:<cookie>
// (nothing before or after them) and MP_SPAWN_BOOTSTRAP=<cookie>:<its pid>
// in the child's environment, a random cookie each time. mp::Init removes
// that variable, and runs a target only when the command line has that
// form, the cookies agree, its parent is the pid named, and the handle is a
// duplex channel that parent made; anything else is an ordinary run of
// main() (a command line cannot be forged into running a target). The
// child inherits
// only stdin, stdout, stderr, the bootstrap channel and the handles found in
// the arguments. mp::Init(argc, argv) in the child's main() reads the
// Bootstrap message (bootstrap.proto), decodes the arguments and answers
// with an empty message (ready) or the error text; then it runs the target
// and exits. The parent's Start() returns after that answer, so an
// unregistered target, arguments that do not decode or a main() without
// mp::Init are errors of Start(), not silent exit codes.
#ifndef MULTIPROCESSING_PROCESS_SPAWN_H_
#define MULTIPROCESSING_PROCESS_SPAWN_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "multiprocessing/ipc/codec.h"
#include "multiprocessing/platform/launch.h"
#include "multiprocessing/process/target.h"

namespace mp::process_internal {

// Who a child is (set in the child, by fork or by the bootstrap message).
struct ChildIdentity {
  std::string name;
  bool daemon = false;
  std::string authkey;
  platform::ProcessId parent_pid = 0;
  std::string parent_name;
};

// How long Start() waits for a spawned child to answer before it kills it:
// a main() that never calls mp::Init and never ends.
inline constexpr absl::Duration kSpawnAnswerTimeout = absl::Seconds(60);

// Parent side: starts the child and waits for its answer. The child
// inherits the handles the arguments carry (found by encoding them).
[[nodiscard]] absl::StatusOr<platform::ChildProcess> Spawn(
    Target& target, const ChildIdentity& identity,
    const platform::LaunchOptions& options);

// Child side (mp::Init): when this process was spawned, runs the target and
// exits; otherwise returns at once.
void RunIfSpawned(int argc, char** argv);

// Whether this process was spawned and mp::Init has not run yet.
bool SpawnedWithoutInit();

// Implemented in process.cc, shared by both start methods.
// Makes this process the child `identity` describes.
void BecomeChild(const ChildIdentity& identity);
// Runs the target in a child; its exit code (see process.h), after Python's
// exit function (daemonic children terminated, the others joined) and a
// flush of the standard streams.
int RunChild(Target& target);

}  // namespace mp::process_internal

#endif  // MULTIPROCESSING_PROCESS_SPAWN_H_
