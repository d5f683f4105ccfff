// Runs a fuzz target (LLVMFuzzerTestOneInput) without libFuzzer: over every
// file of the corpus directories given as arguments, then over mutations of
// them (a fixed-seed random walk: flipped, inserted, removed and duplicated
// bytes) for a few seconds. The regression test of each fuzzer in tests/;
// real fuzzing uses fuzz/run.sh (clang + libFuzzer).

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "multiprocessing/fuzz/corpus_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size);

namespace {

void Run(const std::string& input) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()),
                         input.size());
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> corpus;
  for (int i = 1; i < argc; ++i) {
    if (!mp::fuzz::ReadCorpus(argv[i], &corpus)) {
      std::fprintf(stderr, "no corpus directory %s\n", argv[i]);
      return 2;
    }
  }
  if (corpus.empty()) {
    std::fprintf(stderr, "empty corpus\n");
    return 2;
  }
  for (const std::string& input : corpus) Run(input);
  std::mt19937_64 rng(20261123);
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  long mutations = 0;
  while (std::chrono::steady_clock::now() < end) {
    Run(mp::fuzz::Mutate(corpus[rng() % corpus.size()], rng));
    ++mutations;
  }
  std::printf("%zu corpus inputs and %ld mutations: no crash\n", corpus.size(),
              mutations);
  return 0;
}
