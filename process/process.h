// mp::Process: Python's multiprocessing.Process, and the module functions
// around it (current_process, parent_process, active_children, cpu_count,
// get_context, set_start_method).
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
// Handles. The child keeps stdin, stdout, stderr and the handles the codec
// meets when it encodes the arguments (a Connection or queue by value, by
// std::ref, through a pointer, or inside any encodable container or user
// type); under spawn the same encoding carries them. Every other descriptor is
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
// Subclasses (Python's other way: subclass Process and override run()):
//
//   class Counter : public mp::Process {
//    public:
//     Counter(mp::Connection out, int n) : out_(std::move(out)), n_(n) {}
//     absl::StatusOr<int> Run() override {
//       for (int i = 0; i < n_; ++i) {
//         if (absl::Status s = out_.Send(i); !s.ok()) return s;
//       }
//       return 0;
//     }
//     // What a spawned child constructs its copy from, and where a forked
//     // child finds the handles it keeps: members, by reference.
//     auto ConstructorArguments() const { return std::tie(out_, n_); }
//    private:
//     mp::Connection out_;
//     int n_;
//   };
//   MP_REGISTER_PROCESS(Counter);  // for spawn; fork needs it for handles
//
//   Counter c(std::move(sender), 3);
//   absl::Status s = c.Start();
//
// Under fork the child runs Run() on its copy of the object, whatever the
// class. Under spawn the class must be registered with MP_REGISTER_PROCESS
// and have ConstructorArguments(): a tuple whose elements have an mp::Codec,
// encoded at Start() and passed to the class's constructor in the child
// (Python pickles the object's __dict__ instead; C++ has no reflection, so
// the class says what rebuilds it). Limits where C++ cannot follow Python:
//  - A forked child keeps only the handles the codec finds in
//    ConstructorArguments() (and in a target's arguments); a Connection
//    member of an unregistered class is closed in the child.
//  - Start() runs the overriding Run() only on the object itself: a
//    subclass object moved into a plain mp::Process is sliced and runs the
//    default Run().
//  - Under spawn, members that ConstructorArguments() does not give (and
//    whatever the constructor computes from them) are rebuilt by the
//    constructor, not copied; a name or daemon flag set on the object still
//    reaches the child, as does the authkey.
//  - The members stay in this process's object after Start() (a Process
//    destroys the arguments moved into it; it cannot destroy a subclass's
//    members): close a Connection member here when the other side must see
//    end of stream.
//  - Start(), Join() and the other methods are not virtual.
//
// Start methods (Python's, see StartMethod below):
//   kFork   the child is a copy of this process made by fork(); the target
//           may be any callable, the arguments any copyable or movable
//           values. POSIX only.
//   kSpawn  the child is a fresh run of this program: main() must call
//           mp::Init(argc, argv) first, the target must be a function
//           registered with MP_REGISTER_TARGET, and the arguments must have
//           an mp::Codec (ipc/codec.h; Connection and Queue have one). No
//           fork() of a multithreaded parent, so no lock held by another
//           thread can hang the child. The only method on Windows.
//   kForkserver  a server process, started once with spawn at the first
//           forkserver Start(), forks each child; the target and arguments
//           follow spawn's rules (registered, with a Codec) and the child
//           is a copy of the server, which runs no thread: safe in a
//           multithreaded parent, and faster than spawn. Linux only.
//           exitcode and Join() work from the sentinel (the server writes
//           the exit code there), Terminate()/Kill() signal the pid. See
//           process/forkserver.h and SetForkserverPreload.
// The default on Linux is kFork: it runs any C++ callable (a lambda with
// captures cannot cross an exec), starts faster (the README has the
// figures), and a C++ program that runs no threads when it starts processes
// (the common case) is not exposed to fork's hazard. CPython moved its Linux
// default away from fork because a Python process nearly always runs hidden
// threads; a program that does run threads should call
// mp::SetStartMethod(mp::StartMethod::kSpawn) or use GetContext(kSpawn), and
// one that forks from a multithreaded parent must follow the DANGER note in
// platform/launch.h.
//
// Exit: a main process that starts children runs Python's exit function at
// normal exit (std::atexit): daemonic children still running get
// Terminate(), then every child is joined. A child runs it too when its
// target returns and in mp::Exit(). A child does not outlive its parent
// unless set_dies_with_parent(false): on Linux it is killed when the parent
// dies (see platform/launch.h for the per-thread rule), on Windows by a job
// object; on other POSIX systems children become orphans, as in Python.
//
// Stdio: Start() flushes the parent's C stdio and std::cout/cerr/clog first
// (or the child would write the parent's pending output again), and the
// child flushes its own before it ends.
//
// Fork rules: see the DANGER note in platform/launch.h. In a multithreaded
// parent, the target must not take locks another thread may have held.
//
// A Process destroyed while its child runs does not wait for it; the child
// is reaped by a later Start() or ActiveChildren() once it has exited
// (Python's _cleanup()), or joined at exit.
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
#include <typeinfo>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "multiprocessing/ipc/errors.h"  // IsTimeout() for Join()
#include "multiprocessing/platform/handle.h"
#include "multiprocessing/platform/launch.h"
#include "multiprocessing/process/current_process.h"  // CurrentProcess(), ParentProcess()
#include "multiprocessing/process/logger.h"  // GetLogger(), LogToStderr()
#include "multiprocessing/process/target.h"  // MP_REGISTER_TARGET

