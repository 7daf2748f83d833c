#include "policy_relay/tls/contexts.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <stdexcept>

namespace policy_relay::tls {
namespace asio = boost::asio;

namespace {

void harden(asio::ssl::context& context) {
  context.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                      asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                      asio::ssl::context::no_tlsv1_1 | asio::ssl::context::no_compression);
  SSL_CTX_set_min_proto_version(context.native_handle(), TLS1_2_VERSION);
  SSL_CTX_set_options(context.native_handle(), SSL_OP_NO_RENEGOTIATION);
}

bool is_ip_literal(const std::string& host) {
  unsigned char buffer[16];
  return inet_pton(AF_INET, host.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

}  // namespace

std::unique_ptr<asio::ssl::context> make_server_context(const config::TlsConfig& tls) {
  if (tls.certificate.empty()) {
    return nullptr;
  }
  auto context = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  harden(*context);
  SSL_CTX_set_options(context->native_handle(), SSL_OP_CIPHER_SERVER_PREFERENCE);
  boost::system::error_code error;
  context->use_certificate_chain_file(tls.certificate, error);
  if (error) {
    throw std::runtime_error("tls.certificate " + tls.certificate + ": " + error.message());
  }
  context->use_private_key_file(tls.private_key, asio::ssl::context::pem, error);
  if (error) {
    throw std::runtime_error("tls.private_key " + tls.private_key + ": " + error.message());
  }
  if (SSL_CTX_check_private_key(context->native_handle()) != 1) {
    throw std::runtime_error("tls.private_key " + tls.private_key +
                             " does not belong to tls.certificate " + tls.certificate);
  }
  return context;
}

std::shared_ptr<asio::ssl::context> make_client_context(const std::string& ca_file) {
  auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  harden(*context);
  boost::system::error_code error;
  if (ca_file.empty()) {
    context->set_default_verify_paths(error);
  } else {
    context->load_verify_file(ca_file, error);
  }
  if (error) {
    throw std::runtime_error("upstream.ca_file " + (ca_file.empty() ? "(system store)" : ca_file) +
                             ": " + error.message());
  }
  context->set_verify_mode(asio::ssl::verify_peer);
  return context;
}

bool expect_peer_name(SSL* ssl, const std::string& host) {
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (is_ip_literal(host)) {
    return X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) == 1;
  }
  return SSL_set_tlsext_host_name(ssl, host.c_str()) == 1 && SSL_set1_host(ssl, host.c_str()) == 1;
}

std::string describe_session(SSL* ssl) {
  const char* cipher = SSL_get_cipher_name(ssl);
  return std::string(SSL_get_version(ssl)) + " " + (cipher != nullptr ? cipher : "?");
}

std::string describe_failure(SSL* ssl, const boost::system::error_code& error) {
  const long verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK) {
    return std::string("certificate verification failed: ") + X509_verify_cert_error_string(verify);
  }
  return error.message();
}

}  // namespace policy_relay::tls
