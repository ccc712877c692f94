//! Every `/v1` route. Each handler is annotated for OpenAPI and registered
//! through `routes!`, so the served document lists exactly what is routed.

mod accounts;
mod ad_events;
mod ads;
mod catalog;
mod events;
mod feed;
mod live;
mod marketplace;
mod moderation;
mod social;
mod videos;
mod wallet;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(events::post_events))
        .routes(routes!(accounts::sign_up))
        .routes(routes!(accounts::log_in))
        .routes(routes!(accounts::me, accounts::update_me))
        .routes(routes!(accounts::become_creator))
        .routes(routes!(accounts::get_user))
        .routes(routes!(accounts::get_user_by_handle))
        .routes(routes!(social::list_followers))
        .routes(routes!(social::list_following))
        .routes(routes!(social::follow, social::unfollow))
        .routes(routes!(videos::list_creator_videos))
        .routes(routes!(videos::publish_video))
        .routes(routes!(
            videos::get_video,
            videos::update_video,
            videos::delete_video
        ))
        .routes(routes!(videos::lineage))
        .routes(routes!(videos::following_feed))
        .routes(routes!(feed::for_you))
        .routes(routes!(feed::refresh))
        .routes(routes!(feed::get_filters, feed::set_filters))
        .routes(routes!(feed::interests))
        .routes(routes!(social::like, social::unlike))
        .routes(routes!(social::add_comment, social::list_comments))
        .routes(routes!(social::delete_comment))
        .routes(routes!(social::share))
        .routes(routes!(catalog::get_hashtag))
        .routes(routes!(catalog::hashtag_videos))
        .routes(routes!(catalog::create_challenge, catalog::list_challenges))
        .routes(routes!(catalog::create_sound))
        .routes(routes!(catalog::get_sound))
        .routes(routes!(catalog::sound_videos))
        .routes(routes!(moderation::report_video))
        .routes(routes!(moderation::list_reports))
        .routes(routes!(moderation::moderate_video))
        .routes(routes!(live::start_live, live::list_live))
        .routes(routes!(live::get_live))
        .routes(routes!(live::end_live))
        .routes(routes!(live::join_live))
        .routes(routes!(live::leave_live))
        .routes(routes!(wallet::balance))
        .routes(routes!(wallet::transactions))
        .routes(routes!(wallet::coin_packages))
        .routes(routes!(wallet::purchase))
        .routes(routes!(wallet::top_up))
        .routes(routes!(wallet::gift_catalog, wallet::send_gift))
        .routes(routes!(wallet::request_payout, wallet::list_payouts))
        .routes(routes!(wallet::approve_payout))
        .routes(routes!(wallet::reject_payout))
        .routes(routes!(wallet::reconcile))
        .routes(routes!(wallet::room_leaderboard))
        .routes(routes!(wallet::top_creators))
        .routes(routes!(wallet::get_escrow))
        .routes(routes!(ad_events::post_ad_events))
        .routes(routes!(ads::create_campaign, ads::list_campaigns))
        .routes(routes!(ads::get_campaign, ads::update_campaign))
        .routes(routes!(ads::pause_campaign))
        .routes(routes!(ads::resume_campaign))
        .routes(routes!(ads::create_ad_group, ads::list_ad_groups))
        .routes(routes!(ads::get_ad_group, ads::update_ad_group))
        .routes(routes!(ads::pause_ad_group))
        .routes(routes!(ads::resume_ad_group))
        .routes(routes!(ads::create_creative, ads::list_creatives))
        .routes(routes!(ads::update_creative))
        .routes(routes!(ads::create_spark_ad))
        .routes(routes!(ads::issue_spark_code, ads::list_spark_codes))
        .routes(routes!(ads::revoke_spark_code))
        .routes(routes!(ads::topview_quote))
        .routes(routes!(ads::reserve_topview, ads::list_topview))
        .routes(routes!(ads::get_topview))
        .routes(routes!(ads::cancel_topview))
        .routes(routes!(ads::create_branded_challenge))
        .routes(routes!(ads::discover_challenges))
        .routes(routes!(ads::report))
        .routes(routes!(ads::delivery))
        .routes(routes!(
            marketplace::apply_as_creator,
            marketplace::application_status
        ))
        .routes(routes!(
            marketplace::my_profile,
            marketplace::update_profile
        ))
        .routes(routes!(marketplace::creator_profile))
        .routes(routes!(marketplace::creator_analytics))
        .routes(routes!(marketplace::search_creators))
        .routes(routes!(marketplace::list_applications))
        .routes(routes!(marketplace::review_application))
        .routes(routes!(
            marketplace::create_campaign,
            marketplace::list_campaigns
        ))
        .routes(routes!(marketplace::get_campaign))
        .routes(routes!(marketplace::publish_campaign))
        .routes(routes!(marketplace::invite_creator))
        .routes(routes!(marketplace::apply_to_campaign))
        .routes(routes!(marketplace::campaign_report))
        .routes(routes!(marketplace::list_collaborations))
        .routes(routes!(marketplace::get_collaboration))
        .routes(routes!(marketplace::accept_invitation))
        .routes(routes!(marketplace::decline_invitation))
        .routes(routes!(marketplace::accept_application))
        .routes(routes!(marketplace::reject_application))
        .routes(routes!(marketplace::submit_deliverable))
        .routes(routes!(marketplace::approve_deliverable))
        .routes(routes!(marketplace::request_changes))
        .routes(routes!(
            marketplace::send_message,
            marketplace::list_messages
        ))
}
