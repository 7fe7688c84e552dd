// GEMM on the GPU, five versions in reading order, each one idea further than the last.
//
// Notation (as in kernels/matmul.py):
//
//     M  rows of A and C        K  inner dimension (summed over)        N  columns of B and C
//
//     C (M, N) = act( A (M, K) · B (K, N)  +  bias (N)  +  beta · C )        row-major C
//
// Operands and their storage. C is row-major with leading dimension ldc: C(m, n) is
// C[m·ldc + n]. A and B are "op(X)" of a stored matrix, chosen by two template flags so
// that the layers' transposed views (W.T, x.T) are read in place, never copied:
//
//     TA = false:  A(m, k) = A[m·lda + k]      (A stored M×K, row-major)
//     TA = true:   A(m, k) = A[k·lda + m]      (A stored K×M: a transposed view)
//     TB = false:  B(k, n) = B[k·ldb + n]      (B stored K×N)
//     TB = true:   B(k, n) = B[n·ldb + k]      (B stored N×K: a transposed view)
//
// Which memory axis is contiguous is then a compile-time constant, and each version maps
// its threads so that neighbouring threads read neighbouring addresses of that axis.
//
// Epilogue (all versions, fused into the store): v = acc + bias[n] (if has_bias) +
// beta·C(m, n) (only if beta != 0: C is not read otherwise, so it may hold garbage);
// act = 0: C = v; act = 1: C = max(v, 0) (ReLU; NaN propagates). beta = 1 is C += A·B,
// the accumulation of a weight gradient over several products.
//
// Every version handles any M, N, K >= 0: loads past an edge read zeros, stores past an
// edge are skipped. The launcher (kernels/cuda/gemm.py) picks the grid and block, which
// must match the constants below (tests/test_cuda_sources.py checks that they do).
//
// Kernel arguments (all versions; v5 appends vec_a, vec_b, vec_c):
//     int M, N, K;  const T* A, long long lda;  const T* B, long long ldb;
//     T* C, long long ldc;  const T* bias, int has_bias;  T beta;  int act
//
// No #include: NVRTC has no C library headers; only built-in types are used.

// ------------------------------------------------------------------------- helpers
template <typename T, bool TA>
__device__ __forceinline__ T elem_a(const T* __restrict__ A, long long lda, int m, int k) {
    return TA ? A[(long long)k * lda + m] : A[(long long)m * lda + k];
}

template <typename T, bool TB>
__device__ __forceinline__ T elem_b(const T* __restrict__ B, long long ldb, int k, int n) {
    return TB ? B[(long long)n * ldb + k] : B[(long long)k * ldb + n];
}

// The fused epilogue for one element: bias, beta·C, activation.
template <typename T>
__device__ __forceinline__ T epilogue(T acc, T old, const T* __restrict__ bias, int has_bias,
                                      T beta, int act, int n) {
    T v = acc;
    if (has_bias) v += bias[n];
    if (beta != T(0)) v += beta * old;
    if (act == 1) v = v < T(0) ? T(0) : v;
    return v;
}

template <typename T>
__device__ __forceinline__ void store_c(T* __restrict__ C, long long ldc, int m, int n, T acc,
                                        const T* __restrict__ bias, int has_bias, T beta, int act) {
    T* c = C + (long long)m * ldc + n;
    *c = epilogue(acc, beta != T(0) ? *c : T(0), bias, has_bias, beta, act, n);
}

// =========================================================================== v1_naive
// One thread per element of C: C(m, n) = Σ_k A(m, k)·B(k, n), straight from the
// definition. Block (32, 8), grid (⌈M/32⌉, ⌈N/8⌉); threadIdx.x runs along m.
//
// Expected bottleneck: memory, badly. A warp is 32 consecutive m at one n: for row-major
// A each thread reads a different row (addresses lda apart: 32 transactions per load
// instead of one), B(k, n) is one address for the whole warp, and the 32 stores to C
// land in 32 different rows. Nothing is reused from on-chip memory; every multiply-add
// costs two global loads. (A transposed A, TA, happens to be read coalesced here.)
template <typename T, bool TA, bool TB>
__global__ void sgemm_v1_naive(int M, int N, int K,
                               const T* __restrict__ A, long long lda,
                               const T* __restrict__ B, long long ldb,
                               T* __restrict__ C, long long ldc,
                               const T* __restrict__ bias, int has_bias, T beta, int act) {
    const int m = blockIdx.x * blockDim.x + threadIdx.x;   // neighbouring threads: neighbouring rows
    const int n = blockIdx.y * blockDim.y + threadIdx.y;
    if (m >= M || n >= N) return;
    T acc = T(0);
    for (int k = 0; k < K; ++k)
        acc += elem_a<T, TA>(A, lda, m, k) * elem_b<T, TB>(B, ldb, k, n);
    store_c(C, ldc, m, n, acc, bias, has_bias, beta, act);
}

