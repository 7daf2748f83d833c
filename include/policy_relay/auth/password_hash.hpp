#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

// Salted scrypt password hashes (RFC 7914) through OpenSSL's EVP_KDF "SCRYPT", written as
//   $scrypt$ln=15,r=8,p=1$<salt, base64>$<derived key, base64>
// (POLICY VII.1: salted hashes, never passwords, on disk).
namespace policy_relay::auth {

struct ScryptParameters {
  unsigned log2_n = 15;  // N = 32768: 32 MiB and some 50-100 ms per hash on a server core
  unsigned r = 8;
  unsigned p = 1;
};

struct PasswordHash {
  ScryptParameters parameters;
  std::string salt;  // raw octets
  std::string key;   // raw derived key
};

// A new hash of `password` with 16 random salt octets and a 32-octet key. Throws
// std::runtime_error when OpenSSL fails (no scrypt, no entropy): start-up and ctl only.
std::string hash_password(std::string_view password, ScryptParameters parameters = {});

// nullopt when `text` is not the form above or its parameters are out of the accepted bounds
// (ln 10..20, r 1..32, p 1..16, salt 4..64 octets (RFC 7914's test vector has 4), key 16..64
// octets).
std::optional<PasswordHash> parse_password_hash(std::string_view text);

// Derives the key for `password` and compares in constant time (CRYPTO_memcmp). False also
// when OpenSSL fails. Costs one scrypt: run it off the event loop.
bool verify_password(const PasswordHash& hash, std::string_view password);

}  // namespace policy_relay::auth
