// im2col / col2im on the GPU, both written as gathers: the twins of kernels/conv.py.
//
// Notation (as in kernels/conv.py and scratchvae/functional/conv.py):
//
//     N        batch              C        channels of the image the windows come from
//     H, W     image size         KH, KW   kernel size
//     SH, SW   stride             PH, PW   zero padding on each side
//     OH, OW   window grid:       OH = (H + 2PH − KH) // SH + 1   (OW likewise)
//
// Layouts, exactly those of the CPU kernels (NHWC; channel innermost):
//
//     x    (N, H, W, C)
//     cols (N, OH, OW, KH, KW, C),
//          cols[n, i, j, kh, kw, c] = x[n, i·SH + kh − PH, j·SW + kw − PW, c]
//          (0 where that pixel falls in the padding)
//
// Flattened to (N·OH·OW, KH·KW·C) this is the patch matrix the convolution multiplies by
// its weights. The kernels read their input through four or six element strides (any
// layout, transposed views included: no copy first) and write a C-contiguous output.
//
// Both kernels run one thread per *output* element with a grid-stride loop, the flat
// output index split into coordinates with the channel fastest, so that a warp writes
// 32 consecutive elements and reads 32 consecutive channels of its source.
//
// col2im as a gather. The adjoint of im2col adds every entry of cols back onto the pixel
// it was copied from. Written as a scatter (one thread per entry of cols, += into dx)
// that needs atomics, whose order is whatever the hardware does: the result would differ
// in the last bits from run to run. Here each thread owns one pixel (n, r, s, c) and
// *collects* the entries that came from it: kernel row kh put image row r under window
// row i exactly when r = i·SH + kh − PH, i.e. when
//
//     i = (r + PH − kh) / SH   is an integer with 0 ≤ i < OH       (j likewise, from s, kw)
//
// so the thread loops over (kh, kw) in a fixed order and adds the matching entries:
// no atomics, no shared writes, bit-identical from run to run. Work per pixel is
// KH·KW tests, about (KH/SH)·(KW/SW) of which hit.
//
// Expected bottleneck: memory bandwidth (a copy / a short sum per element); the index
// arithmetic (5 divisions per element) is hidden behind it for these sizes.
//
// No #include: NVRTC has no C library headers; only built-in types are used.

// x (N, H, W, C) with element strides (sxn, sxh, sxw, sxc) → cols (N, OH, OW, KH, KW, C)
// C-contiguous; every entry written.
template <typename T>
__global__ void im2col_nhwc(const T* __restrict__ x,
                            long long sxn, long long sxh, long long sxw, long long sxc,
                            T* __restrict__ cols,
                            int N, int H, int W, int C, int OH, int OW, int KH, int KW,
                            int SH, int SW, int PH, int PW) {
    const long long total = (long long)N * OH * OW * KH * KW * C;
    const long long step = (long long)gridDim.x * blockDim.x;
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += step) {
        long long q = idx;                      // idx = (((((n·OH + i)·OW + j)·KH + kh)·KW + kw)·C + c
        const int c = (int)(q % C);  q /= C;
        const int kw = (int)(q % KW); q /= KW;
        const int kh = (int)(q % KH); q /= KH;
        const int j = (int)(q % OW); q /= OW;
        const int i = (int)(q % OH); q /= OH;
        const int n = (int)q;
        const int r = i * SH + kh - PH, s = j * SW + kw - PW;   // the source pixel
        cols[idx] = (r >= 0 && r < H && s >= 0 && s < W)
                        ? x[n * sxn + r * sxh + s * sxw + c * sxc]
                        : T(0);
    }
}

// cols (N, OH, OW, KH, KW, C) with element strides (s0, ..., s5) → dx (N, H, W, C)
// C-contiguous, dx[n, r, s, c] = Σ of the cols entries copied from pixel (n, r, s, c).
template <typename T>
__global__ void col2im_nhwc(const T* __restrict__ cols,
                            long long s0, long long s1, long long s2,
                            long long s3, long long s4, long long s5,
                            T* __restrict__ dx,
                            int N, int H, int W, int C, int OH, int OW, int KH, int KW,
                            int SH, int SW, int PH, int PW) {
    const long long total = (long long)N * H * W * C;
    const long long step = (long long)gridDim.x * blockDim.x;
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += step) {
        long long q = idx;                      // idx = ((n·H + r)·W + s)·C + c
        const int c = (int)(q % C); q /= C;
        const int s = (int)(q % W); q /= W;
        const int r = (int)(q % H); q /= H;
        const int n = (int)q;
        const T* base = cols + n * s0 + c * s5;
        T acc = T(0);
        for (int kh = 0; kh < KH; ++kh) {
            const int ti = r + PH - kh;         // = i·SH if window row i covers r with row kh
            if (ti < 0) break;                  // ti falls as kh grows
            if (ti % SH != 0) continue;
            const int i = ti / SH;
            if (i >= OH) continue;
            for (int kw = 0; kw < KW; ++kw) {
                const int tj = s + PW - kw;
                if (tj < 0) break;
                if (tj % SW != 0) continue;
                const int j = tj / SW;
                if (j >= OW) continue;
                acc += base[i * s1 + j * s2 + kh * s3 + kw * s4];
            }
        }
        dx[idx] = acc;
    }
}
