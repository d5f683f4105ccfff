// The Python documentation's first Pool example, in C++:
//
//   from multiprocessing import Pool
//
//   def f(x):
//       return x*x
//
//   if __name__ == '__main__':
//       with Pool(5) as p:
//           print(p.map(f, [1, 2, 3]))
//
// prints [1, 4, 9]. Then a map over range(10) with imap, and a task that
// fails, to show that its error comes back to the caller.
#include <cstdint>
#include <iostream>
#include <numeric>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_join.h"
#include "multiprocessing/pool/pool.h"
#include "multiprocessing/process/process.h"

int64_t F(int64_t x) { return x * x; }
MP_REGISTER_TASK(F);  // so spawn (Windows' only method) can run it

absl::StatusOr<int64_t> Reciprocal(int64_t x) {
  if (x == 0) return absl::InvalidArgumentError("division by zero");
  return 1000 / x;
}
MP_REGISTER_TASK(Reciprocal);

int main(int argc, char** argv) {
  mp::Init(argc, argv);  // a spawned worker runs its tasks here
  absl::StatusOr<mp::Pool> p = mp::Pool::Create(5);
  if (!p.ok()) {
    std::cerr << p.status() << std::endl;
    return 1;
  }
  absl::StatusOr<std::vector<int64_t>> squares = p->Map(F, {1, 2, 3});
  if (!squares.ok()) {
    std::cerr << squares.status() << std::endl;
    return 1;
  }
  std::cout << "[" << absl::StrJoin(*squares, ", ") << "]" << std::endl;

  std::vector<int64_t> range(10);
  std::iota(range.begin(), range.end(), 0);
  mp::ImapIterator<int64_t> it = p->Imap(F, range.begin(), range.end());
  std::vector<int64_t> lazily;
  for (;;) {
    absl::StatusOr<std::optional<int64_t>> next = it.Next();
    if (!next.ok() || !next->has_value()) break;
    lazily.push_back(**next);
  }
  std::cout << "[" << absl::StrJoin(lazily, ", ") << "]" << std::endl;

  std::cout << p->Map(Reciprocal, {4, 0, 2}).status() << std::endl;
  p->Close();
  return p->Join().ok() ? 0 : 1;
}
