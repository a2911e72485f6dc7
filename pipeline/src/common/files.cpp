#include "sightline/pipeline/files.hpp"

#include <fstream>

#include "sightline/error.hpp"

namespace sightline::pipeline {

void write_atomically(const std::filesystem::path& path, const std::string& text) {
    auto tmp = path;
    tmp += ".partial";
    {
        std::ofstream f(tmp, std::ios::binary);
        if (!f) throw Error(ErrorCode::kIo, tmp.string() + ": cannot open for writing");
        f.write(text.data(), static_cast<std::streamsize>(text.size()));
        f.flush();
        if (!f) {
            f.close();
            std::filesystem::remove(tmp);
            throw Error(ErrorCode::kIo, tmp.string() + ": write failed (disk full?)");
        }
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) throw Error(ErrorCode::kIo, path.string() + ": cannot rename into place: " + ec.message());
}

} // namespace sightline::pipeline
