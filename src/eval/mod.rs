//! Evaluation on real data.