// ======================================================================= v2_coalesced
// The same loop with the thread → element map swapped: threadIdx.x runs along n, the
// contiguous axis of C and of row-major B. Block (32, 8), grid (⌈M/8⌉, ⌈N/32⌉).
//
// A warp is now 32 consecutive n at one m: its B(k, n) loads are one 128-byte
// transaction, A(m, k) is one address broadcast to the warp, and the stores to C are
// coalesced. Expected bottleneck: still memory bandwidth (through L1/L2) — each
// multiply-add still issues two loads; only the wasted transactions are gone.
template <typename T, bool TA, bool TB>
__global__ void sgemm_v2_coalesced(int M, int N, int K,
                                   const T* __restrict__ A, long long lda,
                                   const T* __restrict__ B, long long ldb,
                                   T* __restrict__ C, long long ldc,
                                   const T* __restrict__ bias, int has_bias, T beta, int act) {
    const int n = blockIdx.y * blockDim.x + threadIdx.x;   // neighbouring threads: neighbouring columns
    const int m = blockIdx.x * blockDim.y + threadIdx.y;
    if (m >= M || n >= N) return;
    T acc = T(0);
    for (int k = 0; k < K; ++k)
        acc += elem_a<T, TA>(A, lda, m, k) * elem_b<T, TB>(B, ldb, k, n);
    store_c(C, ldc, m, n, acc, bias, has_bias, beta, act);
}

// =========================================================================== v3_smem
// Shared-memory tiling. A block of TILE×TILE threads owns a TILE×TILE tile of C and walks
// K in steps of TILE: each step the block copies a TILE×TILE tile of A and of B into
// shared memory (one element per thread, coalesced along the operand's contiguous axis),
// synchronises, and every thread does TILE multiply-adds out of shared memory. Each
// global element is now loaded once per block instead of once per thread: TILE× fewer
// global loads. Block (32, 32), grid (⌈M/32⌉, ⌈N/32⌉).
//
// The tiles are padded to TILE + 1 columns: for a transposed operand the copy writes
// a column of the tile, and the pad puts its 32 elements in 32 different banks.
//
// Expected bottleneck: shared-memory bandwidth and latency. The inner loop does two
// shared loads (one a broadcast) per multiply-add, so the FMA units wait on the loads;
// with one output per thread there is no reuse of a loaded value inside the thread.
constexpr int V3_TILE = 32;

template <typename T, bool TA, bool TB>
__global__ void __launch_bounds__(V3_TILE * V3_TILE)
sgemm_v3_smem(int M, int N, int K,
              const T* __restrict__ A, long long lda,
              const T* __restrict__ B, long long ldb,
              T* __restrict__ C, long long ldc,
              const T* __restrict__ bias, int has_bias, T beta, int act) {
    __shared__ T As[V3_TILE][V3_TILE + 1];   // As[mm][kk] = A(m0 + mm, k0 + kk)
    __shared__ T Bs[V3_TILE][V3_TILE + 1];   // Bs[kk][nn] = B(k0 + kk, n0 + nn)
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int m0 = blockIdx.x * V3_TILE, n0 = blockIdx.y * V3_TILE;
    T acc = T(0);
    for (int k0 = 0; k0 < K; k0 += V3_TILE) {
        // The copy: tx runs along the operand's contiguous memory axis.
        {
            const int mm = TA ? tx : ty, kk = TA ? ty : tx;
            const int m = m0 + mm, k = k0 + kk;
            As[mm][kk] = (m < M && k < K) ? elem_a<T, TA>(A, lda, m, k) : T(0);
        }
        {
            const int nn = TB ? ty : tx, kk = TB ? tx : ty;
            const int n = n0 + nn, k = k0 + kk;
            Bs[kk][nn] = (n < N && k < K) ? elem_b<T, TB>(B, ldb, k, n) : T(0);
        }
        __syncthreads();
#pragma unroll 8
        for (int kk = 0; kk < V3_TILE; ++kk)
            acc += As[ty][kk] * Bs[kk][tx];      // As: broadcast in the warp; Bs: 32 banks
        __syncthreads();                         // before the next copy overwrites the tiles
    }
    const int m = m0 + ty, n = n0 + tx;
    if (m < M && n < N) store_c(C, ldc, m, n, acc, bias, has_bias, beta, act);
}

