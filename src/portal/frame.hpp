// Phoenix channel frames, V1 JSON serializer (spec/portal-protocol.md §2.1, §2.2).
//
// Every frame is one WebSocket text message holding one JSON object. Frames we send always carry
// the four keys `topic`, `event`, `payload`, `ref` in that order, `ref` being a JSON number
// (Phoenix drops the socket when a key is missing). Frames we receive may carry extra keys such as
// `join_ref`; `ref` is null on server pushes.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.hpp"

namespace fz::portal {

inline constexpr std::string_view kGatewayTopic = "gateway";
inline constexpr std::string_view kPhoenixTopic = "phoenix";

struct InboundFrame {
  std::string topic;
  std::string event;
  nlohmann::json payload;            // null when absent
  std::optional<std::uint64_t> ref;  // null or absent on pushes
};

// Parses one frame. Never throws. Requires an object with string `topic` and `event`; a missing
// `payload` reads as null; `ref` may be a non-negative integer, a string of decimal digits (as
// JavaScript clients use) or null/absent.
Result<InboundFrame> parse_frame(std::string_view text);

// `{"topic":…,"event":…,"payload":<payload_json>,"ref":<ref>}`. `payload_json` must be valid
// JSON text (the caller serialised it). A nullopt ref is written as null (server pushes).
std::string encode_frame(std::string_view topic, std::string_view event,
                         std::string_view payload_json, std::optional<std::uint64_t> ref);

// Serialises a JSON value compactly. Strings that are not valid UTF-8 are written with U+FFFD
// replacement characters instead of throwing.
std::string dump_json(const nlohmann::json& value);
std::string dump_json(const nlohmann::ordered_json& value);

// The `payload` of a `phx_reply`.
struct Reply {
  bool ok = false;
  std::string reason;  // `response.reason` of an error reply, "" if absent
};
Result<Reply> parse_reply(const nlohmann::json& payload);

}  // namespace fz::portal
