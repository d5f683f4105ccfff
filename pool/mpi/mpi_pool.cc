#include "multiprocessing/pool/mpi/mpi_pool.h"

#include <mpi.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "multiprocessing/ipc/codec.h"
#include "multiprocessing/pool/internal/result_state.h"
#include "multiprocessing/pool/internal/task.h"
#include "multiprocessing/pool/internal/threaded_backend.h"
#include "multiprocessing/process/process.h"

namespace mp::mpi {
namespace {

// What rank 0 and a worker rank say to each other. Every message is the
// codec's bytes (a pickle) sent as MPI_BYTE.
enum Tag : int {
  kStart = 1,  // 0 -> w: StartMessage; a pool begins
  kStarted,    // w -> 0: StartedMessage
  kTask,       // 0 -> w: TaskMessage
  kResult,     // w -> 0: ResultMessage
  kClose,      // 0 -> w: (empty) close and join the local pool
  kTerminate,  // 0 -> w: (empty) terminate it, a running task included
  kClosed,     // w -> 0: (empty) the local pool is gone
  kExit,       // 0 -> w: (empty) leave: MPI_Finalize and exit
};

// (maxtasksperchild, initializer name, its pickled arguments)
using StartMessage = std::tuple<int64_t, std::string, Bytes>;
// (status code, message, pid of the task process, host)
using StartedMessage = std::tuple<int, std::string, int64_t, std::string>;
// (task id, registered name, spread, pickled chunk)
using TaskMessage = std::tuple<int64_t, std::string, bool, Bytes>;
// (task id, status code, message, pickled outcomes, pid of the task process)
using ResultMessage = std::tuple<int64_t, int, std::string, Bytes, int64_t>;

int world_rank = -1;
int world_size = 0;
bool initialized = false;
bool finalized = false;
std::atomic<bool> pool_alive{false};

absl::Status MpiError(int code, absl::string_view op) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) length = 0;
  return absl::UnavailableError(
      absl::StrCat("MPI: ", op, " failed: ", absl::string_view(text, length)));
}

absl::Status SendBytes(int dest, int tag, absl::string_view bytes) {
  if (bytes.size() > static_cast<std::size_t>(INT_MAX)) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "MPI pool: a message of ", bytes.size(),
        " bytes is over MPI's int count (2 GiB); use a smaller chunksize"));
  }
  const int rc = MPI_Send(bytes.data(), static_cast<int>(bytes.size()),
                          MPI_BYTE, dest, tag, MPI_COMM_WORLD);
  if (rc != MPI_SUCCESS) return MpiError(rc, "MPI_Send");
  return absl::OkStatus();
}

template <typename T>
absl::Status SendValue(int dest, int tag, const T& value) {
  std::string bytes;
  if (absl::Status s = Encode(value, &bytes); !s.ok()) return s;
  return SendBytes(dest, tag, bytes);
}

// Whether a message from `source` with `tag` is waiting (MPI_Iprobe).
bool Probe(int source, int tag, MPI_Status* status) {
  int flag = 0;
  if (MPI_Iprobe(source, tag, MPI_COMM_WORLD, &flag, status) != MPI_SUCCESS) {
    return false;
  }
  return flag != 0;
}

// Receives the message `status` describes (from Probe).
absl::StatusOr<std::string> ReceiveProbed(const MPI_Status& status) {
  MPI_Status copy = status;
  int count = 0;
  if (int rc = MPI_Get_count(&copy, MPI_BYTE, &count); rc != MPI_SUCCESS) {
    return MpiError(rc, "MPI_Get_count");
  }
  std::string bytes(static_cast<std::size_t>(count), '\0');
  const int rc = MPI_Recv(bytes.data(), count, MPI_BYTE, status.MPI_SOURCE,
                          status.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  if (rc != MPI_SUCCESS) return MpiError(rc, "MPI_Recv");
  return bytes;
}

// Waiting without a blocking MPI_Recv (which spins at full speed in
// OpenMPI): a few yields, then sleeps of 16 to 128 us for about a tenth of
// a second (a task's result or the next task is usually that close), then
// of 1 ms, so idle ranks leave the CPUs to the ones that work.
class Backoff {
 public:
  std::chrono::microseconds Next() {
    ++n_;
    if (n_ <= 32) return std::chrono::microseconds(0);
    if (n_ > 32 + 1000) return std::chrono::microseconds(1000);
    const int shift = std::min(n_ - 33, 3);
    return std::chrono::microseconds(16 << shift);
  }
  void Pause() {
    const std::chrono::microseconds d = Next();
    if (d.count() == 0) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(d);
    }
  }
  void Reset() { n_ = 0; }

 private:
  int n_ = 0;
};

