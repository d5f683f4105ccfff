// The forkserver start method: children forked by a server process, which
// this process starts once (lazily, at the first forkserver Start(), with the
// spawn start method) and which forks a child per request. Internal to
// //process. POSIX only (Linux, as Python): elsewhere Start() fails with
// kFailedPrecondition before it gets here.
//
// The server runs the registered target ForkserverMain in a fresh run of
// this program (so it has no thread and holds no lock of ours when it
// forks), first running the preload functions (SetForkserverPreload). Each
// request is one SOCK_SEQPACKET message on the control socket: the bootstrap
// message spawn sends (bootstrap.proto) with, attached by SCM_RIGHTS, a
// status socket and the handles the arguments carry. The server forks; the
// child decodes the arguments and answers on the status socket (ready, or
// the error: Start() reports it, as with spawn), closes its copy and runs
// the target. The server replies with the child's pid, reaps the child when
// it exits and writes its exit code on the status socket, which is the
// Process's sentinel (platform::ChildProcess::exit_code_on_sentinel): the
// child is the server's, not ours, so we cannot waitpid() it; Terminate()
// and Kill() signal its pid, as CPython does.
//
// The server exits when this process's end of the control socket closes
// (this process died or exec'd); it reaps every child it forked until then.
// Requests from several threads are serialised.
#ifndef MULTIPROCESSING_PROCESS_FORKSERVER_H_
#define MULTIPROCESSING_PROCESS_FORKSERVER_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "multiprocessing/platform/launch.h"
#include "multiprocessing/process/child.h"
#include "multiprocessing/process/spawn.h"

namespace mp::process_internal {

// Parent side: asks the server (started now if it is not running) to fork
// a child that runs `request`. Returns once the child has decoded its
// arguments.
[[nodiscard]] absl::StatusOr<platform::ChildProcess> ForkserverStart(
    const SpawnRequest& request, const ChildIdentity& identity,
    const platform::LaunchOptions& options);

// The registered functions (MP_REGISTER_TARGET, taking no arguments) a
// server runs once when it starts, before it forks anyone: Python's
// set_forkserver_preload, whose modules to import become, in C++, the
// warming up a program wants its children to inherit (loading data,
// building tables). Takes effect for a server started afterwards, as in
// Python. kInvalidArgument for a name that is not registered.
[[nodiscard]] absl::Status SetForkserverPreload(std::vector<std::string> names);

}  // namespace mp::process_internal

#endif  // MULTIPROCESSING_PROCESS_FORKSERVER_H_
