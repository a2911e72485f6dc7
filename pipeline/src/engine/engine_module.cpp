#include "engine/engine_module.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <climits>

namespace sightline::pipeline::detail {

namespace {

std::filesystem::path module_path(const char* env_var, const std::filesystem::path& built) {
    if (const char* env = std::getenv(env_var); env && *env) return env;
    if (std::filesystem::exists(built)) return built;
    char self[PATH_MAX];
    const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0)
        return std::filesystem::path(std::string(self, static_cast<std::size_t>(n))).parent_path() / built.filename();
    return built;
}

} // namespace

EngineModule::EngineModule(const char* env_var, const std::filesystem::path& built,
                           const std::vector<const char*>& symbols) {
    const auto path = module_path(env_var, built);
    handle_ = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle_) {
        const char* e = ::dlerror();
        error_ = path.string() + ": " + (e ? e : "cannot be opened");
        return;
    }
    for (const char* s : symbols)
        if (!::dlsym(handle_, s)) {
            error_ = path.string() + ": not sightline's module (entry point " + s + " missing)";
            return;
        }
}

void* EngineModule::lookup(const char* name) const {
    return error_.empty() ? ::dlsym(handle_, name) : nullptr;
}

} // namespace sightline::pipeline::detail
