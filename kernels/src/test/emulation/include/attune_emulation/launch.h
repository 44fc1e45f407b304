// What the launcher hands the runtime: one kernel launch, and the buffers it may touch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "registry.h"

namespace attune_emu {

struct LaunchRequest {
    std::string kernel;
    unsigned grid[3] = {1, 1, 1};
    int block = 0;
    size_t shared_bytes = 0;
    std::vector<Arg> args;
};

// Runs every block of the launch, one after another (blockIdx.x fastest); warps are visited in
// an order drawn from `seed`. Ends the process (status 3) on the first kernel error.
void launch(const LaunchRequest& request, uint64_t seed);

// A device-memory stand-in of `bytes` bytes, filled with poison (0xFF), between guard pages.
unsigned char* allocate_buffer(size_t bytes);
// Fails if a kernel wrote into the poison slack behind any buffer's end.
void check_buffers();

std::vector<std::string> kernel_names();

// Where cp.async copies land: at issue (exposes a prefetch overwriting a stage other warps still
// read) or, the default, at the cp.async.wait_group that retires their group (exposes a read
// before the wait). Hardware lands them anywhere in between.
void set_cp_async_landing(bool at_issue);

}  // namespace attune_emu
