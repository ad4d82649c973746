// WireGuard's protocol constants: the Noise construction and labels from the WireGuard paper
// (§5.4, §6), and the timer values Firezone's boringtun fork uses (spec p2p-connections §4.3),
// which differ from the paper in REKEY_ATTEMPT_TIME, the jitter and SHOULD_NOT_USE_AFTER_TIME.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "base/time.hpp"

namespace fz::wireguard {

// Noise_IKpsk2 identifiers, hashed into the initial chaining key and hash.
inline constexpr std::string_view kConstruction = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
inline constexpr std::string_view kIdentifier = "WireGuard v1 zx2c4 Jason@zx2c4.com";
inline constexpr std::string_view kLabelMac1 = "mac1----";
inline constexpr std::string_view kLabelCookie = "cookie--";

// Timers. A deadline fires when the virtual clock reaches it (now >= deadline).
inline constexpr Duration kRekeyAfterTime = std::chrono::seconds(120);
inline constexpr Duration kRejectAfterTime = std::chrono::seconds(180);
inline constexpr Duration kRekeyTimeout = std::chrono::seconds(5);
inline constexpr Duration kKeepaliveTimeout = std::chrono::seconds(10);
inline constexpr Duration kCookieLifetime = std::chrono::seconds(120);
// Random delay added to timer-driven handshake initiations (fork #46), inclusive.
inline constexpr Duration kMaxHandshakeJitter = std::chrono::milliseconds(333);
// Firezone's REKEY_ATTEMPT_TIME; the paper (and upstream boringtun) use 90 s.
inline constexpr Duration kDefaultRekeyAttemptTime = std::chrono::seconds(15);
// The initiator stops sending on a session this old so that its last packets still arrive
// before the responder drops the session at REJECT_AFTER_TIME (fork #68).
inline constexpr Duration kShouldNotUseAfterTime = kRejectAfterTime - kKeepaliveTimeout;
// The initiator re-handshakes when it receives data on a session this old.
inline constexpr Duration kRekeyOnReceiveTime =
    kRejectAfterTime - kKeepaliveTimeout - kRekeyTimeout;
// Data sent without any reply for this long starts a new handshake, in either role (fork #66).
inline constexpr Duration kNewHandshakeTime = kKeepaliveTimeout + kRekeyTimeout;
// Without a new session for this long, everything is wiped and the connection has expired.
inline constexpr Duration kWipeAfterTime = 3 * kRejectAfterTime;

// Message counters. A session never sends or accepts a counter at or above this.
inline constexpr std::uint64_t kRejectAfterMessages =
    UINT64_MAX - (std::uint64_t{1} << 13);  // 2^64 - 2^13 - 1

// Firezone's handshake limit per node, in handshake messages per second.
inline constexpr std::uint32_t kHandshakeRateLimit = 100;

// Packets held while there is no session to send them on.
inline constexpr std::size_t kMaxQueuedPackets = 256;

}  // namespace fz::wireguard