MPI_Status Await(int source, int tag) {
  MPI_Status status;
  Backoff backoff;
  while (!Probe(source, tag, &status)) backoff.Pause();
  return status;
}

std::string* host_name = nullptr;

std::string ProcessorName() {
  char name[MPI_MAX_PROCESSOR_NAME];
  int length = 0;
  if (MPI_Get_processor_name(name, &length) != MPI_SUCCESS) return "?";
  return std::string(name, length);
}

// --- A worker rank. ---

// What a rank's task process runs: the registered function `name` over a
// chunk, giving the chunk's pickled outcomes.
Bytes MpPoolMpiRunChunk(std::string name, Bytes chunk, bool spread) {
  std::optional<pool_internal::ChunkRunner> run = pool_internal::FindTask(name);
  if (!run) {
    pool_internal::ChunkResults<std::monostate> failed;
    failed.ok = false;
    failed.outcomes.push_back(
        pool_internal::Failed<std::monostate>(absl::NotFoundError(absl::StrCat(
            "pool: task ", name, " is not registered in the MPI rank"))));
    std::string out;
    Encode(failed, &out).IgnoreError();
    return Bytes(std::move(out));
  }
  return Bytes((*run)(chunk, spread));
}
MP_REGISTER_TASK(MpPoolMpiRunChunk);

int64_t FirstPid(const Pool& pool) {
  const std::vector<int64_t> pids = pool.WorkerPids();
  return pids.empty() ? 0 : pids[0];
}

// Serves pools until rank 0 says kExit. Each pool's tasks run in a local
// Pool of one forked process, so a task that crashes costs that process,
// not the rank (which MPI could not survive).
int ServeRank() {
  const std::string& host = Host();
  std::optional<Pool> local;
  auto stop_local = [&](bool terminate) {
    if (!local) return;
    if (terminate) {
      local->Terminate();
    } else {
      local->Close();
    }
    local->Join().IgnoreError();
    local.reset();
  };
  for (;;) {
    const MPI_Status status = Await(0, MPI_ANY_TAG);
    absl::StatusOr<std::string> bytes = ReceiveProbed(status);
    if (!bytes.ok()) {
      std::fprintf(stderr, "MPI pool rank %d: %s\n", world_rank,
                   bytes.status().ToString().c_str());
      return 1;
    }
    switch (status.MPI_TAG) {
      case kStart: {
        stop_local(true);
        absl::Status s;
        absl::StatusOr<StartMessage> start = Decode<StartMessage>(*bytes);
        if (!start.ok()) {
          s = start.status();
        } else {
          Pool::Options options;
          options.processes = 1;
          options.start_method = StartMethod::kFork;
          options.maxtasksperchild = static_cast<int>(std::get<0>(*start));
          const std::string init_name = std::get<1>(*start);
          const std::string init_args = std::get<2>(*start);
          if (!init_name.empty()) {
            options.init_fork = [init_name, init_args] {
              pool_internal::RunNamedInitializer(init_name, init_args);
            };
          }
          absl::StatusOr<Pool> pool = Pool::Create(std::move(options));
          if (pool.ok()) {
            local.emplace(std::move(*pool));
          } else {
            s = pool.status();
          }
        }
        if (!SendValue(0, kStarted,
                       StartedMessage(static_cast<int>(s.code()),
                                      std::string(s.message()),
                                      local ? FirstPid(*local) : 0, host))
                 .ok()) {
          return 1;
        }
        break;
      }
      case kTask: {
        absl::StatusOr<TaskMessage> task = Decode<TaskMessage>(*bytes);
        int64_t id = task.ok() ? std::get<0>(*task) : -1;
        absl::StatusOr<Bytes> outcomes = absl::InternalError("");
        if (!task.ok()) {
          outcomes = task.status();
        } else if (!local) {
          outcomes = absl::FailedPreconditionError(
              "MPI pool: a task came before its pool started");
        } else {
          const auto& [task_id, name, spread, chunk] = *task;
          AsyncResult<Bytes> result =
              local->ApplyAsync(MpPoolMpiRunChunk, name, chunk, spread);
          bool terminated = false;
          // While it runs, only a kTerminate can come (rank 0 sends tasks
          // to free ranks only, and kClose once no task is left).
          while (!result.Wait(absl::Milliseconds(5))) {
            MPI_Status t;
            if (Probe(0, kTerminate, &t)) {
              ReceiveProbed(t).IgnoreError();
              stop_local(true);
              terminated = true;
              break;
            }
          }
          if (terminated) {
            if (!SendBytes(0, kClosed, "").ok()) return 1;
            break;
          }
          outcomes = result.Get();
        }
        std::string message;
        int code = 0;
        if (!outcomes.ok()) {
          code = static_cast<int>(outcomes.status().code());
          message = std::string(outcomes.status().message());
        }
        if (!SendValue(
                 0, kResult,
                 ResultMessage(id, code, message,
                               outcomes.ok() ? std::move(*outcomes) : Bytes(),
                               local ? FirstPid(*local) : 0))
                 .ok()) {
          return 1;
        }
        break;
      }
      case kClose:
      case kTerminate:
        stop_local(status.MPI_TAG == kTerminate);
        if (!SendBytes(0, kClosed, "").ok()) return 1;
        break;
      case kExit:
        stop_local(true);
        return 0;
      default:
        std::fprintf(stderr, "MPI pool rank %d: unknown message tag %d\n",
                     world_rank, status.MPI_TAG);
        break;
    }
  }
}

