//! Mail: a digest as a MIME message (plain text and HTML alternatives, the heatmap inline), and
//! sending it over SMTP. Built on lettre: MIME is not written by hand here.
//!
//! `smtp://user:password@host:587` uses STARTTLS whenever the server offers it;
//! `smtps://host:465` is TLS from the first byte. Certificates are checked against the system's
//! roots, plus those in `ESCAMAP_SMTP_CA_FILE` (as `ESCAMAP_DB_CA_FILE` does for PostgreSQL). The
//! password never appears in a log or a message: [`Mailer`] displays without it.

use std::time::Duration;

use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};

use crate::render::Digest;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid SMTP URL: {0}")]
    Url(String),
    #[error("invalid address {0:?}: {1}")]
    Address(String, String),
    #[error("building the message: {0}")]
    Build(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("sending failed: {0}")]
    Send(String),
}

/// The `List-Unsubscribe` header: where one click ends the subscription.
#[derive(Debug, Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// The `List-Unsubscribe-Post` header (RFC 8058): the link works with a one-click POST too.
#[derive(Debug, Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".to_owned())
    }
}

fn mailbox(s: &str) -> Result<Mailbox, MailError> {
    s.trim()
        .parse()
        .map_err(|e: lettre::address::AddressError| MailError::Address(s.to_owned(), e.to_string()))
}

/// What a digest message carries besides its content.
pub struct Envelope<'a> {
    pub from: &'a str,
    pub to: &'a [String],
    /// `<...@host>`: derived from the subscription and the slot, so a resend is the same mail.
    pub message_id: Option<String>,
    pub unsubscribe_url: Option<&'a str>,
}

/// The digest as a message: `multipart/alternative` of the plain text and a
/// `multipart/related` HTML whose heatmap is the inline PNG `cid:heatmap`.
pub fn digest_message(d: &Digest, png: &[u8], e: &Envelope<'_>) -> Result<Message, MailError> {
    let png_type = ContentType::parse("image/png").map_err(|x| MailError::Build(x.to_string()))?;
    let html = MultiPart::related()
        .singlepart(SinglePart::html(d.html("cid:heatmap")))
        .singlepart(Attachment::new_inline("heatmap".to_owned()).body(png.to_vec(), png_type));
    let body = MultiPart::alternative()
        .singlepart(SinglePart::plain(d.text()))
        .multipart(html);
    let mut b = Message::builder()
        .from(mailbox(e.from)?)
        .subject(&d.title)
        .message_id(e.message_id.clone());
    for to in e.to {
        b = b.to(mailbox(to)?);
    }
    if let Some(u) = e.unsubscribe_url {
        b = b
            .header(ListUnsubscribe(format!("<{u}>")))
            .header(ListUnsubscribePost);
    }
    b.multipart(body)
        .map_err(|x| MailError::Build(x.to_string()))
}

/// A plain-text message (an alert): `List-Unsubscribe` when there is a link.
pub fn text_message(
    from: &str,
    to: &str,
    subject: &str,
    text: &str,
    unsubscribe_url: Option<&str>,
) -> Result<Message, MailError> {
    let mut b = Message::builder()
        .from(mailbox(from)?)
        .to(mailbox(to)?)
        .subject(subject);
    if let Some(u) = unsubscribe_url {
        b = b
            .header(ListUnsubscribe(format!("<{u}>")))
            .header(ListUnsubscribePost);
    }
    b.singlepart(SinglePart::plain(text.to_owned()))
        .map_err(|x| MailError::Build(x.to_string()))
}

/// The digest as one HTML file to open in a browser: the heatmap as a `data:` URI.
pub fn digest_file(d: &Digest, png: &[u8]) -> String {
    use base64::Engine;
    let data = base64::engine::general_purpose::STANDARD.encode(png);
    d.html(&format!("data:image/png;base64,{data}"))
}

/// An SMTP server to send through, from `--smtp-url`.
pub struct Mailer {
    host: String,
    port: u16,
    implicit_tls: bool,
    user: Option<String>,
    transport: SmtpTransport,
}

impl std::fmt::Display for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.implicit_tls { "smtps" } else { "smtp" };
        match &self.user {
            Some(u) => write!(f, "{scheme}://{u}@{}:{}", self.host, self.port),
            None => write!(f, "{scheme}://{}:{}", self.host, self.port),
        }
    }
}

impl Mailer {
    /// `smtp://[user[:password]@]host[:port]` (STARTTLS when offered, port 587) or `smtps://…`
    /// (implicit TLS, port 465).
    pub fn from_url(url: &str) -> Result<Self, MailError> {
        let u = url::Url::parse(url.trim()).map_err(|e| MailError::Url(e.to_string()))?;
        let implicit_tls = match u.scheme() {
            "smtp" => false,
            "smtps" => true,
            s => {
                return Err(MailError::Url(format!(
                    "scheme {s:?}: expected smtp or smtps"
                )));
            }
        };
        let host = u
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| MailError::Url("no host".into()))?
            .to_owned();
        let port = u.port().unwrap_or(if implicit_tls { 465 } else { 587 });
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let user = (!u.username().is_empty()).then(|| decode(u.username()));
        let password = u.password().map(decode);
        let mut tls = TlsParameters::builder(host.clone());
        if let Some(path) = std::env::var_os("ESCAMAP_SMTP_CA_FILE").filter(|p| !p.is_empty()) {
            let shown = std::path::Path::new(&path).display().to_string();
            let pem = std::fs::read(&path)
                .map_err(|e| MailError::Tls(format!("cannot read {shown}: {e}")))?;
            let cert =
                Certificate::from_pem(&pem).map_err(|e| MailError::Tls(format!("{shown}: {e}")))?;
            tls = tls.add_root_certificate(cert);
        }
        let tls = tls
            .build_rustls()
            .map_err(|e| MailError::Tls(e.to_string()))?;
        let mut b = SmtpTransport::builder_dangerous(&host)
            .port(port)
            .timeout(Some(Duration::from_secs(30)))
            .tls(if implicit_tls {
                Tls::Wrapper(tls)
            } else {
                Tls::Opportunistic(tls)
            });
        if let Some(user) = &user {
            b = b.credentials(Credentials::new(user.clone(), password.unwrap_or_default()));
        }
        Ok(Self {
            host,
            port,
            implicit_tls,
            user,
            transport: b.build(),
        })
    }

    pub fn send(&self, m: &Message) -> Result<(), MailError> {
        self.transport
            .send(m)
            .map(|_| ())
            .map_err(|e| MailError::Send(e.to_string()))
    }
}
