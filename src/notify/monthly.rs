//! The monthly report by email: queued in the outbox once per month (an alert of kind
//! `report` under the unique key `report:YYYY-MM`), delivered by the same worker as
//! match alerts, with the same retries and failure handling.
//!
//! The report is rendered when it is queued (on the first of the month, or at the
//! daemon's first pass after it) and stored with the alert, so a retry after a restart
//! sends exactly what was reported then.

use chrono::{DateTime, Utc};
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart};
use lettre::Message;
use serde::{Deserialize, Serialize};

use super::{backoff, report::one_line, Mailer, NotifyError, PassSummary, SendError};
use crate::config::{Role, Settings};
use crate::dashboard::{gather, Month};
use crate::store::{AlertRecord, Store};

/// Setting this environment variable to an RFC 3339 time makes the daemon's report
/// scheduler take it for "now" (and only the scheduler): how the tests reach the first
/// of a month. Not for production use; logged when set.
pub const CLOCK_ENV: &str = "COPYHOUND_REPORT_CLOCK";

/// A rendered monthly report, as stored with its alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportMail {
    pub month: String,
    pub subject: String,
    pub html: String,
    pub text: String,
    /// The report printed to PDF (with `[report] chromium`), a file name in the storage
    /// folder's `reports/`; attached beside the HTML file. Reports queued before PDFs
    /// existed have none.
    #[serde(default)]
    pub pdf_file: Option<String>,
}

/// Where printed reports are kept, under the storage folder.
const REPORTS_DIR: &str = "reports";

/// The unique outbox key of a month's report.
pub fn report_key(month: Month) -> String {
    format!("report:{month}")
}

/// The scheduler's "now": the clock, or [`CLOCK_ENV`] when set.
pub fn scheduler_now() -> DateTime<Utc> {
    std::env::var(CLOCK_ENV)
        .ok()
        .and_then(|v| DateTime::parse_from_rfc3339(v.trim()).ok())
        .map_or_else(Utc::now, |t| t.with_timezone(&Utc))
}

/// Queues the previous month's report when it is owed: `[report]` sends
/// ([`crate::config::ReportSettings::sends`]), it was never queued, and the store held
/// matches before that month ended (no report of the months before copyhound ran).
/// Returns the month queued, if any.
///
/// # Errors
/// [`NotifyError`] when the store cannot be read or written, or the report rendered.
pub fn queue_due_report(
    store: &mut Store,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Result<Option<Month>, NotifyError> {
    if !settings.report.sends(&settings.contacts) {
        return Ok(None);
    }
    let month = Month::of(now).previous();
    let key = report_key(month);
    if store.alert_key_taken(&key)? {
        return Ok(None);
    }
    let end = crate::store::timestamp(month.next().start());
    match store.first_match_seen()? {
        Some(first) if first < end => {}
        _ => return Ok(None),
    }
    let rendered = gather::monthly_report(store, settings, month, settings.outlet.language, now)
        .map_err(|e| NotifyError::Message(e.to_string()))?;
    let pdf_file = settings
        .report
        .chromium
        .as_deref()
        .and_then(|chromium| print_for_mail(settings, chromium, month, &rendered.html));
    let mail = ReportMail {
        month: month.to_string(),
        subject: rendered.subject,
        html: rendered.html,
        text: rendered.text,
        pdf_file,
    };
    let json = serde_json::to_string(&mail).map_err(|e| NotifyError::Message(e.to_string()))?;
    Ok(store
        .enqueue_report(&key, Role::Licensing, &json, now)?
        .map(|_| month))
}

/// Prints a month's report to `reports/copyhound-report-YYYY-MM.pdf` in the storage
/// folder and returns its file name. A PDF that cannot be printed is logged and left
/// out: the HTML report still goes, which is what the recipients need most.
fn print_for_mail(
    settings: &Settings,
    chromium: &std::path::Path,
    month: Month,
    html: &str,
) -> Option<String> {
    let dir = settings.storage.dir.join(REPORTS_DIR);
    let name = format!("copyhound-report-{month}.pdf");
    let printed = std::fs::create_dir_all(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))
        .and_then(|()| {
            gather::print_pdf(chromium, html, &dir.join(&name)).map_err(|e| e.to_string())
        });
    match printed {
        Ok(()) => Some(name),
        Err(why) => {
            tracing::warn!(month = %month, error = %why, "monthly report goes without its PDF");
            None
        }
    }
}

