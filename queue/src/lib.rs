//! The fair virtual waiting room.
