//! Early stopping as in the walkthrough: watch the test loss; after `patience` epochs without
//! an improvement of more than `min_delta`, stop. A small strategy trait (after burn-train's
//! `EarlyStoppingStrategy`) lets other rules plug in.

use serde::{Deserialize, Serialize};

/// What the strategy concluded from one epoch's monitored value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// A new best: save the weights.
    Improved,
    /// No improvement; `count` of `patience` epochs used up.
    NoImprovement { count: usize, patience: usize },
    /// Patience exhausted: stop training.
    Stop,
}

/// Decides after each epoch whether training goes on.
pub trait EarlyStoppingStrategy {
    /// Takes the epoch's monitored value (lower is better).
    fn update(&mut self, value: f64) -> Verdict;
    /// The best value seen so far.
    fn best(&self) -> Option<f64>;
}

/// Stop after `patience` epochs without improvement (the walkthrough's `EarlyStopping`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    pub patience: usize,
    pub min_delta: f64,
    best: Option<f64>,
    counter: usize,
}

impl EarlyStopping {
    pub fn new(patience: usize, min_delta: f64) -> Self {
        EarlyStopping {
            patience,
            min_delta,
            best: None,
            counter: 0,
        }
    }
    /// Epochs since the last improvement.
    pub fn counter(&self) -> usize {
        self.counter
    }
}

impl EarlyStoppingStrategy for EarlyStopping {
    fn update(&mut self, value: f64) -> Verdict {
        let improved = match self.best {
            None => true,
            Some(b) => value < b - self.min_delta,
        };
        if improved {
            self.best = Some(value);
            self.counter = 0;
            return Verdict::Improved;
        }
        self.counter += 1;
        if self.counter >= self.patience {
            Verdict::Stop
        } else {
            Verdict::NoImprovement {
                count: self.counter,
                patience: self.patience,
            }
        }
    }
    fn best(&self) -> Option<f64> {
        self.best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_resets_on_improvement_and_stops_at_patience() {
        let mut es = EarlyStopping::new(3, 0.0);
        assert_eq!(es.update(1.0), Verdict::Improved);
        assert_eq!(
            es.update(1.1),
            Verdict::NoImprovement {
                count: 1,
                patience: 3
            }
        );
        assert_eq!(
            es.update(1.0),
            Verdict::NoImprovement {
                count: 2,
                patience: 3
            },
            "equal is no improvement"
        );
        assert_eq!(es.update(0.9), Verdict::Improved);
        assert_eq!(es.counter(), 0, "reset on improvement");
        assert_eq!(
            es.update(0.95),
            Verdict::NoImprovement {
                count: 1,
                patience: 3
            }
        );
        assert_eq!(
            es.update(0.95),
            Verdict::NoImprovement {
                count: 2,
                patience: 3
            }
        );
        assert_eq!(es.update(0.95), Verdict::Stop);
        assert_eq!(es.best(), Some(0.9));
    }

    #[test]
    fn min_delta_requires_a_real_improvement() {
        let mut es = EarlyStopping::new(2, 0.1);
        assert_eq!(es.update(1.0), Verdict::Improved);
        assert_eq!(
            es.update(0.95),
            Verdict::NoImprovement {
                count: 1,
                patience: 2
            }
        );
        assert_eq!(es.update(0.85), Verdict::Improved);
        assert_eq!(es.best(), Some(0.85));
    }
}
