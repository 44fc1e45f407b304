// The emulator's runtime: fibers, the block scheduler, warp-collective instructions, shared and
// global memory checks.
//
// A block runs on one OS thread. Each CUDA thread is a fiber (ucontext) that runs until it reaches
// a scheduling point — __syncthreads, a warp collective (__syncwarp, shuffles, ldmatrix, mma) — or
// exits. When no fiber can run, the scheduler completes every warp whose 32 lanes wait at the same
// collective (computing it from all lanes' operands, as the hardware does), and releases the block
// barrier once every thread waits there (run_block says in which order). Anything else is a kernel error and is reported: a warp
// split between different collectives, a barrier some threads reach after others exited, a
// collective missing exited lanes.
//
// Between two block barriers, warps run one after another in a seeded random order, each through
// the whole interval, so a missing barrier between one warp's shared-memory writes and another
// warp's reads shows up (as stale data or poison: 0xFF bytes, NaN in every float format) for some
// seeds. This exposes ordering bugs at barrier granularity; it cannot model real concurrency
// inside an interval (hardware warps interleave instruction by instruction).
#include "attune_emulation/runtime.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>
#include <vector_types.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "attune_emulation/registry.h"
#include "attune_emulation/launch.h"

// CUDA's built-in variables, declared by the prelude; the scheduler sets threadIdx on every switch.
uint3 threadIdx;
uint3 blockIdx;
dim3 blockDim;
dim3 gridDim;

