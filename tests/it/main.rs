//! Black-box tests: the real `coffer` binary over real sockets, on SQLite and PostgreSQL.

mod common;

mod basics;
mod meta_contract;
