// Tensor-core (TF32) implicit-GEMM convolutions: the geometry their kernels share.
//
// Grid and taps. A pass computes a grid of gh x gw positions per image; position (gy, gx) and
// tap j = (ia-th kernel row, ib-th kernel column that reach the grid) read the source pixel
// (gy·gsh + oy(ia), gx·gsw + ox(ib)), oy and ox being signed source offsets:
// - forward and weight gradient: the output grid, gs = stride, oy = ky·dh - ph, every tap;
// - input gradient, phase (py, px) = (iy % sh, ix % sw) of the input pixels: the pixels
//   iy = py + sh·gy, gs = 1, the source is dy, and the kernel rows with (py + ph - ky·dh) % sh
//   == 0 reach it at oy = (py + ph - ky·dh) / sh (likewise the columns).
// Halo. Padded row pr of image img (source row pr + lo_y, lo = least offset) is the global row
// GR = img·hp + pr, hp = (gh - 1)·gsh + span_y + 1 (span = greatest - least offset). The rows a
// window of consecutive positions reads through all its taps are the global rows from GR0 (its
// first position's) to its last position's plus span_y, image boundaries included, so one
// halo serves positions of several images. Kernels load them per chunk of 8 channels: channel
// c8 at c8·plane, row r at r·pitch, padded column pc at (pc % gsw)·wq + pc / gsw (split by
// phase, so that consecutive positions of a row read consecutive words for every tap).
// Position (img, gy, gx) reads tap j at base + toff[j], with base = (img·hp + gy·gsh - GR0)·pitch
// + gx and toff[j] = (oy - lo_y)·pitch + (dx % gsw)·wq + dx / gsw, dx = ox - lo_x. The host
// picks pitch, wq and plane (conflict-free fragment loads) and bounds the rows of a window.

#define TC_BM 48       // rows of C per block: 3 m16 tiles
#define TC_THREADS 128 // 4 warps
#define TC_STAGES 3    // shared-memory buffers of the cp.async pipeline

// Whether kernel index k (a row or column) reaches phase p along one axis.
__device__ __forceinline__ bool tc_reaches(bool transposed, int p, int pad, int d, int s, int k) {
    return !transposed || ((p + pad - k * d) % s + s) % s == 0;
}

// The signed source offset of kernel index k (which reaches phase p when transposed).
__device__ __forceinline__ int tc_offset(bool transposed, int p, int pad, int d, int s, int k) {
    return transposed ? (p + pad - k * d) / s : k * d - pad;
}

// The kernel index of the i-th tap that reaches phase p along one axis.
__device__ __forceinline__ int tc_nth(bool transposed, int p, int pad, int d, int s, int size,
                                      int i) {
    int found = 0;
    for (int k = 0, seen = 0; k < size; ++k)
        if (tc_reaches(transposed, p, pad, d, s, k) && seen++ == i) found = k;
    return found;
}

// The taps that reach phase p along one axis: how many, least and greatest offset.
struct TcAxis {
    int count, lo, hi;
};

__device__ __forceinline__ TcAxis tc_axis(bool transposed, int p, int pad, int d, int s,
                                          int size) {
    TcAxis a = {0, 0, 0};
    for (int k = 0; k < size; ++k) {
        if (!tc_reaches(transposed, p, pad, d, s, k)) continue;
        const int o = tc_offset(transposed, p, pad, d, s, k);
        a.lo = a.count == 0 || o < a.lo ? o : a.lo;
        a.hi = a.count == 0 || o > a.hi ? o : a.hi;
        ++a.count;
    }
    return a;
}

// A pass's grid and halo geometry (per phase when transposed).
struct TcGrid {
    int gh, gw, gsh, gsw;  // grid per image and its stride in the source
    int hp, wp;            // padded rows per image, padded columns
    int y0, x0;            // source row and column of padded row 0, column 0
    int pitch, wq, plane;  // halo layout (from the host)
};

__device__ __forceinline__ TcGrid tc_grid(int gh, int gw, int gsh, int gsw, TcAxis ay, TcAxis ax,
                                          int pitch, int wq, int plane) {
    TcGrid g;
    g.gh = gh;
    g.gw = gw;
    g.gsh = gsh;
    g.gsw = gsw;
    g.hp = (gh - 1) * gsh + (ay.hi - ay.lo) + 1;
    g.wp = (gw - 1) * gsw + (ax.hi - ax.lo) + 1;
    g.y0 = ay.lo;
    g.x0 = ax.lo;
    g.pitch = pitch;
    g.wq = wq;
    g.plane = plane;
    return g;
}

// The global padded row of position q's grid row.
__device__ __forceinline__ int tc_row(const TcGrid& g, int q) {
    const int per = g.gh * g.gw;
    const int img = q / per;
    return img * g.hp + (q - img * per) / g.gw * g.gsh;
}

// Position q's halo base for a halo starting at global row gr0.
__device__ __forceinline__ int tc_base(const TcGrid& g, int q, int gr0) {
    const int per = g.gh * g.gw;
    const int img = q / per;
    const int p = q - img * per;
    const int gy = p / g.gw;
    return (img * g.hp + gy * g.gsh - gr0) * g.pitch + p - gy * g.gw;
}

// The position of padded column pc in a halo row.
__device__ __forceinline__ int tc_col(const TcGrid& g, int pc) {
    return g.gsw == 1 ? pc : (pc % g.gsw) * g.wq + pc / g.gsw;
}

// The halo offset of a tap at offsets (dy, dx) >= 0 from the least ones.
__device__ __forceinline__ int tc_tap_offset(const TcGrid& g, int dy, int dx) {
    return dy * g.pitch + tc_col(g, dx);
}

// Halo element e (row e / wp, padded column e % wp) of a halo from global row gr0: its source
// offset in channel 0 of an image-major [n, c, h, w] source (-1 for padding) and its position
// in a channel's plane.
__device__ __forceinline__ void tc_halo_element(const TcGrid& g, int e, int gr0, int src_c,
                                                int src_h, int src_w, int& src_off, int& dst) {
    const int r = e / g.wp, pc = e - r * g.wp;
    const int gr = gr0 + r;
    const int img = gr / g.hp;
    const int iy = gr - img * g.hp + g.y0, ix = pc + g.x0;
    const bool ok = (unsigned)iy < (unsigned)src_h && (unsigned)ix < (unsigned)src_w;
    src_off = ok ? (img * src_c * src_h + iy) * src_w + ix : -1;
    dst = r * g.pitch + tc_col(g, pc);
}

// Queues the copies of channels c0 .. c0 + 7 of halo element (src_off, dst) into halo.
__device__ __forceinline__ void tc_load_halo_element(float* halo, const float* src, int src_off,
                                                     int dst, int c0, int src_c, int src_plane,
                                                     int plane) {
#pragma unroll
    for (int c8 = 0; c8 < 8; ++c8) {
        const bool ok = src_off >= 0 && c0 + c8 < src_c;
        cp_async4(halo + c8 * plane + dst, ok ? src + src_off + (c0 + c8) * src_plane : src, ok);
    }
}
