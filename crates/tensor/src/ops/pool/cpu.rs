//! TEMPORARY direct pooling kernels.

use crate::spec::Pool2dSpec;

fn windows(s: &Pool2dSpec, mut f: impl FnMut(usize, usize, &[(usize, bool)])) {
    let (oh, ow) = (s.out_h(), s.out_w());
    let mut taps = Vec::new();
    for p in 0..s.n * s.c {
        for y in 0..oh {
            for x in 0..ow {
                taps.clear();
                for i in 0..s.kernel.0 {
                    for j in 0..s.kernel.1 {
                        let hy = (y * s.stride.0 + i) as isize - s.padding.0 as isize;
                        let wx = (x * s.stride.1 + j) as isize - s.padding.1 as isize;
                        let inside = hy >= 0 && hy < s.h as isize && wx >= 0 && wx < s.w as isize;
                        let idx = if inside {
                            hy as usize * s.w + wx as usize
                        } else {
                            0
                        };
                        taps.push((idx, inside));
                    }
                }
                f(p, (p * oh + y) * ow + x, &taps);
            }
        }
    }
}

pub fn max_pool2d_forward(x: &[f32], s: &Pool2dSpec) -> (Vec<f32>, Vec<f32>) {
    let n_out = s.n * s.c * s.out_h() * s.out_w();
    let (mut out, mut arg) = (vec![0.0; n_out], vec![0.0; n_out]);
    let plane = s.h * s.w;
    windows(s, |p, o, taps| {
        let mut best = f32::NEG_INFINITY;
        let mut bi = 0;
        for &(idx, inside) in taps {
            if inside && (x[p * plane + idx] > best || best == f32::NEG_INFINITY) {
                best = x[p * plane + idx];
                bi = idx;
            }
        }
        out[o] = best;
        arg[o] = bi as f32;
    });
    (out, arg)
}

pub fn max_pool2d_backward(dy: &[f32], argmax: &[f32], s: &Pool2dSpec) -> Vec<f32> {
    let plane = s.h * s.w;
    let oplane = s.out_h() * s.out_w();
    let mut dx = vec![0.0; s.n * s.c * plane];
    for (o, (&g, &a)) in dy.iter().zip(argmax).enumerate() {
        dx[(o / oplane) * plane + a as usize] += g;
    }
    dx
}

pub fn avg_pool2d_forward(x: &[f32], s: &Pool2dSpec) -> Vec<f32> {
    let n_out = s.n * s.c * s.out_h() * s.out_w();
    let mut out = vec![0.0; n_out];
    let plane = s.h * s.w;
    let div = (s.kernel.0 * s.kernel.1) as f32;
    windows(s, |p, o, taps| {
        out[o] = taps
            .iter()
            .filter(|t| t.1)
            .map(|t| x[p * plane + t.0])
            .sum::<f32>()
            / div;
    });
    out
}

pub fn avg_pool2d_backward(dy: &[f32], s: &Pool2dSpec) -> Vec<f32> {
    let plane = s.h * s.w;
    let mut dx = vec![0.0; s.n * s.c * plane];
    let div = (s.kernel.0 * s.kernel.1) as f32;
    windows(s, |p, o, taps| {
        for t in taps.iter().filter(|t| t.1) {
            dx[p * plane + t.0] += dy[o] / div;
        }
    });
    dx
}
