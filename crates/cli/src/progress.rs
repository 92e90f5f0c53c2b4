//! Progress bars (indicatif) with rate and ETA for every pass of a run, and one line per
//! epoch; hidden when asked or when stderr is not a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use kiln_tensor::Backend;
use kiln_train::{Callbacks, EpochEnd, StepInfo, Verdict};

/// A progress bar over `len` steps, labelled `prefix`.
pub fn bar(len: u64, prefix: &str, visible: bool) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(
        Some(len),
        if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    let style = ProgressStyle::with_template(
        "{prefix:>12} [{bar:30.cyan/blue}] {pos}/{len} {msg} [{elapsed_precise} < {eta}]",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    pb.set_style(style);
    pb.set_prefix(prefix.to_string());
    pb
}

/// Draws a run's passes as bars and prints a line per epoch to stderr.
pub struct Progress {
    bar: Option<ProgressBar>,
    /// The run's epochs, for "epoch 3/10".
    pub epochs: usize,
    /// Print the early-stopping counter after each epoch.
    pub early_stop: bool,
    pub visible: bool,
}

impl Progress {
    pub fn new(epochs: usize, early_stop: bool) -> Self {
        Progress {
            bar: None,
            epochs,
            early_stop,
            visible: true,
        }
    }
}

impl<B: Backend> Callbacks<B> for Progress {
    fn pass_start(&mut self, name: &str, steps: usize) {
        self.bar = Some(bar(steps as u64, name, self.visible));
    }
    fn step(&mut self, s: &StepInfo) {
        if let Some(b) = &self.bar {
            if s.images_per_sec > 0.0 {
                b.set_message(format!(
                    "loss {:.4} acc {:.1}% {:.0} img/s lr {:.2e}",
                    s.loss,
                    100.0 * s.accuracy,
                    s.images_per_sec,
                    s.lr
                ));
            }
            b.set_position(s.step as u64);
        }
    }
    fn pass_end(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
    fn epoch_end(&mut self, e: &EpochEnd<'_, B>) -> kiln_train::Result<()> {
        let r = e.record;
        let val = match (r.val_loss, r.val_accuracy) {
            (Some(l), Some(a)) => format!(" | val loss {l:.4} acc {:5.1}%", 100.0 * a),
            _ => String::new(),
        };
        eprintln!(
            "epoch {:>3}/{}: train loss {:.4} acc {:5.1}%{val} | test loss {:.4} acc {:5.1}% | {:.0} img/s{}",
            r.epoch,
            self.epochs,
            r.train_loss,
            100.0 * r.train_accuracy,
            r.test_loss,
            100.0 * r.test_accuracy,
            r.train_images_per_sec,
            if r.improved {
                " | best so far, saved"
            } else {
                ""
            }
        );
        if self.early_stop {
            match e.verdict {
                Verdict::NoImprovement { count, patience } => {
                    eprintln!("early stop counter: {count}/{patience}")
                }
                Verdict::Stop => eprintln!(
                    "early stopping: no improvement for {} epochs",
                    e.state.early_stopping.patience
                ),
                Verdict::Improved => {}
            }
        }
        Ok(())
    }
}
