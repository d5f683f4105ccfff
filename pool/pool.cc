#include "multiprocessing/pool/pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "multiprocessing/ipc/connection.h"
#include "multiprocessing/ipc/errors.h"
#include "multiprocessing/ipc/py_value.h"
#include "multiprocessing/ipc/wait.h"
#include "multiprocessing/pool/internal/threaded_backend.h"

namespace mp {
namespace pool_internal {
namespace {

// --- The task registry and the callables table. ---

struct Registered {
  ErasedFunction function;
  std::string (*run)(ErasedFunction, absl::string_view, bool);
};

std::mutex& RegistryMutex() {
  static std::mutex* mu = new std::mutex;
  return *mu;
}
std::map<std::string, Registered, std::less<>>& ByName() {
  static auto* m = new std::map<std::string, Registered, std::less<>>;
  return *m;
}
std::map<ErasedFunction, std::string>& ByFunction() {
  static auto* m = new std::map<ErasedFunction, std::string>;
  return *m;
}

std::mutex callables_mu;
std::vector<std::shared_ptr<const ChunkRunner>>* callables = nullptr;

// In a worker.
absl::Status* initializer_error = nullptr;

}  // namespace

bool RegisterTask(const char* name, ErasedFunction function,
                  std::string (*run)(ErasedFunction, absl::string_view, bool)) {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  auto [it, inserted] = ByName().try_emplace(name, Registered{function, run});
  if (!inserted && it->second.function != function) {
    std::fprintf(stderr,
                 "MP_REGISTER_TASK: two functions registered as %s; register "
                 "functions of different namespaces under distinct spellings\n",
                 name);
    std::abort();
  }
  ByFunction().emplace(function, name);
  return true;
}

const std::string* FindTaskName(ErasedFunction function) {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  auto it = ByFunction().find(function);
  return it == ByFunction().end() ? nullptr : &it->second;
}

std::optional<ChunkRunner> FindTask(absl::string_view name) {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  auto it = ByName().find(name);
  if (it == ByName().end()) return std::nullopt;
  Registered r = it->second;
  return ChunkRunner([r](absl::string_view chunk, bool spread) {
    return r.run(r.function, chunk, spread);
  });
}

int64_t AddCallable(ChunkRunner runner) {
  std::lock_guard<std::mutex> lock(callables_mu);
  if (callables == nullptr) {
    callables = new std::vector<std::shared_ptr<const ChunkRunner>>;
  }
  callables->push_back(std::make_shared<const ChunkRunner>(std::move(runner)));
  return static_cast<int64_t>(callables->size() - 1);
}

std::vector<std::shared_ptr<const ChunkRunner>> CallablesSnapshot() {
  std::lock_guard<std::mutex> lock(callables_mu);
  if (callables == nullptr) return {};
  return *callables;
}

void SetInitializerError(absl::Status status) {
  if (initializer_error == nullptr) initializer_error = new absl::Status;
  *initializer_error = std::move(status);
}

std::size_t DefaultChunksize(std::size_t items, int workers) {
  const std::size_t per = static_cast<std::size_t>(std::max(workers, 1)) * 4;
  std::size_t chunksize = items / per;
  if (items % per != 0) ++chunksize;
  return std::max<std::size_t>(chunksize, 1);
}

namespace {

// --- The worker. ---

// What travels: (task id, callable index, registered name, spread, chunk)
// down; (task id, outcomes) up.
using TaskMessage = std::tuple<int64_t, int64_t, std::string, bool, Bytes>;
using ReplyMessage = std::tuple<int64_t, Bytes>;

// Runs tasks until the parent closes the connection or `maxtasks` are done.
int WorkerLoop(Connection& conn, int64_t maxtasks,
               const std::vector<std::shared_ptr<const ChunkRunner>>& table) {
  for (int64_t done = 0; maxtasks <= 0 || done < maxtasks; ++done) {
    absl::StatusOr<TaskMessage> task = conn.Recv<TaskMessage>();
    if (!task.ok()) return IsEof(task.status()) ? 0 : 1;
    const auto& [id, index, name, spread, chunk] = *task;
    std::string outcomes;
    absl::Status error;
    if (initializer_error != nullptr && !initializer_error->ok()) {
      error = absl::Status(initializer_error->code(),
                           absl::StrCat("pool: the worker's initializer "
                                        "failed: ",
                                        initializer_error->message()));
    } else if (!name.empty()) {
      std::optional<ChunkRunner> run = FindTask(name);
      if (run) {
        outcomes = (*run)(chunk, spread);
      } else {
        error = absl::NotFoundError(absl::StrCat(
            "pool: task ", name, " is not registered in the worker"));
      }
    } else if (index >= 0 && static_cast<std::size_t>(index) < table.size()) {
      outcomes = (*table[index])(chunk, spread);
    } else {
      error = absl::InternalError("pool: the worker does not know the task");
    }
    if (!error.ok()) {
      ChunkResults<std::monostate> failed;
      failed.ok = false;
      failed.outcomes.push_back(Failed<std::monostate>(error));
      outcomes.clear();
      Encode(failed, &outcomes).IgnoreError();
    }
    if (!conn.Send(ReplyMessage(id, Bytes(std::move(outcomes)))).ok()) {
      return 1;
    }
  }
  return 0;
}

// The spawn worker: a registered target.
int SpawnedWorker(Connection& conn, int64_t maxtasks, std::string init_name,
                  Bytes init_args) {
  RunNamedInitializer(init_name, init_args);
  return WorkerLoop(conn, maxtasks, {});
}

}  // namespace

void RunNamedInitializer(const std::string& init_name,
                         absl::string_view init_args) {
  if (init_name.empty()) return;
  std::optional<ChunkRunner> init = FindTask(init_name);
  if (!init) {
    SetInitializerError(absl::NotFoundError(
        absl::StrCat("initializer ", init_name, " is not registered")));
    return;
  }
  absl::StatusOr<ChunkResults<PyValue>> o =
      Decode<ChunkResults<PyValue>>((*init)(init_args, true));
  if (!o.ok()) {
    SetInitializerError(o.status());
  } else if (!o->ok && !o->outcomes.empty()) {
    const Outcome<PyValue>& failed = o->outcomes[0];
    SetInitializerError(
        absl::Status(static_cast<absl::StatusCode>(std::get<2>(failed)),
                     std::get<3>(failed)));
  }
}
}  // namespace pool_internal
}  // namespace mp

