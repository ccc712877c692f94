//! Follows, likes, comments and shares. Each change updates its counters in
//! the same transaction and emits a `content.v1` event.

use chrono::{DateTime, Utc};
use loop_platform::auth::Caller;
use loop_platform::error::is_unique_violation;
use loop_platform::ids::{new_id, parse_id, parse_opt_id};
use loop_platform::pagination;
use loop_platform::{AppError, AppResult};
use loop_proto::common::v1::PageResponse;
use loop_proto::content::v1 as pb;
use loop_proto::events::v1 as ev;
use uuid::Uuid;

use crate::events::emit;
use crate::model::{COMMENT_SELECT, CommentRow, USER_SELECT, UserRow};
use crate::service::ContentService;
use crate::validate;
use crate::videos::visible_video;

type EdgeCursor = (DateTime<Utc>, Uuid);

impl ContentService {
    pub(crate) async fn follow(
        &self,
        caller: &Caller,
        req: pb::FollowRequest,
    ) -> AppResult<pb::FollowResponse> {
        let me = caller.user_id()?;
        let target = parse_id("creator_id", &req.creator_id)?;
        if me == target {
            return Err(AppError::invalid(
                "creator_id",
                "you cannot follow yourself",
            ));
        }
        let mut tx = self.pool.begin().await?;
        let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)")
            .bind(target)
            .fetch_one(&mut *tx)
            .await?;
        if !exists {
            return Err(AppError::not_found("creator not found"));
        }
        let inserted =
            sqlx::query("INSERT INTO follows (follower_id, followee_id) VALUES ($1, $2)")
                .bind(me)
                .bind(target)
                .execute(&mut *tx)
                .await;
        match inserted {
            Err(err) if is_unique_violation(&err, None) => {
                return Err(AppError::AlreadyExists(
                    "you already follow this creator".into(),
                ));
            }
            Err(err) => return Err(err.into()),
            Ok(_) => {}
        }
        sqlx::query("UPDATE users SET following_count = following_count + 1 WHERE id = $1")
            .bind(me)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE users SET follower_count = follower_count + 1 WHERE id = $1")
            .bind(target)
            .execute(&mut *tx)
            .await?;
        emit(
            &mut tx,
            &me.to_string(),
            ev::content_event::Payload::UserFollowed(ev::UserFollowed {
                follower_id: me.to_string(),
                followee_id: target.to_string(),
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(pb::FollowResponse {})
    }

    pub(crate) async fn unfollow(
        &self,
        caller: &Caller,
        req: pb::UnfollowRequest,
    ) -> AppResult<pb::UnfollowResponse> {
        let me = caller.user_id()?;
        let target = parse_id("creator_id", &req.creator_id)?;
        let mut tx = self.pool.begin().await?;
        let deleted =
            sqlx::query("DELETE FROM follows WHERE follower_id = $1 AND followee_id = $2")
                .bind(me)
                .bind(target)
                .execute(&mut *tx)
                .await?;
        if deleted.rows_affected() == 0 {
            return Err(AppError::not_found("you do not follow this creator"));
        }
        sqlx::query("UPDATE users SET following_count = following_count - 1 WHERE id = $1")
            .bind(me)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE users SET follower_count = follower_count - 1 WHERE id = $1")
            .bind(target)
            .execute(&mut *tx)
            .await?;
        emit(
            &mut tx,
            &me.to_string(),
            ev::content_event::Payload::UserUnfollowed(ev::UserUnfollowed {
                follower_id: me.to_string(),
                followee_id: target.to_string(),
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(pb::UnfollowResponse {})
    }

    /// Followers (`followers = true`) or followees of a user, newest edge first.
    async fn list_edges(
        &self,
        user_id: &str,
        page: Option<loop_proto::common::v1::PageRequest>,
        followers: bool,
    ) -> AppResult<(Vec<pb::User>, Option<PageResponse>)> {
        let user = parse_id("user_id", user_id)?;
        let page = page.unwrap_or_default();
        let limit = pagination::page_size(page.page_size);
        let cursor: Option<EdgeCursor> = pagination::decode(&page.page_token)?;
        let (match_col, other_col) = if followers {
            ("followee_id", "follower_id")
        } else {
            ("follower_id", "followee_id")
        };
        let edges: Vec<(Uuid, DateTime<Utc>)> = sqlx::query_as(&format!(
            "SELECT {other_col}, created_at FROM follows WHERE {match_col} = $1 \
             AND ($2::timestamptz IS NULL OR (created_at, {other_col}) < ($2, $3)) \
             ORDER BY created_at DESC, {other_col} DESC LIMIT $4"
        ))
        .bind(user)
        .bind(cursor.map(|c| c.0))
        .bind(cursor.map(|c| c.1))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let (edges, next) = pagination::finish(edges, limit, |(id, at)| (*at, *id));
        let ids: Vec<Uuid> = edges.iter().map(|(id, _)| *id).collect();
        let rows = sqlx::query_as::<_, UserRow>(&format!("{USER_SELECT} WHERE u.id = ANY($1)"))
            .bind(&ids)
            .fetch_all(&self.pool)
            .await?;
        let users = ids
            .iter()
            .filter_map(|id| rows.iter().find(|r| r.id == *id).map(|r| r.to_proto(false)))
            .collect();
        Ok((
            users,
            Some(PageResponse {
                next_page_token: next,
            }),
        ))
    }

    pub(crate) async fn list_followers(
        &self,
        _caller: &Caller,
        req: pb::ListFollowersRequest,
    ) -> AppResult<pb::ListFollowersResponse> {
        let (users, page) = self.list_edges(&req.user_id, req.page, true).await?;
        Ok(pb::ListFollowersResponse { users, page })
    }

    pub(crate) async fn list_following(
        &self,
        _caller: &Caller,
        req: pb::ListFollowingRequest,
    ) -> AppResult<pb::ListFollowingResponse> {
        let (users, page) = self.list_edges(&req.user_id, req.page, false).await?;
        Ok(pb::ListFollowingResponse { users, page })
    }

    pub(crate) async fn like_video(
        &self,
        caller: &Caller,
        req: pb::LikeVideoRequest,
    ) -> AppResult<pb::LikeVideoResponse> {
        let me = caller.user_id()?;
        let video = visible_video(&self.pool, caller, "video_id", &req.video_id).await?;
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO likes (video_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(video.id)
        .bind(me)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let like_count: i64 = if inserted {
            let count = sqlx::query_scalar(
                "UPDATE videos SET like_count = like_count + 1 WHERE id = $1 RETURNING like_count",
            )
            .bind(video.id)
            .fetch_one(&mut *tx)
            .await?;
            emit(
                &mut tx,
                &video.id.to_string(),
                ev::content_event::Payload::VideoLiked(ev::VideoLiked {
                    user_id: me.to_string(),
                    video_id: video.id.to_string(),
                    creator_id: video.creator_id.to_string(),
                }),
            )
            .await?;
            count
        } else {
            sqlx::query_scalar("SELECT like_count FROM videos WHERE id = $1")
                .bind(video.id)
                .fetch_one(&mut *tx)
                .await?
        };
        tx.commit().await?;
        Ok(pb::LikeVideoResponse {
            changed: inserted,
            like_count: u64::try_from(like_count).unwrap_or(0),
        })
    }

    pub(crate) async fn unlike_video(
        &self,
        caller: &Caller,
        req: pb::UnlikeVideoRequest,
    ) -> AppResult<pb::UnlikeVideoResponse> {
        let me = caller.user_id()?;
        let video = visible_video(&self.pool, caller, "video_id", &req.video_id).await?;
        let mut tx = self.pool.begin().await?;
        let deleted = sqlx::query("DELETE FROM likes WHERE video_id = $1 AND user_id = $2")
            .bind(video.id)
            .bind(me)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        let like_count: i64 = if deleted {
            let count = sqlx::query_scalar(
                "UPDATE videos SET like_count = like_count - 1 WHERE id = $1 RETURNING like_count",
            )
            .bind(video.id)
            .fetch_one(&mut *tx)
            .await?;
            emit(
                &mut tx,
                &video.id.to_string(),
                ev::content_event::Payload::VideoUnliked(ev::VideoUnliked {
                    user_id: me.to_string(),
                    video_id: video.id.to_string(),
                    creator_id: video.creator_id.to_string(),
                }),
            )
            .await?;
            count
        } else {
            sqlx::query_scalar("SELECT like_count FROM videos WHERE id = $1")
                .bind(video.id)
                .fetch_one(&mut *tx)
                .await?
        };
        tx.commit().await?;
        Ok(pb::UnlikeVideoResponse {
            changed: deleted,
            like_count: u64::try_from(like_count).unwrap_or(0),
        })
    }

    pub(crate) async fn add_comment(
        &self,
        caller: &Caller,
        req: pb::AddCommentRequest,
    ) -> AppResult<pb::AddCommentResponse> {
        let me = caller.user_id()?;
        let text = validate::text("text", &req.text, 1, 500)?;
        let video = visible_video(&self.pool, caller, "video_id", &req.video_id).await?;
        let parent = parse_opt_id("parent_comment_id", &req.parent_comment_id)?;
        let mut tx = self.pool.begin().await?;
        if let Some(parent) = parent {
            let row: Option<(Uuid, Option<Uuid>, bool)> = sqlx::query_as(
                "SELECT video_id, parent_id, deleted FROM comments WHERE id = $1 FOR UPDATE",
            )
            .bind(parent)
            .fetch_optional(&mut *tx)
            .await?;
            match row {
                Some((vid, None, false)) if vid == video.id => {}
                Some((vid, Some(_), false)) if vid == video.id => {
                    return Err(AppError::invalid(
                        "parent_comment_id",
                        "replies are one level deep: reply to the top-level comment",
                    ));
                }
                _ => {
                    return Err(AppError::invalid(
                        "parent_comment_id",
                        "no such comment on this video",
                    ));
                }
            }
            sqlx::query("UPDATE comments SET reply_count = reply_count + 1 WHERE id = $1")
                .bind(parent)
                .execute(&mut *tx)
                .await?;
        }
        let id = new_id();
        sqlx::query("INSERT INTO comments (id, video_id, author_id, parent_id, text) VALUES ($1, $2, $3, $4, $5)")
            .bind(id)
            .bind(video.id)
            .bind(me)
            .bind(parent)
            .bind(&text)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE videos SET comment_count = comment_count + 1 WHERE id = $1")
            .bind(video.id)
            .execute(&mut *tx)
            .await?;
        emit(
            &mut tx,
            &video.id.to_string(),
            ev::content_event::Payload::CommentAdded(ev::CommentAdded {
                comment_id: id.to_string(),
                video_id: video.id.to_string(),
                creator_id: video.creator_id.to_string(),
                author_id: me.to_string(),
                parent_comment_id: parent.map(|p| p.to_string()).unwrap_or_default(),
            }),
        )
        .await?;
        let comment = sqlx::query_as::<_, CommentRow>(&format!("{COMMENT_SELECT} WHERE c.id = $1"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(pb::AddCommentResponse {
            comment: Some(comment.to_proto()),
        })
    }

    pub(crate) async fn list_comments(
        &self,
        caller: &Caller,
        req: pb::ListCommentsRequest,
    ) -> AppResult<pb::ListCommentsResponse> {
        let video = visible_video(&self.pool, caller, "video_id", &req.video_id).await?;
        let parent = parse_opt_id("parent_comment_id", &req.parent_comment_id)?;
        let page = req.page.unwrap_or_default();
        let limit = pagination::page_size(page.page_size);
        let cursor: Option<EdgeCursor> = pagination::decode(&page.page_token)?;
        let rows = sqlx::query_as::<_, CommentRow>(&format!(
            "{COMMENT_SELECT} WHERE c.video_id = $1 AND NOT c.deleted \
             AND (($2::uuid IS NULL AND c.parent_id IS NULL) OR c.parent_id = $2) \
             AND ($3::timestamptz IS NULL OR (c.created_at, c.id) > ($3, $4)) \
             ORDER BY c.created_at, c.id LIMIT $5"
        ))
        .bind(video.id)
        .bind(parent)
        .bind(cursor.map(|c| c.0))
        .bind(cursor.map(|c| c.1))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let (rows, next) = pagination::finish(rows, limit, |c| (c.created_at, c.id));
        Ok(pb::ListCommentsResponse {
            comments: rows.iter().map(CommentRow::to_proto).collect(),
            page: Some(PageResponse {
                next_page_token: next,
            }),
        })
    }

    pub(crate) async fn delete_comment(
        &self,
        caller: &Caller,
        req: pb::DeleteCommentRequest,
    ) -> AppResult<pb::DeleteCommentResponse> {
        let id = parse_id("comment_id", &req.comment_id)?;
        let mut tx = self.pool.begin().await?;
        let row: Option<(Uuid, Uuid, Option<Uuid>, Uuid)> = sqlx::query_as(
            "SELECT c.author_id, c.video_id, c.parent_id, v.creator_id FROM comments c JOIN videos v ON v.id = c.video_id \
             WHERE c.id = $1 AND NOT c.deleted FOR UPDATE OF c",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let (author, video_id, parent, creator) =
            row.ok_or_else(|| AppError::not_found("comment not found"))?;
        let allowed = caller.is_admin()
            || caller.subject == author.to_string()
            || caller.subject == creator.to_string();
        if !allowed {
            return Err(AppError::PermissionDenied(
                "only the author, the video's creator or an admin can delete a comment".into(),
            ));
        }
        sqlx::query("UPDATE comments SET deleted = true WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE videos SET comment_count = comment_count - 1 WHERE id = $1")
            .bind(video_id)
            .execute(&mut *tx)
            .await?;
        if let Some(parent) = parent {
            sqlx::query("UPDATE comments SET reply_count = reply_count - 1 WHERE id = $1")
                .bind(parent)
                .execute(&mut *tx)
                .await?;
        }
        emit(
            &mut tx,
            &video_id.to_string(),
            ev::content_event::Payload::CommentDeleted(ev::CommentDeleted {
                comment_id: id.to_string(),
                video_id: video_id.to_string(),
                creator_id: creator.to_string(),
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(pb::DeleteCommentResponse {})
    }

    pub(crate) async fn share_video(
        &self,
        caller: &Caller,
        req: pb::ShareVideoRequest,
    ) -> AppResult<pb::ShareVideoResponse> {
        let me = caller.user_id()?;
        let channel = validate::text("channel", &req.channel, 1, 32)?;
        let video = visible_video(&self.pool, caller, "video_id", &req.video_id).await?;
        let mut tx = self.pool.begin().await?;
        // Once per viewer and video: a repeat is answered with the current
        // count and changes nothing; a creator sharing their own video is
        // recorded but never counted (nor sent to analytics).
        let inserted = sqlx::query(
            "INSERT INTO shares (id, video_id, user_id, channel) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (video_id, user_id) DO NOTHING",
        )
        .bind(new_id())
        .bind(video.id)
        .bind(me)
        .bind(&channel)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let counts = inserted && video.creator_id != me;
        let count: i64 = if counts {
            sqlx::query_scalar(
                "UPDATE videos SET share_count = share_count + 1 WHERE id = $1 RETURNING share_count",
            )
            .bind(video.id)
            .fetch_one(&mut *tx)
            .await?
        } else {
            sqlx::query_scalar("SELECT share_count FROM videos WHERE id = $1")
                .bind(video.id)
                .fetch_one(&mut *tx)
                .await?
        };
        if counts {
            emit(
                &mut tx,
                &video.id.to_string(),
                ev::content_event::Payload::VideoShared(ev::VideoShared {
                    user_id: me.to_string(),
                    video_id: video.id.to_string(),
                    creator_id: video.creator_id.to_string(),
                    channel,
                }),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(pb::ShareVideoResponse {
            share_count: u64::try_from(count).unwrap_or(0),
        })
    }
}
