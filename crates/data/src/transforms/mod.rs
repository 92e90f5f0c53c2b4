//! Image transforms with torchvision's semantics.
//!
//! Random transforms ([`ImageOp`]) work on a u8 CHW [`Image`] with a per-sample RNG; the final
//! [`Normalize`] turns the bytes into f32 (`(x / 255 - mean) / std`), after which [`TensorOp`]s
//! such as [`RandomErasing`] may run. [`Compose`] chains them and implements [`Transform`], the
//! interface the [`DataLoader`](crate::DataLoader) calls.
//!
//! Every random transform has a deterministic functional form ([`hflip`], [`rotate`],
//! [`adjust_brightness`], [`adjust_contrast`], [`adjust_saturation`], [`adjust_hue`],
//! [`crop_padded`], [`normalize`], [`erase`]) that reproduces torchvision's functional API on
//! uint8 tensors, including its rounding.

mod color;
mod crop;
mod erase;
mod flip;
mod normalize;
mod recipe;
mod rotate;

use std::fmt::Debug;

pub use color::{ColorJitter, adjust_brightness, adjust_contrast, adjust_hue, adjust_saturation};
pub use crop::{RandomCrop, crop_padded};
pub use erase::{Cutout, EraseValue, RandomErasing, erase};
pub use flip::{RandomHorizontalFlip, hflip};
pub use normalize::{Normalize, normalize};
pub use recipe::Augmentation;
pub use rotate::{Interpolation, RandomRotation, rotate};

use crate::error::{DataError, Result};

/// The RNG handed to transforms: one per sample, seeded from (seed, epoch, position).
pub type SampleRng = rand::rngs::Xoshiro256PlusPlus;

/// A u8 image in CHW layout.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Image {
    /// `channels * height * width` bytes, channel-major.
    pub data: Vec<u8>,
    /// Number of channels.
    pub channels: usize,
    /// Height in pixels.
    pub height: usize,
    /// Width in pixels.
    pub width: usize,
}

impl Image {
    /// Wraps CHW bytes; fails when their number is not `channels * height * width`.
    pub fn new(data: Vec<u8>, [channels, height, width]: [usize; 3]) -> Result<Self> {
        if data.len() != channels * height * width {
            return Err(DataError::Invalid(format!(
                "{} bytes do not make a {channels}x{height}x{width} image",
                data.len()
            )));
        }
        Ok(Image {
            data,
            channels,
            height,
            width,
        })
    }

    /// `[channels, height, width]`.
    pub fn shape(&self) -> [usize; 3] {
        [self.channels, self.height, self.width]
    }

    /// Pixels per channel.
    pub fn plane(&self) -> usize {
        self.height * self.width
    }

    /// Replaces the content with a copy of `data` of the given shape, reusing the allocation.
    pub(crate) fn assign(&mut self, data: &[u8], [c, h, w]: [usize; 3]) {
        self.data.clear();
        self.data.extend_from_slice(data);
        self.channels = c;
        self.height = h;
        self.width = w;
    }
}

/// Buffers that transforms reuse between images, so the hot path does not allocate.
#[derive(Debug, Default)]
pub struct Scratch {
    image: Image,
    aux: Aux,
}

impl Scratch {
    /// Empty buffers; they grow to the needed size on first use.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Working buffers lent to an [`ImageOp`].
#[derive(Debug, Default)]
pub struct Aux {
    pub(crate) bytes: Vec<u8>,
    pub(crate) padded: Vec<u8>,
    pub(crate) xs: Vec<f32>,
    pub(crate) index: Vec<u32>,
    pub(crate) corners: Vec<[u32; 4]>,
    pub(crate) weights: Vec<[f32; 4]>,
}

/// A (usually random) transform of a u8 CHW image, applied in place.
pub trait ImageOp: Send + Sync + Debug {
    /// Transforms `img`, drawing any randomness from `rng`.
    fn apply(&self, img: &mut Image, aux: &mut Aux, rng: &mut SampleRng);

