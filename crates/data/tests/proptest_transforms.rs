//! Properties of the transforms and the loader over random inputs and parameters.

use std::sync::Arc;

use kiln_data::transforms::{
    Interpolation, adjust_brightness, adjust_contrast, adjust_hue, adjust_saturation, crop_padded,
    hflip, rotate,
};
use kiln_data::{
    ColorJitter, Compose, DataLoader, Image, LoaderConfig, Normalize, RandomCrop, RandomErasing,
    RandomHorizontalFlip, RandomRotation, SampleRng, Scratch, Transform, synthetic,
};
use proptest::prelude::*;
use rand::SeedableRng;

fn image() -> impl Strategy<Value = Image> {
    (1usize..24, 1usize..24).prop_flat_map(|(h, w)| {
        proptest::collection::vec(any::<u8>(), 3 * h * w)
            .prop_map(move |data| Image::new(data, [3, h, w]).unwrap())
    })
}

fn interp() -> impl Strategy<Value = Interpolation> {
    prop_oneof![Just(Interpolation::Nearest), Just(Interpolation::Bilinear)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn functional_transforms_keep_the_shape(
        img in image(),
        f in 0.0f64..3.0,
        hue in -0.5f64..0.5,
        deg in -400.0f64..400.0,
        mode in interp(),
        fill in any::<u8>(),
    ) {
        let s = img.shape();
        for out in [
            hflip(&img),
            rotate(&img, deg, mode, fill),
            adjust_brightness(&img, f),
            adjust_contrast(&img, f),
            adjust_saturation(&img, f),
            adjust_hue(&img, hue),
        ] {
            prop_assert_eq!(out.shape(), s);
            prop_assert_eq!(out.data.len(), s.iter().product::<usize>());
        }
    }

    #[test]
    fn flip_twice_and_neutral_parameters_are_identity(img in image(), mode in interp()) {
        prop_assert_eq!(&hflip(&hflip(&img)), &img);
        prop_assert_eq!(&rotate(&img, 0.0, mode, 9), &img);
        prop_assert_eq!(&rotate(&img, 360.0, mode, 9), &img);
        prop_assert_eq!(&adjust_brightness(&img, 1.0), &img);
        prop_assert_eq!(&adjust_contrast(&img, 1.0), &img);
        prop_assert_eq!(&adjust_saturation(&img, 1.0), &img);
        let square = Image::new(img.data[..3 * img.height.min(img.width).pow(2)].to_vec(),
            [3, img.height.min(img.width), img.height.min(img.width)]).unwrap();
        prop_assert_eq!(&crop_padded(&square, 3, 3, 3, square.width, 0), &square);
    }

    #[test]
    fn rotating_by_180_nearest_turns_the_image_over(img in image()) {
        let rotated = rotate(&img, 180.0, Interpolation::Nearest, 0);
        let (h, w) = (img.height, img.width);
        for c in 0..3 {
            for y in 0..h {
                for x in 0..w {
                    prop_assert_eq!(
                        rotated.data[(c * h + y) * w + x],
                        img.data[(c * h + h - 1 - y) * w + w - 1 - x]
                    );
                }
            }
        }
    }

    #[test]
    fn random_pipelines_keep_shape_range_and_finiteness(
        img in image(),
        seed in any::<u64>(),
        deg in 0.0f64..180.0,
        mode in interp(),
        b in 0.0f64..1.0, c in 0.0f64..1.0, s in 0.0f64..1.0, h in 0.0f64..0.5,
        pad in 0usize..6,
        size in 1usize..30,
        p in 0.0f64..1.0,
    ) {
        let norm = Normalize::new(&[0.4, 0.5, 0.6], &[0.2, 0.25, 0.3]).unwrap();
        let (lo, hi) = norm.output_range();
        let t = Compose::new(norm)
            .then(RandomRotation::new(deg, mode, 0))
            .then(ColorJitter::new(b, c, s, h))
            .then(RandomHorizontalFlip::new(p))
            .then(RandomCrop::new(size, pad, 0));
        let out_shape = t.output_shape(img.shape());
        prop_assert_eq!(out_shape, [3, size, size]);
        let mut out = vec![f32::NAN; out_shape.iter().product()];
        let mut rng = SampleRng::seed_from_u64(seed);
        t.apply(&img.data, img.shape(), &mut rng, &mut Scratch::new(), &mut out);
        prop_assert!(out.iter().all(|v| v.is_finite() && *v >= lo && *v <= hi));

        let erasing = Compose::cifar_eval().then_tensor(RandomErasing::new(1.0));
        let mut out2 = vec![f32::NAN; img.data.len()];
        erasing.apply(&img.data, img.shape(), &mut rng, &mut Scratch::new(), &mut out2);
        prop_assert!(out2.iter().all(|v| v.is_finite() && (-1.0..=1.0).contains(v)));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    #[test]
    fn loader_output_is_the_same_for_1_and_4_workers(
        n in 1usize..60,
        batch_size in 1usize..17,
        seed in any::<u64>(),
        shuffle in any::<bool>(),
        drop_last in any::<bool>(),
        epoch in 0u64..5,
    ) {
        let ds = Arc::new(synthetic(n, seed ^ 1));
        let t = Arc::new(Compose::cifar_train());
        let run = |workers| {
            let cfg = LoaderConfig { batch_size, shuffle, drop_last, seed, workers, prefetch: 2 };
            DataLoader::new(ds.clone(), cfg, t.clone()).unwrap().epoch(epoch).collect::<Vec<_>>()
        };
        let one = run(1);
        prop_assert_eq!(&one, &run(4));
        let expected = if drop_last { n / batch_size } else { n.div_ceil(batch_size) };
        prop_assert_eq!(one.len(), expected);
    }
}