namespace mp {

namespace process_internal {
class ChildRecord;  // process/registry.h
}  // namespace process_internal

// Python's start methods.
enum class StartMethod { kFork, kSpawn, kForkserver };

// "fork", "spawn", "forkserver".
const char* StartMethodName(StartMethod method);

// get_all_start_methods(): the methods this platform has, default first.
std::vector<StartMethod> GetAllStartMethods();

// get_start_method(): the default for Processes not given one.
StartMethod GetStartMethod();

// set_start_method(method, force): sets the default once. A second call
// without `force` is kFailedPrecondition ("context has already been set"),
// as is a method this platform lacks.
[[nodiscard]] absl::Status SetStartMethod(StartMethod method,
                                          bool force = false);

// set_forkserver_preload(names): functions the forkserver runs once when it
// starts, before it forks any child, so that every child inherits what they
// set up (Python imports modules there; C++ has none to import). Each name
// is the spelling of a function registered with MP_REGISTER_TARGET that
// takes no arguments (say "WarmUpCaches"); one that fails is reported on
// stderr and skipped, as Python skips a module that does not import. Takes
// effect when the server starts (the first forkserver Start()), as in
// Python. kInvalidArgument for a name not registered.
[[nodiscard]] absl::Status SetForkserverPreload(std::vector<std::string> names);

// set_executable(path): the program the spawn start method runs. By default
// this program (the same binary, found through /proc/self/exe); another
// program must register the same targets (MP_REGISTER_TARGET) and call
// mp::Init first. An empty path restores the default. A path that cannot be
// run makes Start() fail with the exec error (e.g. kNotFound,
// kPermissionDenied).
void SetExecutable(std::string path);

// get_executable(): what the spawn start method runs now.
[[nodiscard]] absl::StatusOr<std::string> GetExecutable();

// mp::Init(argc, argv): at the top of main() in every program that uses the
// spawn start method (Python's `if __name__ == "__main__":`). In a process
// spawned by this library it runs the child's target and exits; in any
// other process it returns at once. A spawned child gets the parent's
// arguments (argv[1..]), so what main() does before mp::Init, such as
// absl::ParseCommandLine(argc, argv), is done alike in the child, as a
// Python module's top level runs again in a spawned child; what comes after
// mp::Init runs in the parent only. (argc and argv are not read: the
// arguments are the process's own.)
void Init(int argc, char** argv);

class Process {
 public:
  // Python's Process(target=target, args=args). Nothing runs until Start().
  template <
      typename F, typename... Args,
      typename = std::enable_if_t<!std::is_base_of_v<Process, std::decay_t<F>>>>
  explicit Process(F&& target, Args&&... args)
      : Process(BoundTag(), std::unique_ptr<process_internal::Target>(
                                std::make_unique<process_internal::BoundTarget<
                                    std::decay_t<F>, std::decay_t<Args>...>>(
                                    std::forward<F>(target),
                                    std::forward<Args>(args)...))) {
    static_assert(
        std::is_invocable_v<std::decay_t<F>&,
                            process_internal::Unwrapped<std::decay_t<Args>>...>,
        "the Process target cannot be called with these arguments as "
        "lvalues (take move-only arguments by reference)");
  }

  // Python's Process() without a target: Run() does nothing (exit code 0)
  // unless a subclass overrides it. Subclasses start here.
  Process();

  // Move-only. A moved-from Process is inert: it behaves as a closed one.
  Process(Process&& other) noexcept;
  Process& operator=(Process&& other) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  // Does not wait for a running child (see the top of this file).
  virtual ~Process();

  // run(): what the child does. By default it calls the target with its
  // arguments and returns the exit code (int target: its value; void: 0;
  // absl::Status: 0 or the error, which the child reports and exits 1 on).
  // A subclass overrides it (see "Subclasses" above). Called directly, it
  // runs in this process, as Python's p.run() does; after Start() the
  // target and its arguments belong to the child, so a direct call is then
  // kFailedPrecondition.
  [[nodiscard]] virtual absl::StatusOr<int> Run();

  // start(): starts the child. A second call is kFailedPrecondition ("cannot
  // start a process twice"), as is a call in a daemonic process's child.
  [[nodiscard]] absl::Status Start();

