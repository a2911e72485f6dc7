#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <unordered_map>

#include "sightline/error.hpp"
#include "sightline/pipeline/metrics.hpp"

namespace sightline::pipeline {

struct BridgeMetrics::Impl {
    std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
    std::unique_ptr<prometheus::Exposer> exposer;
    std::unordered_map<std::string, prometheus::Counter*> by_line_kind;

    prometheus::Counter& counter(const char* name, const char* help) {
        return prometheus::BuildCounter().Name(name).Help(help).Register(*registry).Add({});
    }
    prometheus::Gauge& gauge(const char* name, const char* help) {
        return prometheus::BuildGauge().Name(name).Help(help).Register(*registry).Add({});
    }
    static void set(prometheus::Counter& c, std::uint64_t total) {
        if (double(total) > c.Value()) c.Increment(double(total) - c.Value());
    }

    prometheus::Family<prometheus::Counter>& received =
        prometheus::BuildCounter()
            .Name("sightline_bridge_received_total")
            .Help("Messages taken from the lines, by line and kind (pred, shadow, stat, event, sample)")
            .Register(*registry);
    prometheus::Counter& published = counter("sightline_bridge_published_total", "Publishes sent (sends again too)");
    prometheus::Counter& acked =
        counter("sightline_bridge_acknowledged_total", "Messages JetStream acknowledged (stored by a quorum)");
    prometheus::Counter& duplicates =
        counter("sightline_bridge_duplicates_total", "Acknowledged as already stored (a send again, a restart)");
    prometheus::Counter& retried = counter("sightline_bridge_retried_total", "Sends of a message sent before");
    prometheus::Counter& failures =
        counter("sightline_bridge_failures_total", "Publishes refused or not acknowledged in time (sent again)");
    prometheus::Counter& malformed =
        counter("sightline_bridge_malformed_total", "Messages the bridge could not read (skipped)");
    prometheus::Counter& gaps =
        counter("sightline_bridge_gaps_total", "Messages missing before the bridge (seq gaps per camera)");
    prometheus::Gauge& in_flight = gauge("sightline_bridge_in_flight", "Published, awaiting JetStream's ack");
    prometheus::Gauge& held = gauge("sightline_bridge_held", "Taken and not yet acknowledged (in flight or waiting)");
    prometheus::Gauge& lag =
        gauge("sightline_bridge_lag_seconds", "Age of the oldest message taken and not yet acknowledged");
    prometheus::Gauge& connected = gauge("sightline_bridge_connected", "1 while connected to a NATS server");
};

BridgeMetrics::BridgeMetrics(const std::string& address) {
    if (address.empty()) return;
    impl_ = std::make_unique<Impl>();
    try {
        impl_->exposer = std::make_unique<prometheus::Exposer>(address, 2);
    } catch (const std::exception& e) {
        throw Error(ErrorCode::kTransport, "bridge: cannot serve /metrics on " + address + ": " + e.what());
    }
    impl_->exposer->RegisterCollectable(impl_->registry);
    const auto ports = impl_->exposer->GetListeningPorts();
    spdlog::info("bridge: metrics on http://{}:{}/metrics", address.substr(0, address.rfind(':')),
                 ports.empty() ? 0 : ports.front());
}

BridgeMetrics::~BridgeMetrics() = default;

void BridgeMetrics::received(const std::string& line, const std::string& kind) {
    if (!impl_) return;
    auto [it, added] = impl_->by_line_kind.try_emplace(line + '\n' + kind, nullptr);
    if (added) it->second = &impl_->received.Add({{"line", line}, {"kind", kind}});
    it->second->Increment();
}

void BridgeMetrics::update(const Figures& f) {
    if (!impl_) return;
    auto& d = *impl_;
    Impl::set(d.published, f.published), Impl::set(d.acked, f.acked), Impl::set(d.duplicates, f.duplicates);
    Impl::set(d.retried, f.retried), Impl::set(d.failures, f.failures), Impl::set(d.malformed, f.malformed);
    Impl::set(d.gaps, f.gaps);
    d.in_flight.Set(f.in_flight), d.held.Set(f.held), d.lag.Set(f.lag_s), d.connected.Set(f.connected ? 1 : 0);
}

} // namespace sightline::pipeline
