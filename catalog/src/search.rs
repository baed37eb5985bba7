//! Event search on a tantivy index held in memory: rebuilt from the store when the catalog opens and
//! updated (commit + reload) on every event write, so a created event is searchable at once.
//!
//! Title and description are tokenized with tantivy's `en_stem` analyzer (lower-cased, English
//! Snowball stemming), so `Concerts` finds `concert`. City and category are exact terms (city
//! lower-cased); dates are day numbers, so "running on a date" is two range clauses.

use std::ops::Bound;
use std::sync::Mutex;

use chrono::{Datelike, NaiveDate};
use schemas::EventId;
use tantivy::collector::{Count, DocSetCollector, TopDocs};
use tantivy::query::{AllQuery, BooleanQuery, Occur, Query, QueryParser, RangeQuery, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::{DocAddress, Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::error::CatalogError;
use crate::model::{Category, Event, EventQuery};

/// Memory the single indexing thread may buffer before flushing a segment (tantivy's floor is
/// 15 MB).
const WRITER_BUFFER_BYTES: usize = 20_000_000;
/// Title matches weigh more than description matches.
const TITLE_BOOST: f32 = 2.0;

#[derive(Clone, Copy)]
struct Fields {
    event_id: Field,
    title: Field,
    description: Field,
    city: Field,
    category: Field,
    start_day: Field,
    end_day: Field,
}

/// What a search found: the matching events in rank order when the query had text (best first),
/// otherwise unordered (the caller orders by date and title).
#[derive(Debug, Clone, PartialEq)]
pub struct Hits {
    /// Matching event ids with their text score (`0.0` without a text query).
    pub events: Vec<(EventId, f32)>,
    /// Whether `events` is ranked by a text query.
    pub ranked: bool,
}

/// The full-text and filter index over events.
pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex").finish_non_exhaustive()
    }
}

impl SearchIndex {
    /// An empty in-memory index.
    pub fn new() -> Result<SearchIndex, CatalogError> {
        let mut builder = Schema::builder();
        let stemmed = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("en_stem")
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        );
        let fields = Fields {
            event_id: builder.add_text_field("event_id", STRING | STORED),
            title: builder.add_text_field("title", stemmed.clone()),
            description: builder.add_text_field("description", stemmed),
            city: builder.add_text_field("city", STRING),
            category: builder.add_text_field("category", STRING),
            start_day: builder.add_i64_field("start_day", tantivy::schema::INDEXED),
            end_day: builder.add_i64_field("end_day", tantivy::schema::INDEXED),
        };
        let index = Index::create_in_ram(builder.build());
        let writer = index.writer_with_num_threads(1, WRITER_BUFFER_BYTES)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(SearchIndex {
            index,
            reader,
            writer: Mutex::new(writer),
            fields,
        })
    }

    /// Adds or replaces events and makes them visible to the next search.
    pub fn upsert(&self, events: &[Event]) -> Result<(), CatalogError> {
        let f = self.fields;
        let mut writer = self
            .writer
            .lock()
            .map_err(|_| CatalogError::Search("index writer poisoned".into()))?;
        for e in events {
            let id = e.event_id.to_string();
            writer.delete_term(Term::from_field_text(f.event_id, &id));
            let mut doc = TantivyDocument::default();
            doc.add_text(f.event_id, &id);
            doc.add_text(f.title, &e.title);
            doc.add_text(f.description, &e.description);
            doc.add_text(f.city, normalize_city(&e.city));
            doc.add_text(f.category, e.category.as_str());
            doc.add_i64(f.start_day, day_number(e.start_date));
            doc.add_i64(f.end_day, day_number(e.end_date));
            writer.add_document(doc)?;
        }
        writer.commit()?;
        self.reader.reload()?;
        Ok(())
    }

    /// Every event matching the query's filters and text (paging is the caller's).
    pub fn search(&self, q: &EventQuery) -> Result<Hits, CatalogError> {
        let searcher = self.reader.searcher();
        let text = q.query.as_deref().map(str::trim).filter(|t| !t.is_empty());
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = self.filters(q);
        if let Some(text) = text {
            let mut parser = QueryParser::for_index(
                &self.index,
                vec![self.fields.title, self.fields.description],
            );
            parser.set_field_boost(self.fields.title, TITLE_BOOST);
            // Lenient: a buyer's stray quote or colon must not turn a search into an error.
            let (parsed, _ignored) = parser.parse_query_lenient(text);
            clauses.push((Occur::Must, parsed));
        }
        let query: Box<dyn Query> = if clauses.is_empty() {
            Box::new(AllQuery)
        } else {
            Box::new(BooleanQuery::new(clauses))
        };
        let mut events = Vec::new();
        if text.is_some() {
            let total = searcher.search(&query, &Count)?;
            let top = TopDocs::with_limit(total.max(1)).order_by_score();
            for (score, address) in searcher.search(&query, &top)? {
                if let Some(id) = self.event_id_of(&searcher, address)? {
                    events.push((id, score));
                }
            }
        } else {
            for address in searcher.search(&query, &DocSetCollector)? {
                if let Some(id) = self.event_id_of(&searcher, address)? {
                    events.push((id, 0.0));
                }
            }
        }
        Ok(Hits {
            events,
            ranked: text.is_some(),
        })
    }

    fn filters(&self, q: &EventQuery) -> Vec<(Occur, Box<dyn Query>)> {
        let f = self.fields;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        if let Some(city) = &q.city {
            let term = Term::from_field_text(f.city, &normalize_city(city));
            clauses.push((
                Occur::Must,
                Box::new(TermQuery::new(term, IndexRecordOption::Basic)),
            ));
        }
        if let Some(category) = q.category {
            let term = Term::from_field_text(f.category, Category::as_str(category));
            clauses.push((
                Occur::Must,
                Box::new(TermQuery::new(term, IndexRecordOption::Basic)),
            ));
        }
        if let Some(date) = q.date {
            let day = day_number(date);
            clauses.push((
                Occur::Must,
                Box::new(RangeQuery::new(
                    Bound::Unbounded,
                    Bound::Included(Term::from_field_i64(f.start_day, day)),
                )),
            ));
            clauses.push((
                Occur::Must,
                Box::new(RangeQuery::new(
                    Bound::Included(Term::from_field_i64(f.end_day, day)),
                    Bound::Unbounded,
                )),
            ));
        }
        clauses
    }

    fn event_id_of(
        &self,
        searcher: &tantivy::Searcher,
        address: DocAddress,
    ) -> Result<Option<EventId>, CatalogError> {
        let doc: TantivyDocument = searcher.doc(address)?;
        Ok(doc
            .get_first(self.fields.event_id)
            .and_then(|v| v.as_str())
            .and_then(|s| uuid::Uuid::parse_str(s).ok())
            .map(EventId))
    }
}

/// Cities compare case- and space-insensitively at the ends.
pub fn normalize_city(city: &str) -> String {
    city.trim().to_lowercase()
}

fn day_number(date: NaiveDate) -> i64 {
    i64::from(date.num_days_from_ce())
}