  // join(timeout): waits for the child to exit and reaps it. OK once it has
  // exited; mp::IsTimeout() when `timeout` passed first (zero or negative
  // checks once). Before Start(): kFailedPrecondition.
  [[nodiscard]] absl::Status Join(
      std::optional<absl::Duration> timeout = std::nullopt);

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
  [[nodiscard]] absl::Status Terminate();
  absl::Status Kill();

  // close(): releases the sentinel and the arguments. While the child runs:
  // kFailedPrecondition. Afterwards every method fails with
  // kFailedPrecondition ("process object is closed") and the getters return
  // nullopt. Closing twice is fine, as in Python.
  [[nodiscard]] absl::Status Close();

  // sentinel: a handle that becomes readable when the child exits (for
  // mp::Wait, as mp::Waitable(sentinel)). Owned by the Process.
  absl::StatusOr<platform::NativeHandle> sentinel() const;

  // name: "Process-N" by default, N counting the Process objects this
  // process created, from 1; in a child its own name's numbers come first,
  // as in Python: Process-1 names its Processes "Process-1:1",
  // "Process-1:2", and Process-1:2 names its "Process-1:2:1", ... under
  // every start method. Settable at any time before Close() (the numbers
  // of the children's names stay the ones given here).
  const std::string& name() const { return name_; }
  absl::Status set_name(std::string name);

  // daemon: settable before Start() only; by default the creating
  // process's own flag, as in Python. A daemonic process may not start
  // children, and is terminated when its parent exits normally.
  bool daemon() const { return daemon_; }
  absl::Status set_daemon(bool daemon);

  // dies_with_parent: whether the child is killed when this process dies,
  // however it dies (SIGKILL included): true by default, so no child is left
  // behind (Linux: PR_SET_PDEATHSIG; Windows: a kill-on-close job; see
  // platform/launch.h). False: the child lives on, an orphan, as a Python
  // child does. Settable before Start(). A normal exit still runs the exit
  // function (daemonic children terminated, the others joined).
  bool dies_with_parent() const { return dies_with_parent_; }
  absl::Status set_dies_with_parent(bool dies);

  // authkey: the key the child's CurrentProcess().authkey() returns (for
  // Listener/Client); by default this process's own. Settable before Start().
  const std::string& authkey() const { return authkey_; }
  absl::Status set_authkey(std::string authkey);

  // Signals (POSIX; C++ only, Python has no such setting): a spawned child
  // starts with no signal blocked and every signal at its default action,
  // as libuv's and Chromium's children do, whatever this process blocks or
  // ignores; a forked child keeps this process's mask and dispositions, as
  // Python's fork children do. The signals listed here are kept by a
  // spawned child too: blocked if blocked here, ignored if ignored here (a
  // handler cannot cross exec). Settable before Start(); ignored on Windows.
  const std::vector<int>& spawn_kept_signals() const {
    return spawn_kept_signals_;
  }
  absl::Status set_spawn_kept_signals(std::vector<int> signals);

  // The start method: by default GetStartMethod() at the time of Start().
  // Settable before Start() (GetContext() does it for you).
  StartMethod start_method() const;
  absl::Status set_start_method(StartMethod method);

 private:
  struct BoundTag {};
  Process(BoundTag, std::unique_ptr<process_internal::Target> target);

  [[nodiscard]] absl::Status CheckNotStarted() const;
  absl::Status CheckStarted(const char* operation) const;
  [[nodiscard]] absl::StatusOr<platform::ChildProcess> Launch(
      StartMethod method);
  // The handles a forked child keeps: those of the target's arguments and
  // of a registered class's ConstructorArguments().
  [[nodiscard]] absl::StatusOr<std::vector<platform::NativeHandle>>
  ForkHandles() const;
  // Waits for the child (see ChildRecord::Wait); once it has exited, the
  // registry forgets it.
  [[nodiscard]] absl::StatusOr<std::optional<int>> Wait(
      std::optional<absl::Duration> timeout);
  // The exit code if the child has exited, else nullopt.
  std::optional<int> Poll();
  [[nodiscard]] absl::Status Signal(bool kill);
  // Leaves a running child to the registry and makes this object inert.
  void Abandon();

  std::optional<StartMethod> start_method_;           // nullopt: the default
  std::unique_ptr<process_internal::Target> target_;  // until Start()
  std::string name_;
  std::vector<int> identity_;  // Python's _identity (see name())
  bool daemon_ = false;
  bool dies_with_parent_ = true;
  std::vector<int> spawn_kept_signals_;
  std::string authkey_;
  bool closed_ = false;
  // Set by Start(); shared with the registry until reaped.
  std::shared_ptr<process_internal::ChildRecord> child_;
};

// get_context(method): Processes made through it use `method`. Without a
// method: the default (GetStartMethod()).
class Context {
 public:
  explicit Context(StartMethod method) : method_(method) {}
  StartMethod start_method() const { return method_; }