MP_REGISTER_TARGET(mp::pool_internal::SpawnedWorker);

namespace mp {
namespace pool_internal {

// --- The pool's side. ---

class Core final : public ThreadedBackend {
 public:
  Core(Pool::Options options, int processes)
      : options_(std::move(options)), processes_(processes) {}
  ~Core() override {
    Terminate();
    JoinThread();
  }

  absl::Status Start() {
    absl::StatusOr<std::pair<Connection, Connection>> wake = Pipe(false);
    if (!wake.ok()) return wake.status();
    wake_read_ = std::move(wake->first);
    wake_write_ = std::move(wake->second);
    for (int i = 0; i < processes_; ++i) {
      if (absl::Status s = AddWorker(); !s.ok()) {
        KillAll();
        return s;
      }
    }
    StartThread();
    return absl::OkStatus();
  }

  int processes() const override { return processes_; }
  StartMethod start_method() const override { return *options_.start_method; }

 private:
  // A chunk handed to a worker.
  struct Running {
    std::shared_ptr<Job> job;
    std::size_t first = 0;
    std::size_t count = 0;
    std::string chunk;  // kept to send again to a fresh worker
    int64_t id = 0;
  };
  struct Worker {
    int number = 0;
    std::optional<Process> process;  // set once started
    Connection conn;
    platform::NativeHandle sentinel = platform::kInvalidHandle;
    int64_t known_callables = 0;  // fork: the table's size at its start
    std::optional<Running> task;
    int64_t tasks_done = 0;
    bool retiring = false;   // its connection is closed: it is exiting
    bool conn_dead = false;  // end of stream seen: only its exit is left
  };

