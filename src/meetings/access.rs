//! Handing out access to a meeting: personal links, SDK tokens and moderator URLs, with the
//! audit trail of every moderator URL, link and token handed out.

use super::service::TOKEN_LIFETIME_MINUTES;
use super::{
    Caller, GrantKind, LinkOptions, LinkRole, Meeting, MeetingError, ModeratorGrant, Service,
    Status, TokenRole, now,
};
use crate::enablex::TokenRequest;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use std::collections::HashMap;
use uuid::Uuid;

impl Service {
    /// The moderator URLs an answer about `meetings` may carry for `caller`: only for the
    /// meetings it owns that have a room, and none when they are withheld. Each one handed out
    /// is recorded.
    pub async fn moderator_urls(
        &self,
        caller: &Caller,
        meetings: &[&Meeting],
    ) -> Result<HashMap<Uuid, String>, MeetingError> {
        if !self.moderator_urls_in_answers {
            return Ok(HashMap::new());
        }
        let at = now();
        let mut urls = HashMap::new();
        let mut grants = Vec::new();
        for meeting in meetings.iter().filter(|m| caller.owns(m)) {
            let Some(room_id) = &meeting.room_id else {
                continue;
            };
            urls.insert(meeting.id, self.urls.moderator(meeting.embed, room_id));
            grants.push(grant(meeting.id, caller, GrantKind::Url, at));
        }
        self.store.record_grants(&grants).await?;
        Ok(urls)
    }

    /// A replayed answer that carries the meeting's moderator URL hands it out again: recorded.
    pub async fn moderator_url_replayed(
        &self,
        caller: &Caller,
        meeting_id: Uuid,
    ) -> Result<(), MeetingError> {
        let handed = grant(meeting_id, caller, GrantKind::Url, now());
        Ok(self.store.record_grants(&[handed]).await?)
    }

    /// The moderator access handed out for a meeting: for admins (ops) only.
    pub async fn grants(
        &self,
        id: Uuid,
        caller: &Caller,
    ) -> Result<Vec<ModeratorGrant>, MeetingError> {
        if !caller.admin {
            return Err(MeetingError::NotFound);
        }
        self.get(id, caller).await?;
        Ok(self.store.grants(id).await?)
    }

    /// A personal embed link for one person. Moderator links only for the meeting's owner.
    pub async fn link(
        &self,
        id: Uuid,
        role: LinkRole,
        options: &LinkOptions<'_>,
        caller: &Caller,
    ) -> Result<String, MeetingError> {
        let meeting = self.get(id, caller).await?;
        if role == LinkRole::Moderator {
            only_owner(&meeting, caller)?;
        }
        let room_id = self.usable_room(&meeting)?;
        let url = self.urls.personal(meeting.embed, room_id, role, options);
        if role == LinkRole::Moderator {
            let handed = grant(meeting.id, caller, GrantKind::Link, now());
            self.store.record_grants(&[handed]).await?;
        }
        Ok(url)
    }

    /// An EnableX token for apps that use EnableX's SDK, valid 15 minutes; for a scheduled
    /// meeting only once its room is open. Moderator tokens only for the meeting's owner.
    #[tracing::instrument(skip(self, person, caller))]
    pub async fn token(
        &self,
        id: Uuid,
        role: TokenRole,
        person: &Person,
        caller: &Caller,
    ) -> Result<(String, DateTime<Utc>), MeetingError> {
        let meeting = self.get(id, caller).await?;
        if role == TokenRole::Moderator {
            only_owner(&meeting, caller)?;
        }
        let room_id = self.usable_room(&meeting)?;
        if let (Status::Scheduled, Some(schedule)) = (meeting.status(now()), meeting.schedule) {
            return Err(MeetingError::Conflict(format!(
                "tokens for this meeting can be had from {}",
                schedule
                    .joinable_from()
                    .to_rfc3339_opts(SecondsFormat::Secs, true)
            )));
        }
        let request = TokenRequest {
            name: person.name.clone(),
            role: role.as_str().to_owned(),
            user_ref: person.user_ref.clone(),
        };
        let token = self.enablex.create_token(room_id, &request).await?;
        if role == TokenRole::Moderator {
            let handed = grant(meeting.id, caller, GrantKind::Token, now());
            self.store.record_grants(&[handed]).await?;
        }
        Ok((token, now() + Duration::minutes(TOKEN_LIFETIME_MINUTES)))
    }
}

/// The person an SDK token is for, as EnableX reports them.
#[derive(Debug, Clone)]
pub struct Person {
    pub name: String,
    pub user_ref: String,
}

fn grant(meeting_id: Uuid, caller: &Caller, what: GrantKind, at: DateTime<Utc>) -> ModeratorGrant {
    ModeratorGrant {
        meeting_id,
        caller: caller.identity.clone(),
        what,
        at,
    }
}

/// Moderator rights are the owner's alone, even among admins.
fn only_owner(meeting: &Meeting, caller: &Caller) -> Result<(), MeetingError> {
    if caller.owns(meeting) {
        Ok(())
    } else {
        Err(MeetingError::Forbidden(
            "only the meeting's owner can have moderator access".into(),
        ))
    }
}
