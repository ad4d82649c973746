// The dev portal's structured log: one JSON object per frame sent or received (with direction,
// peer and socket) and per notable event (upgrades, rejections, protocol violations). Secrets are
// redacted before anything is stored or written: tokens, pre-shared keys and relay passwords.
//
// Entries are kept in memory (bounded) for the control API and handed to a sink, which writes
// them as JSON lines to stderr or a file.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace fz::devportal {

// A copy of `value` with secrets replaced by "<redacted>": every `preshared_key` and `token`, and
// `password` in relay entries (objects with `username` and `addr`, or `type` "turn"). ICE
// passwords are not secrets of the tunnel and are kept, so tests can check them.
nlohmann::json redact(const nlohmann::json& value);

class EventLog {
 public:
  using Sink = std::function<void(std::string_view line)>;

  explicit EventLog(std::size_t capacity = 100000) : capacity_(capacity) {}
  void set_sink(Sink sink) { sink_ = std::move(sink); }

  // Adds `seq` to `entry`, stores it and writes it. Returns the sequence number.
  std::uint64_t append(nlohmann::json entry);

  // Entries with seq >= since.
  nlohmann::json entries_since(std::uint64_t since) const;
  std::uint64_t next_seq() const { return next_seq_; }
  // Entries whose "level" is "error".
  nlohmann::json errors() const;
  std::uint64_t error_count() const { return error_count_; }

 private:
  std::size_t capacity_;
  std::deque<nlohmann::json> entries_;
  std::uint64_t next_seq_ = 0;
  std::uint64_t error_count_ = 0;
  Sink sink_;
};

}  // namespace fz::devportal
