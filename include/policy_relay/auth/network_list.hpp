#pragma once

#include <array>
#include <boost/asio/ip/address.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// server.trusted_networks: IPv4 and IPv6 CIDR blocks whose clients may submit without AUTH.
// An IPv4-mapped IPv6 client (::ffff:a.b.c.d) matches the IPv4 blocks.
namespace policy_relay::auth {

class NetworkList {
 public:
  struct Network {
    bool v6 = false;
    std::array<unsigned char, 16> bytes{};
    unsigned prefix = 0;
  };

  // "10.0.0.0/8", "::1/128"; nullopt when not an address/prefix (the loader has checked them).
  static std::optional<Network> parse(std::string_view cidr);
  // Every entry must parse; throws std::invalid_argument naming the first that does not.
  static NetworkList from(const std::vector<std::string>& cidrs);

  bool contains(const boost::asio::ip::address& address) const;
  bool contains(std::string_view address) const;  // false for a text that is no address
  bool empty() const { return networks_.empty(); }

 private:
  std::vector<Network> networks_;
};

}  // namespace policy_relay::auth
