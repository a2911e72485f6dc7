#pragma once
/// The process's one ZeroMQ context, shared by every socket of the transport (one I/O thread).
#include <zmq.hpp>

#include <cerrno>
#include <chrono>

namespace sightline::transport::detail {

inline zmq::context_t& context() {
    static zmq::context_t ctx(1);
    return ctx;
}

/// zmq::poll, with an interruption by a signal (EINTR) read as "nothing ready": the caller looks at its stop flag.
inline std::size_t poll(zmq::pollitem_t* items, std::size_t n, std::chrono::milliseconds timeout) {
    try {
        return static_cast<std::size_t>(zmq::poll(items, n, timeout));
    } catch (const zmq::error_t& e) {
        if (e.num() == EINTR) return 0;
        throw;
    }
}

} // namespace sightline::transport::detail
