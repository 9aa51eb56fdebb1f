//! The operator's "Fetch channels" for a guild the bot captures: the request waits in the
//! database like one for a collector, and the capturing process answers it with a REST read of
//! the guild's channels (the gateway already keeps them current; this is the manual refresh).

use domain::capture::discord;
use domain::discovery::{self, ChannelInfo, GuildInfo};
use domain::snowflake::Snowflake;

use super::handler::Shared;

pub async fn answer_requests(s: &Shared) {
    let Some(connector) = s.connector().await else {
        return;
    };
    let pending = match discovery::runtime_config(&s.db, &connector).await {
        Ok(rc) => rc.discovery_requests,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read discovery requests");
            return;
        }
    };
    for request in pending {
        let guild = request.guild_id.get() as u64;
        let (name, channels) = match (s.api.guild(guild).await, s.api.guild_channels(guild).await) {
            (Ok(g), Ok(c)) => (g.name, c),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(guild, error = %e, "cannot read the guild's channels for Fetch channels");
                continue;
            }
        };
        let channels: Vec<ChannelInfo> = channels.iter().filter_map(discord::channel_info).collect();
        let info = GuildInfo {
            id: Snowflake::from_db(guild as i64),
            name,
            icon: None,
        };
        if s.record_guild(info, channels).await {
            tracing::info!(guild, "channels fetched on the operator's request");
        }
    }
}
