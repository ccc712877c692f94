//! Advertisers at set-up: an In-Feed CPM campaign each, with its own private
//! video, its budget funded from the advertiser's wallet first.

use anyhow::bail;
use reqwest::Method;
use serde_json::json;

use super::state::{Account, Sim};

impl Sim {
    /// One campaign per advertiser, in order: (advertiser index, campaign
    /// id, budget spendable today).
    pub async fn launch_campaigns(
        &self,
        advertisers: &[Account],
    ) -> anyhow::Result<Vec<(usize, String, i64)>> {
        let mut campaigns = Vec::new();
        for (a, account) in advertisers.iter().enumerate() {
            campaigns.push(self.launch_campaign(a, account).await?);
        }
        Ok(campaigns)
    }

    async fn launch_campaign(
        &self,
        a: usize,
        account: &Account,
    ) -> anyhow::Result<(usize, String, i64)> {
        let (api, run_id) = (&self.api, &self.run_id);
        let adv = &self.world.advertisers[a];
        let video = api
            .post("POST /v1/videos", "/v1/videos", Some(&account.token), &json!({"caption": format!("brand spot {a}"), "duration_ms": 15000, "media_url": format!("https://cdn.loop.test/ads/{a}.mp4"), "visibility": "private"}))
            .await;
        let Some(video_id) = video.body["video_id"].as_str() else {
            bail!(
                "advertiser {a} cannot publish: HTTP {} {}",
                video.status,
                video.body
            );
        };
        self.fund_budget(a, account).await?;
        let campaign = api
            .post("POST /v1/ads/campaigns", "/v1/ads/campaigns", Some(&account.token), &json!({"idempotency_key": format!("sim-{run_id}-c{a}"), "name": format!("sim {a}"), "objective": "reach", "total_budget_cents": adv.total_budget_cents}))
            .await;
        let Some(campaign_id) = campaign.body["campaign_id"].as_str() else {
            bail!(
                "advertiser {a} cannot create a campaign: HTTP {} {}",
                campaign.status,
                campaign.body
            );
        };
        let targeting = if adv.countries.is_empty() {
            json!({})
        } else {
            json!({"countries": adv.countries})
        };
        let group = api
            .post("POST /v1/ads/campaigns/{id}/ad-groups", &format!("/v1/ads/campaigns/{campaign_id}/ad-groups"), Some(&account.token),
                &json!({"name": "sim", "format": "in_feed", "daily_budget_cents": adv.daily_budget_cents, "bid_type": "cpm", "bid_cents": adv.bid_cents,
                        "schedule": {"starts_at": (chrono::Utc::now() - chrono::Duration::minutes(5)).to_rfc3339()}, "targeting": targeting}))
            .await;
        let Some(group_id) = group.body["ad_group_id"].as_str() else {
            bail!(
                "advertiser {a} cannot create an ad group: HTTP {} {}",
                group.status,
                group.body
            );
        };
        api.post("POST /v1/ads/ad-groups/{id}/creatives", &format!("/v1/ads/ad-groups/{group_id}/creatives"), Some(&account.token),
            &json!({"video_id": video_id, "display_name": format!("Brand {a}"), "call_to_action": "learn_more", "landing_url": "https://brand.test"}))
            .await;
        Ok((
            a,
            campaign_id.to_owned(),
            adv.total_budget_cents.min(adv.daily_budget_cents),
        ))
    }

    /// Budgets are reserved from wallet cents: tops the advertiser's wallet
    /// up by the campaign's whole budget.
    async fn fund_budget(&self, a: usize, account: &Account) -> anyhow::Result<()> {
        let adv = &self.world.advertisers[a];
        let fund_key = format!("sim-{}-fund{a}", self.run_id);
        let receipt = loop_wallet::payments::TestProvider::new(&self.args.receipt_secret).sign(
            &loop_wallet::payments::TestReceipt {
                receipt_id: fund_key.clone(),
                product_id: "loop.cents".into(),
                amount_cents: adv.total_budget_cents,
            },
        );
        let funded = self
            .api
            .call(
                "POST /v1/wallet/top-ups",
                Method::POST,
                "/v1/wallet/top-ups",
                Some(&account.token),
                Some(&json!({"amount_cents": adv.total_budget_cents, "receipt": {"provider": "test", "receipt_data": receipt.receipt_data, "signature": receipt.signature}})),
                Some(&fund_key),
            )
            .await;
        if funded.status != 201 {
            bail!(
                "advertiser {a} cannot fund its budget: HTTP {} {}",
                funded.status,
                funded.body
            );
        }
        Ok(())
    }
}
