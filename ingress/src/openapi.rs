//! The OpenAPI 3.1 document's fixed parts (info, security scheme, tags); paths and schemas are
//! collected from the route handlers themselves by [`crate::app::api_routes`].

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder, Type};
use utoipa::{Modify, OpenApi};

use crate::error::PROBLEM_JSON;
use crate::ratelimit;

/// Root of the generated document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "boxoffice",
        description = "Ticket booking: catalog, seat holds, bookings. Errors are application/problem+json with a stable `code`."
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Tokens"),
        (name = "catalog", description = "Events, shows and seat maps"),
        (name = "admin", description = "Venues, events, shows and seat blocks (role admin)"),
        (name = "bookings", description = "Holds and bookings"),
        (name = "waiting-room", description = "Queues in front of flash sales"),
        (name = "operations", description = "Health, readiness, metrics, this document"),
    )
)]
pub struct ApiDoc;

/// Adds the `bearer` JWT security scheme the protected operations refer to.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Every operation the rate limits apply to (all but [`ratelimit::UNLIMITED_ROUTES`]) can answer
/// `429 rate-limited` before its handler runs, so the document says so on each of them, with the
/// `Retry-After` header the answer carries. Done once over the finished document rather than per
/// handler, so a new route cannot forget it.
pub fn document_rate_limits(doc: &mut utoipa::openapi::OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        if !ratelimit::limited(path) {
            continue;
        }
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            document_429(operation);
        }
    }
}

fn document_429(operation: &mut Operation) {
    let retry_after = HeaderBuilder::new()
        .schema(Some(
            utoipa::openapi::ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1)),
        ))
        .description(Some("Whole seconds to wait before trying again"))
        .build();
    let problem = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("Problem")))
        .build();
    let response = ResponseBuilder::new()
        .description("rate-limited: over a per-IP, per-user or issuance limit")
        .header("Retry-After", retry_after)
        .content(PROBLEM_JSON, problem)
        .build();
    operation
        .responses
        .responses
        .insert("429".to_owned(), response.into());
}
