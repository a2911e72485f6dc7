#include <cuda_runtime.h>

#include <algorithm>
#include <mutex>
#include <string>

#include "cuda/check.hpp"
#include "sightline/error.hpp"
#include "sightline/kernels/device.hpp"

namespace sightline::kernels::detail {

DeviceInfo probe_cuda() {
    DeviceInfo d;
    d.cuda_built = true;
    int n = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess || n == 0) {
        d.reason = err != cudaSuccess ? std::string("CUDA runtime: ") + cudaGetErrorString(err) : "no CUDA device";
        cudaGetLastError(); // clear the sticky error so later calls start clean
        return d;
    }
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) d.name = prop.name;
    d.device_count = n;
    return d;
}

} // namespace sightline::kernels::detail

namespace sightline::kernels {

namespace detail {
void* device_alloc(std::size_t bytes) {
    void* p = nullptr;
    SL_CUDA_CHECK(cudaMalloc(&p, bytes));
    return p;
}
void device_free(void* p) noexcept {
    if (p) cudaFree(p);
}
void* pinned_alloc(std::size_t bytes) {
    void* p = nullptr;
    SL_CUDA_CHECK(cudaMallocHost(&p, bytes));
    return p;
}
void pinned_free(void* p) noexcept {
    if (p) cudaFreeHost(p);
}
} // namespace detail

void* cuda_primary_context() {
    static void* ctx = nullptr;
    static std::once_flag once;
    std::call_once(once, [] {
        if (!cuda_available()) throw Error(ErrorCode::kUnsupported, "CUDA primary context: " + device_info().reason);
        SL_CUDA_CHECK(cudaSetDevice(0));
        SL_CUDA_CHECK(cudaFree(nullptr)); // initialises device 0's primary context and makes it current here
        // the driver's cuCtxGetCurrent through the runtime: linking libcuda would stop the binary from starting on
        // a machine without the driver
        void* fn = nullptr;
        cudaDriverEntryPointQueryResult found{};
        SL_CUDA_CHECK(cudaGetDriverEntryPointByVersion("cuCtxGetCurrent", &fn, 12000, cudaEnableDefault, &found));
        if (found != cudaDriverEntryPointSuccess || !fn)
            throw Error(ErrorCode::kCuda, "CUDA primary context: the driver has no cuCtxGetCurrent");
        void* current = nullptr;
        const int rc = reinterpret_cast<int (*)(void**)>(fn)(&current);
        if (rc != 0 || !current)
            throw Error(ErrorCode::kCuda,
                        "CUDA primary context: cuCtxGetCurrent failed (CUresult " + std::to_string(rc) + ")");
        ctx = current;
    });
    if (!ctx) throw Error(ErrorCode::kCuda, "CUDA primary context: its initialisation failed earlier");
    return ctx;
}

Stream::Stream() {
    cudaStream_t s = nullptr;
    SL_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    s_ = s;
}
Stream::~Stream() {
    if (s_) cudaStreamDestroy(static_cast<cudaStream_t>(s_));
}
void Stream::synchronize() const {
    SL_CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(s_)));
}

GraphCache::~GraphCache() {
    if (exec_) cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec_));
}
void GraphCache::run(std::initializer_list<std::uint64_t> key, StreamRef stream_ref,
                     const std::function<void(StreamRef)>& record) {
    auto stream = static_cast<cudaStream_t>(stream_ref);
    auto exec = static_cast<cudaGraphExec_t>(exec_);
    if (!exec || !std::equal(key.begin(), key.end(), key_.begin(), key_.end())) {
        // capture in this thread's mode: other threads (the decoders) may go on calling CUDA meanwhile
        SL_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
        cudaGraph_t graph = nullptr;
        try {
            record(stream_ref);
        } catch (...) {
            cudaStreamEndCapture(stream, &graph); // leave the stream usable
            if (graph) cudaGraphDestroy(graph);
            (void)cudaGetLastError(); // what the failed capture left is handled here: no later launch reports it
            throw;
        }
        SL_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
        cudaGraphExecUpdateResultInfo info{};
        if (exec && cudaGraphExecUpdate(exec, graph, &info) != cudaSuccess) {
            cudaGetLastError(); // a topology change: not an error, instantiate anew below
            cudaGraphExecDestroy(exec);
            exec = nullptr;
        }
        if (!exec) {
            const cudaError_t err = cudaGraphInstantiate(&exec, graph, 0);
            cudaGraphDestroy(graph);
            SL_CUDA_CHECK(err);
        } else {
            cudaGraphDestroy(graph);
        }
        exec_ = exec;
        key_.assign(key.begin(), key.end());
        ++captures_;
    }
    SL_CUDA_CHECK(cudaGraphLaunch(exec, stream));
}

void copy_device_to_host_async(void* host, const void* device, std::size_t bytes, StreamRef stream) {
    if (bytes)
        SL_CUDA_CHECK(cudaMemcpyAsync(host, device, bytes, cudaMemcpyDeviceToHost, static_cast<cudaStream_t>(stream)));
}

void copy_host_to_device_async(void* device, const void* host, std::size_t bytes, StreamRef stream) {
    if (bytes)
        SL_CUDA_CHECK(cudaMemcpyAsync(device, host, bytes, cudaMemcpyHostToDevice, static_cast<cudaStream_t>(stream)));
}

void copy_device_to_device_async(void* to, const void* from, std::size_t bytes, StreamRef stream) {
    if (bytes)
        SL_CUDA_CHECK(cudaMemcpyAsync(to, from, bytes, cudaMemcpyDeviceToDevice, static_cast<cudaStream_t>(stream)));
}

void copy_device_to_host(void* host, const void* device, std::size_t bytes) {
    if (bytes) SL_CUDA_CHECK(cudaMemcpy(host, device, bytes, cudaMemcpyDeviceToHost));
}
void copy_host_to_device(void* device, const void* host, std::size_t bytes) {
    if (bytes) SL_CUDA_CHECK(cudaMemcpy(device, host, bytes, cudaMemcpyHostToDevice));
}

} // namespace sightline::kernels
