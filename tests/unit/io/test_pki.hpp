// A throw-away PKI for TLS tests, generated with the OpenSSL API at test time: a self-signed CA
// and a server certificate it signed, valid for the given DNS names and IP addresses.
#pragma once

#include <string>
#include <vector>

namespace fz::test {

struct TestPki {
  std::string ca_cert_pem;
  std::string server_cert_pem;  // the leaf only
  std::string server_key_pem;
};

TestPki make_test_pki(const std::vector<std::string>& dns_names,
                      const std::vector<std::string>& ip_addresses);

}  // namespace fz::test
