#pragma once

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <memory>
#include <string>

#include "policy_relay/config/config.hpp"

// OpenSSL contexts through asio::ssl (POLICY VII.1, VII.3). TLS 1.2 is the minimum both ways;
// no compression, no renegotiation.
namespace policy_relay::tls {

// The server side of STARTTLS and implicit TLS from [tls]; nullptr when no certificate is set.
// Throws std::runtime_error naming the file when the certificate or key cannot be used.
std::unique_ptr<boost::asio::ssl::context> make_server_context(const config::TlsConfig& tls);

// The client side towards the upstream: peers are verified against `ca_file` ("" = the system
// store). Throws std::runtime_error when the CA file cannot be loaded.
std::shared_ptr<boost::asio::ssl::context> make_client_context(const std::string& ca_file);

// Before the client handshake: SNI (not for IP literals) and the name the certificate must
// carry (RFC 6125; an IP literal is checked against the IP addresses of the certificate).
// False when OpenSSL refuses the name.
bool expect_peer_name(SSL* ssl, const std::string& host);

// "TLSv1.3 TLS_AES_256_GCM_SHA384", for the logs.
std::string describe_session(SSL* ssl);
// Why a handshake failed, with the verification result when that was the cause.
std::string describe_failure(SSL* ssl, const boost::system::error_code& error);

}  // namespace policy_relay::tls