// ======================================================================= v4_regblock
// 2-D register blocking. A block of 256 threads owns a BM×BN = 128×128 tile of C; each
// thread owns a TM×TN = 8×8 sub-tile, kept in registers (acc[TM][TN]). K is walked in
// steps of BK = 8: the block copies A's BM×BK and B's BK×BN tiles into shared memory,
// then for each of the BK values of k every thread loads TM values of A's column and
// TN values of B's row into registers and does their TM·TN outer product:
//
//     for k0 in 0, BK, 2BK, ...:                 # one shared tile pair per step
//         As (BK, BM) ← A(m0:m0+BM, k0:k0+BK)    # stored k-major: a thread's TM values
//         Bs (BK, BN) ← B(k0:k0+BK, n0:n0+BN)    #   of a column are contiguous
//         for kk in 0..BK:
//             a[0:TM] = As[kk, tr·TM : tr·TM+TM]
//             b[0:TN] = Bs[kk, tc·TN : tc·TN+TN]
//             acc[i][j] += a[i]·b[j]            # 64 FMAs for 16 shared loads
//
// Thread t sits at (tr, tc) = (t / 16, t % 16) of the 16×16 thread grid. Arithmetic
// intensity per shared load goes from 1/2 (v3) to 4; per global load, from 16 to 64
// FMAs per element (an element of a BM×BK tile serves BN columns).
// Block 256, grid (⌈M/128⌉, ⌈N/128⌉).
//
// The copies are element by element: element e = t, t + 256, ... of the tile, numbered
// along the operand's contiguous axis so that a warp reads consecutive addresses. A is
// stored transposed (k-major) into As; the rows are padded by PAD = 4 so that those
// transposing writes spread over the banks.
//
// Expected bottleneck: with float, close to the FMA throughput on large products, held
// back by the scalar global loads (4 per thread per tile) and 2-way bank conflicts when
// 16 threads read 8 contiguous values each; on small products (the VAE's 128×400) the
// grid is a few blocks and most SMs sit idle. With double, the 64 accumulators take 128
// registers: occupancy is low, but H100's FP64 units are the limit anyway.
constexpr int V4_BM = 128, V4_BN = 128, V4_BK = 8, V4_TM = 8, V4_TN = 8, V4_PAD = 4;
constexpr int V4_THREADS = (V4_BM / V4_TM) * (V4_BN / V4_TN);   // 256

template <typename T, bool TA, bool TB>
__global__ void __launch_bounds__(V4_THREADS)
sgemm_v4_regblock(int M, int N, int K,
                  const T* __restrict__ A, long long lda,
                  const T* __restrict__ B, long long ldb,
                  T* __restrict__ C, long long ldc,
                  const T* __restrict__ bias, int has_bias, T beta, int act) {
    constexpr int BM = V4_BM, BN = V4_BN, BK = V4_BK, TM = V4_TM, TN = V4_TN, NT = V4_THREADS;
    __shared__ T As[BK][BM + V4_PAD];        // As[kk][mm] = A(m0 + mm, k0 + kk)
    __shared__ T Bs[BK][BN + V4_PAD];        // Bs[kk][nn] = B(k0 + kk, n0 + nn)
    const int t = threadIdx.x;
    const int tr = t / (BN / TN), tc = t % (BN / TN);
    const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;

    T acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = T(0);

    for (int k0 = 0; k0 < K; k0 += BK) {
        for (int e = t; e < BM * BK; e += NT) {
            const int mm = TA ? e % BM : e / BK;     // TA: consecutive e, consecutive m
            const int kk = TA ? e / BM : e % BK;     // else: consecutive e, consecutive k
            const int m = m0 + mm, k = k0 + kk;
            As[kk][mm] = (m < M && k < K) ? elem_a<T, TA>(A, lda, m, k) : T(0);
        }
        for (int e = t; e < BK * BN; e += NT) {
            const int nn = TB ? e / BK : e % BN;     // TB: consecutive e, consecutive k
            const int kk = TB ? e % BK : e / BN;     // else: consecutive e, consecutive n
            const int n = n0 + nn, k = k0 + kk;
            Bs[kk][nn] = (n < N && k < K) ? elem_b<T, TB>(B, ldb, k, n) : T(0);
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < BK; ++kk) {
            T a[TM], b[TN];
#pragma unroll
            for (int i = 0; i < TM; ++i) a[i] = As[kk][tr * TM + i];
#pragma unroll
            for (int j = 0; j < TN; ++j) b[j] = Bs[kk][tc * TN + j];
#pragma unroll
            for (int i = 0; i < TM; ++i)
#pragma unroll
                for (int j = 0; j < TN; ++j) acc[i][j] += a[i] * b[j];
        }
        __syncthreads();
    }

#pragma unroll
    for (int i = 0; i < TM; ++i) {
        const int m = m0 + tr * TM + i;
        if (m >= M) break;
#pragma unroll
        for (int j = 0; j < TN; ++j) {
            const int n = n0 + tc * TN + j;
            if (n < N) store_c(C, ldc, m, n, acc[i][j], bias, has_bias, beta, act);
        }
    }
}

