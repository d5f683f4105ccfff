// A Pool whose workers are MPI ranks (pool/mpi/mpi_pool.h): the same
// registered functions and Map / Imap / ApplyAsync calls as pool_map.cc, on
// one machine or on many. Rank 0 runs main() and the pool; every other rank
// serves it from inside mp::mpi::Init.
//
//   bazel build -c opt //examples:pool_mpi
//   mpirun -np 4 --oversubscribe bazel-bin/examples/pool_mpi
//
// (as root, add --allow-run-as-root; across hosts see README "Pool over
// MPI"). It prints how many ranks took part and where, the sum of 100,000
// squares computed on them, the results of an imap, and what a task that
// crashes its process gives back; it exits 1 if a result is wrong.
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <map>
#include <numeric>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_join.h"
#include "multiprocessing/pool/mpi/mpi_pool.h"
#include "multiprocessing/pool/pool.h"
#include "multiprocessing/process/process.h"

int64_t Square(int64_t x) { return x * x; }
MP_REGISTER_TASK(Square);

// Which rank (by host and process) ran a task.
std::tuple<int, std::string> Where(int) {
  return {mp::mpi::Rank(), mp::mpi::Host()};
}
MP_REGISTER_TASK(Where);

// A task that dies the hard way: only its own process goes, the rank does
// not, and the caller gets an error instead of a hang.
int64_t Crash(int64_t) {
  std::raise(SIGKILL);
  return 0;
}
MP_REGISTER_TASK(Crash);

int main(int argc, char** argv) {
  if (absl::Status s = mp::mpi::Init(&argc, &argv); !s.ok()) {
    std::cerr << s << std::endl;
    return 1;
  }
  // Only rank 0 gets here.
  absl::StatusOr<mp::Pool> pool = mp::mpi::CreatePool();  // Size() - 1 ranks
  if (!pool.ok()) {
    std::cerr << pool.status() << std::endl;
    mp::mpi::Finalize().IgnoreError();
    return 1;
  }
  bool ok = true;
  std::cout << mp::mpi::Size() << " ranks: rank 0 on " << mp::mpi::Host()
            << " runs main(), " << pool->processes() << " run tasks"
            << std::endl;

  absl::StatusOr<std::vector<std::tuple<int, std::string>>> where =
      pool->Map(Where, std::vector<int>(pool->processes() * 8, 0), 1);
  if (where.ok()) {
    std::map<int, std::string> ranks;
    for (const auto& [rank, host] : *where) ranks[rank] = host;
    std::vector<std::string> seen;
    for (const auto& [rank, host] : ranks) {
      seen.push_back("rank " + std::to_string(rank) + " on " + host);
    }
    std::cout << "tasks ran on: " << absl::StrJoin(seen, ", ") << std::endl;
  } else {
    std::cout << where.status() << std::endl;
    ok = false;
  }

  std::vector<int64_t> xs(100000);
  std::iota(xs.begin(), xs.end(), 0);
  absl::StatusOr<std::vector<int64_t>> squares = pool->Map(Square, xs);
  if (squares.ok()) {
    const int64_t sum = std::accumulate(squares->begin(), squares->end(),
                                        static_cast<int64_t>(0));
    std::cout << "sum of x*x for x < 100000: " << sum << std::endl;
    ok = ok && sum == 333328333350000;
  } else {
    std::cout << squares.status() << std::endl;
    ok = false;
  }

  mp::ImapIterator<int64_t> it = pool->Imap(Square, xs.begin(), xs.begin() + 8);
  std::vector<int64_t> first;
  for (;;) {
    absl::StatusOr<std::optional<int64_t>> next = it.Next();
    if (!next.ok() || !next->has_value()) break;
    first.push_back(**next);
  }
  std::cout << "imap: [" << absl::StrJoin(first, ", ") << "]" << std::endl;
  ok = ok && first.size() == 8 && first[7] == 49;

  absl::Status crashed = pool->Apply(Crash, int64_t{1}).status();
  std::cout << "a crashing task: " << crashed << std::endl;
  ok = ok && crashed.code() == absl::StatusCode::kAborted;
  // The rank goes on.
  ok = ok && pool->Apply(Square, int64_t{12}).value_or(0) == 144;

  pool->Close();
  ok = pool->Join().ok() && ok;
  ok = mp::mpi::Finalize().ok() && ok;
  std::cout << (ok ? "ok" : "FAILED") << std::endl;
  return ok ? 0 : 1;
}
