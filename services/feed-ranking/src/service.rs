//! The gRPC surface of feed-ranking.

use std::sync::Arc;

use loop_platform::auth::{Caller, JwtKeys};
use loop_platform::cache::Redis;
use loop_platform::{AppError, AppResult};
use loop_proto::ads_auction::v1 as ads_pb;
use loop_proto::feed_ranking::v1 as pb;
use loop_proto::feed_ranking::v1::feed_ranking_service_server::FeedRankingService as FeedApi;
use tonic::{Request, Response, Status};

use crate::Config;
use crate::catalog::Catalog;
use crate::{embed, feed, state};

/// keywords, suppressed creators (id, ms), suppressed sounds (id, ms).
type FilterRows = (Vec<String>, Vec<(String, i64)>, Vec<(String, i64)>);

#[derive(Clone)]
pub struct FeedService {
    pub(crate) redis: Redis,
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) keys: JwtKeys,
    pub(crate) ads: Option<crate::ads::AdsClient>,
    pub(crate) config: Arc<Config>,
}

fn now_ts() -> prost_types::Timestamp {
    loop_platform::time::to_timestamp(chrono::Utc::now())
}

impl FeedService {
    async fn for_you(
        &self,
        caller: &Caller,
        req: pb::GetForYouFeedRequest,
    ) -> AppResult<pb::GetForYouFeedResponse> {
        let user = caller.user_id()?.to_string();
        let feed_cfg = &self.config.feed;
        let page_size = match req.page_size {
            0 => feed_cfg.default_page_size,
            n if n > feed_cfg.max_page_size => {
                return Err(AppError::invalid(
                    "page_size",
                    format!("at most {}", feed_cfg.max_page_size),
                ));
            }
            n => n,
        };
        let country = req
            .context
            .as_ref()
            .map(|c| c.country.to_uppercase())
            .unwrap_or_default();
        let viewer =
            feed::load_viewer(&self.redis, &user, &country, feed_cfg.trending_candidates).await?;
        let page_size = page_size as usize;
        let request_id = loop_platform::ids::new_id().to_string();
        let positions = crate::ads::positions(&feed_cfg.ad_slots, page_size, req.app_open);
        let ads = self
            .ads
            .as_ref()
            .filter(|_| req.include_ads && !positions.is_empty());
        // The organic page and the auction run at the same time; the auction
        // is bounded by its deadline.
        let organic = feed::for_you(
            &self.redis,
            &self.catalog,
            &self.config.learning,
            feed_cfg,
            &viewer,
            page_size,
        );
        let auction = async {
            let Some(ads) = ads else {
                return Vec::new();
            };
            let vector = self.config.learning.ranking_vector(
                viewer
                    .state
                    .as_ref()
                    .filter(|s| s.positive_events > 0)
                    .map(|s| s.vector.as_slice()),
                &viewer.interests,
            );
            let profile = crate::ads::profile(&viewer, &self.catalog, vector.as_deref());
            ads.fill(ads_pb::FillAdSlotsRequest {
                user_id: user.clone(),
                context: req.context.clone(),
                profile: Some(profile),
                slot_positions: positions.clone(),
                app_open: req.app_open,
                request_id: request_id.clone(),
                debug: false,
                exclude_ad_ids: Vec::new(),
            })
            .await
        };
        let (built, filled) = tokio::join!(organic, auction);
        let built = built?;
        let items = match ads {
            Some(ads) if !filled.is_empty() => {
                ads.merge(&self.catalog, &viewer, built.items, filled, page_size)
                    .await
            }
            _ => built.items,
        };
        feed::record_seen(&self.redis, feed_cfg, &user, &items);
        Ok(pb::GetForYouFeedResponse {
            items,
            request_id,
            cold_start: built.cold_start,
        })
    }

