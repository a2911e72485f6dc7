#pragma once
// An engine module: a shared object of its own (libsightline_libtorch.so, libsightline_openvino.so) opened at run
// time the first time its engine is asked for, so a process that never runs that engine never loads its runtime.
#include <filesystem>
#include <string>
#include <vector>

namespace sightline::pipeline::detail {

class EngineModule {
  public:
    /// Opens the module: $`env_var` when set, else `built` (the build's own, its path compiled in) when it exists,
    /// else a file of built's name beside the running executable. Looks up `symbols`; error() says what failed.
    EngineModule(const char* env_var, const std::filesystem::path& built, const std::vector<const char*>& symbols);
    EngineModule(const EngineModule&) = delete;
    /// Empty when the module opened with every symbol; else the path and why.
    const std::string& error() const { return error_; }
    /// The address of a symbol named to the constructor (null where error() is not empty).
    template <class F> F get(const char* name) const { return reinterpret_cast<F>(lookup(name)); }

  private:
    void* lookup(const char* name) const;
    void* handle_ = nullptr;
    std::string error_;
};

} // namespace sightline::pipeline::detail
