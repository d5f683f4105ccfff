// The spawn start method: a child that is a fresh run of this program, told
// what to run by a bootstrap message. Internal to //process.
//
// The parent runs this binary again (platform::ExecutablePath()) with its
// own arguments after argv[0] (so a flag parser sees in the child what it
// saw in the parent, as Python's spawn passes sys.argv on) and
// MP_SPAWN_BOOTSTRAP=<handle>:<its pid> in the child's environment, the
// parent's own handle of the child's end of a duplex bootstrap channel.
// mp::Init removes that variable, takes that handle from its parent
// (platform::TakeHandleFromParent: inherited on POSIX, duplicated out of the
// parent on Windows, as CPython's spawn does) and runs a target only when
// its parent is the pid named and the handle is a duplex channel that parent
// made; anything else is an ordinary run of main() (neither a command line
// nor a forged or inherited variable can make it run a target). The child
// gets only stdin, stdout, stderr, the bootstrap channel and the handles
// found in the arguments (platform::LaunchProgram's `inherit`; the
// Bootstrap message lists the child's values of them).
//
// The exchange: the child says it has its channel (the parent then closes
// its copy of the child's end; until then it waits on the child's process
// too, so a child that dies first fails Start() at once), the parent sends
// the Bootstrap message (bootstrap.proto), the child decodes the arguments
// and answers with an empty message (ready) or the error text; then it runs
// the target and exits. The parent's Start() returns after that answer, so
// an unregistered target, arguments that do not decode or a main() without
// mp::Init are errors of Start(), not silent exit codes.
#ifndef MULTIPROCESSING_PROCESS_SPAWN_H_
#define MULTIPROCESSING_PROCESS_SPAWN_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "multiprocessing/platform/handle.h"
#include "multiprocessing/platform/launch.h"
#include "multiprocessing/process/bootstrap.pb.h"
#include "multiprocessing/process/child.h"
#include "multiprocessing/process/target.h"

namespace mp::process_internal {

// How long Start() waits for a spawned child to answer before it kills it:
// a main() that never calls mp::Init and never ends.
inline constexpr absl::Duration kSpawnAnswerTimeout = absl::Seconds(60);

// What a spawned child runs: a registered name (a target function or a
// Process class, process/target.h), its arguments encoded as one tuple, and
// the handles they carry (recorded by the encoder, in its order).
struct SpawnRequest {
  std::string target;
  std::string arguments;
  std::vector<platform::NativeHandle> handles;
};

// Parent side: starts the child and waits for its answer. The child gets
// exactly the request's handles (and the bootstrap channel). On Windows a
// socket among them, which cannot be duplicated into another process with
// DuplicateHandle, is shared with WSADuplicateSocket (the Bootstrap's
// socket_infos), which the child makes into its socket.
[[nodiscard]] absl::StatusOr<platform::ChildProcess> Spawn(
    const SpawnRequest& request, const ChildIdentity& identity,
    const platform::LaunchOptions& options);

// The bootstrap message for `request` (also what a forkserver is sent).
Bootstrap MakeBootstrap(const SpawnRequest& request,
                        const ChildIdentity& identity);

// Child side, whatever brought `boot` (spawn's channel, the forkserver):
// takes ownership of the handles it lists, checks the target is registered,
// decodes the arguments and becomes the child it describes. Errors say what
// Start() reports.
[[nodiscard]] absl::StatusOr<std::unique_ptr<Target>> PrepareBootstrap(
    const Bootstrap& boot);

// Child side (mp::Init): when this process was spawned, runs the target and
// exits; otherwise returns at once.
void RunIfSpawned();

// Whether this process was spawned and mp::Init has not run yet.
bool SpawnedWithoutInit();

// The program Spawn() runs (set_executable / get_executable): by default
// this one (platform::ExecutablePath()); an empty path restores it.
void SetSpawnExecutable(std::string path);
[[nodiscard]] absl::StatusOr<std::string> SpawnExecutable();

}  // namespace mp::process_internal

#endif  // MULTIPROCESSING_PROCESS_SPAWN_H_