  void Wake() override {
    if (!wake_pending_.exchange(true)) {
      wake_write_.SendBytes("w").IgnoreError();
    }
  }

  absl::Status AddWorker() {
    absl::StatusOr<std::pair<Connection, Connection>> pipe = Pipe(true);
    if (!pipe.ok()) return pipe.status();
    auto w = std::make_unique<Worker>();
    w->number = ++workers_started_;
    const int64_t maxtasks = options_.maxtasksperchild;
    const StartMethod method =
        options_.start_method.value_or(GetContext().value().start_method());
    if (method == StartMethod::kFork) {
      auto table = CallablesSnapshot();
      w->known_callables = static_cast<int64_t>(table.size());
      auto init = options_.init_fork;
      w->process.emplace(
          [table, init, maxtasks](Connection& conn) {
            if (init) init();
            return WorkerLoop(conn, maxtasks, table);
          },
          std::move(pipe->second));
    } else {
      w->process.emplace(SpawnedWorker, std::move(pipe->second), maxtasks,
                         options_.init_name, Bytes(options_.init_args));
    }
    if (absl::Status s = w->process->set_start_method(method); !s.ok()) {
      return s;
    }
    w->process->set_name(absl::StrCat("PoolWorker-", w->number)).IgnoreError();
    w->process->set_daemon(true).IgnoreError();
    if (absl::Status s = w->process->Start(); !s.ok()) return s;
    absl::StatusOr<platform::NativeHandle> sentinel = w->process->sentinel();
    if (!sentinel.ok()) return sentinel.status();
    w->sentinel = *sentinel;
    w->conn = std::move(pipe->first);
    workers_.push_back(std::move(w));
    RecordPids();
    return absl::OkStatus();
  }

  void RecordPids() {
    std::vector<int64_t> pids;
    for (const auto& w : workers_) {
      if (!w->retiring) pids.push_back(w->process->pid().value_or(0));
    }
    std::lock_guard<std::mutex> lock(mu_);
    pids_ = std::move(pids);
  }

  // The next chunk to run: one to retry, else the next of the oldest job
  // with input left.
  bool NextChunk(Running* run) {
    if (!retry_.empty()) {
      *run = std::move(retry_.front());
      retry_.pop_front();
      return true;
    }
    return NextJobChunk(&run->job, &run->first, &run->count, &run->chunk);
  }

  bool WorkLeft() const {
    if (!jobs_.empty() || !retry_.empty()) return true;
    for (const auto& w : workers_) {
      if (w->task) return true;
    }
    return false;
  }

  void Dispatch() {
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      Worker& w = *workers_[i];
      if (w.retiring || w.conn_dead || w.task) continue;
      Running run;
      if (!NextChunk(&run)) return;
      if (run.job->task_name.empty() &&
          run.job->callable >= w.known_callables) {
        // Forked before this callable existed: replace it by a worker that
        // has it, and give the chunk to that one.
        retry_.push_front(std::move(run));
        Retire(w);
        Replace();
        continue;
      }
      run.id = ++next_task_id_;
      w.task = std::move(run);
      const Running& t = *w.task;
      absl::Status s =
          w.conn.Send(TaskMessage(t.id, t.job->callable, t.job->task_name,
                                  t.job->spread, Bytes(t.chunk)));
      if (!s.ok()) w.conn_dead = true;  // its exit fails the task
    }
  }

  void Retire(Worker& w) {
    w.retiring = true;
    w.conn.Close().IgnoreError();  // the worker sees end of stream and exits
    RecordPids();
  }

