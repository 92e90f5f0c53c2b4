//! Tests of the tensor-core engine's host side: halo layouts (rows bound, bank rules, shared
//! memory) and their agreement with the emulator's port.
use super::*;

fn spec(n: usize, c: usize, hw: usize, co: usize, k: usize, stride: usize) -> Conv2dSpec {
    Conv2dSpec {
        n,
        c_in: c,
        h: hw,
        w: hw,
        c_out: co,
        kh: k,
        kw: k,
        stride: (stride, stride),
        padding: (0, 0),
        dilation: (1, 1),
    }
}

/// Every window's rows, by brute force over all blocks (what the kernels compute).
fn max_rows_brute(s: &Conv2dSpec, pass: Pass, bn: usize) -> usize {
    let tr = pass == Pass::BackwardInput;
    let (sh, sw) = (s.stride.0 as i64, s.stride.1 as i64);
    let mut most = 0;
    for z in 0..if tr { sh * sw } else { 1 } {
        let ay = axis(
            tr,
            z / sw,
            s.padding.0 as i64,
            s.dilation.0 as i64,
            sh,
            s.kh as i64,
        );
        let (gh, gw, gsh) = if tr {
            let g = |p: i64, n: usize, st: i64| {
                if p < n as i64 {
                    (n as i64 - p + st - 1) / st
                } else {
                    0
                }
            };
            (g(z / sw, s.h, sh), g(z % sw, s.w, sw), 1)
        } else {
            (s.out_h() as i64, s.out_w() as i64, sh)
        };
        let per = gh * gw;
        let ncols = s.n as i64 * per;
        let span = ay.hi - ay.lo;
        let hp = (gh - 1) * gsh + span + 1;
        let row = |q: i64| (q / per) * hp + (q % per) / gw * gsh;
        for q0 in (0..ncols).step_by(bn) {
            let q1 = (q0 + bn as i64).min(ncols);
            most = most.max(row(q1 - 1) + span + 1 - row(q0));
        }
    }
    most as usize
}

#[test]
fn the_rows_bound_covers_every_window() {
    let cases = [
        (spec(512, 48, 30, 48, 3, 1), 256),
        (spec(512, 96, 26, 96, 3, 2), 128),
        (spec(7, 5, 11, 9, 5, 2), 128),
        (spec(3, 4, 9, 4, 1, 3), 256),
    ];
    for (s, bn) in cases {
        for pass in [Pass::Forward, Pass::BackwardInput] {
            let l = layout(&s, pass, bn);
            assert!(l.hrows >= max_rows_brute(&s, pass, bn), "{s:?} {pass:?}");
            assert!(l.plane >= l.hrows * l.pitch && l.plane % 16 == 8);
        }
        let l = layout(&s, Pass::BackwardWeight, BQ);
        assert!(l.hrows >= max_rows_brute(&s, Pass::Forward, BQ));
        assert!(l.plane % 8 == 4);
    }
}

#[test]
fn confignet_layouts_are_conflict_free_and_fit_an_h100() {
    // conv2, conv3, conv4 of ConfigNet(48/96/256) at batch 512
    for s in [
        spec(512, 48, 30, 48, 3, 1),
        spec(512, 48, 28, 96, 3, 1),
        spec(512, 96, 26, 96, 3, 2),
    ] {
        for pass in [Pass::Forward, Pass::BackwardInput, Pass::BackwardWeight] {
            let bn = if pass == Pass::BackwardWeight {
                BQ
            } else {
                NARROW
            };
            let l = layout(&s, pass, bn);
            // 8 positions across a row break stay on distinct banks
            let (gsh, gw) = match pass {
                Pass::BackwardInput => (1, s.h.div_ceil(s.stride.0)),
                _ => (s.stride.0, s.out_w()),
            };
            assert_eq!((gsh * l.pitch) % 8, gw % 8, "{s:?} {pass:?} {l:?}");
            assert!(l.smem <= 227 * 1024, "{s:?} {pass:?} {l:?}");
        }
    }
}