namespace attune_emu {
namespace {

constexpr size_t kStackBytes = 256 * 1024;
constexpr unsigned char kPoison = 0xFF;  // NaN in fp32, fp16 and bf16; -1 as an integer

enum class Op { None, SyncWarp, Shuffle, Ldmatrix, Mma };

struct Collective {
    Op op = Op::None;
    unsigned mask = 0;
    // Shuffle
    ShuffleKind shuffle_kind = ShuffleKind::Xor;
    int lane_arg = 0;
    uint32_t word = 0;
    // Ldmatrix
    uint32_t address = 0;
    bool trans = false;
    // Mma
    MmaKind mma_kind = MmaKind::F16_M16N8K16;
    uint32_t a[4] = {};
    uint32_t b[2] = {};
    float c[4] = {};
    // Results
    uint32_t out[4] = {};
};

struct PendingCopy {
    uint32_t dst;
    const void* src;
    int src_bytes;
    long group;
};

enum class State { Ready, AtBarrier, AtCollective, Done };

struct Fiber {
    ucontext_t context{};
    void* stack = nullptr;
    State state = State::Ready;
    int tid = 0;
    Collective collective;
    std::vector<PendingCopy> pending;
    long committed = 0;  // groups committed so far; the open group's number
};

struct Buffer {
    unsigned char* data;
    size_t bytes;
};

std::map<std::string, Binder>& kernels() {
    static std::map<std::string, Binder> table;
    return table;
}

unsigned char* g_shared = nullptr;  // the module's dynamic shared memory (capacity bytes)
size_t g_shared_bytes = 0;          // what the current launch asked for
std::string g_kernel;
std::vector<Fiber> g_fibers;
Fiber* g_current = nullptr;
ucontext_t g_scheduler;
std::function<void()> g_body;
std::vector<Buffer> g_buffers;
bool g_in_block = false;
bool g_cp_async_at_issue = false;  // where cp.async copies land: at issue, or at the retiring wait

const char* op_name(const Collective& c) {
    switch (c.op) {
        case Op::None: return "none";
        case Op::SyncWarp: return "__syncwarp";
        case Op::Shuffle: return "shuffle";
        case Op::Ldmatrix: return c.trans ? "ldmatrix.x4.trans" : "ldmatrix.x4";
        case Op::Mma: return "mma";
    }
    return "?";
}

// Switches from the running fiber back to the scheduler; returns when the scheduler resumes it.
void yield(State state) {
    Fiber* self = g_current;
    self->state = state;
    swapcontext(&self->context, &g_scheduler);
}

Collective& arrive(Collective c) {
    if (!g_in_block) {
        fail("a warp collective outside a kernel launch");
    }
    g_current->collective = c;
    yield(State::AtCollective);
    return g_current->collective;
}

void land(Fiber& f, long below_group) {
    auto it = std::stable_partition(f.pending.begin(), f.pending.end(),
                                    [&](const PendingCopy& p) { return p.group >= below_group; });
    for (auto copy = it; copy != f.pending.end(); ++copy) {
        unsigned char* dst = g_shared + copy->dst;
        if (copy->src_bytes == 16) {
            std::memcpy(dst, copy->src, 16);
        } else {
            std::memset(dst, 0, 16);
            if (copy->src_bytes > 0) {
                std::memcpy(dst, copy->src, static_cast<size_t>(copy->src_bytes));
            }
        }
    }
    f.pending.erase(it, f.pending.end());
}

void fiber_main() {
    g_body();
    Fiber* self = g_current;
    land(*self, self->committed + 1);  // copies still in flight land before the block ends
    self->state = State::Done;
    // uc_link returns to the scheduler.
}

float element(uint32_t word, int half, MmaKind kind) {
    const unsigned short bits = static_cast<unsigned short>(half ? word >> 16 : word & 0xffffu);
    if (kind == MmaKind::BF16_M16N8K16) {
        return __bfloat162float(__ushort_as_bfloat16(bits));
    }
    return __half2float(__ushort_as_half(bits));
}

// The warp's 32 lanes all wait at the same collective: compute it for every lane.
void execute(Fiber* lanes, int warp) {
    const Collective& first = lanes[0].collective;
    for (int l = 1; l < 32; ++l) {
        const Collective& c = lanes[l].collective;
        if (c.op != first.op || (c.op == Op::Shuffle && c.shuffle_kind != first.shuffle_kind) ||
            (c.op == Op::Ldmatrix && c.trans != first.trans) || (c.op == Op::Mma && c.mma_kind != first.mma_kind)) {
            g_current = &lanes[l];
            fail("warp %d diverged: lane 0 is at %s, lane %d at %s", warp, op_name(first), l, op_name(c));
        }
    }
    switch (first.op) {
        case Op::None:
        case Op::SyncWarp:
            break;
        case Op::Shuffle: {
            uint32_t words[32];
            for (int l = 0; l < 32; ++l) words[l] = lanes[l].collective.word;
            for (int l = 0; l < 32; ++l) {
                Collective& c = lanes[l].collective;
                int src = l;
                switch (c.shuffle_kind) {
                    case ShuffleKind::Xor: src = l ^ (c.lane_arg & 31); break;
                    case ShuffleKind::Index: src = c.lane_arg & 31; break;
                    case ShuffleKind::Down: src = l + c.lane_arg < 32 ? l + c.lane_arg : l; break;
                }
                c.out[0] = words[src];
            }
            break;
        }
        case Op::Ldmatrix: {
            // Lane 8i + r gives the address of row r of matrix i (16 contiguous bytes).
            const unsigned char* rows[32];
            for (int l = 0; l < 32; ++l) {
                g_current = &lanes[l];
                rows[l] = shared_bytes(lanes[l].collective.address, 16, 16, op_name(first));
            }
            for (int l = 0; l < 32; ++l) {
                const int g = l / 4;
                const int t = l % 4;
                for (int i = 0; i < 4; ++i) {
                    uint16_t lo;
                    uint16_t hi;
                    if (!first.trans) {  // M_i[g][2t], M_i[g][2t + 1]
                        std::memcpy(&lo, rows[8 * i + g] + 4 * t, 2);
                        std::memcpy(&hi, rows[8 * i + g] + 4 * t + 2, 2);
                    } else {  // M_i[2t][g], M_i[2t + 1][g]
                        std::memcpy(&lo, rows[8 * i + 2 * t] + 2 * g, 2);
                        std::memcpy(&hi, rows[8 * i + 2 * t + 1] + 2 * g, 2);
                    }
                    lanes[l].collective.out[i] = static_cast<uint32_t>(lo) | (static_cast<uint32_t>(hi) << 16);
                }
            }
            break;
        }
        case Op::Mma: {
            const MmaKind kind = first.mma_kind;
            const int kdim = kind == MmaKind::F16_M16N8K8 ? 8 : 16;
            float A[16][16];
            float B[16][8];
            for (int l = 0; l < 32; ++l) {
                const int g = l / 4;
                const int t = l % 4;
                const Collective& c = lanes[l].collective;
                for (int h = 0; h < 2; ++h) {
                    A[g][2 * t + h] = element(c.a[0], h, kind);
                    A[g + 8][2 * t + h] = element(c.a[1], h, kind);
                    B[2 * t + h][g] = element(c.b[0], h, kind);
                    if (kdim == 16) {
                        A[g][2 * t + 8 + h] = element(c.a[2], h, kind);
                        A[g + 8][2 * t + 8 + h] = element(c.a[3], h, kind);
                        B[2 * t + 8 + h][g] = element(c.b[1], h, kind);
                    }
                }
            }
            for (int l = 0; l < 32; ++l) {
                const int g = l / 4;
                const int t = l % 4;
                Collective& c = lanes[l].collective;
                for (int e = 0; e < 4; ++e) {
                    const int row = g + 8 * (e / 2);
                    const int col = 2 * t + (e % 2);
                    float acc = c.c[e];
                    for (int kk = 0; kk < kdim; ++kk) {
                        acc += A[row][kk] * B[kk][col];
                    }
                    c.c[e] = acc;
                }
            }
            break;
        }
    }
}

const char* state_name(State s) {
    switch (s) {
        case State::Ready: return "ready";
        case State::AtBarrier: return "__syncthreads";
        case State::AtCollective: return "collective";
        case State::Done: return "exited";
    }
    return "?";
}

void run_block(int threads, std::mt19937_64& rng) {
    const int warps = threads / 32;
    for (int t = 0; t < threads; ++t) {
        Fiber& f = g_fibers[t];
        if (f.stack == nullptr) {
            f.stack = std::malloc(kStackBytes);
        }
        getcontext(&f.context);
        f.context.uc_stack.ss_sp = f.stack;
        f.context.uc_stack.ss_size = kStackBytes;
        f.context.uc_link = &g_scheduler;
        makecontext(&f.context, fiber_main, 0);
        f.state = State::Ready;
        f.tid = t;
        f.pending.clear();
        f.committed = 0;
    }
    if (g_shared != nullptr) {
        std::memset(g_shared, kPoison, kDynamicSharedCapacity);
    }
    std::vector<int> order(warps);
    for (int w = 0; w < warps; ++w) order[w] = w;
    g_in_block = true;
    for (;;) {
        // Each warp in turn runs as far as it can on its own: its lanes up to their next
        // scheduling point, its collectives completed as soon as all 32 lanes arrive, until it
        // waits at the block barrier or has exited. A warp thus runs a whole barrier interval
        // ahead of the warps after it in this round's order.
        std::shuffle(order.begin(), order.end(), rng);
        for (int w : order) {
            Fiber* lanes = &g_fibers[w * 32];
            for (;;) {
                for (int l = 0; l < 32; ++l) {
                    Fiber& f = lanes[l];
                    if (f.state == State::Ready) {
                        g_current = &f;
                        threadIdx = uint3{static_cast<unsigned>(f.tid), 0, 0};
                        swapcontext(&g_scheduler, &f.context);
                    }
                }
                int waiting = 0;
                int exited = 0;
                for (int l = 0; l < 32; ++l) {
                    waiting += lanes[l].state == State::AtCollective;
                    exited += lanes[l].state == State::Done;
                }
                if (waiting == 32) {
                    execute(lanes, w);
                    for (int l = 0; l < 32; ++l) lanes[l].state = State::Ready;
                    continue;
                }
                if (waiting > 0 && waiting + exited == 32) {
                    for (int l = 0; l < 32; ++l) {
                        if (lanes[l].state == State::AtCollective) g_current = &lanes[l];
                    }
                    fail("%s in warp %d waits for %d lanes that exited", op_name(g_current->collective), w, exited);
                }
                break;
            }
        }
        int done = 0;
        int at_barrier = 0;
        for (int t = 0; t < threads; ++t) {
            done += g_fibers[t].state == State::Done;
            at_barrier += g_fibers[t].state == State::AtBarrier;
        }
        if (done == threads) {
            break;
        }
        if (at_barrier == threads - done) {
            if (done > 0) {
                g_current = nullptr;
                fail("__syncthreads reached by %d threads while %d threads of the block had exited", at_barrier, done);
            }
            for (int t = 0; t < threads; ++t) g_fibers[t].state = State::Ready;
            continue;
        }
        std::string states;
        for (int w = 0; w < warps; ++w) {
            states += " warp " + std::to_string(w) + ":";
            for (int l = 0; l < 32; l += 8) {
                states += std::string(" ") + state_name(g_fibers[w * 32 + l].state);
            }
        }
        g_current = nullptr;
        fail("deadlock: no warp can proceed (lanes 0, 8, 16, 24 of each warp:%s)", states.c_str());
    }
    g_in_block = false;
    g_current = nullptr;
    if (g_shared != nullptr) {
        for (size_t i = g_shared_bytes; i < kDynamicSharedCapacity; ++i) {
            if (g_shared[i] != kPoison) {
                fail("shared memory written past the launch's %zu dynamic bytes (byte %zu)", g_shared_bytes, i);
            }
        }
    }
}

void on_segfault(int, siginfo_t* info, void*) {
    char message[256];
    const int n = std::snprintf(message, sizeof message,
                                "EMULATION FAILURE in %s: invalid memory access at %p (past a buffer's end or "
                                "before its start) in block (%u, %u, %u) thread %u\n",
                                g_kernel.c_str(), info->si_addr, blockIdx.x, blockIdx.y, blockIdx.z,
                                g_current ? static_cast<unsigned>(g_current->tid) : 0u);
    if (n > 0) {
        [[maybe_unused]] ssize_t w = write(2, message, static_cast<size_t>(n));
    }
    _exit(3);
}

}  // namespace

const char* kind_name(Arg::Kind kind) {
    switch (kind) {
        case Arg::Kind::Pointer: return "a pointer";
        case Arg::Kind::I32: return "an int";
        case Arg::Kind::U32: return "an unsigned int";
        case Arg::Kind::I64: return "a long long";
        case Arg::Kind::F32: return "a float";
    }
    return "?";
}

void fail(const char* format, ...) {
    std::fprintf(stderr, "EMULATION FAILURE in %s", g_kernel.empty() ? "(no kernel)" : g_kernel.c_str());
    if (g_in_block) {
        std::fprintf(stderr, " block (%u, %u, %u)", blockIdx.x, blockIdx.y, blockIdx.z);
        if (g_current != nullptr) {
            std::fprintf(stderr, " thread %d", g_current->tid);
        }
    }
    std::fprintf(stderr, ": ");
    va_list args;
    va_start(args, format);
    std::vfprintf(stderr, format, args);
    va_end(args);
    std::fprintf(stderr, "\n");
    std::fflush(stderr);
    std::_Exit(3);
}

void register_kernel(const char* name, Binder binder) { kernels()[name] = std::move(binder); }

void register_dynamic_shared(unsigned char* base) {
    if (g_shared != nullptr && g_shared != base) {
        fail("a module registers one extern __shared__ array; this one has two");
    }
    g_shared = base;
}

std::vector<std::string> kernel_names() {
    std::vector<std::string> names;
    for (const auto& [name, binder] : kernels()) names.push_back(name);
    return names;
}

void sync_threads() {
    if (!g_in_block) fail("__syncthreads outside a kernel launch");
    yield(State::AtBarrier);
}

void sync_warp(unsigned mask) {
    if (mask != 0xffffffffu) fail("__syncwarp with a partial mask (0x%08x) is not emulated", mask);
    Collective c;
    c.op = Op::SyncWarp;
    arrive(c);
}

void require_full_width(int width) {
    if (width != 32) fail("shuffles of width %d are not emulated", width);
}

uint32_t shuffle(unsigned mask, uint32_t word, int lane_arg, ShuffleKind kind) {
    if (mask != 0xffffffffu) fail("shuffle with a partial mask (0x%08x) is not emulated", mask);
    Collective c;
    c.op = Op::Shuffle;
    c.mask = mask;
    c.shuffle_kind = kind;
    c.lane_arg = lane_arg;
    c.word = word;
    return arrive(c).out[0];
}

void ldmatrix_x4(uint32_t (&r)[4], uint32_t shared_address, bool trans) {
    Collective c;
    c.op = Op::Ldmatrix;
    c.address = shared_address;
    c.trans = trans;
    const Collective& done = arrive(c);
    for (int i = 0; i < 4; ++i) r[i] = done.out[i];
}

void mma(MmaKind kind, float (&c)[4], const uint32_t* a, const uint32_t* b) {
    Collective op;
    op.op = Op::Mma;
    op.mma_kind = kind;
    const int a_regs = kind == MmaKind::F16_M16N8K8 ? 2 : 4;
    const int b_regs = kind == MmaKind::F16_M16N8K8 ? 1 : 2;
    for (int i = 0; i < a_regs; ++i) op.a[i] = a[i];
    for (int i = 0; i < b_regs; ++i) op.b[i] = b[i];
    for (int i = 0; i < 4; ++i) op.c[i] = c[i];
    const Collective& done = arrive(op);
    for (int i = 0; i < 4; ++i) c[i] = done.c[i];
}

uint32_t shared_offset(const void* p) {
    const unsigned char* byte = static_cast<const unsigned char*>(p);
    if (g_shared == nullptr || byte < g_shared || byte > g_shared + g_shared_bytes) {
        fail("address %p is not within the launch's %zu bytes of dynamic shared memory", p, g_shared_bytes);
    }
    return static_cast<uint32_t>(byte - g_shared);
}

unsigned char* shared_bytes(uint32_t address, size_t bytes, size_t align, const char* what) {
    if (g_shared == nullptr || address % align != 0 || address + bytes > g_shared_bytes) {
        fail("%s of %zu bytes at shared address %u: outside the launch's %zu bytes or not %zu-byte aligned", what,
             bytes, address, g_shared_bytes, align);
    }
    return g_shared + address;
}

void cp_async_16(uint32_t dst, const void* src, int src_bytes) {
    if (!g_in_block) fail("cp.async outside a kernel launch");
    shared_bytes(dst, 16, 16, "cp.async destination");
    if (src_bytes < 0 || src_bytes > 16) fail("cp.async with src-size %d", src_bytes);
    if (reinterpret_cast<uintptr_t>(src) % 16 != 0) fail("cp.async source %p is not 16-byte aligned", src);
    if (src_bytes > 0) {
        const unsigned char* s = static_cast<const unsigned char*>(src);
        bool inside = false;
        for (const Buffer& b : g_buffers) {
            inside |= s >= b.data && s + src_bytes <= b.data + b.bytes;
        }
        if (!inside) fail("cp.async reads %d bytes at %p, outside every buffer", src_bytes, src);
    }
    g_current->pending.push_back({dst, src, src_bytes, g_current->committed});
    if (g_cp_async_at_issue) {
        land(*g_current, g_current->committed + 1);
    }
}

void set_cp_async_landing(bool at_issue) { g_cp_async_at_issue = at_issue; }

void cp_async_commit() { ++g_current->committed; }

void cp_async_wait(int newest_groups_left) { land(*g_current, g_current->committed - newest_groups_left); }

// ─── Launches and buffers (launch.h) ─────────────────────────────────────────────────────────

unsigned char* allocate_buffer(size_t bytes) {
    // The data ends (16-byte aligned, as device allocations and the kernels' vector accesses
    // require) just before an inaccessible page, with one more in front: an access past either
    // end faults. The up to 15 bytes between the end and the guard page hold poison and are
    // checked after the run (check_buffers).
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    const size_t padded = (bytes + 15) / 16 * 16;
    const size_t body = (padded + page - 1) / page * page;
    auto* region = static_cast<unsigned char*>(
        mmap(nullptr, body + 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (region == MAP_FAILED) fail("cannot allocate a buffer of %zu bytes", bytes);
    mprotect(region, page, PROT_NONE);
    mprotect(region + page + body, page, PROT_NONE);
    unsigned char* data = region + page + body - padded;
    std::memset(region + page, kPoison, body);
    g_buffers.push_back({data, bytes});
    return data;
}

void check_buffers() {
    for (size_t i = 0; i < g_buffers.size(); ++i) {
        const Buffer& b = g_buffers[i];
        const size_t padded = (b.bytes + 15) / 16 * 16;
        for (size_t j = b.bytes; j < padded; ++j) {
            if (b.data[j] != kPoison) fail("buffer %zu (%zu bytes) written past its end, at byte %zu", i, b.bytes, j);
        }
    }
}

void launch(const LaunchRequest& request, uint64_t seed) {
    g_kernel = request.kernel;
    auto found = kernels().find(request.kernel);
    if (found == kernels().end()) fail("this module has no kernel %s", request.kernel.c_str());
    if (request.block < 32 || request.block % 32 != 0 || request.block > 1024) {
        fail("block of %d threads: the emulator runs whole warps, up to 1024 threads", request.block);
    }
    if (request.shared_bytes > kDynamicSharedCapacity) {
        fail("%zu bytes of dynamic shared memory exceed the %zu a block can have", request.shared_bytes,
             kDynamicSharedCapacity);
    }
    if (request.shared_bytes > 0 && g_shared == nullptr) {
        fail("the launch asks for dynamic shared memory, the module declares no extern __shared__ array");
    }
    g_shared_bytes = request.shared_bytes;
    g_body = found->second(request.args);
    g_fibers.resize(static_cast<size_t>(std::max<int>(request.block, static_cast<int>(g_fibers.size()))));

    static bool handler_installed = false;
    if (!handler_installed) {
        static std::vector<char> alt_stack(1 << 16);
        stack_t ss{};
        ss.ss_sp = alt_stack.data();
        ss.ss_size = alt_stack.size();
        sigaltstack(&ss, nullptr);
        struct sigaction sa{};
        sa.sa_sigaction = on_segfault;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigaction(SIGSEGV, &sa, nullptr);
        sigaction(SIGBUS, &sa, nullptr);
        handler_installed = true;
    }

    std::mt19937_64 rng(seed);
    gridDim = dim3(request.grid[0], request.grid[1], request.grid[2]);
    blockDim = dim3(request.block, 1, 1);
    for (unsigned z = 0; z < gridDim.z; ++z) {
        for (unsigned y = 0; y < gridDim.y; ++y) {
            for (unsigned x = 0; x < gridDim.x; ++x) {
                blockIdx = uint3{x, y, z};
                run_block(request.block, rng);
            }
        }
    }
    g_kernel.clear();
}

}  // namespace attune_emu
