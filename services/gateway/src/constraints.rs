//! The shapes of the domain's values in the document, declared once and
//! used by the DTOs with `schema_with` (ids, hashtags, countries, language
//! tags, URLs, idempotency keys, enumerations), and the rules across fields
//! that derive attributes cannot state ([`document_cross_field_rules`]).
//! Each states what the services enforce (`loop_platform::validate`, the
//! services' `validate` modules), so a client generated from the document
//! sends nothing the server refuses for its shape.

use serde_json::{Value, json};
use utoipa::openapi::schema::{
    ArrayBuilder, KnownFormat, Object, ObjectBuilder, SchemaFormat, Type,
};
use utoipa::openapi::{OpenApi, RefOr, Schema};

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

/// A UUID naming an object.
pub fn uuid() -> Object {
    string()
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
        .build()
}

/// A list of UUIDs, at most 100.
pub fn uuids() -> utoipa::openapi::schema::Array {
    ArrayBuilder::new()
        .items(uuid())
        .max_items(Some(100))
        .build()
}

/// One hashtag: a leading `#` run is dropped, then 1 to 100 Unicode letters,
/// digits or `_` (compared lower-cased).
pub fn hashtag() -> Object {
    string()
        .pattern(Some(r"^#*[\p{L}\p{N}_]{1,100}$"))
        .description(Some("A hashtag: optional leading '#', then 1..100 letters, digits or '_' (case-insensitive)"))
        .build()
}

fn array_of(
    item: impl Into<utoipa::openapi::schema::ArrayItems>,
    max: usize,
    unique: bool,
) -> utoipa::openapi::schema::Array {
    ArrayBuilder::new()
        .items(item)
        .max_items(Some(max))
        .unique_items(unique)
        .build()
}

/// Up to 250 countries (repeats ignored).
pub fn countries() -> utoipa::openapi::schema::Array {
    array_of(country(), 250, false)
}

/// Up to 100 primary language subtags.
pub fn language_subtags() -> utoipa::openapi::schema::Array {
    array_of(language_subtag(), 100, false)
}

/// Age bands, each at most once.
pub fn age_band_set() -> utoipa::openapi::schema::Array {
    array_of(age_band(), AGE_BANDS.len(), true)
}

/// Genders, each at most once.
pub fn gender_set() -> utoipa::openapi::schema::Array {
    array_of(gender(), GENDERS.len(), true)
}

/// Device OSes, each at most once.
pub fn device_os_set() -> utoipa::openapi::schema::Array {
    array_of(device_os(), DEVICE_OSES.len(), true)
}

/// Hours of the day, 0..=23, each at most once.
pub fn hours() -> utoipa::openapi::schema::Array {
    let hour = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(0))
        .maximum(Some(23));
    array_of(hour, 24, true)
}

/// An ads interest category: 1..100 characters (compared lower-cased).
pub fn ad_category() -> Object {
    string()
        .min_length(Some(1))
        .max_length(Some(100))
        .pattern(Some(r"\S"))
        .build()
}

/// Up to 20 interest categories.
pub fn ad_categories() -> utoipa::openapi::schema::Array {
    array_of(ad_category(), 20, false)
}

/// An optional `https://` URL: empty for none.
pub fn optional_https_url() -> Object {
    string()
        .pattern(Some(r"^(https://[^/\s]\S*)?$"))
        .max_length(Some(2048))
        .build()
}

/// A video's explicit hashtags: at most 30 (with the caption's #tags).
pub fn video_hashtags() -> utoipa::openapi::schema::Array {
    ArrayBuilder::new()
        .items(hashtag())
        .max_items(Some(30))
        .build()
}

/// Up to 20 hashtag-like interests.
pub fn interests() -> utoipa::openapi::schema::Array {
    ArrayBuilder::new()
        .items(hashtag())
        .max_items(Some(20))
        .build()
}

/// A category name: a hashtag, or empty for none.
pub fn category() -> Object {
    string()
        .pattern(Some(r"^(#*[\p{L}\p{N}_]{1,100})?$"))
        .description(Some("A category name (hashtag rules), or empty for none"))
        .build()
}

