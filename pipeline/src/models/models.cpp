#include "sightline/pipeline/models.hpp"

#include <algorithm>
#include <cstring>
#include <functional>
#include <future>
#include <map>

#include "sightline/error.hpp"
#include "sightline/kernels/device.hpp"

namespace sightline::pipeline {

namespace {

bool same_input(const kernels::PreprocessParams& a, const kernels::PreprocessParams& b) {
    return a.input_width == b.input_width && a.input_height == b.input_height && a.order == b.order &&
           a.scale == b.scale && std::equal(a.mean, a.mean + 3, b.mean) && std::equal(a.std, a.std + 3, b.std) &&
           a.pad_value == b.pad_value && a.dtype == b.dtype && a.layout == b.layout;
}

float pick(float own, float line) {
    return own >= 0 ? own : line;
}

} // namespace

std::vector<std::unique_ptr<Engine>> one_version(std::unique_ptr<Engine> engine) {
    std::vector<std::unique_ptr<Engine>> v;
    v.push_back(std::move(engine));
    return v;
}

struct ModelSet::Pending {
    bool busy = false;
    std::vector<int> serving;              ///< per frame, at submit()
    std::vector<std::vector<int>> runs;    ///< per version, the frames it runs
    std::vector<Detector::Ticket> tickets; ///< per version (-1: not run)
    // a device batch's shared tensor (NVDEC frames, several versions of one input spec): the batch's own, kept until
    // it is collected, since the engines may still read it on their streams after submit() returns
    std::unique_ptr<kernels::Stream> stream;
    std::vector<kernels::DeviceBuffer> d_tensors; ///< per input spec shared on the device
    kernels::DeviceBuffer d_work;
    std::map<std::size_t, kernels::DeviceBuffer> d_gathered; ///< per version running on some of the frames
};

ModelSet::ModelSet(const RunConfig& config, std::vector<std::unique_ptr<Engine>> engines) {
    const auto versions = config.versions();
    if (engines.size() != versions.size())
        throw Error(ErrorCode::kBadInput, "models: " + std::to_string(engines.size()) + " engines for " +
                                              std::to_string(versions.size()) + " versions");
    std::map<std::string, int> names; // name@version -> versions carrying it
    for (const auto& e : engines) ++names[e->spec().name + "@" + e->spec().version];
    for (std::size_t v = 0; v < versions.size(); ++v) {
        const ThresholdsConfig& own = versions[v].thresholds;
        const ThresholdsConfig& line = config.thresholds;
        std::string model = engines[v]->spec().name + "@" + engines[v]->spec().version;
        if (names[model] > 1) model += "#" + versions[v].id; // two versions of one file (another threshold)
        versions_.push_back(
            {versions[v].id, model,
             std::make_unique<Detector>(std::move(engines[v]), pick(own.confidence, line.confidence),
                                        pick(own.iou, line.iou), own.max_det > 0 ? own.max_det : line.max_det,
                                        config.flags.candidate_floor, config.flags.max_candidates)});
    }
    const std::size_t cams = config.cameras.size();
    serving_.assign(cams, 0);
    beside_.assign(cams, std::vector<bool>(versions_.size(), false));
    for (std::size_t c = 0; c < cams; ++c) {
        if (!config.cameras[c].model.empty()) {
            serving_[c] = find(config.cameras[c].model);
            if (serving_[c] < 0)
                throw Error(ErrorCode::kBadInput,
                            "cameras[" + std::to_string(c) + "].model: no version '" + config.cameras[c].model + "'");
        }
        for (const auto& id : config.shadow)
            if (const int v = find(id); v >= 0 && v != serving_[c]) beside_[c][v] = true;
        if (config.rollout && serving_[c] == find(config.rollout->candidate))
            beside_[c][find(config.rollout->fallback)] = true;
    }
    for (int k = 0; k < Detector::kDepth; ++k) pending_.push_back(std::make_unique<Pending>());
}

ModelSet::~ModelSet() = default;
ModelSet::ModelSet(ModelSet&&) noexcept = default;

int ModelSet::find(const std::string& id) const {
    for (std::size_t v = 0; v < versions_.size(); ++v)
        if (versions_[v].id == id && versions_[v].detector) return static_cast<int>(v);
    return -1;
}

int ModelSet::add(std::string id, std::string model, std::unique_ptr<Detector> detector) {
    SL_ASSERT(detector != nullptr);
    if (find(id) >= 0) throw Error(ErrorCode::kBadInput, "models: a version '" + id + "' is loaded already");
    versions_.push_back({std::move(id), std::move(model), std::move(detector)});
    for (auto& cam : beside_) cam.push_back(false);
    return static_cast<int>(versions_.size() - 1);
}

bool ModelSet::unload(int version) {
    if (version < 0 || static_cast<std::size_t>(version) >= versions_.size() || !loaded(version))
        throw Error(ErrorCode::kBadInput, "models: no loaded version " + std::to_string(version));
    if (version == 0)
        throw Error(ErrorCode::kBadInput, "models: version '" + versions_[0].id +
                                              "' is the line's first (its default, whose classes its recording's "
                                              "header carries): it stays loaded");
    std::string serves, runs;
    for (std::size_t c = 0; c < serving_.size(); ++c) {
        if (serving_[c] == version) serves += (serves.empty() ? "" : ", ") + std::string("camera ") + std::to_string(c);
        if (beside_[c][version]) runs += (runs.empty() ? "" : ", ") + std::string("camera ") + std::to_string(c);
    }
    if (!serves.empty() || !runs.empty())
        throw Error(ErrorCode::kBadInput, "models: version '" + versions_[version].id + "' still " +
                                              (serves.empty() ? "runs beside " + runs : "serves " + serves));
    for (const auto& p : pending_)
        if (p->busy && static_cast<std::size_t>(version) < p->tickets.size() && p->tickets[version] >= 0) return false;
    versions_[version].detector.reset();
    return true;
}

void ModelSet::serve(std::size_t camera, int version) {
    SL_ASSERT(version >= 0 && static_cast<std::size_t>(version) < versions_.size());
    serving_[camera] = version;
    beside_[camera][version] = false;
}

bool ModelSet::beside(std::size_t camera, int version) const {
    return beside_[camera][version];
}

void ModelSet::set_beside(std::size_t camera, int version, bool on) {
    beside_[camera][version] = on && version != serving_[camera];
}

ModelSet::Ticket ModelSet::submit(std::span<const kernels::ImageView> frames, std::span<const std::size_t> owners) {
    SL_ASSERT(frames.size() == owners.size());
    int t = -1;
    for (int k = 0; k < Detector::kDepth && t < 0; ++k)
        if (!pending_[k]->busy) t = k;
    if (t < 0)
        throw Error(ErrorCode::kBadInput,
                    "models: " + std::to_string(Detector::kDepth) + " batches already in flight (collect one first)");
    Pending& p = *pending_[t];
    const std::size_t nv = versions_.size();
    p.serving.clear();
    p.runs.assign(nv, {});
    p.tickets.assign(nv, -1);
    for (std::size_t k = 0; k < frames.size(); ++k) {
        const std::size_t cam = owners[k];
        p.serving.push_back(serving_[cam]);
        for (std::size_t v = 0; v < nv; ++v)
            if (static_cast<int>(v) == serving_[cam] || beside_[cam][v]) p.runs[v].push_back(static_cast<int>(k));
    }
    const auto at = [&](kernels::MemoryLocation where) {
        return std::all_of(frames.begin(), frames.end(), [&](const kernels::ImageView& f) { return f.where == where; });
    };
    const bool host = at(kernels::MemoryLocation::kHost),
               device = !frames.empty() && at(kernels::MemoryLocation::kDevice);
    last_preprocesses_ = 0;
    std::vector<bool> done(nv, false);
    std::vector<Job> jobs;
    try {
        std::size_t groups = 0;
        for (std::size_t v = 0; v < nv; ++v) {
            if (done[v] || p.runs[v].empty()) continue;
            const auto& in = versions_[v].detector->spec().preprocess;
            std::vector<std::size_t> group; // the versions reading the same tensor
            for (std::size_t w = v; w < nv; ++w)
                if (!done[w] && !p.runs[w].empty() && same_input(in, versions_[w].detector->spec().preprocess))
                    group.push_back(w);
            for (const std::size_t w : group) done[w] = true;
            if (group.size() == 1 || !(host || device)) { // nothing to share (or a mixed batch): their own preprocess
                for (const std::size_t w : group) jobs.push_back({w, views_of(frames, p.runs[w])});
                last_preprocesses_ += static_cast<int>(group.size());
                continue;
            }
            std::vector<int> all; // the frames any of them runs, in batch order
            for (const std::size_t w : group) all.insert(all.end(), p.runs[w].begin(), p.runs[w].end());
            std::sort(all.begin(), all.end());
            all.erase(std::unique(all.begin(), all.end()), all.end());
            if (shared_.size() <= groups) shared_.resize(groups + 1);
            prepare_group(p, frames, group, all, device, groups++, jobs);
        }
        run_jobs(p, jobs);
    } catch (...) { // what was submitted is collected and dropped: the detectors' slots are free again
        for (std::size_t v = 0; v < nv; ++v)
            if (p.tickets[v] >= 0) try {
                    versions_[v].detector->collect(p.tickets[v]);
                } catch (...) { // the first error is the one to report
                }
        throw;
    }
    p.busy = true;
    return t;
}

std::vector<kernels::ImageView> ModelSet::views_of(std::span<const kernels::ImageView> frames,
                                                   const std::vector<int>& idx) {
    std::vector<kernels::ImageView> views;
    for (const int k : idx) views.push_back(frames[k]);
    return views;
}

void ModelSet::prepare_group(Pending& p, std::span<const kernels::ImageView> frames,
                             const std::vector<std::size_t>& group, const std::vector<int>& all, bool device,
                             std::size_t g, std::vector<Job>& jobs) {
    HostTensor& shared = shared_[g];
    const auto& in = versions_[group.front()].detector->spec().preprocess;
    const std::size_t per = 3ull * in.input_width * in.input_height, bytes = kernels::preprocess_frame_bytes(in);
    shared.resize(per, all.size());
    if (device) { // NVDEC frames: one CUDA preprocess into the batch's own buffer, complete when it returns
        if (!p.stream) p.stream = std::make_unique<kernels::Stream>();
        if (p.d_tensors.size() <= g) p.d_tensors.resize(g + 1);
        p.d_tensors[g].reserve(bytes * all.size());
        p.d_work.reserve(kernels::preprocess_cuda_workspace_bytes(all.size()));
        kernels::preprocess_cuda(views_of(frames, all), in, p.d_tensors[g].data(), shared.lbs.data(),
                                 shared.luma.data(), p.d_work.data(), p.stream->get());
    } else {
        kernels::preprocess_cpu(views_of(frames, all), in, shared.tensor.data(), shared.lbs.data(), shared.luma.data());
    }
    ++last_preprocesses_;
    std::vector<int> row(frames.size(), -1); // frame -> its row in the shared tensor
    for (std::size_t r = 0; r < all.size(); ++r) row[all[r]] = static_cast<int>(r);
    bool on_host = !device; // the device tensor copied to host memory once, for the engines that read it there
    for (const std::size_t w : group) {
        const auto& idx = p.runs[w];
        const bool reads_device = device && versions_[w].detector->engine().reads(kernels::MemoryLocation::kDevice);
        if (!reads_device && !on_host) {
            kernels::copy_device_to_host_async(shared.tensor.data(), p.d_tensors[g].data(), bytes * all.size(),
                                               p.stream->get());
            p.stream->synchronize();
            on_host = true;
        }
        Job job{w, views_of(frames, idx), true, {shared.tensor, shared.lbs, shared.luma}};
        if (reads_device)
            job.input = {{static_cast<const float*>(p.d_tensors[g].data()), per * all.size()},
                         shared.lbs,
                         shared.luma,
                         kernels::MemoryLocation::kDevice};
        if (idx.size() < all.size()) // its rows, gathered: a copy, not a second preprocess
            job.input = gather(p, w, g, row, reads_device, per, bytes);
        jobs.push_back(std::move(job));
    }
}

PreparedInput ModelSet::gather(Pending& p, std::size_t w, std::size_t g, const std::vector<int>& row, bool reads_device,
                               std::size_t per, std::size_t bytes) {
    const auto& idx = p.runs[w];
    const HostTensor& shared = shared_[g];
    if (gathered_.size() < versions_.size()) gathered_.resize(versions_.size());
    HostTensor& own = gathered_[w];
    own.resize(reads_device ? 0 : per, idx.size());
    for (std::size_t j = 0; j < idx.size(); ++j) {
        const auto r = static_cast<std::size_t>(row[idx[j]]);
        own.lbs[j] = shared.lbs[r], own.luma[j] = shared.luma[r];
        if (!reads_device)
            std::memcpy(own.tensor.data() + j * per, shared.tensor.data() + r * per, per * sizeof(float));
    }
    if (!reads_device) return {own.tensor, own.lbs, own.luma};
    kernels::DeviceBuffer& to = p.d_gathered[w];
    to.reserve(bytes * idx.size());
    for (std::size_t j = 0; j < idx.size(); ++j)
        kernels::copy_device_to_device_async(static_cast<std::uint8_t*>(to.data()) + j * bytes,
                                             static_cast<const std::uint8_t*>(p.d_tensors[g].data()) +
                                                 static_cast<std::size_t>(row[idx[j]]) * bytes,
                                             bytes, p.stream->get());
    p.stream->synchronize();
    return {
        {static_cast<const float*>(to.data()), per * idx.size()}, own.lbs, own.luma, kernels::MemoryLocation::kDevice};
}

void ModelSet::run_jobs(Pending& p, std::vector<Job>& jobs) {
    const auto submit = [this](Job& j) {
        Detector& d = *versions_[j.version].detector;
        return j.prepared ? d.submit(j.views, j.input) : d.submit(j.views);
    };
    if (jobs.size() == 1 || !side_by_side_) {
        for (Job& j : jobs) p.tickets[j.version] = submit(j);
        return;
    }
    // several versions: side by side, each on a thread of its own (the engines' streams stay busy instead of each
    // waiting for the others' passes); every one is waited for, and the first failure reported
    std::vector<std::future<Detector::Ticket>> others;
    for (std::size_t k = 1; k < jobs.size(); ++k)
        others.push_back(std::async(std::launch::async, submit, std::ref(jobs[k])));
    std::exception_ptr failure;
    try {
        p.tickets[jobs[0].version] = submit(jobs[0]);
    } catch (...) {
        failure = std::current_exception();
    }
    for (std::size_t k = 1; k < jobs.size(); ++k) try {
            p.tickets[jobs[k].version] = others[k - 1].get();
        } catch (...) {
            if (!failure) failure = std::current_exception();
        }
    if (failure) std::rethrow_exception(failure);
}

bool ModelSet::running(Ticket ticket) const {
    if (ticket < 0 || ticket >= Detector::kDepth || !pending_[ticket]->busy) return false;
    const Pending& p = *pending_[ticket];
    for (std::size_t v = 0; v < p.tickets.size(); ++v)
        if (p.tickets[v] >= 0 && versions_[v].detector->running(p.tickets[v])) return true;
    return false;
}

std::vector<VersionResults> ModelSet::collect(Ticket ticket) {
    if (ticket < 0 || ticket >= Detector::kDepth || !pending_[ticket]->busy)
        throw Error(ErrorCode::kBadInput, "models: collect() of a ticket not in flight");
    Pending& p = *pending_[ticket];
    p.busy = false;
    std::vector<VersionResults> out(p.serving.size());
    for (std::size_t k = 0; k < out.size(); ++k) out[k].serving = p.serving[k];
    std::exception_ptr failure;
    for (std::size_t v = 0; v < p.tickets.size(); ++v) { // every detector's slot is collected, whatever fails
        if (p.tickets[v] < 0) continue;
        try {
            auto results = versions_[v].detector->collect(p.tickets[v]);
            for (std::size_t j = 0; j < results.size(); ++j) {
                VersionResults& r = out[p.runs[v][j]];
                if (r.serving == static_cast<int>(v))
                    r.result = std::move(results[j]);
                else
                    r.beside.emplace_back(static_cast<int>(v), std::move(results[j]));
            }
        } catch (...) {
            if (!failure) failure = std::current_exception();
        }
    }
    if (failure) std::rethrow_exception(failure);
    return out;
}

} // namespace sightline::pipeline
