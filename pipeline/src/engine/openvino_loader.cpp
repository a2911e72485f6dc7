// The OpenVINO engine on demand: its module (libsightline_openvino.so, built where the OpenVINO CMake package was
// found: the `openvino` wheel's) is opened the first time an OpenVINO engine is asked for. Where to find it:
// $SIGHTLINE_OPENVINO_MODULE, else the build's own module, else beside the running executable.
#include "engine/engine_module.hpp"
#include "sightline/error.hpp"
#include "sightline/pipeline/model.hpp"

namespace sightline::pipeline {

namespace {

#ifdef SIGHTLINE_OPENVINO_MODULE
const detail::EngineModule& module() {
    static const detail::EngineModule m("SIGHTLINE_OPENVINO_MODULE", SIGHTLINE_OPENVINO_MODULE,
                                        {"sightline_openvino_make_engine"});
    return m;
}
#endif

} // namespace

bool openvino_available() {
#ifdef SIGHTLINE_OPENVINO_MODULE
    return module().error().empty();
#else
    return false;
#endif
}

std::unique_ptr<Engine> make_openvino_engine(const ModelSpec& spec, int threads) {
#ifdef SIGHTLINE_OPENVINO_MODULE
    const detail::EngineModule& m = module();
    if (!m.error().empty())
        throw Error(ErrorCode::kUnsupported, "engine openvino: its module cannot be loaded: " + m.error() +
                                                 " (set SIGHTLINE_OPENVINO_MODULE to libsightline_openvino.so)");
    return std::unique_ptr<Engine>(
        m.get<Engine* (*)(const ModelSpec*, int)>("sightline_openvino_make_engine")(&spec, threads));
#else
    (void)spec, (void)threads;
    throw Error(ErrorCode::kUnsupported, "this build has no OpenVINO engine (the OpenVINO CMake package was not "
                                         "found at configure time: scripts/setup.sh installs the openvino wheel into "
                                         ".cache/openvino-venv and points OpenVINO_DIR at it)");
#endif
}

} // namespace sightline::pipeline
