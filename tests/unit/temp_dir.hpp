#pragma once

// A fresh directory under the system temp dir for one test, removed with everything in it at
// scope exit (also when the test fails).

#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

namespace test_support {

struct TempDir {
  std::filesystem::path path;

  // `purpose` names the directory (policy-relay-PURPOSE-XXXXXX) for whoever finds one left over.
  explicit TempDir(std::string_view purpose = "test") {
    std::string pattern = (std::filesystem::temp_directory_path() /
                           ("policy-relay-" + std::string(purpose) + "-XXXXXX"))
                              .string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

}  // namespace test_support
