// Fuzzes the codec's typed decode: any bytes decode to a value or a clear
// error, and whatever decodes encodes back to bytes that decode to an equal
// value.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "ipc/codec.h"

namespace {

template <typename T>
void RoundTrip(absl::string_view bytes) {
  absl::StatusOr<T> value = mp::Decode<T>(bytes);
  if (!value.ok()) return;
  std::string again;
  mp::Encode(*value, &again);
  absl::StatusOr<T> back = mp::Decode<T>(again);
  if (!back.ok() || !(*back == *value)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const absl::string_view bytes(reinterpret_cast<const char*>(data + 1),
                                size - 1);
  // The first byte picks the type.
  switch (data[0] % 10) {
    case 0:
      return RoundTrip<int64_t>(bytes), 0;
    case 1:
      return RoundTrip<uint8_t>(bytes), 0;
    case 2:
      return RoundTrip<bool>(bytes), 0;
    case 3:
      return RoundTrip<std::string>(bytes), 0;
    case 4:
      return RoundTrip<std::vector<int32_t>>(bytes), 0;
    case 5:
      return RoundTrip<std::pair<int64_t, std::string>>(bytes), 0;
    case 6:
      return RoundTrip<std::map<std::string, std::vector<std::string>>>(bytes),
             0;
    case 7:
      return RoundTrip<std::tuple<std::optional<int>, std::set<int64_t>,
                                  std::vector<bool>>>(bytes),
             0;
    case 8:
      return RoundTrip<std::variant<std::monostate, int, std::string>>(bytes),
             0;
    default:
      return RoundTrip<std::vector<std::vector<std::vector<int>>>>(bytes), 0;
  }
}
