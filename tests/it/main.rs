//! Black-box tests: the real `coffer` binary over real sockets, on SQLite and PostgreSQL.

mod common;
mod s3;
mod s3_server;

mod auth_matrix;
mod basics;
mod concurrency;
mod config_buckets;
mod downloads;
mod errors;
mod keys;
mod limits;
mod listing;
mod meta_contract;
mod objects;
mod sdk_requests;
mod startup;
mod strategies;
