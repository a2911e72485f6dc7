// sightline-eval: `sightline eval` alone, linking the evaluation library only (run in its place by `sightline`).
#include <malloc.h>

#include "cli.hpp"

int main(int argc, char** argv) {
    // Buffers of 1 MiB and more come from mmap and go back to the system when freed, so the peak is the largest set
    // alive at once (parsing, then matching, then accumulating), not their union left in the heap: 13 MB less on
    // the COCO-val-sized pair, for 5-10% more time (bench/README.md, issue 17).
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    return sightline::tools::run_cli(argc, argv, {{"eval", sightline::tools::add_eval}});
}
