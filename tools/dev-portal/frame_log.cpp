#include "dev-portal/frame_log.hpp"

#include "portal/frame.hpp"

namespace fz::devportal {

namespace {
constexpr std::string_view kRedacted = "<redacted>";

bool is_relay_entry(const nlohmann::json& object) {
  if (!object.contains("username")) return false;
  if (object.contains("addr")) return true;
  const auto type = object.find("type");
  return type != object.end() && type->is_string() && *type == "turn";
}
}  // namespace

nlohmann::json redact(const nlohmann::json& value) {
  if (value.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& v : value)
      out.push_back(redact(v));
    return out;
  }
  if (!value.is_object()) return value;
  const bool relay = is_relay_entry(value);
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [key, v] : value.items()) {
    if (key == "preshared_key" || key == "token" || (relay && key == "password")) {
      out[key] = kRedacted;
    } else {
      out[key] = redact(v);
    }
  }
  return out;
}

std::uint64_t EventLog::append(nlohmann::json entry) {
  const std::uint64_t seq = next_seq_++;
  entry["seq"] = seq;
  if (const auto level = entry.find("level"); level != entry.end() && *level == "error")
    ++error_count_;
  if (sink_) sink_(portal::dump_json(entry));
  entries_.push_back(std::move(entry));
  while (entries_.size() > capacity_)
    entries_.pop_front();
  return seq;
}

nlohmann::json EventLog::entries_since(std::uint64_t since) const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& e : entries_) {
    if (e["seq"].get<std::uint64_t>() >= since) out.push_back(e);
  }
  return out;
}

nlohmann::json EventLog::errors() const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& e : entries_) {
    const auto level = e.find("level");
    if (level != e.end() && *level == "error") out.push_back(e);
  }
  return out;
}

}  // namespace fz::devportal
