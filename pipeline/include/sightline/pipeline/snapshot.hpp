#pragma once
/// Dataset versions (issue 27, docs/collector.md "Snapshots"): `collect snapshot` freezes a dataset's labeled
/// samples as a folder that is never changed: DIR/annotations.json (COCO, the labels), DIR/images/ (copies) and
/// DIR/manifest.json (the SHA-256 of every image and of the annotations, each sample's id and label source, the
/// parent snapshot, and a content hash over all of it that names this version).
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace sightline::pipeline {

struct SnapshotSummary {
    std::size_t images = 0, boxes = 0;
    std::string hash;                 ///< "sha256:<hex>": the version's name (manifest.json "hash")
    std::string parent_hash;          ///< empty: the dataset's first
    std::vector<std::string> classes; ///< the categories, in id order (a parent's first, so ids stay stable)
};

/// Writes the snapshot of `dataset`'s labeled samples to `out` (which must not exist, or be an empty folder:
/// Error(kBadInput) otherwise: a snapshot is never changed), written beside it and renamed into place, its files
/// read-only. The parent is `parent` (a snapshot folder) when given, else the newest snapshot the dataset
/// recorded. Error(kBadInput) when no sample is labeled; the dataset records the new snapshot (kLabel mode:
/// beside a running collector).
SnapshotSummary write_snapshot(const std::filesystem::path& dataset, const std::filesystem::path& out,
                               const std::filesystem::path& parent = {});

/// A parent snapshot's version name ("sha256:<hex>") from its manifest.json text; Error(kBadInput) naming `name`
/// when the text is not JSON or has no such "hash".
std::string snapshot_manifest_hash(std::string_view manifest, const std::string& name);

/// A parent snapshot's categories in id order, from its annotations.json text; Error(kBadInput) naming `name`
/// when they cannot be read.
std::vector<std::string> snapshot_classes(std::string_view annotations, const std::string& name);

/// The SHA-256 of `bytes`, as "sha256:" and 64 hex digits.
std::string sha256_of(std::string_view bytes);

} // namespace sightline::pipeline