// ===================================================================== v5_vectorized
// v4 with 128-bit memory operations (float only). Same tiles, threads and inner loop;
// what changes is how the tiles move:
//
//   * global → shared: each thread copies runs of 4 consecutive floats along the
//     operand's contiguous axis with one float4 load (LDG.128) instead of 4 scalar ones.
//     A run lands in shared memory as one float4 store when the tile keeps that axis
//     (A transposed, B not), or as 4 scalar stores when it is transposed on the way.
//   * shared → registers: a thread's 8 values of A's column and of B's row are two
//     float4 loads each (LDS.128), 4 instructions instead of 16 per k.
//   * registers → C: the epilogue reads (if beta != 0) and writes 4 columns per float4.
//
// Alignment contract. A float4 access must be 16-byte aligned. Tile origins (m0, n0, k0)
// and run starts are multiples of 4, so a run is aligned when the operand's base pointer
// is 16-byte aligned and its leading dimension a multiple of 4; the launcher tests this
// per operand and passes vec_a, vec_b, vec_c. Scalar fallback: an operand without the
// flag, and a run that crosses the matrix edge (K or N not a multiple of 4), go element
// by element with bounds tests — the same result, fewer bytes per instruction.
// Shared tiles are declared __align__(16) and their padded rows (132 floats = 528 bytes)
// keep every row start 16-byte aligned.
//
// Expected bottleneck: FMA throughput and the latency of the single-buffered tile copy
// (no double buffering: the block waits at __syncthreads while its tiles load); on the
// VAE's small products, again the few blocks of the grid.
constexpr int V5_BM = 128, V5_BN = 128, V5_BK = 8, V5_TM = 8, V5_TN = 8, V5_PAD = 4;
constexpr int V5_THREADS = (V5_BM / V5_TM) * (V5_BN / V5_TN);   // 256

// Four consecutive floats p[0..3], where p[u] exists only for u < valid (0 elsewhere);
// one float4 load when vec and all four exist.
__device__ __forceinline__ float4 load4(const float* __restrict__ p, int valid, bool vec) {
    if (vec && valid >= 4) return *reinterpret_cast<const float4*>(p);
    return make_float4(valid > 0 ? p[0] : 0.f, valid > 1 ? p[1] : 0.f,
                       valid > 2 ? p[2] : 0.f, valid > 3 ? p[3] : 0.f);
}