    /// Shape of the output for an input of shape `input` (unchanged by default).
    fn output_shape(&self, input: [usize; 3]) -> [usize; 3] {
        input
    }
}

/// A (usually random) transform of a normalised f32 CHW image, applied in place.
pub trait TensorOp: Send + Sync + Debug {
    /// Transforms `data` (shape `shape`), drawing any randomness from `rng`.
    fn apply(&self, data: &mut [f32], shape: [usize; 3], rng: &mut SampleRng);
}

/// What the [`DataLoader`](crate::DataLoader) applies to each sample: u8 CHW in, f32 CHW out.
pub trait Transform: Send + Sync {
    /// Output shape for an input of shape `input`.
    fn output_shape(&self, input: [usize; 3]) -> [usize; 3];

    /// Transforms `image` (shape `shape`) into `out`, whose length is the product of
    /// `output_shape(shape)`.
    fn apply(
        &self,
        image: &[u8],
        shape: [usize; 3],
        rng: &mut SampleRng,
        scratch: &mut Scratch,
        out: &mut [f32],
    );
}

/// A pipeline: u8 image ops, then [`Normalize`], then f32 tensor ops.
#[derive(Debug)]
pub struct Compose {
    ops: Vec<Box<dyn ImageOp>>,
    normalize: Normalize,
    post: Vec<Box<dyn TensorOp>>,
}

impl Compose {
    /// A pipeline that only normalises.
    pub fn new(normalize: Normalize) -> Self {
        Compose {
            ops: Vec::new(),
            normalize,
            post: Vec::new(),
        }
    }

    /// Appends a u8 image op (run before normalisation, in the order added).
    pub fn then(mut self, op: impl ImageOp + 'static) -> Self {
        self.ops.push(Box::new(op));
        self
    }

    /// Appends an f32 op (run after normalisation, in the order added).
    pub fn then_tensor(mut self, op: impl TensorOp + 'static) -> Self {
        self.post.push(Box::new(op));
        self
    }

    /// The seed project's training pipeline: rotation by up to 20 degrees (nearest, fill 0),
    /// ColorJitter(brightness 0.2, hue 0.1), horizontal flip with p 0.5, normalise with mean
    /// 0.5 and std 0.5 per channel.
    pub fn cifar_train() -> Self {
        Augmentation::walkthrough().compose(Normalize::half(), 32, 32)
    }

    /// The evaluation pipeline: normalise with mean 0.5 and std 0.5 only.
    pub fn cifar_eval() -> Self {
        Compose::new(Normalize::half())
    }

    /// Runs the u8 ops on a copy of `image` and returns the augmented bytes (no normalisation).
    pub fn augment(&self, image: &Image, rng: &mut SampleRng) -> Image {
        let mut img = image.clone();
        let mut aux = Aux::default();
        for op in &self.ops {
            op.apply(&mut img, &mut aux, rng);
        }
        img
    }

    /// Runs the whole pipeline on one image with an RNG seeded from `seed` (for previews and
    /// single-image prediction; the loader calls [`Transform::apply`] itself).
    pub fn apply_one(&self, image: &Image, seed: u64) -> Vec<f32> {
        use rand::SeedableRng;
        let shape = image.shape();
        let mut out = vec![0f32; self.output_shape(shape).iter().product()];
        let mut rng = SampleRng::seed_from_u64(seed);
        self.apply(&image.data, shape, &mut rng, &mut Scratch::new(), &mut out);
        out
    }

    /// The normalisation step.
    pub fn normalization(&self) -> &Normalize {
        &self.normalize
    }
}

impl Transform for Compose {
    fn output_shape(&self, input: [usize; 3]) -> [usize; 3] {
        self.ops.iter().fold(input, |s, op| op.output_shape(s))
    }

    fn apply(
        &self,
        image: &[u8],
        shape: [usize; 3],
        rng: &mut SampleRng,
        scratch: &mut Scratch,
        out: &mut [f32],
    ) {
        let Scratch { image: img, aux } = scratch;
        img.assign(image, shape);
        for op in &self.ops {
            op.apply(img, aux, rng);
        }
        self.normalize.apply_into(img, out);
        let out_shape = img.shape();
        for op in &self.post {
            op.apply(out, out_shape, rng);
        }
    }
}