/// The email of a report: the HTML report as the body (with a short text part) and
/// as an attached file, and the PDF when one was printed.
///
/// # Errors
/// [`NotifyError::Message`] when an address or the message cannot be built.
pub fn build_report_message(
    settings: &Settings,
    mail: &ReportMail,
    recipients: &[String],
    message_id: &str,
) -> Result<Message, NotifyError> {
    let from = super::sender(settings)?;
    let mut builder = Message::builder()
        .from(from)
        .subject(one_line(&mail.subject, 200))
        .message_id(Some(message_id.to_string()))
        .date_now();
    for to in recipients {
        let mailbox: Mailbox = to
            .parse()
            .map_err(|e| NotifyError::Message(format!("[report] to {to}: {e}")))?;
        builder = builder.to(mailbox);
    }
    let html_type = ContentType::parse("text/html; charset=utf-8")
        .map_err(|e| NotifyError::Message(e.to_string()))?;
    let attachment = Attachment::new(format!("copyhound-report-{}.html", mail.month))
        .body(mail.html.clone().into_bytes(), html_type);
    let mut parts = MultiPart::mixed()
        .multipart(MultiPart::alternative_plain_html(
            mail.text.clone(),
            mail.html.clone(),
        ))
        .singlepart(attachment);
    if let Some(name) = &mail.pdf_file {
        let path = settings.storage.dir.join(REPORTS_DIR).join(name);
        match std::fs::read(&path) {
            Ok(pdf) => {
                let pdf_type = ContentType::parse("application/pdf")
                    .map_err(|e| NotifyError::Message(e.to_string()))?;
                parts = parts.singlepart(Attachment::new(name.clone()).body(pdf, pdf_type));
            }
            // The HTML report is the report; a PDF removed since is no reason to hold
            // it back.
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "monthly report goes without its PDF")
            }
        }
    }
    builder
        .multipart(parts)
        .map_err(|e| NotifyError::Message(e.to_string()))
}

/// Sends one queued report and records the outcome, as for match alerts.
///
/// # Errors
/// [`NotifyError`] when the database fails.
pub(super) async fn send_report(
    store: &mut Store,
    settings: &Settings,
    mailer: &Mailer,
    alert: &AlertRecord,
    now: DateTime<Utc>,
) -> Result<PassSummary, NotifyError> {
    let mut summary = PassSummary::default();
    let host = url::Url::parse(&settings.outlet.website)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| "copyhound.invalid".into());
    let message_id = format!("<report-{}@copyhound.{host}>", alert.id);
    let lease = chrono::Duration::from_std(settings.email.timeout * 4)
        .unwrap_or(chrono::Duration::hours(1));
    if store
        .claim_alerts(&[alert.id], &message_id, now, now + lease)?
        .is_empty()
    {
        return Ok(summary);
    }
    let ids = [alert.id];
    let recipients = settings.report.recipients(&settings.contacts);
    let built = serde_json::from_str::<ReportMail>(&alert.facts_json)
        .map_err(|e| format!("stored report is unreadable: {e}"))
        .and_then(|mail| {
            if recipients.is_empty() {
                Err("no recipient: set [report] to or a licensing contact".to_string())
            } else {
                build_report_message(settings, &mail, &recipients, &message_id)
                    .map_err(|e| e.to_string())
            }
        });
    let message = match built {
        Ok(m) => m,
        Err(why) => {
            store.fail_alerts(&ids, &why)?;
            summary.failed += 1;
            return Ok(summary);
        }
    };
    match mailer.send(&message).await {
        Ok(()) => {
            store.mark_alerts_sent(&ids, Utc::now())?;
            tracing::info!(alert = alert.id, message_id = %message_id, to = %mailer.describe(), "monthly report sent");
            summary.emails += 1;
            summary.sent += 1;
        }
        Err(SendError::Transient(why)) => {
            let pause = backoff(
                alert.attempts + 1,
                settings.email.retry_initial,
                settings.email.retry_max,
            );
            let next = Utc::now()
                + chrono::Duration::from_std(pause).unwrap_or(chrono::Duration::hours(1));
            store.retry_alerts_later(&ids, &why, next)?;
            tracing::warn!(alert = alert.id, retry_in = ?pause, error = %why, "monthly report not sent, will retry");
            summary.retrying += 1;
        }
        Err(SendError::Permanent(why) | SendError::Config(why)) => {
            store.fail_alerts(&ids, &why)?;
            tracing::error!(alert = alert.id, error = %why, "monthly report refused");
            summary.failed += 1;
        }
    }
    Ok(summary)
}