template <bool TA, bool TB>
__global__ void __launch_bounds__(V5_THREADS)
sgemm_v5_vectorized(int M, int N, int K,
                    const float* __restrict__ A, long long lda,
                    const float* __restrict__ B, long long ldb,
                    float* __restrict__ C, long long ldc,
                    const float* __restrict__ bias, int has_bias, float beta, int act,
                    int vec_a, int vec_b, int vec_c) {
    constexpr int BM = V5_BM, BN = V5_BN, BK = V5_BK, TM = V5_TM, TN = V5_TN, NT = V5_THREADS;
    static_assert(BM % 4 == 0 && BN % 4 == 0 && BK % 4 == 0 && TM % 4 == 0 && TN % 4 == 0,
                  "float4 runs must tile every dimension");
    static_assert(((BM + V5_PAD) * 4) % 16 == 0 && ((BN + V5_PAD) * 4) % 16 == 0,
                  "padded shared rows must stay 16-byte aligned");
    __shared__ __align__(16) float As[BK][BM + V5_PAD];   // As[kk][mm] = A(m0 + mm, k0 + kk)
    __shared__ __align__(16) float Bs[BK][BN + V5_PAD];   // Bs[kk][nn] = B(k0 + kk, n0 + nn)
    const int t = threadIdx.x;
    const int tr = t / (BN / TN), tc = t % (BN / TN);
    const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;

    float acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = 0.f;

    for (int k0 = 0; k0 < K; k0 += BK) {
        // ---- A tile: runs of 4 along A's contiguous axis (m if TA, else k)
        for (int e = t; e < BM * BK / 4; e += NT) {
            if (TA) {                                   // stored K×M: run = A(m..m+3, k)
                const int kk = e / (BM / 4), mm = (e % (BM / 4)) * 4;
                const int m = m0 + mm, k = k0 + kk;
                const int valid = k < K ? M - m : 0;
                const float4 v = load4(A + (long long)k * lda + m, valid, vec_a);
                *reinterpret_cast<float4*>(&As[kk][mm]) = v;
            } else {                                    // stored M×K: run = A(m, k..k+3)
                const int mm = e / (BK / 4), kk = (e % (BK / 4)) * 4;
                const int m = m0 + mm, k = k0 + kk;
                const int valid = m < M ? K - k : 0;
                const float4 v = load4(A + (long long)m * lda + k, valid, vec_a);
                As[kk + 0][mm] = v.x; As[kk + 1][mm] = v.y;   // transposed into k-major
                As[kk + 2][mm] = v.z; As[kk + 3][mm] = v.w;
            }
        }
        // ---- B tile: runs of 4 along B's contiguous axis (k if TB, else n)
        for (int e = t; e < BK * BN / 4; e += NT) {
            if (TB) {                                   // stored N×K: run = B(k..k+3, n)
                const int nn = e / (BK / 4), kk = (e % (BK / 4)) * 4;
                const int n = n0 + nn, k = k0 + kk;
                const int valid = n < N ? K - k : 0;
                const float4 v = load4(B + (long long)n * ldb + k, valid, vec_b);
                Bs[kk + 0][nn] = v.x; Bs[kk + 1][nn] = v.y;
                Bs[kk + 2][nn] = v.z; Bs[kk + 3][nn] = v.w;
            } else {                                    // stored K×N: run = B(k, n..n+3)
                const int kk = e / (BN / 4), nn = (e % (BN / 4)) * 4;
                const int n = n0 + nn, k = k0 + kk;
                const int valid = k < K ? N - n : 0;
                const float4 v = load4(B + (long long)k * ldb + n, valid, vec_b);
                *reinterpret_cast<float4*>(&Bs[kk][nn]) = v;
            }
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < BK; ++kk) {
            float a[TM], b[TN];
#pragma unroll
            for (int i = 0; i < TM; i += 4) {
                const float4 q = *reinterpret_cast<const float4*>(&As[kk][tr * TM + i]);
                a[i] = q.x; a[i + 1] = q.y; a[i + 2] = q.z; a[i + 3] = q.w;
            }
#pragma unroll
            for (int j = 0; j < TN; j += 4) {
                const float4 q = *reinterpret_cast<const float4*>(&Bs[kk][tc * TN + j]);
                b[j] = q.x; b[j + 1] = q.y; b[j + 2] = q.z; b[j + 3] = q.w;
            }
#pragma unroll
            for (int i = 0; i < TM; ++i)
#pragma unroll
                for (int j = 0; j < TN; ++j) acc[i][j] += a[i] * b[j];
        }
        __syncthreads();
    }

#pragma unroll
    for (int i = 0; i < TM; ++i) {
        const int m = m0 + tr * TM + i;
        if (m >= M) break;
        float* crow = C + (long long)m * ldc;
#pragma unroll
        for (int j = 0; j < TN; j += 4) {
            const int n = n0 + tc * TN + j;
            if (vec_c && n + 3 < N) {                   // 4 columns at once
                float4* p = reinterpret_cast<float4*>(crow + n);
                const float4 old = beta != 0.f ? *p : make_float4(0.f, 0.f, 0.f, 0.f);
                *p = make_float4(epilogue(acc[i][j + 0], old.x, bias, has_bias, beta, act, n + 0),
                                 epilogue(acc[i][j + 1], old.y, bias, has_bias, beta, act, n + 1),
                                 epilogue(acc[i][j + 2], old.z, bias, has_bias, beta, act, n + 2),
                                 epilogue(acc[i][j + 3], old.w, bias, has_bias, beta, act, n + 3));
            } else {                                    // scalar fallback: edge or unaligned C
#pragma unroll
                for (int u = 0; u < 4; ++u)
                    if (n + u < N) store_c(C, ldc, m, n + u, acc[i][j + u], bias, has_bias, beta, act);
            }
        }
    }
}
