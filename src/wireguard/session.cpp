#include "wireguard/session.hpp"

namespace fz::wireguard {

Status Session::seal(TransportCipher& cipher, PacketBuffer& packet) {
  if (packet.headroom() < kDataHeaderSize || packet.tailroom() < kTagSize) {
    return Error(Errc::out_of_range, "packet buffer lacks room for the WireGuard header and tag");
  }
  packet.prepend(kDataHeaderSize);
  packet.append(kTagSize);
  seal(cipher, packet.span());
  return {};
}

void Session::seal(TransportCipher& cipher, MutBytes message) {
  const std::uint64_t counter = send_counter_++;
  std::uint8_t* header = message.data();
  write_type(header, MessageType::transport_data);
  store_le32(header + data::receiver, remote_index_);
  store_le64(header + data::counter, counter);
  cipher.seal(key_id_, keys_.sending, counter,
              message.subspan(kDataHeaderSize, message.size() - kDataOverhead),
              message.last<kTagSize>());
}

Result<MutBytes> Session::open(TransportCipher& cipher, MutBytes message) {
  const std::uint64_t counter = load_le64(message.data() + data::counter);
  if (!replay_.may_accept(counter)) {
    return Error(Errc::state, "data message replayed or too old for the replay window");
  }
  const MutBytes ciphertext = message.subspan(kDataHeaderSize, message.size() - kDataOverhead);
  const auto tag = message.last<kTagSize>();
  if (!cipher.open(key_id_, keys_.receiving, counter, ciphertext, tag)) {
    return Error(Errc::crypto, "data message does not decrypt");
  }
  if (!replay_.mark(counter)) {
    return Error(Errc::state, "data message replayed or too old for the replay window");
  }
  return ciphertext;
}

}  // namespace fz::wireguard
