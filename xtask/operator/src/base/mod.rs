//! The foundations room: what every other room stands on, with no AWS in
//! it. How the commands talk to a person ([`ui`]: one `Out`, one table
//! printer, colours, and the one table of who must confirm what on which
//! stage), the exit codes ([`exit`]: one table), the stage files as the
//! commands read them ([`stage`]), times and durations on the command line
//! ([`when`]), and the
//! toolchain: the pinned Python tools ([`tools`]) and the cargo-lambda
//! build of the functions ([`build`]).
//!
//! It imports no other room.

pub mod build;
pub mod exit;
pub mod stage;
pub mod tools;
pub mod ui;
pub mod when;
