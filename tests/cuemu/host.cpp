// Host side of the CPU emulator: a table of kernel instantiations and a launch entry
// point in the shape of cuLaunchKernel (name, grid, block, an array of pointers to the
// parameter values), called from Python with ctypes (tests/test_cuda_emulated.py).
//
// kernels.inc is written by the test next to the build: it #includes the .cu files and
// defines CUEMU_KERNEL_TABLE(K) as one K("name expression", instantiation) per kernel,
// for exactly the name expressions the launchers in kernels/cuda/*.py can ask for.
//
// Each kernel's parameter list is reported as a signature string ("i,q,f*,d", one code
// per parameter: i int, q long long, f float, d double, a trailing * for a pointer), so
// that Python can check the argument list a launcher builds against the kernel's own.
#include "cuda_shim.h"
#include "kernels.inc"

#include <cstdio>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace cuemu {

template <class T>
constexpr bool unsupported = false;

template <class T>
std::string code() {
    if constexpr (std::is_pointer_v<T>)
        return code<std::remove_cv_t<std::remove_pointer_t<T>>>() + "*";
    else if constexpr (std::is_same_v<T, int>)
        return "i";
    else if constexpr (std::is_same_v<T, long long>)
        return "q";
    else if constexpr (std::is_same_v<T, float>)
        return "f";
    else if constexpr (std::is_same_v<T, double>)
        return "d";
    else
        static_assert(unsupported<T>, "a kernel parameter type the emulator does not know");
}

template <class... P>
std::string signature(void (*)(P...)) {
    std::string s;
    ((s += (s.empty() ? "" : ",") + code<std::decay_t<P>>()), ...);
    return s;
}

// Call kernel k with params[i] pointing at the value of its i-th parameter.
template <class... P, std::size_t... I>
void call(void (*k)(P...), void** params, std::index_sequence<I...>) {
    k(*static_cast<std::decay_t<P>*>(params[I])...);
}

template <class... P>
constexpr auto indices(void (*)(P...)) {
    return std::index_sequence_for<P...>{};
}

template <auto Kernel>
void trampoline(void** params) {
    call(Kernel, params, indices(Kernel));
}

struct Kernel {
    const char* name;
    void (*run)(void**);
    std::string signature;
};

#define CUEMU_ENTRY(name, ...) Kernel{name, &trampoline<&__VA_ARGS__>, signature(&__VA_ARGS__)},

const std::vector<Kernel>& table() {
    static const std::vector<Kernel> kernels = {CUEMU_KERNEL_TABLE(CUEMU_ENTRY)};
    return kernels;
}

const Kernel* find(const char* name) {
    for (const Kernel& k : table())
        if (std::strcmp(k.name, name) == 0) return &k;
    return nullptr;
}

// CUDA's launch limits (compute capability 9.0); "" when the launch is legal.
std::string check_geometry(dim3 grid, dim3 block) {
    const unsigned long long threads = 1ull * block.x * block.y * block.z;
    if (grid.x < 1 || grid.y < 1 || grid.z < 1 || threads < 1) return "empty grid or block";
    if (block.x > 1024 || block.y > 1024 || block.z > 64 || threads > 1024)
        return "block exceeds CUDA's limits (x, y <= 1024, z <= 64, x*y*z <= 1024 threads)";
    if (grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535)
        return "grid exceeds CUDA's limits (x < 2^31, y, z <= 65535)";
    return "";
}

}  // namespace cuemu

extern "C" {

int cuemu_kernel_count() { return static_cast<int>(cuemu::table().size()); }

const char* cuemu_kernel_name(int i) { return cuemu::table().at(i).name; }

// The kernel's parameter codes, or nullptr for an unknown name.
const char* cuemu_signature(const char* name) {
    const cuemu::Kernel* k = cuemu::find(name);
    return k ? k->signature.c_str() : nullptr;
}

// Launch a kernel; 0 on success, else 1 with the reason in err.
int cuemu_launch(const char* name, const unsigned* grid, const unsigned* block, void** params,
                 char* err, int err_size) {
    const cuemu::Kernel* k = cuemu::find(name);
    const dim3 g{grid[0], grid[1], grid[2]}, b{block[0], block[1], block[2]};
    std::string why = k ? cuemu::check_geometry(g, b) : std::string("no kernel named ") + name;
    if (why.empty()) why = cuemu::run_grid(g, b, k->run, params);
    std::snprintf(err, static_cast<std::size_t>(err_size), "%s", why.c_str());
    return why.empty() ? 0 : 1;
}

}  // extern "C"
