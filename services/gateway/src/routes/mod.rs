//! Every `/v1` route, organised by resource: each module (`accounts`,
//! `videos`, `ads::campaigns`, ...) annotates its handlers for OpenAPI and
//! lists them in its own `router()` with `routes!`, so the served document
//! lists exactly what is routed. This file only merges those routers.

mod accounts;
mod ad_events;
mod ads;
mod catalog;
mod commerce;
mod events;
mod feed;
mod live;
mod marketplace;
mod moderation;
mod social;
mod uploads;
mod videos;
mod wallet;

use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

/// Every `/v1` route: the resource modules' routers, merged.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(accounts::router())
        .merge(social::router())
        .merge(videos::router())
        .merge(uploads::router())
        .merge(feed::router())
        .merge(events::router())
        .merge(catalog::router())
        .merge(moderation::router())
        .merge(live::router())
        .merge(wallet::router())
        .merge(ad_events::router())
        .merge(ads::router())
        .merge(marketplace::router())
        .merge(commerce::router())
}
