//! Evaluation on real data.

pub mod extraction;
