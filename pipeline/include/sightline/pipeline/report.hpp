#pragma once
/// The evaluation's self-contained HTML report: one file, inline SVG and CSS, nothing fetched, opens offline.
#include <string>

namespace sightline::pipeline {

/// Renders the JSON `sightline eval` writes (schema sightline.eval/1, docs/metrics.md) as HTML: COCO stats,
/// per-class table, precision-recall curves per class, confusion-matrix heat map, reliability diagram, slice table,
/// comparison table and red flags, each where the JSON has it. Throws Error(kBadInput) on JSON it cannot read.
std::string render_eval_html(const std::string& eval_json);

} // namespace sightline::pipeline