    async fn refresh(&self, caller: &Caller) -> AppResult<pb::RefreshFeedResponse> {
        let user = caller.user_id()?.to_string();
        let r = &self.redis;
        let mut conn = r.conn.clone();
        // Back to the cold state: the learned vector and the seen-set go;
        // follows, filters and suppressions stay. The dedupe memory (high-water
        // offsets, recent event ids) stays too, or an event redelivered after
        // the refresh would be applied a second time. Compare-and-set on the
        // version, like the consumer, so neither overwrites the other.
        for _ in 0..10 {
            let (raw, version): (Option<Vec<u8>>, Option<String>) = redis::pipe()
                .get(state::state_key(r, &user))
                .get(state::version_key(r, &user))
                .query_async(&mut conn)
                .await?;
            let reset = state::UserState::decode_opt(raw).map(|s| state::UserState {
                vector: vec![0.0; self.config.learning.dim],
                last_event_ms: s.last_event_ms,
                events_applied: s.events_applied,
                high_water: s.high_water,
                recent_event_ids: Vec::new(),
                recent_ids: s.recent_ids,
                updated_at_ms: chrono::Utc::now().timestamp_millis(),
                positive_events: 0,
                // Ad targeting's record of recent engagement is a fact about
                // the last 7 days, not the feed's model: it stays, as
                // follows do.
                behaviors: s.behaviors,
                recent_positive: Vec::new(),
                pending: Vec::new(),
                hidden_recent: 0,
            });
            let done: i64 = redis::Script::new(state::RESET_STATE)
                .key(state::state_key(r, &user))
                .key(state::version_key(r, &user))
                .key(state::seen_key(r, &user))
                .arg(version.unwrap_or_else(|| "0".into()))
                .arg(
                    reset
                        .map(|s| prost::Message::encode_to_vec(&s))
                        .unwrap_or_default(),
                )
                .invoke_async(&mut conn)
                .await?;
            if done == 1 {
                self.forget_recent_videos(&user).await?;
                return Ok(pb::RefreshFeedResponse {
                    reset_at: Some(now_ts()),
                });
            }
        }
        Err(AppError::Unavailable(
            "the feed is being updated; retry the refresh".into(),
        ))
    }

    /// The videos the feed asks neighbours for go with the vector: hidden
    /// from For You (what this viewer added to the co-engagement counts
    /// stays, it is everyone's, and leaves with the viewer's history as
    /// usual); the co-engagement consumer's dedupe memory stays too.
    /// Compare-and-set on that state's version, like its consumer.
    async fn forget_recent_videos(&self, user: &str) -> AppResult<()> {
        let r = &self.redis;
        let mut conn = r.conn.clone();
        for _ in 0..10 {
            let (raw, version): (Option<Vec<u8>>, Option<String>) = redis::pipe()
                .get(state::co_state_key(r, user))
                .get(state::co_version_key(r, user))
                .query_async(&mut conn)
                .await?;
            let Some(mut co) = state::UserState::decode_opt(raw) else {
                return Ok(());
            };
            // Hidden rather than dropped: they still take their counts
            // with them when they leave the viewer's history.
            co.hidden_recent = co.hidden_recent.saturating_add(
                u32::try_from(co.recent_videos(usize::MAX).len()).unwrap_or(u32::MAX),
            );
            // KEYS[3] (a key to delete) is the seen-set, already reset.
            let done: i64 = redis::Script::new(state::RESET_STATE)
                .key(state::co_state_key(r, user))
                .key(state::co_version_key(r, user))
                .key(state::seen_key(r, user))
                .arg(version.unwrap_or_else(|| "0".into()))
                .arg(prost::Message::encode_to_vec(&co))
                .invoke_async(&mut conn)
                .await?;
            if done == 1 {
                return Ok(());
            }
        }
        Err(AppError::Unavailable(
            "the feed is being updated; retry the refresh".into(),
        ))
    }

    async fn filters(&self, user: &str) -> AppResult<pb::FeedFilters> {
        let r = &self.redis;
        let mut conn = r.conn.clone();
        let (keywords, creators, sounds): FilterRows = redis::pipe()
            .smembers(state::keywords_key(r, user))
            .hgetall(state::suppressed_creators_key(r, user))
            .hgetall(state::suppressed_sounds_key(r, user))
            .query_async(&mut conn)
            .await?;
        let sup = |items: Vec<(String, i64)>| {
            items
                .into_iter()
                .map(|(id, ms)| pb::Suppression {
                    id,
                    suppressed_at: chrono::DateTime::from_timestamp_millis(ms)
                        .map(loop_platform::time::to_timestamp),
                })
                .collect()
        };
        let mut keywords = keywords;
        keywords.sort();
        Ok(pb::FeedFilters {
            keywords,
            suppressed_creators: sup(creators),
            suppressed_sounds: sup(sounds),
        })
    }

