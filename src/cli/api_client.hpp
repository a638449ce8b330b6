// The CLI's side of the local API: one JSON request to the daemon's unix
// socket, one JSON answer.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace ovl::cli {

// Throws std::runtime_error with a helpful message when no daemon runs.
nlohmann::json api_call(const std::string& state_dir, const nlohmann::json& request);

// The same for commands: prints the failure (no daemon, or the daemon's
// {"error": ...}) as "ovl: ..." and returns false.
bool api_request(const std::string& state_dir, const nlohmann::json& request, nlohmann::json& response);

}  // namespace ovl::cli