  // Starts a worker in place of one that left; with none left and work
  // waiting, that work fails rather than waits forever.
  void Replace() {
    absl::Status s = AddWorker();
    if (s.ok()) return;
    for (const auto& w : workers_) {
      if (!w->retiring && !w->conn_dead) return;  // the others go on
    }
    FailPending(absl::Status(
        s.code(),
        absl::StrCat("pool: no worker could be started: ", s.message())));
  }

  void FailPending(const absl::Status& s) {
    for (Running& r : retry_) r.job->Fail(r.first, r.count, s);
    retry_.clear();
    FailJobs(s);
  }

  void HandleReply(Worker& w) {
    absl::StatusOr<ReplyMessage> reply = w.conn.Recv<ReplyMessage>();
    if (!reply.ok()) {
      w.conn_dead = true;  // it is exiting: its sentinel tells the rest
      return;
    }
    if (!w.task || std::get<0>(*reply) != w.task->id) return;
    Running done = std::move(*w.task);
    w.task.reset();
    if (options_.maxtasksperchild > 0 &&
        ++w.tasks_done >= options_.maxtasksperchild) {
      // It exits by itself now; give no more work to it.
      Retire(w);
      Replace();
    }
    done.job->Deliver(done.first, done.count, std::get<1>(*reply));
  }

  void HandleExit(std::size_t index) {
    Worker& w = *workers_[index];
    if (w.task && !w.conn_dead && w.conn.Poll().value_or(false)) {
      HandleReply(w);  // it answered, then left (maxtasksperchild)
    }
    w.process->Join(absl::Seconds(5)).IgnoreError();
    if (w.task) {
      const std::optional<int> code = w.process->exitcode();
      const std::string how = !code       ? "an unknown status"
                              : *code < 0 ? absl::StrCat("signal ", -*code)
                                          : absl::StrCat("exit code ", *code);
      w.task->job->Fail(
          w.task->first, w.task->count,
          absl::AbortedError(absl::StrCat(
              "pool worker ", w.number, " (pid ", w.process->pid().value_or(0),
              ") died with ", how, " while running a task of ", w.task->count,
              " item", w.task->count == 1 ? "" : "s")));
      w.task.reset();
    }
    const bool retired = w.retiring;
    w.process->Close().IgnoreError();
    workers_.erase(workers_.begin() + index);
    RecordPids();
    if (!retired) {
      State state;
      {
        std::lock_guard<std::mutex> lock(mu_);
        state = state_;
      }
      if (state == State::kRunning ||
          (state == State::kClosing && WorkLeft())) {
        Replace();
      }
    }
  }

  void KillAll() {
    for (auto& w : workers_) w->process->Terminate().IgnoreError();
    for (auto& w : workers_) {
      if (!w->process->Join(absl::Seconds(2)).ok()) {
        w->process->Kill().IgnoreError();
        w->process->Join().IgnoreError();
      }
      w->process->Close().IgnoreError();
    }
    workers_.clear();
  }