/// A handle: 3..24 of a-z, 0-9, '_' and '.' (case-insensitive).
pub fn handle() -> Object {
    string()
        .pattern(Some("^[A-Za-z0-9_.]{3,24}$"))
        .min_length(Some(3))
        .max_length(Some(24))
        .build()
}

/// An ISO 3166-1 alpha-2 country code (case-insensitive).
pub fn country() -> Object {
    string()
        .pattern(Some("^[A-Za-z]{2}$"))
        .description(Some("ISO 3166-1 alpha-2, e.g. \"US\" (case-insensitive)"))
        .build()
}

/// A BCP 47-style language tag ("en", "pt-BR"), at most 35 characters.
pub fn language_tag() -> Object {
    string()
        .pattern(Some("^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$"))
        .max_length(Some(35))
        .description(Some("BCP 47 language tag, e.g. \"en\" or \"pt-BR\""))
        .build()
}

/// A primary language subtag ("en", "pt").
pub fn language_subtag() -> Object {
    string()
        .pattern(Some("^[A-Za-z]{2,3}$"))
        .description(Some(
            "Primary language subtag, e.g. \"en\" (not \"pt-BR\": target \"pt\")",
        ))
        .build()
}

/// An `https://` URL with a host, no whitespace, at most 2048 characters.
pub fn https_url() -> Object {
    string()
        .pattern(Some(r"^https://[^/\s]\S*$"))
        .max_length(Some(2048))
        .build()
}

/// An `http(s)://` URL with a host, no whitespace, at most 2048 characters.
pub fn media_url() -> Object {
    string()
        .pattern(Some(r"^https?://\S+$"))
        .max_length(Some(2048))
        .build()
}

/// The idempotency-key rule every mutating call shares
/// (`loop_platform::validate::idempotency_key`).
pub fn idempotency_key() -> Object {
    string()
        .pattern(Some("^[A-Za-z0-9_:.-]{8,128}$"))
        .min_length(Some(8))
        .max_length(Some(128))
        .description(Some("8..128 characters of [A-Za-z0-9_:.-] (a UUID fits); a retry with the same key returns the first result"))
        .build()
}

/// A string that is one of `values`.
pub fn one_of(values: &[&str]) -> Object {
    string().enum_values(Some(values.iter().copied())).build()
}

pub const GENDERS: &[&str] = &["female", "male", "non_binary", "undisclosed"];
pub const AGE_BANDS: &[&str] = &["13_17", "18_24", "25_34", "35_44", "45_54", "55_plus"];
pub const DEVICE_OSES: &[&str] = &["ios", "android", "web"];