// --- Rank 0: the pool. ---

class MpiCore final : public pool_internal::ThreadedBackend {
 public:
  MpiCore(Pool::Options options, int processes) : options_(std::move(options)) {
    for (int r = 1; r <= processes; ++r) {
      ranks_.emplace_back();
      ranks_.back().rank = r;
    }
    pids_.assign(processes, 0);
  }
  ~MpiCore() override {
    Terminate();
    JoinThread();
  }

  absl::Status Start() {
    const StartMessage start(options_.maxtasksperchild, options_.init_name,
                             Bytes(options_.init_args));
    absl::Status error;
    std::vector<int> told;
    for (const Rank& r : ranks_) {
      absl::Status s = SendValue(r.rank, kStart, start);
      if (s.ok()) {
        told.push_back(r.rank);
      } else if (error.ok()) {
        error = s;
      }
    }
    for (int rank : told) {
      absl::StatusOr<std::string> bytes = ReceiveProbed(Await(rank, kStarted));
      absl::StatusOr<StartedMessage> started =
          bytes.ok() ? Decode<StartedMessage>(*bytes)
                     : absl::StatusOr<StartedMessage>(bytes.status());
      if (!started.ok()) {
        if (error.ok()) error = started.status();
        continue;
      }
      const auto& [code, message, pid, host] = *started;
      ranks_[rank - 1].host = host;
      pids_[rank - 1] = pid;
      if (code != 0 && error.ok()) {
        error =
            absl::Status(static_cast<absl::StatusCode>(code),
                         absl::StrCat("MPI rank ", rank, " (host ", host,
                                      ") could not start its pool: ", message));
      }
    }
    if (!error.ok()) {
      Stop(told, kTerminate);
      std::lock_guard<std::mutex> lock(mu_);
      state_ = State::kDone;
      return error;
    }
    StartThread();
    return absl::OkStatus();
  }

  int processes() const override { return static_cast<int>(ranks_.size()); }
  // Tasks are found by name, as under spawn.
  StartMethod start_method() const override { return StartMethod::kSpawn; }

 private:
  struct Running {
    std::shared_ptr<pool_internal::Job> job;
    std::size_t first = 0;
    std::size_t count = 0;
    int64_t id = 0;
  };
  struct Rank {
    int rank = 0;
    std::string host;
    std::optional<Running> task;
    bool broken = false;  // an MPI call to it failed: no more work for it
  };

  void Wake() override { changed_.notify_all(); }

  bool NextChunk(Running* run, std::string* chunk) {
    return NextJobChunk(&run->job, &run->first, &run->count, chunk);
  }

  bool Busy() const {
    for (const Rank& r : ranks_) {
      if (r.task) return true;
    }
    return false;
  }
  bool WorkLeft() const { return !jobs_.empty() || Busy(); }

