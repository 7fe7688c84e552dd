// The CUDA C built-ins our kernels use, mapped onto plain C++17, so that g++ can compile
// kernels/cuda/*.cu unchanged and run them on the CPU (tests/test_cuda_emulated.py).
//
// What is emulated
//   * __global__ / __device__ / __forceinline__ / __restrict__ / __launch_bounds__ /
//     __align__: qualifiers, mapped to their C++ meaning or to nothing.
//   * threadIdx, blockIdx, blockDim, gridDim: globals the scheduler sets for the thread
//     it is running.
//   * CUDA threads: every thread of a block is a fiber (ucontext) with its own stack,
//     so its locals (the register tiles) are its own. Blocks run one after another.
//   * __shared__: `static`, one copy shared by all threads of the running block.
//     Like real shared memory it is not cleared between blocks.
//   * __syncthreads(): a barrier. Each pass of the scheduler resumes every live
//     thread in order (thread 0, 1, ...) and runs it up to its next __syncthreads or
//     to its return. A kernel whose barrier is missing therefore reads tiles that other
//     threads have not yet written or have already overwritten, every time: the results
//     come out wrong on every run, never only on some runs. If some threads of a block
//     return while others wait at a barrier, the launch fails (undefined behaviour in
//     CUDA).
//   * float4 / make_float4: a 16-byte-aligned struct of 4 floats (compile with
//     -fno-strict-aliasing: the kernels reinterpret float arrays as float4, as CUDA
//     allows).
//
// What is not emulated: warps (threads run one at a time, so there is no lockstep and
// there are no warp intrinsics), memory coalescing, bank conflicts, caches, timing,
// register and shared-memory limits, and __launch_bounds__. This checks index arithmetic,
// tiling, edge handling, barrier placement and results, not performance.
#pragma once

#include <ucontext.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

// ------------------------------------------------------------------ qualifiers
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))

// ------------------------------------------------------------------ vector types
struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};
using uint3 = dim3;

struct alignas(16) float4 {
    float x, y, z, w;
};
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }

// ------------------------------------------------------------------ built-in variables
inline uint3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;

namespace cuemu {

// One CUDA thread of the running block.
struct Fiber {
    ucontext_t ctx;
    bool done = false;
};

// The scheduler's state for the running launch.
struct Block {
    ucontext_t scheduler;
    std::vector<Fiber> fibers;
    int current = 0;
    void (*body)(void**) = nullptr;   // the kernel, called with its parameter array
    void** params = nullptr;
};
inline Block g_block;

constexpr std::size_t kStackBytes = 64 * 1024;   // per thread; the kernels need a few KiB
inline std::unique_ptr<char[]> g_stacks;
inline std::size_t g_stack_count = 0;

inline void fiber_main() {
    g_block.body(g_block.params);
    g_block.fibers[g_block.current].done = true;
}   // returns to uc_link: the scheduler

}  // namespace cuemu

inline void __syncthreads() {
    cuemu::Fiber& self = cuemu::g_block.fibers[cuemu::g_block.current];
    swapcontext(&self.ctx, &cuemu::g_block.scheduler);
}

namespace cuemu {

inline uint3 thread_index(unsigned t, dim3 block) {
    return {t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
}

// Run body(params) as a grid of blocks of threads. Returns "" or what went wrong.
inline std::string run_grid(dim3 grid, dim3 block, void (*body)(void**), void** params) {
    const unsigned nt = block.x * block.y * block.z;
    if (g_stack_count < nt) {
        g_stacks.reset(new char[nt * kStackBytes]);
        g_stack_count = nt;
    }
    gridDim = grid;
    blockDim = block;
    g_block.body = body;
    g_block.params = params;
    g_block.fibers.assign(nt, Fiber{});
    for (unsigned bz = 0; bz < grid.z; ++bz)
        for (unsigned by = 0; by < grid.y; ++by)
            for (unsigned bx = 0; bx < grid.x; ++bx) {
                blockIdx = {bx, by, bz};
                for (unsigned t = 0; t < nt; ++t) {
                    Fiber& f = g_block.fibers[t];
                    f.done = false;
                    getcontext(&f.ctx);
                    f.ctx.uc_stack.ss_sp = g_stacks.get() + t * kStackBytes;
                    f.ctx.uc_stack.ss_size = kStackBytes;
                    f.ctx.uc_link = &g_block.scheduler;
                    makecontext(&f.ctx, fiber_main, 0);
                }
                // One pass per barrier phase: every live thread runs to its next
                // __syncthreads (arrived) or to its end (returned).
                for (int phase = 0;; ++phase) {
                    unsigned arrived = 0, returned = 0;
                    for (unsigned t = 0; t < nt; ++t) {
                        if (g_block.fibers[t].done) continue;
                        g_block.current = static_cast<int>(t);
                        threadIdx = thread_index(t, block);
                        swapcontext(&g_block.scheduler, &g_block.fibers[t].ctx);
                        ++(g_block.fibers[t].done ? returned : arrived);
                    }
                    if (arrived == 0) break;
                    if (returned != 0)
                        return "block (" + std::to_string(bx) + ", " + std::to_string(by) + ", " +
                               std::to_string(bz) + "): " + std::to_string(returned) +
                               " threads returned while " + std::to_string(arrived) +
                               " waited at __syncthreads number " + std::to_string(phase + 1);
                }
            }
    return "";
}

}  // namespace cuemu
