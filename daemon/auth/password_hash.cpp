#include "policy_relay/auth/password_hash.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <charconv>
#include <memory>
#include <stdexcept>

#include "policy_relay/smtp/base64.hpp"

namespace policy_relay::auth {
namespace {

constexpr std::size_t kSaltSize = 16;
constexpr std::size_t kKeySize = 32;
constexpr std::string_view kPrefix = "$scrypt$";

// scrypt(password, salt, N, r, p) into `out`; false when OpenSSL fails.
bool derive(std::string_view password, std::string_view salt, const ScryptParameters& parameters,
            unsigned char* out, std::size_t out_size) {
  std::unique_ptr<EVP_KDF, decltype(&EVP_KDF_free)> kdf(EVP_KDF_fetch(nullptr, "SCRYPT", nullptr),
                                                        &EVP_KDF_free);
  if (!kdf) {
    return false;
  }
  std::unique_ptr<EVP_KDF_CTX, decltype(&EVP_KDF_CTX_free)> context(EVP_KDF_CTX_new(kdf.get()),
                                                                    &EVP_KDF_CTX_free);
  if (!context) {
    return false;
  }
  std::uint64_t n = std::uint64_t{1} << parameters.log2_n;
  std::uint32_t r = parameters.r;
  std::uint32_t p = parameters.p;
  std::uint64_t max_memory = std::uint64_t{1} << 31;  // 2 GiB: the bounds keep us far below
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, const_cast<char*>(password.data()),
                                        password.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<char*>(salt.data()),
                                        salt.size()),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &max_memory),
      OSSL_PARAM_construct_end(),
  };
  return EVP_KDF_derive(context.get(), out, out_size, params) == 1;
}

bool parse_unsigned(std::string_view text, unsigned min, unsigned max, unsigned& out) {
  unsigned value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    return false;
  }
  out = value;
  return true;
}

// "ln=15,r=8,p=1", exactly these three in this order.
bool parse_parameters(std::string_view text, ScryptParameters& out) {
  const std::size_t first = text.find(',');
  const std::size_t second = first == std::string_view::npos ? first : text.find(',', first + 1);
  if (second == std::string_view::npos) {
    return false;
  }
  const std::string_view ln = text.substr(0, first);
  const std::string_view r = text.substr(first + 1, second - first - 1);
  const std::string_view p = text.substr(second + 1);
  return ln.starts_with("ln=") && r.starts_with("r=") && p.starts_with("p=") &&
         parse_unsigned(ln.substr(3), 10, 20, out.log2_n) &&
         parse_unsigned(r.substr(2), 1, 32, out.r) && parse_unsigned(p.substr(2), 1, 16, out.p);
}

}  // namespace

std::string hash_password(std::string_view password, ScryptParameters parameters) {
  unsigned char salt[kSaltSize];
  if (RAND_bytes(salt, sizeof salt) != 1) {
    throw std::runtime_error("cannot get random octets for the salt");
  }
  const std::string_view salt_view(reinterpret_cast<const char*>(salt), sizeof salt);
  unsigned char key[kKeySize];
  if (!derive(password, salt_view, parameters, key, sizeof key)) {
    throw std::runtime_error("OpenSSL cannot derive an scrypt key");
  }
  std::string text =
      std::string(kPrefix) + "ln=" + std::to_string(parameters.log2_n) +
      ",r=" + std::to_string(parameters.r) + ",p=" + std::to_string(parameters.p) + "$" +
      smtp::base64_encode(salt_view) + "$" +
      smtp::base64_encode(std::string_view(reinterpret_cast<char*>(key), sizeof key));
  OPENSSL_cleanse(key, sizeof key);
  return text;
}

std::optional<PasswordHash> parse_password_hash(std::string_view text) {
  if (!text.starts_with(kPrefix)) {
    return std::nullopt;
  }
  text.remove_prefix(kPrefix.size());
  const std::size_t first = text.find('$');
  const std::size_t second = first == std::string_view::npos ? first : text.find('$', first + 1);
  if (second == std::string_view::npos || text.find('$', second + 1) != std::string_view::npos) {
    return std::nullopt;
  }
  PasswordHash hash;
  if (!parse_parameters(text.substr(0, first), hash.parameters)) {
    return std::nullopt;
  }
  auto salt = smtp::base64_decode(text.substr(first + 1, second - first - 1));
  auto key = smtp::base64_decode(text.substr(second + 1));
  if (!salt || !key || salt->size() < 4 || salt->size() > 64 || key->size() < 16 ||
      key->size() > 64) {
    return std::nullopt;
  }
  hash.salt = std::move(*salt);
  hash.key = std::move(*key);
  return hash;
}

bool verify_password(const PasswordHash& hash, std::string_view password) {
  unsigned char derived[64];
  if (hash.key.size() > sizeof derived ||
      !derive(password, hash.salt, hash.parameters, derived, hash.key.size())) {
    return false;
  }
  const bool equal = CRYPTO_memcmp(derived, hash.key.data(), hash.key.size()) == 0;
  OPENSSL_cleanse(derived, sizeof derived);
  return equal;
}

}  // namespace policy_relay::auth