  void Loop() override {
    State state = State::kRunning;
    for (;;) {
      state = TakeSubmitted();
      if (state == State::kTerminating) break;
      Dispatch();
      if (state == State::kClosing && !WorkLeft()) break;

      std::vector<Waitable> objects;
      std::vector<std::pair<std::size_t, bool>> owners;  // worker, is_exit
      objects.push_back(Waitable(wake_read_));
      owners.push_back({0, false});
      for (std::size_t i = 0; i < workers_.size(); ++i) {
        Worker& w = *workers_[i];
        if (w.task && !w.conn_dead && !w.retiring) {
          objects.push_back(Waitable(w.conn));
          owners.push_back({i, false});
        }
        objects.push_back(Waitable(w.sentinel));
        owners.push_back({i, true});
      }
      absl::StatusOr<std::vector<std::size_t>> ready = Wait(objects);
      if (!ready.ok()) {
        std::fprintf(stderr, "pool: wait failed: %s\n",
                     ready.status().ToString().c_str());
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        continue;
      }
      std::vector<std::size_t> exits;
      for (std::size_t r : *ready) {
        if (r == 0) {
          wake_pending_ = false;
          while (wake_read_.Poll().value_or(false)) {
            if (!wake_read_.RecvBytes().ok()) break;
          }
          continue;
        }
        auto [worker, is_exit] = owners[r];
        if (is_exit) {
          exits.push_back(worker);
        } else {
          HandleReply(*workers_[worker]);
        }
      }
      // Highest index first: erasing keeps the others' indices.
      std::sort(exits.rbegin(), exits.rend());
      for (std::size_t i : exits) HandleExit(i);
    }

    const absl::Status cancelled =
        absl::CancelledError("pool: terminated before the task finished");
    if (state == State::kTerminating) {
      KillAll();
      for (auto& w : workers_) {
        if (w->task)
          w->task->job->Fail(w->task->first, w->task->count, cancelled);
      }
    } else {
      // Closed and done: end of stream tells each worker to exit.
      for (auto& w : workers_) w->conn.Close().IgnoreError();
      for (auto& w : workers_) {
        w->process->Join().IgnoreError();
        w->process->Close().IgnoreError();
      }
      workers_.clear();
    }
    Finish();
    FailPending(cancelled);
    RecordPids();
  }

  Pool::Options options_;
  const int processes_;
  Connection wake_read_;
  Connection wake_write_;
  std::atomic<bool> wake_pending_{false};

  // The pool thread's.
  std::vector<std::unique_ptr<Worker>> workers_;
  std::deque<Running> retry_;
  int workers_started_ = 0;
  int64_t next_task_id_ = 0;
};

}  // namespace pool_internal

// --- Pool. ---

absl::StatusOr<Pool> Pool::Create(std::optional<int> processes) {
  Options options;
  options.processes = processes;
  return Create(std::move(options));
}

absl::StatusOr<Pool> Pool::Create(Options options) {
  const int n = options.processes.value_or(CpuCount().value_or(1));
  if (n < 1) {
    return absl::InvalidArgumentError(
        "pool: Number of processes must be at least 1");
  }
  if (options.maxtasksperchild < 0) {
    return absl::InvalidArgumentError(
        "pool: maxtasksperchild must be a positive int or 0");
  }
  if (!options.init_status.ok()) return options.init_status;
  const StartMethod method =
      options.start_method.value_or(GetContext().value().start_method());
  if (method != StartMethod::kFork && options.init_fork &&
      options.init_name.empty()) {
    return absl::InvalidArgumentError(
        "pool: under spawn the initializer must be a function registered "
        "with MP_REGISTER_TASK");
  }
  if (absl::StatusOr<Context> ctx = GetContext(method); !ctx.ok()) {
    return ctx.status();
  }
  options.start_method = method;
  auto core = std::make_shared<pool_internal::Core>(std::move(options), n);
  if (absl::Status s = core->Start(); !s.ok()) return s;
  return Pool(std::move(core));
}

Pool::Pool(std::shared_ptr<pool_internal::Backend> core)
    : core_(std::move(core)) {}
Pool::Pool(Pool&&) noexcept = default;
Pool& Pool::operator=(Pool&& other) noexcept {
  if (this != &other) {
    if (core_) core_->Terminate();
    core_ = std::move(other.core_);
  }
  return *this;
}
Pool::~Pool() {
  if (core_) core_->Terminate();
}

void Pool::Close() { core_->Close(); }
void Pool::Terminate() { core_->Terminate(); }
absl::Status Pool::Join() { return core_->Join(); }
int Pool::processes() const { return core_->processes(); }
std::vector<int64_t> Pool::WorkerPids() const { return core_->WorkerPids(); }
absl::Status Pool::Submit(std::shared_ptr<pool_internal::Job> job) {
  return core_->Submit(std::move(job));
}
StartMethod Pool::start_method() const { return core_->start_method(); }

}  // namespace mp
