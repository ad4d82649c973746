// Fuzzes p2p::Node::decapsulate with arbitrary datagrams while the node has a live connection.
//
// Every input starts from the same state: a gateway-role node and a client-role node connected
// directly through the simulated network, with one relay model (fixed seeds, virtual clock). The
// input is a list of records [op][len][len bytes] fed to the gateway:
//   op & 3: the source: 0 the client's socket, 1 the relay's port 3478, 2 the relay's IP on
//           another port, 3 a stranger;
//   op & 4: wrap the bytes in ChannelData on channel 0x4000 + (op >> 5);
//   op & 8: xor the bytes onto the last datagram the client sent the gateway (mutations of real
//           STUN, ChannelData and WireGuard messages);
//   op & 16: advance the clock by 100 ms afterwards.
// None of these can authenticate as the client, so afterwards the connection must still carry a
// packet each way; if it does not, the fuzzer has found input that disturbs other state.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "base/buffer.hpp"
#include "base/log.hpp"
#include "p2p/node.hpp"
#include "support/sim_network.hpp"

namespace {

using namespace fz;
using fz::test::SimNetwork;

const net::SocketAddr kClient{net::IpAddr::v4(198, 51, 100, 10), 52625};
const net::SocketAddr kGateway{net::IpAddr::v4(198, 51, 100, 20), 52625};
const net::SocketAddr kRelay{net::IpAddr::v4(203, 0, 113, 1), 3478};
const net::SocketAddr kStranger{net::IpAddr::v4(192, 0, 2, 77), 40000};

std::vector<std::uint8_t> last_to_gateway(const SimNetwork& net, std::size_t client) {
  const auto& wire = net.wire(client);
  for (auto it = wire.rbegin(); it != wire.rend(); ++it)
    if (it->dst == kGateway) return it->payload;
  return {};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool quiet = [] {
    log::set_filter(log::Filter(log::Level::off));
    return true;
  }();
  (void)quiet;

  SimNetwork::Options options;
  SimNetwork net(options);
  const std::size_t relay = net.add_relay(kRelay.ip);
  const std::size_t client = net.add_node(p2p::Role::client, kClient, 1);
  const std::size_t gateway = net.add_node(p2p::Role::server, kGateway, 2);
  net.give_relays(client, {relay});
  net.give_relays(gateway, {relay});
  net.advance(std::chrono::seconds(1));
  const Uuid client_id = fz::test::test_uuid(1);
  const Uuid gateway_id = fz::test::test_uuid(2);
  net.connect(client, gateway, client_id, gateway_id);
  net.advance(std::chrono::seconds(2));
  const std::vector<std::uint8_t> template_datagram = last_to_gateway(net, client);

  p2p::Node& node = net.node(gateway);
  std::size_t i = 0;
  while (i + 2 <= size) {
    const std::uint8_t op = data[i];
    const std::size_t len = std::min<std::size_t>(data[i + 1], size - i - 2);
    std::vector<std::uint8_t> bytes(data + i + 2, data + i + 2 + len);
    i += 2 + len;

    if (op & 8) {
      std::vector<std::uint8_t> mutated = template_datagram;
      for (std::size_t k = 0; k < bytes.size() && k < mutated.size(); ++k)
        mutated[k] ^= bytes[k];
      bytes = std::move(mutated);
    }
    if (op & 4) {
      const std::uint16_t channel = static_cast<std::uint16_t>(0x4000 + (op >> 5));
      std::vector<std::uint8_t> framed{
          static_cast<std::uint8_t>(channel >> 8), static_cast<std::uint8_t>(channel),
          static_cast<std::uint8_t>(bytes.size() >> 8), static_cast<std::uint8_t>(bytes.size())};
      framed.insert(framed.end(), bytes.begin(), bytes.end());
      bytes = std::move(framed);
    }
    net::SocketAddr from = kClient;
    switch (op & 3) {
      case 0:
        from = kClient;
        break;
      case 1:
        from = kRelay;
        break;
      case 2:
        from = net::SocketAddr{kRelay.ip, 50000};
        break;
      case 3:
        from = kStranger;
        break;
    }
    PacketBuffer buffer(p2p::kHeadroom + bytes.size() + p2p::kTailroom, 0);
    buffer.assign(bytes, 0);
    auto result = node.decapsulate(kGateway, from, buffer, net.now);
    if (result && result->kind == p2p::Decapsulated::Kind::ip_packet &&
        buffer.size() > bytes.size())
      std::abort();  // the packet must lie inside the datagram
    if (op & 16) net.advance(std::chrono::milliseconds(100));
  }

  // The oracle: the connection still works both ways.
  net.advance(std::chrono::milliseconds(200));
  if (!node.has_connection(client_id)) std::abort();
  const auto up =
      fz::test::make_udp_packet(net::IpAddr::v4(100, 64, 0, 1), net::IpAddr::v4(10, 0, 0, 1), 7);
  const auto down =
      fz::test::make_udp_packet(net::IpAddr::v4(10, 0, 0, 1), net::IpAddr::v4(100, 64, 0, 1), 8);
  const std::size_t at_gateway = net.received(gateway).size();
  const std::size_t at_client = net.received(client).size();
  if (!net.send(client, gateway_id, up).ok()) std::abort();
  if (!net.send(gateway, client_id, down).ok()) std::abort();
  net.advance(std::chrono::milliseconds(100));
  if (net.received(gateway).size() != at_gateway + 1) std::abort();
  if (net.received(client).size() != at_client + 1) std::abort();
  if (net.stuck) std::abort();
  return 0;
}