    async fn set_filters(
        &self,
        caller: &Caller,
        req: pb::SetFeedFiltersRequest,
    ) -> AppResult<pb::SetFeedFiltersResponse> {
        let user = caller.user_id()?.to_string();
        if req.keywords.len() > 200 {
            return Err(AppError::invalid("keywords", "at most 200 keywords"));
        }
        let mut keywords = Vec::new();
        for k in &req.keywords {
            let k = k.trim().to_lowercase();
            if k.is_empty() || k.chars().count() > 50 {
                return Err(AppError::invalid(
                    "keywords",
                    "each keyword must be 1 to 50 characters",
                ));
            }
            keywords.push(k);
        }
        let r = &self.redis;
        let mut pipe = redis::pipe();
        pipe.atomic().del(state::keywords_key(r, &user)).ignore();
        if !keywords.is_empty() {
            pipe.sadd(state::keywords_key(r, &user), &keywords).ignore();
        }
        if req.clear_all_suppressions {
            pipe.del(state::suppressed_creators_key(r, &user)).ignore();
            pipe.del(state::suppressed_sounds_key(r, &user)).ignore();
        }
        if !req.unsuppress_creator_ids.is_empty() {
            pipe.hdel(
                state::suppressed_creators_key(r, &user),
                &req.unsuppress_creator_ids,
            )
            .ignore();
        }
        if !req.unsuppress_sound_ids.is_empty() {
            pipe.hdel(
                state::suppressed_sounds_key(r, &user),
                &req.unsuppress_sound_ids,
            )
            .ignore();
        }
        let mut conn = r.conn.clone();
        let _: () = pipe.query_async(&mut conn).await?;
        Ok(pb::SetFeedFiltersResponse {
            filters: Some(self.filters(&user).await?),
        })
    }

    async fn interests(
        &self,
        caller: &Caller,
        req: pb::GetUserInterestsRequest,
    ) -> AppResult<pb::GetUserInterestsResponse> {
        let user = caller.user_id()?.to_string();
        let viewer = feed::load_viewer(&self.redis, &user, "", 0).await?;
        let learned = viewer
            .state
            .as_ref()
            .filter(|s| s.positive_events > 0)
            .map(|s| s.vector.clone());
        let cold_start = learned.is_none();
        let vector = self
            .config
            .learning
            .ranking_vector(learned.as_deref(), &viewer.interests)
            .unwrap_or_default();
        let limit = match req.limit {
            0 => 10,
            n => n.min(50) as usize,
        };
        let mut scored: Vec<pb::InterestScore> = self
            .catalog
            .tags()
            .into_iter()
            .map(|tag| {
                let t =
                    embed::interests_vector(std::slice::from_ref(&tag), self.config.learning.dim);
                pb::InterestScore {
                    weight: embed::cosine(&vector, &t),
                    name: tag,
                }
            })
            .filter(|s| s.weight > 0.05)
            .collect();
        scored.sort_by(|a, b| {
            b.weight
                .total_cmp(&a.weight)
                .then_with(|| a.name.cmp(&b.name))
        });
        scored.truncate(limit);
        Ok(pb::GetUserInterestsResponse {
            categories: Vec::new(),
            hashtags: scored,
            cold_start,
        })
    }

    async fn vector(
        &self,
        caller: &Caller,
        req: pb::GetUserVectorRequest,
    ) -> AppResult<pb::GetUserVectorResponse> {
        let user = if req.user_id.is_empty() {
            caller.user_id()?.to_string()
        } else {
            let id = loop_platform::ids::parse_id("user_id", &req.user_id)?.to_string();
            if id != caller.subject && !caller.is_privileged() {
                return Err(AppError::PermissionDenied(
                    "only admins may read another user's vector".into(),
                ));
            }
            id
        };
        let r = &self.redis;
        let mut conn = r.conn.clone();
        let (raw, seen): (Option<Vec<u8>>, u64) = redis::pipe()
            .get(state::state_key(r, &user))
            .zcard(state::seen_key(r, &user))
            .query_async(&mut conn)
            .await?;
        let state = state::UserState::decode_opt(raw).unwrap_or_default();
        Ok(pb::GetUserVectorResponse {
            user_id: user,
            values: state.vector,
            events_applied: state.events_applied,
            updated_at: chrono::DateTime::from_timestamp_millis(state.updated_at_ms)
                .map(loop_platform::time::to_timestamp),
            seen_set_size: seen,
        })
    }

