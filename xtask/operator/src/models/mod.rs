//! The read models room: what several commands read of a deployed stage,
//! read one way, and the two writes they share. The queues and their dead
//! letters ([`queues`]), the functions' log lines ([`logs`]), the alarms
//! ([`alarms`]) and who hears them ([`alerts`]), the functions' code against
//! what the stack names ([`code`]), the release records ([`releases`]), the
//! bus's rules ([`rules`]), a sweep's report ([`sweep_report`]); putting an
//! event on the bus
//! ([`events`]) and invoking a function ([`invoke`]).
//!
//! It imports the foundations, session, CloudFormation and artifacts rooms.

pub mod alarms;
pub mod alerts;
pub mod code;
pub mod events;
pub mod invoke;
pub mod logs;
pub mod queues;
pub mod releases;
pub mod rules;
pub mod sweep_report;
