//! The embedded adapters (dev mode): the same partition loop with an in-process log ([`MemLog`]), an embedded on-disk
//! store ([`EmbeddedStore`]), in-process events ([`crate::events::EventHub`]) and a
//! [`LocalBus`]; [`DevPipeline`] wires them for `boxoffice dev`.

mod bus;
mod log;
mod pipeline;
mod store;

pub use bus::LocalBus;
pub use log::{MEM_LOG_QUEUE_CAPACITY, MemLog, MemLogHub};
pub use pipeline::{DevError, DevPipeline, PIPELINE_FILE, PipelineConfig};
pub use store::EmbeddedStore;
