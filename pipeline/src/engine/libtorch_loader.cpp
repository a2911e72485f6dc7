// The LibTorch engine on demand: its module (libsightline_libtorch.so, built where the Torch CMake package was
// found) is opened the first time a LibTorch engine is asked for, so the commands and processes that never run one
// never load LibTorch. Where to find it: $SIGHTLINE_LIBTORCH_MODULE, else the build's own module (its path compiled
// in), else beside the running executable.
#include <dlfcn.h>
#include <unistd.h>

#include <climits>
#include <filesystem>
#include <mutex>

#include "sightline/error.hpp"
#include "sightline/pipeline/model.hpp"

namespace sightline::pipeline {

namespace {

#ifdef SIGHTLINE_LIBTORCH_MODULE
struct Module {
    void* handle = nullptr;
    std::string error; ///< why it could not be opened, when it could not
    Engine* (*make)(const ModelSpec*, int) = nullptr;
    void (*set_tf32)(bool) = nullptr;
};

std::filesystem::path module_path() {
    if (const char* env = std::getenv("SIGHTLINE_LIBTORCH_MODULE"); env && *env) return env;
    const std::filesystem::path built = SIGHTLINE_LIBTORCH_MODULE;
    if (std::filesystem::exists(built)) return built;
    char self[PATH_MAX];
    const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0)
        return std::filesystem::path(std::string(self, static_cast<std::size_t>(n))).parent_path() / built.filename();
    return built;
}

const Module& module() {
    static Module m;
    static std::once_flag once;
    std::call_once(once, [] {
        const auto path = module_path();
        m.handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!m.handle) {
            const char* e = ::dlerror();
            m.error = path.string() + ": " + (e ? e : "cannot be opened");
            return;
        }
        m.make =
            reinterpret_cast<Engine* (*)(const ModelSpec*, int)>(::dlsym(m.handle, "sightline_libtorch_make_engine"));
        m.set_tf32 = reinterpret_cast<void (*)(bool)>(::dlsym(m.handle, "sightline_libtorch_set_tf32"));
        if (!m.make || !m.set_tf32)
            m.error = path.string() + ": not sightline's LibTorch module (entry points missing)";
    });
    return m;
}
#endif

} // namespace

bool libtorch_available() {
#ifdef SIGHTLINE_LIBTORCH_MODULE
    return module().error.empty();
#else
    return false;
#endif
}

std::unique_ptr<Engine> make_libtorch_engine(const ModelSpec& spec, int threads) {
#ifdef SIGHTLINE_LIBTORCH_MODULE
    const Module& m = module();
    if (!m.error.empty())
        throw Error(ErrorCode::kUnsupported, "engine libtorch: its module cannot be loaded: " + m.error +
                                                 " (set SIGHTLINE_LIBTORCH_MODULE to libsightline_libtorch.so)");
    return std::unique_ptr<Engine>(m.make(&spec, threads));
#else
    (void)spec, (void)threads;
    throw Error(ErrorCode::kUnsupported, "this build has no LibTorch engine (the Torch CMake package was not found "
                                         "at configure time: install libtorch-dev, or point Torch_DIR at PyTorch's)");
#endif
}

void set_libtorch_tf32(bool allow) {
#ifdef SIGHTLINE_LIBTORCH_MODULE
    if (libtorch_available()) module().set_tf32(allow);
#else
    (void)allow;
#endif
}

} // namespace sightline::pipeline
