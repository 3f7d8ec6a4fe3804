//! EnableX "Low Code Video Embed" URLs: participant and moderator links for a room.

use super::{EmbedPlan, LinkRole};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Where embed URLs point: per plan origins, and the app id that goes into moderator hashes.
#[derive(Debug, Clone)]
pub struct EmbedUrls {
    lite_origin: String,
    premium_origin: String,
    app_id: String,
}

impl EmbedUrls {
    /// Origins from the EnableX low-code subdomain: `https://SUB.yourvideo.app` (lite) and
    /// `https://SUB.yourvideo.live` (premium).
    pub fn for_subdomain(subdomain: &str, app_id: &str) -> Self {
        Self {
            lite_origin: format!("https://{subdomain}.yourvideo.app"),
            premium_origin: format!("https://{subdomain}.yourvideo.live"),
            app_id: app_id.to_owned(),
        }
    }

    /// One origin for both plans: a custom domain, or the sandbox's own pages.
    pub fn for_origin(origin: &str, app_id: &str) -> Self {
        let origin = origin.trim_end_matches('/').to_owned();
        Self {
            lite_origin: origin.clone(),
            premium_origin: origin,
            app_id: app_id.to_owned(),
        }
    }

    /// Every origin an embed URL can point at (one when both plans share it), for a
    /// page that frames them.
    pub fn origins(&self) -> Vec<&str> {
        let mut origins = vec![self.lite_origin.as_str()];
        if self.premium_origin != self.lite_origin {
            origins.push(&self.premium_origin);
        }
        origins
    }

    fn origin(&self, plan: EmbedPlan) -> &str {
        match plan {
            EmbedPlan::Lite => &self.lite_origin,
            EmbedPlan::Premium => &self.premium_origin,
        }
    }

    /// `ORIGIN/ROOM_ID`: the link for participants.
    pub fn participant(&self, plan: EmbedPlan, room_id: &str) -> String {
        format!("{}/{room_id}", self.origin(plan))
    }

    /// `ORIGIN/host/HASH`: the link for moderators. A privilege, not a link to hand around.
    pub fn moderator(&self, plan: EmbedPlan, room_id: &str) -> String {
        format!(
            "{}/host/{}",
            self.origin(plan),
            moderator_hash(room_id, &self.app_id)
        )
    }
}

/// What a personal link says about the person it is for.
#[derive(Debug, Clone, Default)]
pub struct LinkOptions<'a> {
    pub name: Option<&'a str>,
    pub user_ref: Option<&'a str>,
    /// Skip EnableX's landing page (needs a name).
    pub skip_landing: bool,
}

impl EmbedUrls {
    /// A participant or moderator URL with `name`, `user_ref` and `landing=no` in its query,
    /// each value percent-encoded (spaces as `%20`, since the embed page may not read `+`).
    pub fn personal(
        &self,
        plan: EmbedPlan,
        room_id: &str,
        role: LinkRole,
        options: &LinkOptions<'_>,
    ) -> String {
        let base = match role {
            LinkRole::Participant => self.participant(plan, room_id),
            LinkRole::Moderator => self.moderator(plan, room_id),
        };
        let mut query = form_urlencoded::Serializer::new(String::new());
        if let Some(name) = options.name {
            query.append_pair("name", name);
        }
        if let Some(user_ref) = options.user_ref {
            query.append_pair("user_ref", user_ref);
        }
        if options.skip_landing {
            query.append_pair("landing", "no");
        }
        // The serializer writes a space as '+' and a literal '+' as %2B, so every '+' left is
        // a space.
        let query = query.finish().replace('+', "%20");
        if query.is_empty() {
            base
        } else {
            format!("{base}?{query}")
        }
    }
}

