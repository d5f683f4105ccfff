// mp::Process: Python's multiprocessing.Process (start method: fork).
//
// A Process runs a target -- any callable -- with its arguments in a child
// process:
//
//   int Consumer(mp::Connection& receiver) {
//     for (int count = 0;; ++count) {
//       absl::StatusOr<int> item = receiver.Recv<int>();
//       if (mp::IsEof(item.status())) return count;  // the exit code
//       if (!item.ok()) return 255;
//     }
//   }
//
//   auto [receiver, sender] = mp::Pipe(/*duplex=*/false).value();
//   mp::Process consumer(Consumer, std::move(receiver));  // the child's end
//   absl::Status s = consumer.Start();  // the parent's copy is now closed
//   for (int i = 1; s.ok() && i <= 3; ++i) s = sender.Send(i);
//   sender.Close().IgnoreError();  // no sender left: the consumer sees EOF
//   if (s.ok()) s = consumer.Join();
//   // *consumer.exitcode() == 3
//
// Arguments are stored decayed (copied or moved into the Process) and handed
// to the target as lvalues, so take move-only arguments such as Connection
// by reference. std::ref(x) passes a reference instead; with fork the child
// sees its own copy of the parent's object.
//
// Handles. The child keeps stdin, stdout, stderr and the handles found in the
// arguments (mp::AppendInheritedHandles: a Connection by value, by std::ref,
// or inside a pair, tuple, vector or optional); every other descriptor is
// closed in the child, so an unrelated child never holds a pipe open. Handles
// captured by a lambda target, or passed as raw NativeHandle integers, are
// NOT found: pass their owners (Connections) as arguments.
// Arguments moved into the Process belong to the child: after a successful
// Start() the parent destroys its copies (closing Connections moved in),
// which is what makes end of stream reach the other side. Arguments passed
// with std::ref stay open in the parent, which closes them itself when it
// does not use them (as in Python, where both ends stay open).
//
// The target's return type gives the exit code: int (the code, which the OS
// truncates to 0..255), void (0), or absl::Status (OK: 0; an error: 1, and
// "Process <name>: <status>" on stderr, like Python's traceback). bool is
// rejected at compile time: `return true` would read as failure. An exception
// escaping the target ends the child with code 1 and "Process <name>:
// <what()>" on stderr; it never unwinds into the parent's code. mp::Exit(n)
// is Python's sys.exit(n).
//
// Stdio: Start() flushes the parent's C stdio and std::cout/cerr/clog first
// (or the child would write the parent's pending output again), and the
// child flushes its own before it ends.
//
// Fork rules: see the DANGER note in platform/launch.h. In a multithreaded
// parent, the target must not take locks another thread may have held.
//
// A Process destroyed while its child runs does not wait for it; the child
// is reaped by a later Start() once it has exited (Python's _cleanup()).
//
// A Process object is not thread-safe (as in Python): call its methods from
// one thread at a time.
#ifndef MULTIPROCESSING_PROCESS_PROCESS_H_
#define MULTIPROCESSING_PROCESS_PROCESS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ipc/inherited_handles.h"
#include "platform/error.h"  // IsTimeout() for Join()
#include "platform/handle.h"
#include "platform/launch.h"

namespace mp {

namespace process_internal {

// What the child runs: the target bound to its arguments.
class Target {
 public:
  virtual ~Target() = default;
  // Runs the target; its exit code, or the error it returned.
  virtual absl::StatusOr<int> Run() = 0;
  // The handles the arguments carry into the child.
  virtual void AppendHandles(HandleList* out) const = 0;
};

// std::ref'd arguments reach the target as the referenced object.
template <typename T>
T& Unwrap(T& value) {
  return value;
}
template <typename T>
T& Unwrap(std::reference_wrapper<T>& ref) {
  return ref.get();
}
template <typename T>
using Unwrapped = decltype(Unwrap(std::declval<T&>()));

template <typename F, typename... Args>
class BoundTarget final : public Target {
 public:
  template <typename G, typename... A>
  explicit BoundTarget(G&& f, A&&... args)
      : f_(std::forward<G>(f)), args_(std::forward<A>(args)...) {}

  absl::StatusOr<int> Run() override {
    auto call = [this]() -> decltype(auto) {
      return std::apply(
          [this](auto&... a) -> decltype(auto) {
            return std::invoke(f_, Unwrap(a)...);
          },
          args_);
    };
    using R = decltype(call());
    if constexpr (std::is_void_v<R>) {
      call();
      return 0;
    } else if constexpr (std::is_same_v<std::decay_t<R>, absl::Status>) {
      absl::Status status = call();
      if (status.ok()) return 0;
      return status;
    } else {
      static_assert(std::is_integral_v<R> && !std::is_same_v<R, bool>,
                    "a Process target returns int (the exit code), void or "
                    "absl::Status (bool is ambiguous: return an int)");
      return static_cast<int>(call());
    }
  }

