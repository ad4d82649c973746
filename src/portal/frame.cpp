#include "portal/frame.hpp"

namespace fz::portal {
namespace {

using Json = nlohmann::json;

std::optional<std::uint64_t> parse_decimal(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

}  // namespace

Result<InboundFrame> parse_frame(std::string_view text) {
  // The non-throwing parser: invalid input gives a "discarded" value.
  Json j = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Error(Errc::malformed, "frame is not valid JSON");
  if (!j.is_object()) return Error(Errc::malformed, "frame is not a JSON object");

  InboundFrame frame;
  const auto topic = j.find("topic");
  if (topic == j.end() || !topic->is_string()) {
    return Error(Errc::malformed, "frame has no string topic");
  }
  frame.topic = topic->get<std::string>();
  const auto event = j.find("event");
  if (event == j.end() || !event->is_string()) {
    return Error(Errc::malformed, "frame has no string event");
  }
  frame.event = event->get<std::string>();
  if (const auto payload = j.find("payload"); payload != j.end()) {
    frame.payload = std::move(*payload);
  }
  if (const auto ref = j.find("ref"); ref != j.end() && !ref->is_null()) {
    if (ref->is_number_unsigned()) {
      frame.ref = ref->get<std::uint64_t>();
    } else if (ref->is_string()) {
      frame.ref = parse_decimal(ref->get_ref<const std::string&>());
      if (!frame.ref) return Error(Errc::malformed, "frame ref is not a number");
    } else {
      return Error(Errc::malformed, "frame ref is not a number");
    }
  }
  return frame;
}

std::string dump_json(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string dump_json(const nlohmann::ordered_json& value) {
  return value.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string encode_frame(std::string_view topic, std::string_view event,
                         std::string_view payload_json, std::optional<std::uint64_t> ref) {
  std::string out;
  out.reserve(48 + topic.size() + event.size() + payload_json.size());
  out += "{\"topic\":";
  out += dump_json(Json(std::string(topic)));
  out += ",\"event\":";
  out += dump_json(Json(std::string(event)));
  out += ",\"payload\":";
  out += payload_json;
  out += ",\"ref\":";
  out += ref ? std::to_string(*ref) : std::string("null");
  out += '}';
  return out;
}

Result<Reply> parse_reply(const nlohmann::json& payload) {
  if (!payload.is_object()) return Error(Errc::malformed, "reply payload is not an object");
  const auto status = payload.find("status");
  if (status == payload.end() || !status->is_string()) {
    return Error(Errc::malformed, "reply has no status");
  }
  Reply reply;
  const auto& s = status->get_ref<const std::string&>();
  if (s == "ok") {
    reply.ok = true;
  } else if (s != "error") {
    return Error(Errc::malformed, "reply status is neither ok nor error", s);
  }
  // Nothing here copies or serialises the (untrusted, arbitrarily nested) response: nlohmann's
  // copy and dump recurse.
  if (const auto response = payload.find("response");
      response != payload.end() && response->is_object()) {
    if (const auto reason = response->find("reason");
        reason != response->end() && reason->is_string()) {
      reply.reason = reason->get<std::string>();
    }
  }
  return reply;
}

}  // namespace fz::portal
