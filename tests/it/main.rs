//! All integration tests build into this one binary (ripgrep style); `util` is the
//! shared harness.

mod alerts;
mod browser;
mod capture;
mod cases;
mod cli;
mod crawl;
mod daemon;
mod dashboard;
mod desk_cases;
mod detection;
mod evidence;
mod evidence_report;
mod exports;
mod extract;
mod ingest;
mod licences;
mod pipeline;
mod postgres;
mod review;
mod shared_evidence;
mod site;
mod timestamps;
mod tsa;
mod util;
mod warc;
mod web;
mod webhooks;
