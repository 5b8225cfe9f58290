//! Black-box tests: the real `coffer` binary over real sockets, on SQLite and PostgreSQL.

mod common;
mod s3_server;

mod basics;
mod meta_contract;
mod s3;
