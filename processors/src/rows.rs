//! Translation between the engine's typed rows and the stores' `(kind, id, body)` rows: the one
//! place the stored row format meets the engine.

use engine::{RowChange, ShowState, StateRow};
use schemas::ShowId;

use crate::store::{Row, StoreError, StoredShow};

/// Encode the engine's changed rows for a store write.
pub fn encode_changes(changes: Vec<RowChange>) -> Result<Vec<Row>, StoreError> {
    changes.into_iter().map(encode_change).collect()
}

fn encode_change(change: RowChange) -> Result<Row, StoreError> {
    let key = change.key();
    let body = match &change {
        RowChange::Put(row) => Some(
            row.encode_body()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        ),
        RowChange::Delete(_) => None,
    };
    Ok(Row {
        kind: key.kind().code(),
        id: key.id(),
        body,
    })
}

/// Rebuild a show's engine state from its stored rows.
pub fn restore(show: ShowId, stored: &StoredShow) -> Result<ShowState, StoreError> {
    let rows = stored
        .rows
        .iter()
        .filter_map(|row| row.body.as_deref().map(|body| (row.kind, row.id, body)))
        .map(|(kind, id, body)| {
            StateRow::decode(kind, id, body).map_err(|e| StoreError::Corrupt(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    ShowState::restore(show, rows).map_err(|e| StoreError::Corrupt(e.to_string()))
}
