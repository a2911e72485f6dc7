"""The layout rules of STYLE.md that drift when nobody looks (issue 25, item 14), checked on the source tree:
every file in tools/sightline at most 150 lines and none of its functions over 60 (a subcommand parses options,
calls the library, prints); Runner::run at most 80 lines; the stages depend on frame_output.hpp, not on the runner;
prometheus-cpp is linked by the sinks' library only.

Functions are measured by lizard (PyPI), the C++ function counter many CI setups use.

Usage: python test_rooms.py SOURCE_DIR
"""
import pathlib
import re
import sys

import lizard

root = pathlib.Path(sys.argv[1])
problems = []

for f in sorted((root / "tools/sightline").glob("*.[ch]pp")):
    n = len(f.read_text().splitlines())
    if n > 150:
        problems.append(f"{f.relative_to(root)}: {n} lines (at most 150)")
    for fn in lizard.analyze_file(str(f)).function_list:
        if fn.length > 60:
            problems.append(f"{f.relative_to(root)}:{fn.start_line}: {fn.long_name} is {fn.length} lines (at most 60)")

runner = lizard.analyze_file(str(root / "pipeline/src/line/runner.cpp"))
runs = [fn for fn in runner.function_list if fn.name.endswith("Runner::run")]
if not runs:
    problems.append("pipeline/src/line/runner.cpp: Runner::run not found")
for fn in runs:
    if fn.length > 80:
        problems.append(f"pipeline/src/line/runner.cpp:{fn.start_line}: Runner::run is {fn.length} lines (at most 80)")

# the stages (and what the sinks read) take the record from its own header, not from the runner
for rel in ["pipeline/src/flags", "pipeline/src/source", "pipeline/src/curate", "pipeline/src/drift",
            "pipeline/include/sightline/pipeline/flags.hpp", "pipeline/include/sightline/pipeline/curate.hpp",
            "pipeline/include/sightline/pipeline/stats.hpp", "pipeline/include/sightline/pipeline/frame_output.hpp"]:
    p = root / rel
    for f in ([p] if p.is_file() else sorted(p.glob("*.[ch]pp"))):
        if '#include "sightline/pipeline/runner.hpp"' in f.read_text():
            problems.append(f"{f.relative_to(root)} includes runner.hpp (the record is in frame_output.hpp)")

# prometheus-cpp where the metrics live, nowhere else
for cm in root.glob("**/CMakeLists.txt"):
    if "build" in cm.relative_to(root).parts[0] or cm.relative_to(root).parts[0].startswith("."):
        continue
    text = cm.read_text()
    for m in re.finditer(r"target_link_libraries\((\S+)[^)]*prometheus-cpp::", text):
        if m.group(1) != "sightline_sinks":
            problems.append(f"{cm.relative_to(root)}: {m.group(1)} links prometheus-cpp (only sightline_sinks may)")
for f in (root / "tools").rglob("*.[ch]pp"):
    if "#include <prometheus/" in f.read_text():
        problems.append(f"{f.relative_to(root)} includes prometheus-cpp (the metrics live in pipeline/src/sinks)")

for p in problems:
    print(p)
print(f"rooms: {len(problems)} problem(s)")
sys.exit(1 if problems else 0)
