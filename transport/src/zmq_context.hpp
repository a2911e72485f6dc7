#pragma once
/// The process's one ZeroMQ context, shared by every socket of the transport (one I/O thread).
#include <zmq.hpp>

namespace sightline::transport::detail {

inline zmq::context_t& context() {
    static zmq::context_t ctx(1);
    return ctx;
}

} // namespace sightline::transport::detail
