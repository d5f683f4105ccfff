// What the fuzz regression runner (regression_main.cc) and the pickle
// differential test share: reading a corpus directory and mutating its
// inputs the same fixed-seed way.
#ifndef MULTIPROCESSING_FUZZ_CORPUS_UTIL_H_
#define MULTIPROCESSING_FUZZ_CORPUS_UTIL_H_

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

namespace mp::fuzz {

// The files of directory `dir` (dot files skipped), in name order so a run
// is the same on every machine; false when it cannot be opened.
inline bool ReadCorpus(const std::string& dir,
                       std::vector<std::string>* corpus) {
  std::error_code error;
  std::filesystem::directory_iterator it(dir, error);
  if (error) return false;
  std::vector<std::filesystem::path> paths;
  for (; it != std::filesystem::directory_iterator(); it.increment(error)) {
    if (error) return false;
    const std::string name = it->path().filename().string();
    if (!name.empty() && name[0] != '.') paths.push_back(it->path());
  }
  std::sort(paths.begin(), paths.end());
  for (const std::filesystem::path& path : paths) {
    std::ifstream in(path, std::ios::binary);
    corpus->emplace_back(std::istreambuf_iterator<char>(in),
                         std::istreambuf_iterator<char>());
  }
  return true;
}

// One to four edits of `s`: a flipped bit, an inserted byte, a removed run,
// a byte set to 0x00 or 0xff, or a repeated run appended.
inline std::string Mutate(std::string s, std::mt19937_64& rng) {
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

}  // namespace mp::fuzz

#endif  // MULTIPROCESSING_FUZZ_CORPUS_UTIL_H_
