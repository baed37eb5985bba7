//! The OpenAPI 3.1 document's fixed parts (info, security scheme, tags); paths and schemas are
//! collected from the route handlers themselves by [`crate::app::api_routes`].

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

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
