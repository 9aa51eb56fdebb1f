//! Outgoing mail: verification and password-reset links. With `SMTP_URL` set, mail goes through
//! that server (lettre, plain SMTP, STARTTLS with `?tls=required`, or `smtps://`); without it
//! the process says so at start and only writes each mail to the log — for development, where
//! a link in the log is what a developer needs. Sending never blocks the request that caused it.

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::Config;

/// How long one delivery may take before it is given up (the customer can ask again).
const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("not a mail address: {0}")]
    Address(String),
    #[error("the message cannot be built: {0}")]
    Build(String),
    #[error("the mail server refused or failed: {0}")]
    Smtp(String),
    #[error("the mail server did not answer in time")]
    Timeout,
}

#[derive(Clone)]
pub enum Mailer {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
    },
    /// No SMTP server configured: mail is written to the log.
    Log { from: Mailbox },
}

impl std::fmt::Debug for Mailer {
    // The transport holds the SMTP credentials: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

/// Checks an `SMTP_URL` the way the mailer will read it (at start-up, so a typo stops the process).
pub fn check_url(url: &str) -> Result<(), String> {
    AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Parses a `MAIL_FROM` value such as `SignalDesk <no-reply@example.com>`.
pub fn parse_from(raw: &str) -> Result<Mailbox, MailError> {
    raw.trim().parse().map_err(|_| MailError::Address(raw.to_owned()))
}

impl Mailer {
    pub fn from_config(config: &Config) -> Self {
        let from = parse_from(&config.mail_from).expect("MAIL_FROM is validated at start-up");
        match &config.smtp_url {
            Some(url) => Mailer::Smtp {
                transport: AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                    .expect("SMTP_URL is validated at start-up")
                    .build(),
                from,
            },
            None => Mailer::Log { from },
        }
    }

    pub fn describe(&self) -> &'static str {
        match self {
            Mailer::Smtp { .. } => "SMTP",
            Mailer::Log { .. } => "log only (SMTP_URL is unset: mail is written to the log, not sent)",
        }
    }

    /// Sends one plain-text mail and waits for the server's answer.
    pub async fn send(&self, to: &str, subject: &str, text: String) -> Result<(), MailError> {
        self.send_with_unsubscribe(to, subject, text, None).await
    }

    /// Sends one plain-text mail; with `unsubscribe`, the mail carries RFC 8058's one-click
    /// unsubscribe headers, so the mail client's own "Unsubscribe" button works (it POSTs to
    /// that URL).
    pub async fn send_with_unsubscribe(
        &self,
        to: &str,
        subject: &str,
        text: String,
        unsubscribe: Option<&str>,
    ) -> Result<(), MailError> {
        use lettre::message::header::{HeaderName, HeaderValue};
        let to_box: Mailbox = to.parse().map_err(|_| MailError::Address(to.to_owned()))?;
        match self {
            Mailer::Log { .. } => {
                tracing::info!(%to, %subject, body = %text, "mail not sent (SMTP_URL is unset); its text follows");
                Ok(())
            }
            Mailer::Smtp { transport, from } => {
                let mut builder = Message::builder().from(from.clone()).to(to_box).subject(subject);
                if let Some(url) = unsubscribe {
                    builder = builder
                        .raw_header(HeaderValue::new(
                            HeaderName::new_from_ascii_str("List-Unsubscribe"),
                            format!("<{url}>"),
                        ))
                        .raw_header(HeaderValue::new(
                            HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                            "List-Unsubscribe=One-Click".to_owned(),
                        ));
                }
                let message = builder.body(text).map_err(|e| MailError::Build(e.to_string()))?;
                match tokio::time::timeout(SEND_TIMEOUT, transport.send(message)).await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(MailError::Smtp(e.to_string())),
                    Err(_) => Err(MailError::Timeout),
                }
            }
        }
    }

    /// Sends in the background: the request that caused the mail answers at once. A failure
    /// is logged once (the customer can ask for the mail again).
    pub fn send_later(&self, to: String, subject: String, text: String) {
        let mailer = self.clone();
        tokio::spawn(async move {
            match mailer.send(&to, &subject, text).await {
                Ok(()) => tracing::info!(%subject, "mail sent"),
                Err(e) => tracing::error!(%subject, error = %e, "mail could not be sent"),
            }
        });
    }
}
