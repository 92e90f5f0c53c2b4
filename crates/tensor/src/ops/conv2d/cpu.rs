//! TEMPORARY direct kernels: replaced by the im2col + GEMM implementation.

use crate::spec::Conv2dSpec;

fn for_each_tap(s: &Conv2dSpec, mut f: impl FnMut(usize, usize, usize, usize)) {
    // f(x_index, w_index, y_index, _)
    let (oh, ow) = (s.out_h(), s.out_w());
    for n in 0..s.n {
        for o in 0..s.c_out {
            for c in 0..s.c_in {
                for i in 0..s.kh {
                    for j in 0..s.kw {
                        for y in 0..oh {
                            let hy =
                                (y * s.stride.0 + i * s.dilation.0) as isize - s.padding.0 as isize;
                            if hy < 0 || hy >= s.h as isize {
                                continue;
                            }
                            for x in 0..ow {
                                let wx = (x * s.stride.1 + j * s.dilation.1) as isize
                                    - s.padding.1 as isize;
                                if wx < 0 || wx >= s.w as isize {
                                    continue;
                                }
                                let xi = ((n * s.c_in + c) * s.h + hy as usize) * s.w + wx as usize;
                                let wi = ((o * s.c_in + c) * s.kh + i) * s.kw + j;
                                let yi = ((n * s.c_out + o) * oh + y) * ow + x;
                                f(xi, wi, yi, 0);
                            }
                        }
                    }
                }
            }
        }
    }
}

pub fn conv2d_forward(x: &[f32], w: &[f32], bias: Option<&[f32]>, s: &Conv2dSpec) -> Vec<f32> {
    let plane = s.out_h() * s.out_w();
    let mut out = vec![0.0; s.n * s.c_out * plane];
    if let Some(b) = bias {
        for (i, v) in out.iter_mut().enumerate() {
            *v = b[(i / plane) % s.c_out];
        }
    }
    for_each_tap(s, |xi, wi, yi, _| out[yi] += x[xi] * w[wi]);
    out
}

pub fn conv2d_backward_input(dy: &[f32], w: &[f32], s: &Conv2dSpec) -> Vec<f32> {
    let mut dx = vec![0.0; s.n * s.c_in * s.h * s.w];
    for_each_tap(s, |xi, wi, yi, _| dx[xi] += dy[yi] * w[wi]);
    dx
}

pub fn conv2d_backward_weight(x: &[f32], dy: &[f32], s: &Conv2dSpec) -> Vec<f32> {
    let mut dw = vec![0.0; s.c_out * s.c_in * s.kh * s.kw];
    for_each_tap(s, |xi, wi, yi, _| dw[wi] += dy[yi] * x[xi]);
    dw
}