  void Dispatch() {
    for (Rank& r : ranks_) {
      if (r.broken || r.task) continue;
      Running run;
      std::string chunk;
      if (!NextChunk(&run, &chunk)) return;
      run.id = ++next_task_id_;
      absl::Status s =
          SendValue(r.rank, kTask,
                    TaskMessage(run.id, run.job->task_name, run.job->spread,
                                Bytes(std::move(chunk))));
      if (!s.ok()) {
        r.broken = true;
        run.job->Fail(run.first, run.count,
                      absl::Status(s.code(), absl::StrCat("MPI rank ", r.rank,
                                                          ": ", s.message())));
        continue;
      }
      r.task = std::move(run);
    }
    bool all_broken = true;
    for (const Rank& r : ranks_) all_broken = all_broken && r.broken;
    if (all_broken) {
      FailPending(absl::UnavailableError(
          "MPI pool: no worker rank can be reached any more"));
    }
  }

  void FailPending(const absl::Status& s) { FailJobs(s); }

  void HandleResult(const MPI_Status& status) {
    absl::StatusOr<std::string> bytes = ReceiveProbed(status);
    const int source = status.MPI_SOURCE;
    if (source < 1 || source > static_cast<int>(ranks_.size())) return;
    Rank& r = ranks_[source - 1];
    if (!r.task) return;
    absl::StatusOr<ResultMessage> result =
        bytes.ok() ? Decode<ResultMessage>(*bytes)
                   : absl::StatusOr<ResultMessage>(bytes.status());
    Running done = std::move(*r.task);
    r.task.reset();
    if (!result.ok()) {
      done.job->Fail(done.first, done.count, result.status());
      return;
    }
    const auto& [id, code, message, outcomes, pid] = *result;
    {
      std::lock_guard<std::mutex> lock(mu_);
      pids_[source - 1] = pid;
    }
    if (code == 0) {
      done.job->Deliver(done.first, done.count, outcomes);
      return;
    }
    // The task's process died (kAborted from the rank's local pool), or
    // the initializer failed: the whole chunk fails, saying where.
    std::string text = message;
    const std::string where =
        absl::StrCat(" of ", done.count, " item", done.count == 1 ? "" : "s",
                     " on MPI rank ", source, " (host ", r.host, ")");
    const std::size_t at = text.find(" while running a task");
    if (at != std::string::npos) {
      text = absl::StrCat(text.substr(0, at), " while running a task", where);
    } else {
      text = absl::StrCat(text, " (a task", where, ")");
    }
    done.job->Fail(done.first, done.count,
                   absl::Status(static_cast<absl::StatusCode>(code), text));
  }

  // Tells `ranks` to close or terminate their local pools and waits until
  // each has; results that cross on the way are dropped.
  void Stop(const std::vector<int>& ranks, int tag) {
    std::vector<int> waiting;
    for (int rank : ranks) {
      if (SendBytes(rank, tag, "").ok()) waiting.push_back(rank);
    }
    while (!waiting.empty()) {
      const MPI_Status status = Await(MPI_ANY_SOURCE, MPI_ANY_TAG);
      absl::StatusOr<std::string> bytes = ReceiveProbed(status);
      if (status.MPI_TAG == kClosed) {
        waiting.erase(
            std::remove(waiting.begin(), waiting.end(), status.MPI_SOURCE),
            waiting.end());
      }
    }
  }

  void Loop() override {
    State state = State::kRunning;
    Backoff backoff;
    for (;;) {
      state = TakeSubmitted();
      if (state == State::kTerminating) break;
      Dispatch();
      if (state == State::kClosing && !WorkLeft()) break;

      bool got = false;
      MPI_Status status;
      while (Busy() && Probe(MPI_ANY_SOURCE, kResult, &status)) {
        HandleResult(status);
        got = true;
      }
      if (got) {
        backoff.Reset();
        continue;
      }
      std::unique_lock<std::mutex> lock(mu_);
      auto changed = [&] { return !submitted_.empty() || state_ != state; };
      if (changed()) continue;
      if (Busy()) {
        // Results come through MPI, which has nothing to wait on together
        // with this condition variable: poll, backing off.
        const std::chrono::microseconds pause = backoff.Next();
        if (pause.count() == 0) {
          lock.unlock();
          std::this_thread::yield();
        } else {
          changed_.wait_for(lock, pause, changed);
        }
      } else {
        changed_.wait(lock, changed);
        backoff.Reset();
      }
    }

    std::vector<int> all;
    for (const Rank& r : ranks_) {
      if (!r.broken) all.push_back(r.rank);
    }
    Stop(all, state == State::kTerminating ? kTerminate : kClose);
    const absl::Status cancelled =
        absl::CancelledError("pool: terminated before the task finished");
    for (Rank& r : ranks_) {
      if (r.task) {
        r.task->job->Fail(r.task->first, r.task->count, cancelled);
        r.task.reset();
      }
    }
    Finish();
    FailPending(cancelled);
    pool_alive = false;
  }

