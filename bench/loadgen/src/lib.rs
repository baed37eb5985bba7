//! Open-loop HTTP load generation for boxoffice's benchmarks and fault campaigns.
//!
//! Arrivals follow a fixed schedule at an offered rate and every latency counts from the
//! *scheduled* send time, so a generator that falls behind, a full connection pool or a server
//! that queues requests all show up in the numbers instead of slowing the load down (the
//! coordinated-omission trap of closed-loop tools). CPU is read per process from `/proc` over
//! the measured window, so a report can say where the time of one operation went.
//!
//! The pieces are independent: [`schedule`] drives arrivals, [`stats`] summarises samples,
//! [`cpu`] samples processes, [`target`] speaks the booking API of boxoffice and of the PG-LOCK
//! baseline, [`workload`] runs the flash-sale workloads, [`report`] and [`plot`] turn results
//! into tables, BENCH lines and PNGs.

pub mod cpu;
pub mod plot;
pub mod report;
pub mod schedule;
pub mod stats;
pub mod target;
pub mod workload;
