//! Loop metrics through the `metrics` facade, so the ingress's `/metrics` exporter serves them.
//! Labels are bounded: the partition (a handful) and fixed outcome names.

use std::time::Duration;

use crate::topology::PartitionId;

/// Commands per loop iteration.
pub const BATCH_SIZE: &str = "boxoffice_pipeline_batch_size";
/// Seconds spent deciding one show's commands.
pub const DECIDE_SECONDS: &str = "boxoffice_pipeline_decide_seconds";
/// Seconds from index write to the conditional batch's answer.
pub const PERSIST_SECONDS: &str = "boxoffice_pipeline_persist_seconds";
/// Seconds to publish a batch's events.
pub const PUBLISH_SECONDS: &str = "boxoffice_pipeline_publish_seconds";
/// Seconds to send a batch's replies (after its conditional batch committed).
pub const REPLY_SECONDS: &str = "boxoffice_pipeline_reply_seconds";
/// Seconds the loop waited for the previous batch's events to be out before acknowledging it.
pub const TAIL_WAIT_SECONDS: &str = "boxoffice_pipeline_tail_wait_seconds";
/// Seconds to acknowledge a batch (cumulatively) once its events are out.
pub const ACK_SECONDS: &str = "boxoffice_pipeline_ack_seconds";
/// Commands waiting in the partition behind the last delivered one.
pub const LAG: &str = "boxoffice_pipeline_lag";
/// Commands by result (`accepted`, `rejected`, `recalled`, `redelivered`, `malformed`).
pub const COMMANDS: &str = "boxoffice_pipeline_commands_total";
/// Conditional batches refused by the fence.
pub const FENCE_CONFLICTS: &str = "boxoffice_pipeline_fence_conflicts_total";

pub(crate) fn batch_size(partition: &PartitionId, n: usize) {
    metrics::histogram!(BATCH_SIZE, "partition" => partition.0.clone()).record(n as f64);
}

pub(crate) fn decide_time(partition: &PartitionId, d: Duration) {
    metrics::histogram!(DECIDE_SECONDS, "partition" => partition.0.clone()).record(d.as_secs_f64());
}

pub(crate) fn persist_time(partition: &PartitionId, d: Duration) {
    metrics::histogram!(PERSIST_SECONDS, "partition" => partition.0.clone())
        .record(d.as_secs_f64());
}

pub(crate) fn publish_time(partition: &PartitionId, d: Duration) {
    metrics::histogram!(PUBLISH_SECONDS, "partition" => partition.0.clone())
        .record(d.as_secs_f64());
}

pub(crate) fn reply_time(partition: &PartitionId, d: Duration) {
    metrics::histogram!(REPLY_SECONDS, "partition" => partition.0.clone()).record(d.as_secs_f64());
}

pub(crate) fn tail_wait_time(partition: &PartitionId, d: Duration) {
    metrics::histogram!(TAIL_WAIT_SECONDS, "partition" => partition.0.clone())
        .record(d.as_secs_f64());
}

pub(crate) fn ack_time(partition: &PartitionId, d: Duration) {
    metrics::histogram!(ACK_SECONDS, "partition" => partition.0.clone()).record(d.as_secs_f64());
}

pub(crate) fn lag(partition: &PartitionId, pending: u64) {
    metrics::gauge!(LAG, "partition" => partition.0.clone()).set(pending as f64);
}

pub(crate) fn command(partition: &PartitionId, result: &'static str) {
    metrics::counter!(COMMANDS, "partition" => partition.0.clone(), "result" => result)
        .increment(1);
}

pub(crate) fn fence_conflict(partition: &PartitionId) {
    metrics::counter!(FENCE_CONFLICTS, "partition" => partition.0.clone()).increment(1);
}
