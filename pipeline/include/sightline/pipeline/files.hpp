#pragma once
/// Writing output files so that a reader never sees half of one.
#include <filesystem>
#include <string>

namespace sightline::pipeline {

/// Writes `text` to `path` + ".partial", then renames it into place. Throws Error(kIo) naming the file when it
/// cannot be opened, written (disk full) or renamed; a failed write leaves no partial file behind.
void write_atomically(const std::filesystem::path& path, const std::string& text);

} // namespace sightline::pipeline
