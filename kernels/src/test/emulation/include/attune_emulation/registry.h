// Kernel registration: a module's registration file lists its entry points with
// ATTUNE_EMU_KERNEL(name); the launcher then calls any of them by name with arguments decoded per
// the entry's own C++ signature (deduced, so it cannot drift from the source).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <tuple>
#include <type_traits>
#include <string>
#include <utility>
#include <vector>

#include "runtime.h"

namespace attune_emu {

// One kernel argument as the request file gives it.
struct Arg {
    enum class Kind { Pointer, I32, U32, I64, F32 } kind;
    void* pointer = nullptr;  // Pointer: a buffer, or null
    int64_t integer = 0;      // I32, U32, I64
    float real = 0;           // F32
};

const char* kind_name(Arg::Kind kind);

template <typename A>
A decode(const Arg& arg, size_t index, const std::string& kernel) {
    auto expect = [&](Arg::Kind kind) {
        if (arg.kind != kind) {
            fail("%s: argument %zu is %s, the kernel takes %s", kernel.c_str(), index, kind_name(arg.kind),
                 kind_name(kind));
        }
    };
    if constexpr (std::is_pointer_v<A>) {
        expect(Arg::Kind::Pointer);
        return static_cast<A>(arg.pointer);
    } else if constexpr (std::is_same_v<A, int>) {
        expect(Arg::Kind::I32);
        return static_cast<int>(arg.integer);
    } else if constexpr (std::is_same_v<A, unsigned>) {
        expect(Arg::Kind::U32);
        return static_cast<unsigned>(arg.integer);
    } else if constexpr (std::is_same_v<A, long long> || std::is_same_v<A, long>) {
        expect(Arg::Kind::I64);
        return static_cast<A>(arg.integer);
    } else {
        static_assert(std::is_same_v<A, float>, "kernel argument type the emulator does not know");
        expect(Arg::Kind::F32);
        return arg.real;
    }
}

// Decodes a launch's arguments once and returns the body every CUDA thread of the launch runs.
using Binder = std::function<std::function<void()>(const std::vector<Arg>&)>;

template <typename... A>
Binder make_binder(void (*kernel)(A...), std::string name) {
    return [kernel, name](const std::vector<Arg>& args) -> std::function<void()> {
        if (args.size() != sizeof...(A)) {
            fail("%s takes %zu arguments, the request gives %zu", name.c_str(), sizeof...(A), args.size());
        }
        return [&]<size_t... I>(std::index_sequence<I...>) -> std::function<void()> {
            return [kernel, decoded = std::tuple<A...>(decode<A>(args[I], I, name)...)] { std::apply(kernel, decoded); };
        }(std::index_sequence_for<A...>{});
    };
}

void register_kernel(const char* name, Binder binder);

}  // namespace attune_emu

#define ATTUNE_EMU_CONCAT2(a, b) a##b
#define ATTUNE_EMU_CONCAT(a, b) ATTUNE_EMU_CONCAT2(a, b)
#define ATTUNE_EMU_KERNEL(NAME)                                                                   \
    static const bool ATTUNE_EMU_CONCAT(attune_emu_registered_, NAME) = [] {                      \
        attune_emu::register_kernel(#NAME, attune_emu::make_binder(&NAME, #NAME));               \
        return true;                                                                              \
    }();
