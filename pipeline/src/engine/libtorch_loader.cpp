// The LibTorch engine on demand: its module (libsightline_libtorch.so, built where the Torch CMake package was
// found) is opened the first time a LibTorch engine is asked for, so the commands and processes that never run one
// never load LibTorch. Where to find it: $SIGHTLINE_LIBTORCH_MODULE, else the build's own module (its path compiled
// in), else beside the running executable.
#include "engine/engine_module.hpp"
#include "sightline/error.hpp"
#include "sightline/pipeline/model.hpp"

namespace sightline::pipeline {

namespace {

#ifdef SIGHTLINE_LIBTORCH_MODULE
const detail::EngineModule& module() {
    static const detail::EngineModule m("SIGHTLINE_LIBTORCH_MODULE", SIGHTLINE_LIBTORCH_MODULE,
                                        {"sightline_libtorch_make_engine", "sightline_libtorch_set_tf32"});
    return m;
}
#endif

} // namespace

bool libtorch_available() {
#ifdef SIGHTLINE_LIBTORCH_MODULE
    return module().error().empty();
#else
    return false;
#endif
}

std::unique_ptr<Engine> make_libtorch_engine(const ModelSpec& spec, int threads) {
#ifdef SIGHTLINE_LIBTORCH_MODULE
    const detail::EngineModule& m = module();
    if (!m.error().empty())
        throw Error(ErrorCode::kUnsupported, "engine libtorch: its module cannot be loaded: " + m.error() +
                                                 " (set SIGHTLINE_LIBTORCH_MODULE to libsightline_libtorch.so)");
    return std::unique_ptr<Engine>(
        m.get<Engine* (*)(const ModelSpec*, int)>("sightline_libtorch_make_engine")(&spec, threads));
#else
    (void)spec, (void)threads;
    throw Error(ErrorCode::kUnsupported, "this build has no LibTorch engine (the Torch CMake package was not found "
                                         "at configure time: install libtorch-dev, or point Torch_DIR at PyTorch's)");
#endif
}

void set_libtorch_tf32(bool allow) {
#ifdef SIGHTLINE_LIBTORCH_MODULE
    if (libtorch_available()) module().get<void (*)(bool)>("sightline_libtorch_set_tf32")(allow);
#else
    (void)allow;
#endif
}

} // namespace sightline::pipeline
