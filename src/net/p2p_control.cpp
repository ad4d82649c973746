#include "net/p2p_control.hpp"

#include <cstring>
#include <nlohmann/json.hpp>
#include <string_view>

namespace fz::net::p2p_control {

namespace {

using nlohmann::json;
using nlohmann::ordered_json;

bool all_zero(const std::uint8_t* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (p[i] != 0) return false;
  return true;
}

// The domain without its trailing dot, if it looks like a DNS name in presentation form: at most
// 253 characters, labels of 1..63 printable ASCII characters (Firezone clients send IDNs as
// punycode).
std::optional<std::string_view> normalize_domain(std::string_view domain) {
  if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
  if (domain.empty() || domain.size() > 253) return std::nullopt;
  std::size_t label = 0;
  for (char c : domain) {
    if (c == '.') {
      if (label == 0) return std::nullopt;
      label = 0;
      continue;
    }
    if (c <= 0x20 || c >= 0x7f) return std::nullopt;
    if (++label > 63) return std::nullopt;
  }
  if (label == 0) return std::nullopt;
  return domain;
}

// The parsed body as a JSON object, or nullptr.
Result<json> parse_object(Bytes body) {
  if (body.size() > kMaxBodyLen) return Error(Errc::out_of_range, "control message body too long");
  json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Error(Errc::malformed, "control message body is not JSON");
  if (!j.is_object()) return Error(Errc::malformed, "control message body is not a JSON object");
  return j;
}

const std::string* string_field(const json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return nullptr;
  return &it->get_ref<const std::string&>();
}

// Reads "resource" and "domain", common to both JSON events.
Status parse_resource_and_domain(const json& j, Uuid& resource, std::string& domain) {
  const std::string* resource_text = string_field(j, "resource");
  if (resource_text == nullptr) return Error(Errc::malformed, "missing or non-string resource");
  auto id = Uuid::parse(*resource_text);
  if (!id) return id.error();
  resource = *id;
  const std::string* domain_text = string_field(j, "domain");
  if (domain_text == nullptr) return Error(Errc::malformed, "missing or non-string domain");
  const auto name = normalize_domain(*domain_text);
  if (!name) return Error(Errc::malformed, "invalid domain name");
  domain.assign(name->data(), name->size());
  return {};
}

Result<std::string> dump(const ordered_json& j) {
  // The domain is validated ASCII, so strict UTF-8 handling cannot fail; the catch keeps the
  // promise that nothing here throws.
  try {
    return j.dump();
  } catch (const std::exception&) {
    return Error(Errc::malformed, "control message not encodable as JSON");
  }
}

Result<std::size_t> encode_json(MutBytes out, std::uint8_t type, const Result<std::string>& body) {
  if (!body) return body.error();
  const auto* data = reinterpret_cast<const std::uint8_t*>(body->data());
  return encode(out, type, Bytes(data, body->size()));
}

}  // namespace

bool is_control_packet(const IpPacketView& packet) {
  if (!packet.is_v6()) return false;
  const Bytes b = packet.bytes();
  return b[6] == kIpProtocol && all_zero(b.data() + 8, 32) &&
         b.size() >= kIpv6HeaderLen + kHeaderLen;
}

std::optional<Message> decode(const IpPacketView& packet) {
  if (!is_control_packet(packet)) return std::nullopt;
  const Bytes payload = packet.bytes().subspan(kIpv6HeaderLen);
  return Message{payload[0], payload.subspan(kHeaderLen)};
}

Result<std::size_t> encode(MutBytes out, std::uint8_t event_type, Bytes body) {
  const std::size_t len = kIpv6HeaderLen + kHeaderLen + body.size();
  if (len > kMaxPacketLen) return Error(Errc::out_of_range, "control packet exceeds 1280 bytes");
  if (len > out.size()) return Error(Errc::out_of_range, "output buffer too small");
  std::uint8_t* b = out.data();
  std::memset(b, 0, kIpv6HeaderLen + kHeaderLen);
  b[0] = 0x60;
  store_be16(b + 4, static_cast<std::uint16_t>(kHeaderLen + body.size()));
  b[6] = kIpProtocol;
  b[7] = 0;  // hop limit
  b[kIpv6HeaderLen] = event_type;
  if (!body.empty()) std::memcpy(b + kIpv6HeaderLen + kHeaderLen, body.data(), body.size());
  return len;
}

Result<AssignedIps> parse_assigned_ips(Bytes body) {
  try {
    auto j = parse_object(body);
    if (!j) return j.error();
    AssignedIps event;
    FZ_TRY_STATUS(parse_resource_and_domain(*j, event.resource, event.domain));
    const auto ips = j->find("proxy_ips");
    if (ips == j->end() || !ips->is_array()) {
      return Error(Errc::malformed, "missing or non-array proxy_ips");
    }
    event.proxy_ips.reserve(ips->size());
    for (const auto& item : *ips) {
      if (!item.is_string()) return Error(Errc::malformed, "non-string proxy IP");
      auto ip = IpAddr::parse(item.get_ref<const std::string&>());
      if (!ip) return ip.error();
      event.proxy_ips.push_back(*ip);
    }
    return event;
  } catch (const std::exception&) {
    return Error(Errc::malformed, "invalid assigned IPs message");
  }
}

Result<DomainStatus> parse_domain_status(Bytes body) {
  try {
    auto j = parse_object(body);
    if (!j) return j.error();
    DomainStatus event;
    FZ_TRY_STATUS(parse_resource_and_domain(*j, event.resource, event.domain));
    const std::string* status = string_field(*j, "status");
    if (status == nullptr) return Error(Errc::malformed, "missing or non-string status");
    event.status = *status == "Active" ? ResolutionStatus::active : ResolutionStatus::inactive;
    return event;
  } catch (const std::exception&) {
    return Error(Errc::malformed, "invalid domain status message");
  }
}

Result<std::string> assigned_ips_json(const AssignedIps& event) {
  const auto domain = normalize_domain(event.domain);
  if (!domain) return Error(Errc::malformed, "invalid domain name");
  try {
    ordered_json j;
    j["resource"] = event.resource.to_string();
    j["domain"] = std::string(*domain);
    auto& ips = j["proxy_ips"] = ordered_json::array();
    for (const auto& ip : event.proxy_ips)
      ips.push_back(ip.to_string());
    return dump(j);
  } catch (const std::exception&) {
    return Error(Errc::malformed, "assigned IPs message not encodable");
  }
}

Result<std::string> domain_status_json(const DomainStatus& event) {
  const auto domain = normalize_domain(event.domain);
  if (!domain) return Error(Errc::malformed, "invalid domain name");
  try {
    ordered_json j;
    j["resource"] = event.resource.to_string();
    j["domain"] = std::string(*domain);
    j["status"] = event.status == ResolutionStatus::active ? "Active" : "Inactive";
    return dump(j);
  } catch (const std::exception&) {
    return Error(Errc::malformed, "domain status message not encodable");
  }
}

Result<std::size_t> encode_assigned_ips(MutBytes out, const AssignedIps& event) {
  return encode_json(out, event_type::assigned_ips, assigned_ips_json(event));
}

Result<std::size_t> encode_domain_status(MutBytes out, const DomainStatus& event) {
  return encode_json(out, event_type::domain_status, domain_status_json(event));
}

Result<std::size_t> encode_goodbye(MutBytes out) {
  return encode(out, event_type::goodbye, {});
}

}  // namespace fz::net::p2p_control