  // ctx.Process(target, args...).
  template <typename F, typename... Args>
  mp::Process Process(F&& target, Args&&... args) const {
    mp::Process p(std::forward<F>(target), std::forward<Args>(args)...);
    p.set_start_method(method_).IgnoreError();  // cannot fail before Start()
    return p;
  }

 private:
  StartMethod method_;
};

// kFailedPrecondition for a method this platform does not have.
[[nodiscard]] absl::StatusOr<Context> GetContext(
    std::optional<StartMethod> method = std::nullopt);

// active_children(): the children this process started that have not been
// reaped, after reaping those that have exited (their Process objects then
// report the exit code). Python returns the Process objects; a C++ Process
// belongs to whoever created it, so this describes them.
struct ChildInfo {
  std::int64_t pid = 0;
  std::string name;
  bool daemon = false;
};
std::vector<ChildInfo> ActiveChildren();

// cpu_count(): the number of processors, or nullopt when unknown.
std::optional<int> CpuCount();

// Python's sys.exit(code) in a target: runs the exit function (daemonic
// children terminated, the others joined), flushes C stdio and the standard
// C++ streams and ends the calling process at once with `code`, without
// running destructors or atexit handlers.
[[noreturn]] void Exit(int code);

namespace process_internal {

// A registered Process class in a spawned child: the object, built from the
// decoded ConstructorArguments(), runs its Run().
template <typename T>
class ProcessClassTarget final : public Target {
 public:
  explicit ProcessClassTarget(std::unique_ptr<T> process)
      : process_(std::move(process)) {}
  // The object was built before this process became the child: it takes
  // its Process's name, daemon flag and authkey now, as a forked copy has
  // them.
  [[nodiscard]] absl::StatusOr<int> Run() override {
    process_->set_name(CurrentProcess().name()).IgnoreError();
    process_->set_daemon(CurrentProcess().daemon()).IgnoreError();
    process_->set_authkey(CurrentProcess().authkey()).IgnoreError();
    return process_->Run();
  }
  absl::StatusOr<HandleList> Handles() override { return HandleList{}; }
  ErasedFunction function() const override { return nullptr; }
  [[nodiscard]] absl::Status EncodeArguments(std::string*,
                                             HandleTable*) override {
    return absl::UnimplementedError("a spawned Process class is not re-sent");
  }

 private:
  std::unique_ptr<T> process_;
};

template <typename T>
using ConstructorArgumentsOf = typename DecayedTuple<std::decay_t<
    decltype(std::declval<const T&>().ConstructorArguments())>>::type;

template <typename T>
[[nodiscard]] absl::Status EncodeProcessClass(const void* process,
                                              std::string* out,
                                              HandleTable* handles) {
  const T& p = static_cast<const T&>(*static_cast<const Process*>(process));
  return codec_internal::EncodeImpl(p.ConstructorArguments(), out, handles);
}

template <typename T>
[[nodiscard]] absl::StatusOr<std::unique_ptr<Target>> BindProcessClass(
    ErasedFunction, absl::string_view encoded, HandleTable* handles) {
  absl::StatusOr<ConstructorArgumentsOf<T>> args =
      Decode<ConstructorArgumentsOf<T>>(encoded, handles);
  if (!args.ok()) return args.status();
  return std::apply(
      [](auto&... a) -> std::unique_ptr<Target> {
        return std::make_unique<ProcessClassTarget<T>>(
            std::make_unique<T>(std::move(a)...));
      },
      *args);
}

template <typename T>
bool RegisterProcess(const char* name) {
  static_assert(std::is_base_of_v<Process, T>,
                "MP_REGISTER_PROCESS takes a class derived from mp::Process");
  return RegisterProcessClass(name, typeid(T), &BindProcessClass<T>,
                              &EncodeProcessClass<T>);
}

}  // namespace process_internal

}  // namespace mp

// MP_REGISTER_PROCESS(Class): lets a spawned process run a Class derived
// from mp::Process (the sibling of MP_REGISTER_TARGET; the same rules on
// where to write it and on distinct spellings). Class needs a const
// ConstructorArguments() returning a tuple (std::tie of members, say) of
// values with an mp::Codec, and a constructor taking those values (decayed:
// `Class(mp::Connection, int)` for std::tuple<const Connection&, const
// int&>). See "Subclasses" at the top of this file.
#define MP_REGISTER_PROCESS(Class)                       \
  [[maybe_unused]] static const bool MP_INTERNAL_CONCAT( \
      mp_registered_process_, __COUNTER__) =             \
      ::mp::process_internal::RegisterProcess<Class>(#Class)

#endif  // MULTIPROCESSING_PROCESS_PROCESS_H_
