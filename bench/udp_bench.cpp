// System calls and time per datagram for the UDP socket, batched vs unbatched, over loopback.
//
// Every iteration sends 64 datagrams of 1200 bytes (one WireGuard-sized burst to one peer) from
// one socket to another and drains the receiver:
//   Plain       sendto/recvmsg, one syscall per datagram each way (no batching at all);
//   Mmsg        sendmmsg/recvmmsg with 32 messages per call, no GSO/GRO;
//   GsoGro      UdpSocket defaults: UDP_SEGMENT groups the burst into 2 messages in 1 sendmmsg,
//               UDP_GRO hands them back coalesced.
// Counters: send_syscalls/dgram, recv_syscalls/dgram (including the final EAGAIN call that ends
// a drain), and datagrams per second.
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "io/udp_socket.hpp"

namespace {

using namespace fz;
using namespace fz::io;

constexpr std::size_t kBurst = 64;
constexpr std::size_t kSize = 1200;

struct Pair {
  explicit Pair(bool batching_offloads) {
    UdpOptions options;
    options.fwmark = std::nullopt;
    options.gso = batching_offloads;
    options.gro = batching_offloads;
    sender.emplace(std::move(*UdpSocket::bind(net::IpFamily::v4, 0, options)));
    receiver.emplace(std::move(*UdpSocket::bind(net::IpFamily::v4, 0, options)));
    to = {net::IpAddr::v4(127, 0, 0, 1), receiver->local_port()};
    for (std::size_t i = 0; i < 32; ++i)
      slots.emplace_back(kMaxGroBufferSize, 0);
  }
  std::optional<UdpSocket> sender;
  std::optional<UdpSocket> receiver;
  net::SocketAddr to;
  std::vector<RecvSlot> slots;
};

void report(benchmark::State& state, std::uint64_t send_calls, std::uint64_t recv_calls,
            std::uint64_t datagrams) {
  const double n = static_cast<double>(datagrams);
  state.counters["send_syscalls/dgram"] = static_cast<double>(send_calls) / n;
  state.counters["recv_syscalls/dgram"] = static_cast<double>(recv_calls) / n;
  state.counters["dgrams/s"] =
      benchmark::Counter(static_cast<double>(datagrams), benchmark::Counter::kIsRate);
}

void BM_Udp_Plain(benchmark::State& state) {
  Pair pair(false);
  std::vector<std::uint8_t> payload(kSize, 0x5a);
  std::vector<std::uint8_t> buffer(2048);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(pair.to.port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::uint64_t send_calls = 0, recv_calls = 0, received = 0;
  for (auto _ : state) {
    for (std::size_t i = 0; i < kBurst; ++i) {
      ++send_calls;
      ::sendto(pair.sender->fd(), payload.data(), payload.size(), 0,
               reinterpret_cast<sockaddr*>(&to), sizeof to);
    }
    for (;;) {
      ++recv_calls;
      alignas(cmsghdr) char control[64];
      iovec iov{buffer.data(), buffer.size()};
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      if (::recvmsg(pair.receiver->fd(), &msg, MSG_DONTWAIT) < 0) break;
      ++received;
    }
  }
  if (received != state.iterations() * kBurst) state.SkipWithError("lost datagrams");
  report(state, send_calls, recv_calls, received);
}

void run_batched(benchmark::State& state, bool offloads) {
  Pair pair(offloads);
  std::vector<std::uint8_t> payload(kSize, 0x5a);
  std::vector<OutDatagram> burst(kBurst, OutDatagram{std::nullopt, pair.to, payload});
  std::uint64_t received = 0;
  for (auto _ : state) {
    std::size_t sent = 0;
    while (sent < burst.size())
      sent += pair.sender->send_batch(std::span(burst).subspan(sent));
    for (;;) {
      const std::size_t n = pair.receiver->recv_batch(pair.slots);
      if (n == 0) break;
      for (std::size_t i = 0; i < n; ++i)
        received += pair.slots[i].segment_count();
    }
  }
  if (received != state.iterations() * kBurst) state.SkipWithError("lost datagrams");
  report(state, pair.sender->stats().send_syscalls, pair.receiver->stats().recv_syscalls, received);
}

void BM_Udp_Mmsg(benchmark::State& state) {
  run_batched(state, false);
}
void BM_Udp_GsoGro(benchmark::State& state) {
  run_batched(state, true);
}

BENCHMARK(BM_Udp_Plain);
BENCHMARK(BM_Udp_Mmsg);
BENCHMARK(BM_Udp_GsoGro);

}  // namespace
