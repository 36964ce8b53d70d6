//! Chargeback: who spent what. Reports and monthly statements are read from the hourly usage roll-ups
//! (`store::reports`); this module decides their periods and turns their rows into the columns finance reads,
//! the same columns in the same order for JSON and CSV, so the two formats of one report always agree.

pub mod period;
pub mod statement;
pub mod table;

pub use table::{Column, CsvEncoder, columns};