  Pool::Options options_;

  // The pool thread's (and Start's, before it runs).
  std::vector<Rank> ranks_;
  int64_t next_task_id_ = 0;

  // Waited on with mu_.
  std::condition_variable changed_;
};

void FinalizeAtExit() { Finalize().IgnoreError(); }

}  // namespace

absl::Status Init(int* argc, char*** argv) {
  if (initialized) return absl::OkStatus();
  // A process spawned by a local start method runs its target here and
  // never reaches MPI.
  mp::Init(argc != nullptr ? *argc : 0, argv != nullptr ? *argv : nullptr);
  int provided = 0;
  if (int rc = MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided);
      rc != MPI_SUCCESS) {
    return absl::UnavailableError("MPI: MPI_Init_thread failed");
  }
  initialized = true;
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  host_name = new std::string(ProcessorName());
  if (provided < MPI_THREAD_SERIALIZED) {
    // The pool's thread makes MPI calls that the main thread's Init and
    // Finalize bracket.
    return absl::FailedPreconditionError(
        "MPI: this MPI library does not support MPI_THREAD_SERIALIZED");
  }
  if (world_rank != 0) {
    const int code = ServeRank();
    finalized = true;
    MPI_Finalize();
    std::exit(code);
  }
  std::atexit(FinalizeAtExit);
  return absl::OkStatus();
}

int Rank() { return world_rank; }
const std::string& Host() {
  static const std::string* unknown = new std::string("?");
  return host_name != nullptr ? *host_name : *unknown;
}
int Size() { return world_size; }

absl::StatusOr<Pool> CreatePool(int processes) {
  Pool::Options options;
  options.processes = processes;
  return CreatePool(std::move(options));
}

absl::StatusOr<Pool> CreatePool(Pool::Options options) {
  if (!initialized || finalized || world_rank != 0) {
    return absl::FailedPreconditionError(
        "MPI pool: call mp::mpi::Init first (and create pools on rank 0, "
        "before Finalize)");
  }
  if (world_size < 2) {
    return absl::FailedPreconditionError(
        "MPI pool: no worker rank; run under mpirun -np N with N >= 2");
  }
  const int n = options.processes.value_or(world_size - 1);
  if (n < 1) {
    return absl::InvalidArgumentError(
        "pool: Number of processes must be at least 1");
  }
  if (n > world_size - 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "MPI pool: ", n, " processes asked for, but only ", world_size - 1,
        " worker ranks (mpirun -np ", n + 1, " or more)"));
  }
  if (options.maxtasksperchild < 0) {
    return absl::InvalidArgumentError(
        "pool: maxtasksperchild must be a positive int or 0");
  }
  if (!options.init_status.ok()) return options.init_status;
  if (options.init_fork && options.init_name.empty()) {
    return absl::InvalidArgumentError(
        "MPI pool: the initializer must be a function registered with "
        "MP_REGISTER_TASK");
  }
  if (pool_alive.exchange(true)) {
    return absl::FailedPreconditionError(
        "MPI pool: another MPI pool is alive; one at a time (the ranks "
        "serve one pool)");
  }
  auto core = std::make_shared<MpiCore>(std::move(options), n);
  if (absl::Status s = core->Start(); !s.ok()) {
    pool_alive = false;
    return s;
  }
  return pool_internal::PoolFactory::Make(std::move(core));
}

absl::Status Finalize() {
  if (!initialized || finalized) return absl::OkStatus();
  if (pool_alive) {
    return absl::FailedPreconditionError(
        "MPI pool: Finalize() while a pool is alive; Join or destroy it "
        "first");
  }
  finalized = true;
  absl::Status error;
  for (int r = 1; r < world_size; ++r) {
    if (absl::Status s = SendBytes(r, kExit, ""); !s.ok() && error.ok()) {
      error = s;
    }
  }
  if (int rc = MPI_Finalize(); rc != MPI_SUCCESS && error.ok()) {
    error = MpiError(rc, "MPI_Finalize");
  }
  return error;
}

}  // namespace mp::mpi
