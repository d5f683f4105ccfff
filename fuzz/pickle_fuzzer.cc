// Fuzzes the unpickler behind Recv<T>() (ipc/pickle.h, ipc/codec.h): any
// bytes decode, as mp::PyValue and as several typed forms, to a value or a
// clear error (no crash, no exception, no unbounded allocation), and
// whatever decodes encodes back to a pickle that decodes to an equal value.
// The input is one whole pickle (the corpus, fuzz/corpus/pickle, is
// CPython's own pickles: fuzz/make_pickle_corpus.py).
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "absl/numeric/int128.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "multiprocessing/ipc/codec.h"
#include "multiprocessing/ipc/py_value.h"

namespace {

// A status the codec may return for bad input; anything else is a bug.
bool Expected(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kResourceExhausted:
      return true;
    default:
      return false;
  }
}

// Equal, or for floating point the same bits (NaN == NaN): the codec keeps
// a double's bits.
bool Same(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }
bool Same(const std::array<double, 3>& a, const std::array<double, 3>& b) {
  return std::memcmp(a.data(), b.data(), sizeof a) == 0;
}
template <typename T>
bool Same(const T& a, const T& b) {
  return a == b;
}

// Decodes `bytes` as a T; if that works, the value must encode, and its
// encoding must decode to the same value. Returns whether it decoded.
template <typename T>
bool RoundTrip(absl::string_view bytes) {
  absl::StatusOr<T> value = mp::Decode<T>(bytes);
  if (!value.ok()) {
    if (!Expected(value.status())) std::abort();
    return false;
  }
  std::string again;
  if (absl::Status s = mp::Encode(*value, &again); !s.ok()) {
    // Python bytes decode into a std::string too, but a std::string that
    // is not UTF-8 cannot be sent back as a str (documented in codec.h).
    if (s.code() == absl::StatusCode::kInvalidArgument &&
        absl::StrContains(s.message(), "UTF-8")) {
      return true;
    }
    std::abort();
  }
  absl::StatusOr<T> back = mp::Decode<T>(again);
  if (!back.ok() || !Same(*back, *value)) std::abort();
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);

  // Any value: must re-encode, print and convert without crashing.
  absl::StatusOr<mp::PyValue> any = mp::Decode<mp::PyValue>(bytes);
  if (any.ok()) {
    std::string again;
    if (!mp::Encode(*any, &again).ok()) std::abort();
    absl::StatusOr<mp::PyValue> back = mp::Decode<mp::PyValue>(again);
    if (!back.ok() || *back != *any) std::abort();
    if (any->Repr().empty()) std::abort();
  } else if (!Expected(any.status())) {
    std::abort();
  }

  // Typed forms. A typed decode that works implies the pickle parsed, so
  // PyValue must have decoded too (PyValue accepts every parsed value but a
  // too deep, too big or beyond-128-bit one).
  bool typed = false;
  typed |= RoundTrip<int64_t>(bytes);
  typed |= RoundTrip<uint8_t>(bytes);
  typed |= RoundTrip<absl::int128>(bytes);
  typed |= RoundTrip<bool>(bytes);
  typed |= RoundTrip<double>(bytes);
  typed |= RoundTrip<std::string>(bytes);
  typed |= RoundTrip<mp::Bytes>(bytes);
  typed |= RoundTrip<std::vector<int32_t>>(bytes);
  typed |= RoundTrip<std::array<double, 3>>(bytes);
  typed |= RoundTrip<std::pair<int64_t, std::string>>(bytes);
  typed |= RoundTrip<std::map<std::string, std::vector<std::string>>>(bytes);
  typed |= RoundTrip<std::unordered_map<int64_t, int>>(bytes);
  typed |= RoundTrip<std::unordered_set<std::string>>(bytes);
  typed |= RoundTrip<
      std::tuple<std::optional<int>, std::set<int64_t>, std::vector<bool>>>(
      bytes);
  typed |= RoundTrip<std::variant<std::monostate, int64_t, std::string,
                                  std::vector<mp::PyValue>>>(bytes);
  typed |= RoundTrip<std::vector<std::vector<std::vector<int>>>>(bytes);
  typed |= RoundTrip<std::vector<std::optional<std::array<char, 4096>>>>(bytes);
  if (typed && !any.ok() &&
      any.status().code() == absl::StatusCode::kDataLoss) {
    std::abort();  // a typed decode took a pickle PyValue calls malformed
  }
  return 0;
}
