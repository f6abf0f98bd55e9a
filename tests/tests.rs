//! Integration tests: the `cbrrel` binary on the project's fixtures and, where present, on the
//! public corpora in ../shared/data (read directly, never copied). One test binary, because
//! linking libtorch is slow.

mod annotate;
mod cli;
mod corpus_shared;
mod gpu_check;
mod graph;
mod layers;
mod model;
mod serve;
mod setup;
mod torch_reference;
mod util;