/// `fn name() -> Object` for each `name => VALUES;`: the document's shape
/// of an enumeration the handlers check against the same `VALUES`.
macro_rules! enum_schemas {
    ($($(#[$doc:meta])* $name:ident => $values:expr;)*) => {$(
        $(#[$doc])*
        pub(crate) fn $name() -> utoipa::openapi::schema::Object {
            $crate::constraints::one_of($values)
        }
    )*};
}
pub(crate) use enum_schemas;

enum_schemas! {
    gender => GENDERS;
    visibility => &["public", "followers", "private"];
    remix_kind => &["duet", "stitch"];
    /// The roles one signs up with.
    signup_role => &["viewer", "creator", "advertiser"];
    age_band => AGE_BANDS;
    device_os => DEVICE_OSES;
}

/// Rules across fields, by component schema: JSON Schema `oneOf` branches
/// (which fields go together, which exclude each other) and
/// `minProperties` (a patch names at least one field).
fn cross_field_rules() -> Vec<(&'static str, &'static str, Value)> {
    let absent = |fields: &[&str]| json!({"anyOf": fields.iter().map(|f| json!({"required": [f]})).collect::<Vec<_>>()});
    let exactly_one = |a: &str, b: &str| {
        json!([
            {"required": [a], "not": absent(&[b])},
            {"required": [b], "not": absent(&[a])},
        ])
    };
    let mut rules = vec![
        (
            "SendGiftBody",
            "oneOf",
            exactly_one("video_id", "live_room_id"),
        ),
        ("PayoutBody", "oneOf", exactly_one("diamonds", "cents")),
        (
            "PublishVideoBody",
            "oneOf",
            // The remix pair comes together or not at all; the media is an
            // upload, or (development) a URL with its duration.
            json!([
                {"required": ["remix_of_video_id", "remix_kind", "upload_id"], "not": absent(&["media_url", "duration_ms"])},
                {"required": ["remix_of_video_id", "remix_kind", "media_url", "duration_ms"], "not": absent(&["upload_id"])},
                {"required": ["upload_id"], "not": absent(&["remix_of_video_id", "remix_kind", "media_url", "duration_ms"])},
                {"required": ["media_url", "duration_ms"], "not": absent(&["remix_of_video_id", "remix_kind", "upload_id"])},
            ]),
        ),
        (
            "AdGroupBody",
            "oneOf",
            json!([
                {"properties": {"format": {"enum": ["topview"]}},
                 "not": absent(&["daily_budget_cents", "bid_type", "bid_cents"])},
                {"properties": {"format": {"enum": ["in_feed", "spark"]}},
                 "required": ["daily_budget_cents", "bid_type", "bid_cents"]},
            ]),
        ),
        (
            "EventBody",
            "oneOf",
            json!([
                {"properties": {"kind": {"enum": ["view"]}}, "required": ["watch_ms"], "not": absent(&["target"])},
                {"properties": {"kind": {"enum": ["not_interested"]}}, "not": absent(&["watch_ms"])},
                {"properties": {"kind": {"not": {"enum": ["view", "not_interested"]}}},
                 "not": absent(&["watch_ms", "target"])},
            ]),
        ),
        (
            "AdEventBody",
            "oneOf",
            json!([
                {"properties": {"kind": {"enum": ["view"]}}, "required": ["watched_ms"]},
                {"properties": {"kind": {"enum": ["impression", "click"]}},
                 "not": absent(&["watched_ms", "completed"])},
            ]),
        ),
        (
            "BehaviorDto",
            "oneOf",
            json!([
                {"properties": {"kind": {"enum": ["engaged_with_category"]},
                                "value": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": "\\S"}}},
                {"properties": {"kind": {"enum": ["engaged_with_hashtag"]},
                                "value": {"type": "string", "pattern": "^#*[\\p{L}\\p{N}_]{1,100}$"}}},
            ]),
        ),
        (
            "ReviewBody",
            "oneOf",
            json!([
                {"properties": {"decision": {"enum": ["approve"]}}},
                {"properties": {"decision": {"enum": ["reject"]},
                                "rejection_reason": {"type": "string", "minLength": 1, "maxLength": 500, "pattern": "\\S"}},
                 "required": ["rejection_reason"]},
            ]),
        ),
    ];
    for patch in [
        "UpdateMeBody",
        "UpdateVideoBody",
        "CampaignPatch",
        "AdGroupPatch",
        "CreativePatch",
        "ProfilePatch",
    ] {
        rules.push((patch, "minProperties", json!(1)));
    }
    rules
}

/// Adds [`cross_field_rules`] to the component schemas they name.
pub fn document_cross_field_rules(openapi: &mut OpenApi) {
    let Some(components) = openapi.components.as_mut() else {
        return;
    };
    for (name, keyword, rule) in cross_field_rules() {
        let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(name) else {
            tracing::warn!(name, "a cross-field rule names no object schema");
            continue;
        };
        if keyword == "minProperties" {
            object.min_properties = rule.as_u64().and_then(|n| usize::try_from(n).ok());
        } else {
            object
                .extensions
                .get_or_insert_with(Default::default)
                .insert(keyword.to_owned(), rule);
        }
    }
}

#[cfg(test)]
mod tests {
    use utoipa::OpenApi as _;
    use utoipa_axum::router::OpenApiRouter;

    use super::*;

    #[test]
    fn every_cross_field_rule_names_an_object_schema_of_the_document() {
        let (_, doc) = OpenApiRouter::<crate::AppState>::with_openapi(crate::ApiDoc::openapi())
            .merge(crate::routes::router())
            .split_for_parts();
        let schemas = &doc.components.expect("components").schemas;
        for (name, _, _) in cross_field_rules() {
            assert!(
                matches!(schemas.get(name), Some(RefOr::T(Schema::Object(_)))),
                "{name} is not an object schema of the document"
            );
        }
    }
}