  void AppendHandles(HandleList* out) const override {
    AppendInheritedHandles(args_, out);
  }

 private:
  F f_;
  std::tuple<Args...> args_;
};

}  // namespace process_internal

class Process {
 public:
  // Python's Process(target=target, args=args). Nothing runs until Start().
  template <
      typename F, typename... Args,
      typename = std::enable_if_t<!std::is_same_v<std::decay_t<F>, Process>>>
  explicit Process(F&& target, Args&&... args)
      : target_(std::make_unique<process_internal::BoundTarget<
                    std::decay_t<F>, std::decay_t<Args>...>>(
            std::forward<F>(target), std::forward<Args>(args)...)),
        name_(NextName()) {
    static_assert(
        std::is_invocable_v<std::decay_t<F>&,
                            process_internal::Unwrapped<std::decay_t<Args>>...>,
        "the Process target cannot be called with these arguments as "
        "lvalues (take move-only arguments by reference)");
  }

  // Move-only. A moved-from Process is inert: it behaves as a closed one.
  Process(Process&& other) noexcept;
  Process& operator=(Process&& other) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  // Does not wait for a running child (see the top of this file).
  ~Process();

  // start(): starts the child. A second call is kFailedPrecondition ("cannot
  // start a process twice"), as is a call in a daemonic process's child.
  absl::Status Start();

  // join(timeout): waits for the child to exit and reaps it. OK once it has
  // exited; mp::IsTimeout() when `timeout` passed first (zero or negative
  // checks once). Before Start(): kFailedPrecondition.
  absl::Status Join(std::optional<absl::Duration> timeout = std::nullopt);

  // is_alive(): started and not exited yet (reaps the child if it exited).
  bool IsAlive();

  // pid / ident: the child's process id; nullopt before Start().
  std::optional<std::int64_t> pid() const;
  std::optional<std::int64_t> ident() const { return pid(); }

  // exitcode: nullopt while running or before Start(); the code the child
  // exited with; -N when signal N ended it. Reaps without blocking.
  std::optional<int> exitcode();

  // terminate() / kill(): SIGTERM / SIGKILL. Before Start(): an error; after
  // the child was reaped: OK, nothing sent.
  absl::Status Terminate();
  absl::Status Kill();

  // close(): releases the sentinel and the arguments. While the child runs:
  // kFailedPrecondition. Afterwards every method fails with
  // kFailedPrecondition ("process object is closed") and the getters return
  // nullopt. Closing twice is fine, as in Python.
  absl::Status Close();

  // sentinel: a handle that becomes readable when the child exits (for
  // platform::WaitReadable and, later, mp::Wait). Owned by the Process.
  absl::StatusOr<platform::NativeHandle> sentinel() const;

  // name: "Process-N" by default (N counts the Process objects this process
  // created, from 1). Settable at any time before Close().
  const std::string& name() const { return name_; }
  absl::Status set_name(std::string name);

  // daemon: settable before Start() only. A daemonic process may not start
  // children. (Terminating daemonic children at exit comes later.)
  bool daemon() const { return daemon_; }
  absl::Status set_daemon(bool daemon);

 private:
  // How the child is created: Python's start methods. Only fork for now;
  // spawn will be the second implementation of Launch().
  enum class StartMethod { kFork };

  // "Process-N" with the next N.
  static std::string NextName();

  absl::Status CheckNotClosed() const;
  absl::Status CheckStarted(const char* operation) const;
  absl::StatusOr<platform::ChildProcess> Launch(const HandleList& keep);
  // In the child: runs the target and returns the exit code.
  int RunInChild();
  // Reaps the child if it has exited, without blocking.
  void Poll();
  // Records the exit code of the reaped child.
  void Reaped(int exitcode);
  absl::Status Signal(bool kill);
  // Hands a running child to the registry and makes this object inert.
  void Abandon();

  StartMethod start_method_ = StartMethod::kFork;
  std::unique_ptr<process_internal::Target> target_;  // until Start()
  std::string name_;
  bool daemon_ = false;
  bool closed_ = false;
  std::optional<platform::ChildProcess> child_;  // set by Start()
  std::optional<int> exitcode_;                  // set once reaped
};

// Python's sys.exit(code) in a target: flushes C stdio and the standard C++
// streams and ends the calling process at once with `code`, without running
// destructors or atexit handlers.
[[noreturn]] void Exit(int code);

}  // namespace mp

#endif  // MULTIPROCESSING_PROCESS_PROCESS_H_
