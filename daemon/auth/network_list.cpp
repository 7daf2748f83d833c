#include "policy_relay/auth/network_list.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <stdexcept>

namespace policy_relay::auth {
namespace {

bool prefix_matches(const unsigned char* network, const unsigned char* address, unsigned prefix) {
  const unsigned whole = prefix / 8;
  for (unsigned i = 0; i < whole; ++i) {
    if (network[i] != address[i]) {
      return false;
    }
  }
  const unsigned rest = prefix % 8;
  if (rest == 0) {
    return true;
  }
  const auto mask = static_cast<unsigned char>(0xFFu << (8 - rest));
  return (network[whole] & mask) == (address[whole] & mask);
}

}  // namespace

std::optional<NetworkList::Network> NetworkList::parse(std::string_view cidr) {
  const std::size_t slash = cidr.find('/');
  if (slash == std::string_view::npos || slash > 45) {
    return std::nullopt;
  }
  const std::string address(cidr.substr(0, slash));
  const std::string_view prefix_text = cidr.substr(slash + 1);
  Network network;
  if (inet_pton(AF_INET, address.c_str(), network.bytes.data()) == 1) {
    network.v6 = false;
  } else if (inet_pton(AF_INET6, address.c_str(), network.bytes.data()) == 1) {
    network.v6 = true;
  } else {
    return std::nullopt;
  }
  const auto [end, error] =
      std::from_chars(prefix_text.data(), prefix_text.data() + prefix_text.size(), network.prefix);
  if (error != std::errc() || end != prefix_text.data() + prefix_text.size() ||
      prefix_text.empty() || network.prefix > (network.v6 ? 128u : 32u)) {
    return std::nullopt;
  }
  return network;
}

NetworkList NetworkList::from(const std::vector<std::string>& cidrs) {
  NetworkList list;
  for (const std::string& cidr : cidrs) {
    auto network = parse(cidr);
    if (!network) {
      throw std::invalid_argument("'" + cidr + "' is not an address/prefix");
    }
    list.networks_.push_back(*network);
  }
  return list;
}

bool NetworkList::contains(const boost::asio::ip::address& address) const {
  boost::asio::ip::address candidate = address;
  if (candidate.is_v6() && candidate.to_v6().is_v4_mapped()) {
    candidate = boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, candidate.to_v6());
  }
  if (candidate.is_v4()) {
    const auto bytes = candidate.to_v4().to_bytes();
    for (const Network& network : networks_) {
      if (!network.v6 && prefix_matches(network.bytes.data(), bytes.data(), network.prefix)) {
        return true;
      }
    }
    return false;
  }
  const auto bytes = candidate.to_v6().to_bytes();
  for (const Network& network : networks_) {
    if (network.v6 && prefix_matches(network.bytes.data(), bytes.data(), network.prefix)) {
      return true;
    }
  }
  return false;
}

bool NetworkList::contains(std::string_view address) const {
  boost::system::error_code error;
  const auto parsed = boost::asio::ip::make_address(std::string(address), error);
  return !error && contains(parsed);
}

}  // namespace policy_relay::auth