    async fn stats(&self, caller: &Caller) -> AppResult<pb::GetRankerStatsResponse> {
        if !caller.is_privileged() {
            return Err(AppError::PermissionDenied("admin only".into()));
        }
        Ok(pb::GetRankerStatsResponse {
            videos_indexed: self.catalog.len() as u64,
            users_with_vectors: 0,
            live_prefix: self.redis.prefix.clone(),
            consumer_lag: Vec::new(),
            index_age: None,
            freshness_p99: None,
        })
    }
}

impl FeedService {
    fn caller<T>(&self, req: &Request<T>) -> Result<Caller, Status> {
        Ok(self.keys.caller(req)?)
    }
}

#[tonic::async_trait]
impl FeedApi for FeedService {
    async fn get_for_you_feed(
        &self,
        request: Request<pb::GetForYouFeedRequest>,
    ) -> Result<Response<pb::GetForYouFeedResponse>, Status> {
        let caller = self.caller(&request)?;
        Ok(Response::new(
            self.for_you(&caller, request.into_inner()).await?,
        ))
    }

    async fn refresh_feed(
        &self,
        request: Request<pb::RefreshFeedRequest>,
    ) -> Result<Response<pb::RefreshFeedResponse>, Status> {
        let caller = self.caller(&request)?;
        Ok(Response::new(self.refresh(&caller).await?))
    }

    async fn set_feed_filters(
        &self,
        request: Request<pb::SetFeedFiltersRequest>,
    ) -> Result<Response<pb::SetFeedFiltersResponse>, Status> {
        let caller = self.caller(&request)?;
        Ok(Response::new(
            self.set_filters(&caller, request.into_inner()).await?,
        ))
    }

    async fn get_feed_filters(
        &self,
        request: Request<pb::GetFeedFiltersRequest>,
    ) -> Result<Response<pb::GetFeedFiltersResponse>, Status> {
        let caller = self.caller(&request)?;
        let user = caller.user_id()?.to_string();
        Ok(Response::new(pb::GetFeedFiltersResponse {
            filters: Some(self.filters(&user).await?),
        }))
    }

    async fn get_user_interests(
        &self,
        request: Request<pb::GetUserInterestsRequest>,
    ) -> Result<Response<pb::GetUserInterestsResponse>, Status> {
        let caller = self.caller(&request)?;
        Ok(Response::new(
            self.interests(&caller, request.into_inner()).await?,
        ))
    }

    async fn get_user_vector(
        &self,
        request: Request<pb::GetUserVectorRequest>,
    ) -> Result<Response<pb::GetUserVectorResponse>, Status> {
        let caller = self.caller(&request)?;
        Ok(Response::new(
            self.vector(&caller, request.into_inner()).await?,
        ))
    }

    async fn rebuild_state(
        &self,
        _request: Request<pb::RebuildStateRequest>,
    ) -> Result<Response<pb::RebuildStateResponse>, Status> {
        Err(Status::unimplemented(
            "rebuild runs from `loopctl replay --rebuild` for now",
        ))
    }

    async fn get_rebuild_status(
        &self,
        _request: Request<pb::GetRebuildStatusRequest>,
    ) -> Result<Response<pb::GetRebuildStatusResponse>, Status> {
        Err(Status::unimplemented(
            "rebuild runs from `loopctl replay --rebuild` for now",
        ))
    }

    async fn get_ranker_stats(
        &self,
        request: Request<pb::GetRankerStatsRequest>,
    ) -> Result<Response<pb::GetRankerStatsResponse>, Status> {
        let caller = self.caller(&request)?;
        Ok(Response::new(self.stats(&caller).await?))
    }
}
