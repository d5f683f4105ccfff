// Differential test of our unpickler against CPython's pickle: the seed
// corpus of fuzz/pickle_fuzzer.cc (CPython's own pickles), a few hand-made
// edge cases and a few thousand fixed-seed mutations of them are decoded
// here as mp::PyValue and loaded by python3 (tests/pickle_differential.py,
// with a restricted Unpickler that imports and runs nothing). Whenever we
// accept, CPython must accept too, with an equal value (it loads our
// re-encoding of the PyValue and compares). Inputs CPython accepts and we
// refuse are reported, not failed: the documented ones (ipc/codec.h: bytes
// after STOP, extra stack items, refused and protocol 0 string opcodes,
// ints beyond 128 bits or a protocol 0 int beyond 64, nesting or expansion
// beyond our limits) by count, the others one by one.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "multiprocessing/fuzz/corpus_util.h"
#include "gtest/gtest.h"
#include "multiprocessing/ipc/codec.h"
#include "multiprocessing/ipc/py_value.h"
#include "multiprocessing/platform/launch.h"

namespace mp {
namespace {

constexpr char kCorpus[] = "fuzz/corpus/pickle";
constexpr int kMutations = 3000;

std::vector<std::string> ReadCorpus() {
  std::vector<std::string> corpus;
  fuzz::ReadCorpus(kCorpus, &corpus);
  return corpus;
}

// A literal with its NULs, without the terminating one.
template <std::size_t N>
std::string B(const char (&s)[N]) {
  return std::string(s, N - 1);
}

// Edge cases where the two could part (the corpus has none of them).
std::vector<std::string> HandMade() {
  return {
      // {nan, nan}: two distinct NaN objects stay two elements in CPython.
      B("\x80\x04\x8f(G\x7f\xf8\x00\x00\x00\x00\x00\x00"
        "G\x7f\xf8\x00\x00\x00\x00\x00\x00\x90."),
      // {1: 'a', True: 'b', 1.0: 'c'}: one key in CPython.
      B("\x80\x04}(K\x01\x8c\x01"
        "a\x88\x8c\x01"
        "bG?\xf0\x00\x00"
        "\x00\x00\x00\x00\x8c\x01"
        "cu."),
      // {0.0, -0.0}: one element in CPython.
      B("\x80\x04\x8f(G\x00\x00\x00\x00\x00\x00\x00\x00"
        "G\x80\x00\x00\x00\x00\x00\x00\x00\x90."),
      // Protocol 0 ints and floats as text.
      "I+5\n.",
      "I 7\n.",
      "I1_000\n.",
      "I0x10\n.",
      "I-0\n.",
      "L12L\n.",
      "F1e5\n.",
      "Finf\n.",
      "Fnan\n.",
      "F0x1p3\n.",
      "F1_0\n.",
      "F 2.5\n.",
      "I01\n.",
      "I00\n.",
      "I001\n.",
      // POP after MARK pops the mark; POP_MARK; DUP; memo by text.
      // (Not a PUT index of 10^11: CPython's memo is an array, so it raises
      // MemoryError.)
      "(0N.",
      "(NN1N.",
      "N2\x86.",
      "Np5\n0g5\n.",
      "]p1000\n.",
      // LONG1 of zero length, LONG4 of five.
      B("\x80\x02\x8a\x00."),
      B("\x80\x02\x8b\x05\x00\x00\x00\x01\x00\x00\x00\x80."),
  };
}

// Why we refused, if ipc/codec.h documents it as a refusal of what CPython
// loads; "" otherwise.
std::string Documented(const absl::Status& s) {
  const absl::string_view m = s.message();
  for (const char* reason :
       {"after the pickle's STOP", "STOP with", "refused:", "beyond 128 bits",
        "protocol 0 integer", "nested deeper", "budget", "unhashable"}) {
    if (absl::StrContains(m, reason)) return reason;
  }
  return "";
}

TEST(PickleDifferentialTest, WhatWeAcceptCpythonLoadsAsTheSameValue) {
  const std::vector<std::string> corpus = ReadCorpus();
  ASSERT_GE(corpus.size(), 100u) << "corpus " << kCorpus;
  std::vector<std::string> inputs = corpus;
  for (std::string& s : HandMade()) inputs.push_back(std::move(s));
  std::vector<const std::string*> small;
  for (const std::string& s : corpus) {
    if (s.size() <= 4096) small.push_back(&s);
  }
  std::mt19937_64 rng(20261202);
  for (int i = 0; i < kMutations; ++i) {
    inputs.push_back(fuzz::Mutate(*small[rng() % small.size()], rng));
  }

  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string dir = tmp != nullptr ? tmp : "/tmp";
  const std::string in_path = dir + "/pickle_differential.in";
  const std::string out_path = dir + "/pickle_differential.out";
  std::vector<absl::Status> statuses;
  int accepted = 0;
  {
    std::ofstream in(in_path, std::ios::binary);
    for (const std::string& input : inputs) {
      absl::StatusOr<PyValue> v = Decode<PyValue>(input);
      statuses.push_back(v.status());
      std::string again;
      if (v.ok()) {
        ++accepted;
        absl::Status s = Encode(*v, &again);
        EXPECT_TRUE(s.ok()) << s << " re-encoding " << *v;
      }
      in << 'h' << absl::BytesToHexString(input) << ' '
         << (v.ok() ? "ok" : absl::StatusCodeToString(v.status().code()))
         << " h" << absl::BytesToHexString(again) << '\n';
    }
  }
  absl::StatusOr<platform::ChildProcess> python = platform::LaunchProgram(
      {"python3", "tests/pickle_differential.py", in_path, out_path}, {});
  ASSERT_TRUE(python.ok()) << python.status();
  ASSERT_EQ(platform::WaitForExit(*python, std::nullopt).value(), 0);

  std::ifstream out(out_path);
  std::string line;
  std::map<std::string, int> documented;
  int mismatches = 0;
  int undocumented = 0;
  while (std::getline(out, line)) {
    std::istringstream fields(line);
    std::size_t index = 0;
    std::string verdict;
    fields >> index >> verdict;
    ASSERT_LT(index, inputs.size()) << line;
    std::string detail;
    std::getline(fields, detail);
    const std::string hex =
        absl::BytesToHexString(inputs[index]).substr(0, 400);
    if (verdict == "MISMATCH") {
      ++mismatches;
      ADD_FAILURE() << "input #" << index << " (" << hex << "): we decode "
                    << Decode<PyValue>(inputs[index]).value() << ";" << detail;
    } else if (const std::string why = Documented(statuses[index]);
               !why.empty()) {
      ++documented[why];
    } else {
      ++undocumented;
      std::printf(
          "CPython accepts, we refuse: input #%zu (%s): %s; CPython:%s\n",
          index, hex.c_str(), statuses[index].ToString().c_str(),
          detail.c_str());
    }
  }
  std::printf("%zu inputs, %d accepted by us, %d mismatches\n", inputs.size(),
              accepted, mismatches);
  std::printf("CPython accepts and we refuse, as documented:");
  for (const auto& [why, n] : documented)
    std::printf(" '%s' %d", why.c_str(), n);
  std::printf("; not documented: %d\n", undocumented);
  EXPECT_GT(accepted, 100);
}

}  // namespace
}  // namespace mp
