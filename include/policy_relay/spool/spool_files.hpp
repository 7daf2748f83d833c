#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

// Small POSIX file helpers for the spool: every call reports failure as an error_code.
namespace policy_relay::spool {

// Reads the envelope block of a spool file (up to and including the blank line, at most
// max_envelope_block octets) and the file's total size.
std::error_code read_envelope_block(const std::string& path, std::string& block,
                                    std::uint64_t& file_size);

// The lines of a small text file; empty when it does not exist.
std::vector<std::string> read_lines(const std::string& path);

// Writes PATH.tmp and renames it over PATH.
std::error_code replace_file(const std::string& path, std::string_view content);

// Names in a directory, without "." and "..".
std::vector<std::string> list_directory(const std::string& path);

}  // namespace policy_relay::spool
