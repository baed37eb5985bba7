//! The catalog's error boundary: validation (the caller's input is wrong, names the field), missing
//! things, and storage/search failures (retryable or fatal).

use schemas::{EventId, ShowId, VenueId};

/// Input the catalog refuses. `field()` is the contract's JSON path of the offending value
/// (`sections[1].currency`), which the ingress reports in its `400 invalid-request`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// A required text is empty or blank.
    #[error("{field} must not be empty")]
    Empty {
        /// Offending field.
        field: String,
    },
    /// A text is longer than allowed.
    #[error("{field} must be at most {max} characters")]
    TooLong {
        /// Offending field.
        field: String,
        /// Maximum length in characters.
        max: usize,
    },
    /// A number is outside its allowed range.
    #[error("{field} must be between {min} and {max}")]
    OutOfRange {
        /// Offending field.
        field: String,
        /// Smallest allowed value.
        min: i64,
        /// Largest allowed value.
        max: i64,
    },
    /// A list is empty or longer than allowed.
    #[error("{field} must have between {min} and {max} entries")]
    BadLength {
        /// Offending field.
        field: String,
        /// Fewest entries.
        min: usize,
        /// Most entries.
        max: usize,
    },
    /// An id that must be unique appears twice.
    #[error("{field} repeats {value:?}")]
    Duplicate {
        /// Offending field.
        field: String,
        /// The repeated value.
        value: String,
    },
    /// Not a three-letter upper-case ISO 4217 code.
    #[error("{field} must be an ISO 4217 code like \"USD\"")]
    BadCurrency {
        /// Offending field.
        field: String,
    },
    /// A venue's sections use more than one currency; a show has one currency.
    #[error(
        "{field} is {found} but the venue's first section uses {expected}: one currency per venue"
    )]
    MixedCurrency {
        /// Offending field.
        field: String,
        /// The first section's currency.
        expected: String,
        /// The differing currency.
        found: String,
    },
    /// A date or time is before the one it must follow.
    #[error("{field} must not be before {other}")]
    BadOrder {
        /// Offending field.
        field: String,
        /// The field it is compared with.
        other: String,
    },
    /// A text contains control characters (newlines, NUL, ...).
    #[error("{field} must not contain control characters")]
    Unprintable {
        /// Offending field.
        field: String,
    },
    /// A URL that is not `http(s)://...`.
    #[error("{field} must be an http or https URL")]
    BadUrl {
        /// Offending field.
        field: String,
    },
}

impl ValidationError {
    /// The offending field's JSON path.
    pub fn field(&self) -> &str {
        match self {
            ValidationError::Empty { field }
            | ValidationError::TooLong { field, .. }
            | ValidationError::OutOfRange { field, .. }
            | ValidationError::BadLength { field, .. }
            | ValidationError::Duplicate { field, .. }
            | ValidationError::BadCurrency { field }
            | ValidationError::MixedCurrency { field, .. }
            | ValidationError::BadOrder { field, .. }
            | ValidationError::Unprintable { field }
            | ValidationError::BadUrl { field } => field,
        }
    }
}

/// Failure of the storage behind the catalog.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The backing service is down or timed out; retrying later may succeed (API: 503).
    #[error("catalog store unavailable: {0}")]
    Unavailable(String),
    /// Stored data cannot be read back, or the store refused the operation for good.
    #[error("catalog store failed: {0}")]
    Fatal(String),
}

impl StoreError {
    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Unavailable(_) => true,
            StoreError::Fatal(_) => false,
        }
    }
}

/// Everything a catalog operation can fail with.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CatalogError {
    /// Bad input; nothing was changed (API: 400 naming `field()`).
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The venue does not exist.
    #[error("venue {0} not found")]
    VenueNotFound(VenueId),
    /// The event does not exist.
    #[error("event {0} not found")]
    EventNotFound(EventId),
    /// The show does not exist.
    #[error("show {0} not found")]
    ShowNotFound(ShowId),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The search index failed (fatal: the index is in this process).
    #[error("search index failed: {0}")]
    Search(String),
}

impl CatalogError {
    /// Whether the same call may succeed later (API: 503 with `Retry-After`).
    pub fn is_retryable(&self) -> bool {
        match self {
            CatalogError::Store(e) => e.is_retryable(),
            CatalogError::Invalid(_)
            | CatalogError::VenueNotFound(_)
            | CatalogError::EventNotFound(_)
            | CatalogError::ShowNotFound(_)
            | CatalogError::Search(_) => false,
        }
    }
}

impl From<tantivy::TantivyError> for CatalogError {
    fn from(e: tantivy::TantivyError) -> Self {
        CatalogError::Search(e.to_string())
    }
}
