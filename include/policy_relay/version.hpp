#pragma once

#include <string_view>

namespace policy_relay {

// The release this build reports in banners and `--version`.
std::string_view version();

}  // namespace policy_relay
