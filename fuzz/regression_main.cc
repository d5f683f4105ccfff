// Runs a fuzz target (LLVMFuzzerTestOneInput) without libFuzzer: over every
// file of the corpus directories given as arguments, then over mutations of
// them (a fixed-seed random walk: flipped, inserted, removed and duplicated
// bytes) for a few seconds. The regression test of each fuzzer in tests/;
// real fuzzing uses fuzz/run.sh (clang + libFuzzer).
#include <dirent.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size);

namespace {

void Run(const std::string& input) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()),
                         input.size());
}

std::string Mutate(std::string s, std::mt19937_64& rng) {
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits; ++e) {
    const std::size_t at = s.empty() ? 0 : rng() % s.size();
    switch (rng() % 5) {
      case 0:
        if (!s.empty()) s[at] = static_cast<char>(s[at] ^ (1 << (rng() % 8)));
        break;
      case 1:
        s.insert(s.begin() + at, static_cast<char>(rng()));
        break;
      case 2:
        if (!s.empty()) s.erase(at, 1 + rng() % 8);
        break;
      case 3:
        if (!s.empty()) s[at] = static_cast<char>(rng() % 2 ? 0xff : 0);
        break;
      default:
        s += s.substr(at, 1 + rng() % 16);
        break;
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> corpus;
  for (int i = 1; i < argc; ++i) {
    DIR* dir = ::opendir(argv[i]);
    if (dir == nullptr) {
      std::fprintf(stderr, "no corpus directory %s\n", argv[i]);
      return 2;
    }
    while (dirent* entry = ::readdir(dir)) {
      if (entry->d_name[0] == '.') continue;
      std::ifstream in(std::string(argv[i]) + "/" + entry->d_name,
                       std::ios::binary);
      corpus.emplace_back(std::istreambuf_iterator<char>(in),
                          std::istreambuf_iterator<char>());
    }
    ::closedir(dir);
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
    Run(Mutate(corpus[rng() % corpus.size()], rng));
    ++mutations;
  }
  std::printf("%zu corpus inputs and %ld mutations: no crash\n", corpus.size(),
              mutations);
  return 0;
}