/// `base64("ROOM_ID-APP_ID")` in the standard alphabet, `=` padding kept, as EnableX's own
/// moderator URLs carry it. EnableX ids are hex, so the result holds no `+` or `/`.
pub fn moderator_hash(room_id: &str, app_id: &str) -> String {
    STANDARD.encode(format!("{room_id}-{app_id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOM: &str = "65f0c2a1b3d4e5f60718293a";
    const APP: &str = "64a1b2c3d4e5f60718293a4b";

    #[test]
    fn origins_name_each_plan_once() {
        let real = EmbedUrls::for_subdomain("acme", APP);
        assert_eq!(
            real.origins(),
            ["https://acme.yourvideo.app", "https://acme.yourvideo.live"]
        );
        let one = EmbedUrls::for_origin("http://127.0.0.1:9/", APP);
        assert_eq!(one.origins(), ["http://127.0.0.1:9"]);
    }

    #[test]
    fn the_contract_example_hash_is_reproduced() {
        assert_eq!(
            moderator_hash(ROOM, APP),
            "NjVmMGMyYTFiM2Q0ZTVmNjA3MTgyOTNhLTY0YTFiMmMzZDRlNWY2MDcxODI5M2E0Yg=="
        );
    }

    #[test]
    fn padding_is_kept_and_not_percent_encoded() {
        let urls = EmbedUrls::for_subdomain("acme", APP);
        let url = urls.moderator(EmbedPlan::Premium, ROOM);
        assert!(url.ends_with("=="), "{url}");
        assert!(!url.contains("%3D"));
        // "a-bcd" is five bytes, so one '=' of padding.
        assert_eq!(moderator_hash("a", "bcd"), "YS1iY2Q=");
    }

    #[test]
    fn personal_links_encode_every_value() {
        let urls = EmbedUrls::for_subdomain("acme", APP);
        let options = LinkOptions {
            name: Some("Ana María & co+1"),
            user_ref: Some("u/1?x=y"),
            skip_landing: true,
        };
        let url = urls.personal(EmbedPlan::Premium, ROOM, LinkRole::Participant, &options);
        assert_eq!(
            url,
            format!(
                "https://acme.yourvideo.live/{ROOM}?name=Ana%20Mar%C3%ADa%20%26%20co%2B1&user_ref=u%2F1%3Fx%3Dy&landing=no"
            )
        );
        let bare = urls.personal(
            EmbedPlan::Lite,
            ROOM,
            LinkRole::Moderator,
            &LinkOptions::default(),
        );
        assert_eq!(bare, urls.moderator(EmbedPlan::Lite, ROOM));
    }

    #[test]
    fn the_hash_decodes_to_room_dash_app() {
        let decoded = STANDARD.decode(moderator_hash(ROOM, APP)).expect("base64");
        assert_eq!(
            String::from_utf8(decoded).expect("utf8"),
            format!("{ROOM}-{APP}")
        );
    }

    #[test]
    fn premium_uses_yourvideo_live_and_lite_yourvideo_app() {
        let urls = EmbedUrls::for_subdomain("acme", APP);
        assert_eq!(
            urls.participant(EmbedPlan::Premium, ROOM),
            format!("https://acme.yourvideo.live/{ROOM}")
        );
        assert_eq!(
            urls.participant(EmbedPlan::Lite, ROOM),
            format!("https://acme.yourvideo.app/{ROOM}")
        );
        assert_eq!(
            urls.moderator(EmbedPlan::Lite, ROOM),
            "https://acme.yourvideo.app/host/NjVmMGMyYTFiM2Q0ZTVmNjA3MTgyOTNhLTY0YTFiMmMzZDRlNWY2MDcxODI5M2E0Yg=="
        );
    }

    #[test]
    fn a_custom_origin_serves_both_plans_without_a_double_slash() {
        let urls = EmbedUrls::for_origin("https://video.example.com/", APP);
        assert_eq!(
            urls.participant(EmbedPlan::Lite, ROOM),
            format!("https://video.example.com/{ROOM}")
        );
        assert!(
            urls.moderator(EmbedPlan::Premium, ROOM)
                .starts_with("https://video.example.com/host/")
        );
    }
}
