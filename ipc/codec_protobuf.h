// Protobuf messages through the codec (ipc/codec.h): a message travels as
// Python bytes holding its serialised form, which a Python peer reads with
// no code of ours (`Sample.FromString(conn.recv())`) and sends with
// `conn.send(msg.SerializeToString())`. Include this header (target
// //ipc:codec_protobuf) to send or receive messages; the rest of the
// library does not depend on protobuf.
//
// Like protobuf's own wire format the bytes do not name the message type, so
// the receiver's type decides how they are read; bytes that do not parse as
// that type are kDataLoss. Written with SerializePartial and read with
// ParsePartial: missing proto2 required fields are not an error. Messages of
// 2 GiB and more are refused, as protobuf does.
#ifndef MULTIPROCESSING_IPC_CODEC_PROTOBUF_H_
#define MULTIPROCESSING_IPC_CODEC_PROTOBUF_H_

#include <climits>
#include <cstdint>
#include <string>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/message_lite.h"
#include "multiprocessing/ipc/codec.h"

namespace mp {

template <typename T>
struct Codec<
    T, std::enable_if_t<std::is_base_of_v<google::protobuf::MessageLite, T>>> {
  static void Encode(const T& v, Encoder& e) {
    std::string bytes;
    if (!v.SerializePartialToString(&bytes)) {
      e.Fail(absl::InvalidArgumentError(
          absl::StrCat("codec: protobuf message ", v.GetTypeName(),
                       " does not serialise (2 GiB or more?)")));
      return;
    }
    e.WriteBytes(bytes);
  }
  [[nodiscard]] static absl::Status Decode(Decoder& d, T* out) {
    absl::string_view bytes;
    if (d.type() != PyType::kBytes) {
      return d.TypeError(
          absl::StrCat("bytes (protobuf message ", out->GetTypeName(), ")"));
    }
    if (absl::Status s = d.ReadBytes(&bytes); !s.ok()) return s;
    if (absl::Status s = d.Charge(bytes.size()); !s.ok()) return s;
    if (bytes.size() > static_cast<std::size_t>(INT_MAX) ||
        !out->ParsePartialFromArray(bytes.data(),
                                    static_cast<int>(bytes.size()))) {
      return absl::DataLossError(absl::StrCat(
          "codec: bytes that are not a protobuf message ", out->GetTypeName()));
    }
    return absl::OkStatus();
  }
};

}  // namespace mp

#endif  // MULTIPROCESSING_IPC_CODEC_PROTOBUF_H_
