//! kiln-data: CIFAR-10 readers, image folders, a synthetic dataset, torchvision-style
//! transforms and a multi-threaded, deterministic DataLoader.
//!
//! Every load verifies the files it reads against the checksum lists beside them
//! (`SHA256SUMS`, `MD5SUMS`; see [`integrity`] for the rule) and rejects identical batch
//! files; what was verified, and any warning for the user, is [`Dataset::integrity`].
//!
//! Batches are host memory (`Vec<f32>` NCHW plus labels), so any backend can take them; this
//! crate does not depend on kiln-tensor.
//!
//! ```no_run
//! use std::sync::Arc;
//! use kiln_data::{Compose, DataLoader, LoaderConfig, Split, load};
//!
//! let train = Arc::new(load("data".as_ref(), Split::Train)?);
//! println!("training on {}", train.source());
//! let cfg = LoaderConfig { batch_size: 512, seed: 1, ..LoaderConfig::default() };
//! let loader = DataLoader::new(train, cfg, Arc::new(Compose::cifar_train()))?;
//! for batch in loader.epoch(0) {
//!     assert_eq!(batch.images.len(), batch.shape.iter().product::<usize>());
//! }
//! # Ok::<(), kiln_data::DataError>(())
//! ```

pub mod checksum;
pub mod cifar_binary;
pub mod cifar_python;
pub mod dataset;
pub mod detect;
pub mod download;
pub mod error;
pub mod image_folder;
pub mod integrity;
pub mod loader;
pub mod synthetic;
pub mod transforms;
pub mod verify;

pub use checksum::{Algorithm, ChecksumList, ChecksumSource, MD5SUMS, SHA256SUMS};
pub use cifar_binary::load_cifar_binary;
pub use cifar_python::load_cifar_python;
pub use dataset::{CIFAR10_CLASSES, Dataset, Split};
pub use detect::{
    DATA_ENV, Layout, LoadOptions, default_data_dir, detect_layout, load, load_options, load_with,
};
pub use download::{
    CIFAR10_BINARY_MD5, CIFAR10_BINARY_URL, download_cifar10, download_cifar10_with_md5,
};
pub use error::{DataError, Result};
pub use image_folder::{
    decode_image_file, decode_image_file_sized, load_image_folder, load_image_folder_split,
    memory_limit,
};
pub use integrity::{Checksums, DataWarning, Integrity};
pub use loader::{Batch, DataLoader, EpochIter, LoaderConfig};
pub use synthetic::{SYNTHETIC_CLASSES, synthetic};
pub use transforms::{
    Augmentation, ColorJitter, Compose, Cutout, EraseValue, Image, ImageOp, Interpolation,
    Normalize, RandomCrop, RandomErasing, RandomHorizontalFlip, RandomRotation, SampleRng, Scratch,
    TensorOp, Transform,
};
pub use verify::{FolderCheck, WrittenLists, verify_folder, write_checksums};
