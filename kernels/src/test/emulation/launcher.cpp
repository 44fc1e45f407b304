// attune-emu: runs kernels of one module (linked in by its registration file) on the CPU.
//
//   <module-emulator> --list            the module's kernel names, one a line
//   <module-emulator> REQUEST           runs the launches of a request file
//
// A request is text, one directive a line, tokens separated by spaces:
//
//   seed 7                              warp order seed (default 1)
//   cp_async issue|wait                 where cp.async copies land (default wait; launch.h)
//   buffer in|out|inout BYTES PATH      declares buffer #0, #1, ... in order. in and inout read
//                                       their BYTES from PATH; out starts as poison (0xFF bytes:
//                                       NaN in fp32, fp16 and bf16). out and inout are written
//                                       back to PATH after the last launch.
//   launch KERNEL GX GY GZ BLOCK SHARED starts a launch; its arguments follow, in order:
//   arg ptr N | arg ptr N+BYTES | arg ptr null | arg i32 V | arg u32 V | arg i64 V | arg f32 BITS(hex)
//   end                                 ends the launch (launches run in file order)
//
// Exit status: 0 when every launch ran, 2 for a malformed request, 3 for a kernel error (the
// message, on stderr, names the kernel, block and thread).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "attune_emulation/launch.h"

namespace {

[[noreturn]] void malformed(int line, const std::string& why) {
    std::fprintf(stderr, "malformed request, line %d: %s\n", line, why.c_str());
    std::exit(2);
}

struct HostBuffer {
    std::string mode;
    size_t bytes;
    std::string path;
    unsigned char* data;
};

}  // namespace

int main(int argc, char** argv) {
    if (argc == 2 && std::string(argv[1]) == "--list") {
        for (const std::string& name : attune_emu::kernel_names()) std::printf("%s\n", name.c_str());
        return 0;
    }
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s --list | REQUEST\n", argv[0]);
        return 2;
    }
    std::ifstream in(argv[1]);
    if (!in) malformed(0, std::string("cannot read ") + argv[1]);

    uint64_t seed = 1;
    std::vector<HostBuffer> buffers;
    std::vector<attune_emu::LaunchRequest> launches;
    bool in_launch = false;
    std::string text;
    int line = 0;
    while (std::getline(in, text)) {
        ++line;
        std::istringstream tokens(text);
        std::string word;
        if (!(tokens >> word) || word[0] == '#') continue;
        if (word == "seed") {
            if (!(tokens >> seed)) malformed(line, "seed needs a number");
        } else if (word == "cp_async") {
            std::string landing;
            if (!(tokens >> landing) || (landing != "issue" && landing != "wait")) {
                malformed(line, "cp_async issue|wait");
            }
            attune_emu::set_cp_async_landing(landing == "issue");
        } else if (word == "buffer") {
            HostBuffer b;
            if (!(tokens >> b.mode >> b.bytes >> b.path) || (b.mode != "in" && b.mode != "out" && b.mode != "inout")) {
                malformed(line, "buffer in|out|inout BYTES PATH");
            }
            b.data = attune_emu::allocate_buffer(b.bytes);
            if (b.mode != "out") {
                std::ifstream file(b.path, std::ios::binary);
                if (!file.read(reinterpret_cast<char*>(b.data), static_cast<std::streamsize>(b.bytes))) {
                    malformed(line, "cannot read " + std::to_string(b.bytes) + " bytes from " + b.path);
                }
            }
            buffers.push_back(b);
        } else if (word == "launch") {
            attune_emu::LaunchRequest r;
            if (in_launch || !(tokens >> r.kernel >> r.grid[0] >> r.grid[1] >> r.grid[2] >> r.block >> r.shared_bytes)) {
                malformed(line, "launch KERNEL GX GY GZ BLOCK SHARED, after the previous launch's end");
            }
            launches.push_back(r);
            in_launch = true;
        } else if (word == "arg") {
            if (!in_launch) malformed(line, "arg outside a launch");
            std::string kind;
            std::string value;
            if (!(tokens >> kind >> value)) malformed(line, "arg KIND VALUE");
            attune_emu::Arg a{};
            if (kind == "ptr") {
                a.kind = attune_emu::Arg::Kind::Pointer;
                if (value != "null") {  // N or N+BYTES: buffer N, at a byte offset
                    const size_t plus = value.find('+');
                    const size_t index = std::stoul(value.substr(0, plus));
                    const size_t offset = plus == std::string::npos ? 0 : std::stoul(value.substr(plus + 1));
                    if (index >= buffers.size() || offset > buffers[index].bytes) {
                        malformed(line, "no buffer #" + value);
                    }
                    a.pointer = buffers[index].data + offset;
                }
            } else if (kind == "i32") {
                a.kind = attune_emu::Arg::Kind::I32;
                a.integer = std::stoll(value);
            } else if (kind == "u32") {
                a.kind = attune_emu::Arg::Kind::U32;
                a.integer = std::stoll(value);
            } else if (kind == "i64") {
                a.kind = attune_emu::Arg::Kind::I64;
                a.integer = std::stoll(value);
            } else if (kind == "f32") {
                a.kind = attune_emu::Arg::Kind::F32;
                const uint32_t bits = static_cast<uint32_t>(std::stoul(value, nullptr, 16));
                std::memcpy(&a.real, &bits, 4);
            } else {
                malformed(line, "unknown argument kind " + kind);
            }
            launches.back().args.push_back(a);
        } else if (word == "end") {
            if (!in_launch) malformed(line, "end without a launch");
            in_launch = false;
        } else {
            malformed(line, "unknown directive " + word);
        }
    }
    if (in_launch) malformed(line, "the last launch has no end");

    for (const attune_emu::LaunchRequest& r : launches) {
        attune_emu::launch(r, seed);
    }
    attune_emu::check_buffers();
    for (const HostBuffer& b : buffers) {
        if (b.mode == "in") continue;
        std::ofstream file(b.path, std::ios::binary | std::ios::trunc);
        if (!file.write(reinterpret_cast<const char*>(b.data), static_cast<std::streamsize>(b.bytes))) {
            std::fprintf(stderr, "cannot write %s\n", b.path.c_str());
            return 2;
        }
    }
    return 0;
}
