//! copyhound: finds near-duplicate copies of a news outlet's articles on the web.
//!
//! The crate is organised by pipeline stage. The pure core (`text`, `fingerprint`,
//! `detect`, `extract`) takes bytes and strings and returns values: it never touches the
//! network, the disk or the clock. I/O lives at the edges (`config`, `eval`, `cli`).
//! See `ARCHITECTURE.md` for the map.

pub mod boilerplate;
pub mod cases;
pub mod cli;
pub mod config;
pub mod crawl;
pub mod daemon;
pub mod dashboard;
pub mod demo;
pub mod detect;
pub mod eval;
pub mod evidence;
pub mod examine;
pub mod export;
pub mod extract;
pub mod fetch;
pub mod fingerprint;
pub mod index;
pub mod licences;
pub mod notify;
pub mod originals;
pub mod review;
pub mod store;
pub mod text;
pub mod web;
pub mod webarchive;