#[test]
fn plans_for_confignet_and_for_too_wide_geometries() {
    let (h100, sm86) = (227 * 1024, 99 * 1024);
    let conv1 = spec(512, 3, 32, 48, 3, 1);
    let conv2 = spec(512, 48, 30, 48, 3, 1);
    let conv3 = spec(512, 48, 28, 96, 3, 1);
    let conv4 = spec(512, 96, 26, 96, 3, 2);
    for s in [conv1, conv2, conv3, conv4] {
        for pass in [Pass::Forward, Pass::BackwardInput, Pass::BackwardWeight] {
            let p = plan_uncached(&s, pass, h100);
            let q = plan_uncached(&s, pass, sm86);
            println!(
                "{pass:?} c{}->{} {}x{} s{}: H100 {:?}, sm_86 {:?}",
                s.c_in,
                s.c_out,
                s.h,
                s.w,
                s.stride.0,
                p.map(|(bn, l)| (bn, l.smem)),
                q.map(|(bn, l)| (bn, l.smem))
            );
            assert!(p.is_some(), "{s:?} {pass:?} fits an H100");
        }
    }
    // a 15x15 kernel on 600-wide rows: the halo alone is ~1 MB
    let mut wide = spec(1, 4, 16, 4, 15, 1);
    wide.w = 600;
    wide.padding = (7, 7);
    for pass in [Pass::Forward, Pass::BackwardInput, Pass::BackwardWeight] {
        assert!(plan_uncached(&wide, pass, h100).is_none(), "{pass:?}");
    }
}

#[test]
fn layouts_match_the_emulators_port() {
    // [hrows, pitch, wq, plane, smem] from tests/cuda_emu/conv_tc.h's tc_layout_h for these
    // geometries, passes and widths: the emulator checks the layouts the host launches
    let geoms = [
        (512, 48, (30, 30), 48, (3, 3), (1, 1), (0, 0), (1, 1)),
        (512, 96, (26, 26), 96, (3, 3), (2, 2), (0, 0), (1, 1)),
        (2, 9, (13, 12), 20, (3, 3), (2, 3), (1, 2), (2, 3)),
        (9, 2, (4, 3), 5, (2, 2), (1, 1), (1, 0), (2, 1)),
        (2, 13, (11, 10), 7, (5, 5), (2, 2), (2, 1), (1, 1)),
    ];
    let want: [[usize; 5]; 45] = [
        [14, 36, 30, 504, 93252],
        [10, 36, 30, 360, 78468],
        [8, 36, 30, 296, 71844],
        [14, 38, 32, 536, 96548],
        [10, 38, 32, 392, 81700],
        [8, 38, 32, 312, 73508],
        [14, 36, 30, 508, 88740],
        [10, 36, 30, 364, 74916],
        [8, 36, 30, 292, 68004],
        [47, 26, 13, 1224, 168412],
        [26, 26, 13, 680, 111988],
        [14, 26, 13, 376, 80404],
        [24, 21, 14, 504, 69520],
        [13, 21, 14, 280, 46784],
        [8, 21, 14, 168, 35472],
        [47, 26, 13, 1228, 157860],
        [26, 26, 13, 676, 104868],
        [14, 26, 13, 364, 74916],
        [161, 18, 6, 2904, 340900],
        [82, 18, 6, 1480, 194084],
        [41, 18, 6, 744, 118180],
        [86, 12, 6, 1032, 144708],
        [44, 12, 6, 536, 95076],
        [22, 12, 6, 264, 67908],
        [161, 18, 6, 2900, 318372],
        [82, 18, 6, 1476, 181668],
        [41, 18, 6, 740, 111012],
        [192, 10, 3, 1928, 208144],
        [96, 10, 3, 968, 113680],
        [48, 10, 3, 488, 66448],
        [130, 11, 4, 1432, 160080],
        [65, 11, 4, 728, 90416],
        [34, 11, 4, 376, 55632],
        [192, 10, 3, 1924, 224676],
        [96, 10, 3, 964, 132516],
        [48, 10, 3, 484, 86436],
        [161, 14, 6, 2264, 346812],
        [82, 14, 6, 1160, 233876],
        [41, 14, 6, 584, 174972],
        [70, 13, 7, 920, 133748],
        [36, 13, 7, 472, 88836],
        [19, 13, 7, 248, 66380],
        [161, 14, 6, 2260, 256932],
        [82, 14, 6, 1148, 150180],
        [41, 14, 6, 580, 95652],
    ];
    let mut got = Vec::new();
    for (n, c_in, (h, w), c_out, (kh, kw), stride, padding, dilation) in geoms {
        let s = Conv2dSpec {
            n,
            c_in,
            h,
            w,
            c_out,
            kh,
            kw,
            stride,
            padding,
            dilation,
        };
        for pass in [Pass::Forward, Pass::BackwardInput, Pass::BackwardWeight] {
            for bn in [256, 128, 64] {
                let l = layout(&s, pass, bn);
                got.push([l.hrows, l.pitch, l.wq, l.plane, l.smem]);
            }
        }
    }
    assert_eq!(got, want);
}
