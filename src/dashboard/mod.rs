//! The dashboard and the monthly report: what the figures of a time window
//! ([`crate::store::WindowFigures`], one set of store queries) look like to people.
//!
//! The desk's `/` shows the last 26 weeks; `copyhound report --month` and the daemon's
//! monthly email show one calendar month (UTC) with the same sections, plus the month's
//! confirmed infringements and licensed partners ([`report`]). Each section has a chart
//! (hand-drawn SVG, [`charts`]) and a table of the numbers behind it, so nothing is
//! only a picture. Pure: figures in, view values out; no I/O, no clock (callers pass
//! `now`).
//!
//! Time to removal runs from a case's opening (the decision that confirmed the
//! infringement) to the copy's first removal, drawn like the decision times; the time
//! from the first notice is given beside it for the copies that had one. Every case has
//! an opening but not every case a notice (a copy may go before counsel writes), and the
//! outlet waits from the confirmation on: so the chart counts from there.

pub mod charts;
pub mod gather;
pub mod report;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};

use crate::cases::{CaseState, Outcome};
use crate::config::Language;
use crate::store::{ReviewStatus, Window, WindowFigures};
use charts::{Bar, Chart, Series};

/// Weeks the desk's dashboard covers (about six months).
pub const DASHBOARD_WEEKS: i64 = 26;

/// The colour of each verdict and status, fixed so the charts read alike everywhere.
const COPY: &str = "#b03a2e";
const PARTIAL: &str = "#e59866";
const BLUE: &str = "#2e6da4";

fn status_color(s: ReviewStatus) -> &'static str {
    match s {
        ReviewStatus::Unreviewed => BLUE,
        ReviewStatus::Infringing => COPY,
        ReviewStatus::Licensed => "#229954",
        ReviewStatus::LicensedNoncompliant => "#d4ac0d",
        ReviewStatus::FalsePositive => "#99a3a4",
        ReviewStatus::Ignored => "#cacfd2",
    }
}

/// A calendar month, as `report --month 2026-11` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month {
    pub year: i32,
    pub month: u32,
}

impl Month {
    /// Parses `YYYY-MM`.
    ///
    /// # Errors
    /// A message saying what is wrong.
    pub fn parse(text: &str) -> Result<Month, String> {
        let bad = || format!("month must be YYYY-MM, such as 2026-11, got {text:?}");
        let (y, m) = text.trim().split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(bad());
        }
        let year: i32 = y.parse().map_err(|_| bad())?;
        let month: u32 = m.parse().map_err(|_| bad())?;
        if !(1..=12).contains(&month) {
            return Err(bad());
        }
        Ok(Month { year, month })
    }

    /// The month `t` falls in (UTC).
    pub fn of(t: DateTime<Utc>) -> Month {
        Month {
            year: t.year(),
            month: t.month(),
        }
    }

    /// The month before.
    pub fn previous(self) -> Month {
        if self.month == 1 {
            Month {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Month {
                year: self.year,
                month: self.month - 1,
            }
        }
    }

    /// The month after.
    pub fn next(self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// Its first instant (UTC).
    pub fn start(self) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(self.year, self.month, 1, 0, 0, 0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// `[first instant, first instant of the next month)`.
    pub fn window(self) -> Window {
        Window {
            from: self.start(),
            to: self.next().start(),
        }
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

fn week_start(day: NaiveDate) -> NaiveDate {
    day - Duration::days(i64::from(day.weekday().num_days_from_monday()))
}

/// The dashboard's window at `now`: [`DASHBOARD_WEEKS`] whole weeks (Monday to Monday,
/// UTC), the last one the current week.
pub fn recent_window(now: DateTime<Utc>) -> Window {
    let this_week = week_start(now.date_naive());
    let from = this_week - Duration::weeks(DASHBOARD_WEEKS - 1);
    let to = this_week + Duration::weeks(1);
    let at = |d: NaiveDate| Utc.from_utc_datetime(&d.and_time(chrono::NaiveTime::MIN));
    Window {
        from: at(from),
        to: at(to),
    }
}

/// A table of the numbers behind a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub head: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// One part of the dashboard: a heading, key figures, a chart and its numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// `weekly`, `backlog`, `status`, `sites`, `decisions` (the element ids).
    pub id: &'static str,
    pub heading: String,
    /// Short sentences with the key figures.
    pub summary: Vec<String>,
    pub chart: Chart,
    pub table: Table,
}

/// A headline figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    pub id: &'static str,
    pub label: String,
    pub value: String,
}

/// The dashboard of one window, ready for a template.
#[derive(Debug, Clone, PartialEq)]
pub struct Dashboard {
    pub period: String,
    pub figures: Vec<Figure>,
    pub sections: Vec<Section>,
    /// The label of each chart's table toggle.
    pub numbers_label: &'static str,
}

fn zh(lang: Language) -> bool {
    lang == Language::ZhCn
}

/// A duration for people: minutes, hours or days.
pub fn duration_text(seconds: f64, lang: Language) -> String {
    let z = zh(lang);
    if seconds < 3600.0 {
        let m = (seconds / 60.0).round() as i64;
        if z {
            format!("{m} 分钟")
        } else {
            format!("{m} min")
        }
    } else if seconds < 2.0 * 86400.0 {
        let h = seconds / 3600.0;
        if z {
            format!("{h:.1} 小时")
        } else {
            format!("{h:.1} h")
        }
    } else {
        let d = seconds / 86400.0;
        if z {
            format!("{d:.1} 天")
        } else {
            format!("{d:.1} days")
        }
    }
}

/// A share as a percentage with one decimal.
pub fn percent(part: i64, whole: i64) -> String {
    if whole <= 0 {
        "0.0%".into()
    } else {
        format!("{:.1}%", part as f64 * 100.0 / whole as f64)
    }
}

/// The `q`-quantile (0..1) of sorted values, nearest rank.
fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// The age buckets of the backlog, in seconds: (upper bound, zh, en).
const AGE_BUCKETS: [(f64, &str, &str); 5] = [
    (86400.0, "1 天内", "< 1 day"),
    (7.0 * 86400.0, "1–7 天", "1–7 days"),
    (30.0 * 86400.0, "7–30 天", "7–30 days"),
    (90.0 * 86400.0, "30–90 天", "30–90 days"),
    (f64::INFINITY, "90 天以上", "≥ 90 days"),
];

/// The buckets of the time to a decision, in seconds.
const DELAY_BUCKETS: [(f64, &str, &str); 6] = [
    (3600.0, "1 小时内", "< 1 h"),
    (86400.0, "1–24 小时", "1–24 h"),
    (3.0 * 86400.0, "1–3 天", "1–3 days"),
    (7.0 * 86400.0, "3–7 天", "3–7 days"),
    (30.0 * 86400.0, "7–30 天", "7–30 days"),
    (f64::INFINITY, "30 天以上", "≥ 30 days"),
];

/// The buckets of the time to removal, in seconds.
const REMOVAL_BUCKETS: [(f64, &str, &str); 6] = [
    (86400.0, "1 天内", "< 1 day"),
    (3.0 * 86400.0, "1–3 天", "1–3 days"),
    (7.0 * 86400.0, "3–7 天", "3–7 days"),
    (14.0 * 86400.0, "7–14 天", "7–14 days"),
    (30.0 * 86400.0, "14–30 天", "14–30 days"),
    (f64::INFINITY, "30 天以上", "≥ 30 days"),
];

/// A case state's name for people.
pub fn case_state_name(s: CaseState, lang: Language) -> &'static str {
    let z = zh(lang);
    match s {
        CaseState::Escalated => {
            if z {
                "已上报法务"
            } else {
                "escalated"
            }
        }
        CaseState::NoticeSent => {
            if z {
                "已发通知"
            } else {
                "notice sent"
            }
        }
        CaseState::Removed => {
            if z {
                "已删除（待结案）"
            } else {
                "removed, not closed"
            }
        }
        CaseState::StillOnline => {
            if z {
                "仍在线"
            } else {
                "still online"
            }
        }
        CaseState::Changed => {
            if z {
                "部分删除"
            } else {
                "partly removed"
            }
        }
        CaseState::EscalatedFurther => {
            if z {
                "进一步追究"
            } else {
                "escalated further"
            }
        }
        CaseState::Closed => {
            if z {
                "已结案"
            } else {
                "closed"
            }
        }
    }
}

/// A case outcome's name for people.
pub fn outcome_name(o: Outcome, lang: Language) -> &'static str {
    let z = zh(lang);
    match o {
        Outcome::Removed => {
            if z {
                "结案：已删除"
            } else {
                "closed: removed"
            }
        }
        Outcome::LicensedAfterTheFact => {
            if z {
                "结案：事后授权"
            } else {
                "closed: licensed after"
            }
        }
        Outcome::Settled => {
            if z {
                "结案：和解"
            } else {
                "closed: settled"
            }
        }
        Outcome::Dropped => {
            if z {
                "结案：撤销"
            } else {
                "closed: dropped"
            }
        }
    }
}

/// The median of a list of seconds (any order), if any.
pub fn median_seconds(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    quantile(&v, 0.5)
}

fn bucket_counts(values: &[f64], buckets: &[(f64, &str, &str)]) -> Vec<i64> {
    let mut counts = vec![0i64; buckets.len()];
    for v in values {
        let i = buckets
            .iter()
            .position(|(upper, _, _)| v < upper)
            .unwrap_or(buckets.len() - 1);
        counts[i] += 1;
    }
    counts
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Shapes the figures of a window into the dashboard. `now` dates the backlog's ages
/// (for a past window, its end is used instead). `label_every` is how often a week
/// under the weekly chart is named.
pub fn build(figures: &WindowFigures, lang: Language, now: DateTime<Utc>) -> Dashboard {
    let z = zh(lang);
    let t = |zh: &str, en: &str| if z { zh.to_string() } else { en.to_string() };
    let window = figures.window;
    let last_day = (window.to - Duration::seconds(1)).date_naive();
    let period = if z {
        format!("{} 至 {}（UTC）", window.from.date_naive(), last_day)
    } else {
        format!("{} to {} (UTC)", window.from.date_naive(), last_day)
    };
    let mut sections = Vec::new();

    // New matches per week, by verdict.
    let weeks: Vec<NaiveDate> = figures.weeks.iter().map(|w| w.start).collect();
    let copy: Vec<i64> = figures.weeks.iter().map(|w| w.copy).collect();
    let partial: Vec<i64> = figures.weeks.iter().map(|w| w.partial).collect();
    let by_status = figures.by_status.clone();
    let new_total: i64 = copy.iter().sum::<i64>() + partial.iter().sum::<i64>();
    let copy_name = t("全文转载", "copy");
    let partial_name = t("部分转载", "partial");
    let categories: Vec<String> = weeks
        .iter()
        .map(|w| w.format("%m-%d").to_string())
        .collect();
    let label_every = if weeks.len() > 13 { 4 } else { 1 };
    let weekly_title = t(
        "每周新发现的转载（按判定）",
        "New matches per week, by verdict",
    );
    sections.push(Section {
        id: "weekly",
        heading: weekly_title.clone(),
        summary: vec![if z {
            format!(
                "共 {new_total} 条：全文转载 {}，部分转载 {}。",
                copy.iter().sum::<i64>(),
                partial.iter().sum::<i64>()
            )
        } else {
            format!(
                "{new_total} in all: {} copies, {} partial copies.",
                copy.iter().sum::<i64>(),
                partial.iter().sum::<i64>()
            )
        }],
        chart: charts::columns(
            "chart-weekly",
            &weekly_title,
            &categories,
            &[
                Series {
                    name: copy_name.clone(),
                    color: COPY,
                    values: copy.clone(),
                },
                Series {
                    name: partial_name.clone(),
                    color: PARTIAL,
                    values: partial.clone(),
                },
            ],
            label_every,
        ),
        table: Table {
            head: vec![
                t("周（起始日）", "week of"),
                copy_name,
                partial_name,
                t("合计", "total"),
            ],
            rows: weeks
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    vec![
                        w.to_string(),
                        copy[i].to_string(),
                        partial[i].to_string(),
                        (copy[i] + partial[i]).to_string(),
                    ]
                })
                .collect(),
        },
    });

    // The backlog and its age.
    let at = if window.to < now { window.to } else { now };
    let age_counts = figures.backlog.by_age.clone();
    let oldest = figures
        .backlog
        .oldest
        .as_deref()
        .and_then(parse_time)
        .map_or(0.0, |t| (at - t).num_seconds().max(0) as f64);
    let backlog_title = t("待审核积压及等待时长", "Review backlog by age");
    let age_names: Vec<String> = AGE_BUCKETS.iter().map(|(_, zh, en)| t(zh, en)).collect();
    let backlog = figures.backlog.total();
    sections.push(Section {
        id: "backlog",
        heading: backlog_title.clone(),
        summary: vec![if backlog == 0 {
            t("没有待审核的转载。", "Nothing waits for review.")
        } else if z {
            format!(
                "{backlog} 条待审核，最久的已等待 {}。",
                duration_text(oldest, lang)
            )
        } else {
            format!(
                "{backlog} waiting for review; the oldest for {}.",
                duration_text(oldest, lang)
            )
        }],
        chart: charts::columns(
            "chart-backlog",
            &backlog_title,
            &age_names,
            &[Series {
                name: t("待审核", "unreviewed"),
                color: BLUE,
                values: age_counts.clone(),
            }],
            1,
        ),
        table: Table {
            head: vec![t("等待时长", "waiting for"), t("条数", "matches")],
            rows: age_names
                .iter()
                .zip(&age_counts)
                .map(|(n, c)| vec![n.clone(), c.to_string()])
                .collect(),
        },
    });

    // Matches by status.
    let status_title = t("本期新转载的审核状态", "New matches by review status");
    let status_name = |s: ReviewStatus| -> String {
        match s {
            ReviewStatus::Unreviewed => t("待审核", "unreviewed"),
            ReviewStatus::Infringing => t("侵权", "infringing"),
            ReviewStatus::Licensed => t("已授权", "licensed"),
            ReviewStatus::LicensedNoncompliant => t("授权未合规", "licensed, noncompliant"),
            ReviewStatus::FalsePositive => t("误报", "false positive"),
            ReviewStatus::Ignored => t("已忽略", "ignored"),
        }
    };
    let status_max = by_status.iter().map(|(_, c)| *c).max().unwrap_or(0) as f64;
    sections.push(Section {
        id: "status",
        heading: status_title.clone(),
        summary: Vec::new(),
        chart: charts::bars(
            "chart-status",
            &status_title,
            &by_status
                .iter()
                .map(|(s, c)| Bar {
                    label: status_name(*s),
                    value: *c as f64,
                    value_text: format!("{c} ({})", percent(*c, new_total)),
                    color: status_color(*s),
                })
                .collect::<Vec<_>>(),
            status_max,
            110.0,
        ),
        table: Table {
            head: vec![
                t("状态", "status"),
                t("条数", "matches"),
                t("占比", "share"),
            ],
            rows: by_status
                .iter()
                .map(|(s, c)| vec![status_name(*s), c.to_string(), percent(*c, new_total)])
                .collect(),
        },
    });

    // The top copying sites, by share of the outlet's articles copied.
    let sites_title = t(
        "转载最多的 20 个网站（占本社文章的比例）",
        "Top 20 copying sites (share of our articles copied)",
    );
    let site_max = figures.sites.iter().map(|s| s.originals).max().unwrap_or(0) as f64;
    sections.push(Section {
        id: "sites",
        heading: sites_title.clone(),
        summary: vec![if z {
            format!("本社文章共 {} 篇；误报不计。", figures.originals)
        } else {
            format!(
                "Out of {} articles of ours; false positives not counted.",
                figures.originals
            )
        }],
        chart: charts::bars(
            "chart-sites",
            &sites_title,
            &figures
                .sites
                .iter()
                .map(|s| Bar {
                    label: charts::clip(&s.host, 28),
                    value: s.originals as f64,
                    value_text: if z {
                        format!(
                            "{} 篇（{}）",
                            s.originals,
                            percent(s.originals, figures.originals)
                        )
                    } else {
                        format!(
                            "{} ({})",
                            s.originals,
                            percent(s.originals, figures.originals)
                        )
                    },
                    color: if s.licensed == s.matches && s.matches > 0 {
                        status_color(ReviewStatus::Licensed)
                    } else {
                        COPY
                    },
                })
                .collect::<Vec<_>>(),
            site_max,
            190.0,
        ),
        table: Table {
            head: vec![
                t("网站", "site"),
                t("转载条数", "matches"),
                t("被转载文章", "articles copied"),
                t("占本社文章", "share of our articles"),
                t("侵权", "infringing"),
                t("授权", "licensed"),
            ],
            rows: figures
                .sites
                .iter()
                .map(|s| {
                    vec![
                        s.host.clone(),
                        s.matches.to_string(),
                        s.originals.to_string(),
                        percent(s.originals, figures.originals),
                        s.infringing.to_string(),
                        s.licensed.to_string(),
                    ]
                })
                .collect(),
        },
    });

    // Time from first capture to the first decision.
    let mut delays = figures.decision_seconds.clone();
    delays.sort_by(f64::total_cmp);
    let delay_counts = bucket_counts(&delays, &DELAY_BUCKETS);
    let delay_names: Vec<String> = DELAY_BUCKETS.iter().map(|(_, zh, en)| t(zh, en)).collect();
    let decisions_title = t(
        "从首次抓取到审核决定的时间",
        "Time from first capture to decision",
    );
    let median = quantile(&delays, 0.5);
    let p90 = quantile(&delays, 0.9);
    sections.push(Section {
        id: "decisions",
        heading: decisions_title.clone(),
        summary: vec![match (median, p90) {
            (Some(m), Some(p)) if z => format!(
                "本期作出 {} 个首次决定；中位数 {}，90% 在 {} 内。",
                delays.len(),
                duration_text(m, lang),
                duration_text(p, lang)
            ),
            (Some(m), Some(p)) => format!(
                "{} first decisions; median {}, 90% within {}.",
                delays.len(),
                duration_text(m, lang),
                duration_text(p, lang)
            ),
            _ => t("本期没有审核决定。", "No decisions in this period."),
        }],
        chart: charts::columns(
            "chart-decisions",
            &decisions_title,
            &delay_names,
            &[Series {
                name: t("首次决定", "first decisions"),
                color: BLUE,
                values: delay_counts.clone(),
            }],
            1,
        ),
        table: Table {
            head: vec![t("用时", "time taken"), t("决定数", "decisions")],
            rows: delay_names
                .iter()
                .zip(&delay_counts)
                .map(|(n, c)| vec![n.clone(), c.to_string()])
                .collect(),
        },
    });

    // Time to removal, from the case's opening (see the module's doc).
    let cases = &figures.cases;
    let mut removal: Vec<f64> = cases.removals.iter().map(|r| r.from_opening).collect();
    removal.sort_by(f64::total_cmp);
    let after_notice: Vec<f64> = cases
        .removals
        .iter()
        .filter_map(|r| r.from_notice)
        .collect();
    let removal_counts = bucket_counts(&removal, &REMOVAL_BUCKETS);
    let notice_counts = bucket_counts(&after_notice, &REMOVAL_BUCKETS);
    let removal_names: Vec<String> = REMOVAL_BUCKETS
        .iter()
        .map(|(_, zh, en)| t(zh, en))
        .collect();
    let removal_title = t(
        "从确认侵权到转载被删除的时间",
        "Time to removal, from the confirmed infringement",
    );
    let removal_median = quantile(&removal, 0.5);
    let mut removal_summary = vec![match (removal_median, quantile(&removal, 0.9)) {
        (Some(m), Some(p)) if z => format!(
            "本期 {} 处转载被删除；自立案起中位数 {}，90% 在 {} 内。",
            removal.len(),
            duration_text(m, lang),
            duration_text(p, lang)
        ),
        (Some(m), Some(p)) => format!(
            "{} copies removed; median {} from the case's opening, 90% within {}.",
            removal.len(),
            duration_text(m, lang),
            duration_text(p, lang)
        ),
        _ => t(
            "本期没有转载被删除。",
            "No copy was removed in this period.",
        ),
    }];
    if let Some(m) = median_seconds(&after_notice) {
        removal_summary.push(if z {
            format!(
                "其中 {} 处在发出通知后删除：自首次通知起中位数 {}。",
                after_notice.len(),
                duration_text(m, lang)
            )
        } else {
            format!(
                "{} of them after a notice: median {} from the first notice.",
                after_notice.len(),
                duration_text(m, lang)
            )
        });
    }
    sections.push(Section {
        id: "removal",
        heading: removal_title.clone(),
        summary: removal_summary,
        chart: charts::columns(
            "chart-removal",
            &removal_title,
            &removal_names,
            &[Series {
                name: t("自立案起", "from the case's opening"),
                color: status_color(ReviewStatus::Licensed),
                values: removal_counts.clone(),
            }],
            1,
        ),
        table: Table {
            head: vec![
                t("用时", "time taken"),
                t("自立案起", "from opening"),
                t("自首次通知起", "from first notice"),
            ],
            rows: removal_names
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    vec![
                        n.clone(),
                        removal_counts[i].to_string(),
                        notice_counts[i].to_string(),
                    ]
                })
                .collect(),
        },
    });

    // Cases: open ones by state and overdue at the window's end, closed ones by outcome.
    let open_total: i64 = cases.open.iter().map(|(_, n)| n).sum();
    let closed_total: i64 = cases.closed.iter().map(|(_, n)| n).sum();
    let overdue_name = t("逾期仍在线", "overdue, still online");
    let mut case_rows: Vec<(String, i64, &'static str)> = cases
        .open
        .iter()
        .map(|(s, n)| {
            let color = match s {
                CaseState::Removed => status_color(ReviewStatus::Licensed),
                CaseState::StillOnline | CaseState::EscalatedFurther => COPY,
                CaseState::Changed => PARTIAL,
                _ => BLUE,
            };
            (case_state_name(*s, lang).to_string(), *n, color)
        })
        .collect();
    case_rows.push((overdue_name, cases.overdue, "#7b241c"));
    for (o, n) in &cases.closed {
        case_rows.push((outcome_name(*o, lang).to_string(), *n, "#99a3a4"));
    }
    let cases_title = t("案件进展", "Cases");
    let case_max = case_rows.iter().map(|(_, n, _)| *n).max().unwrap_or(0) as f64;
    sections.push(Section {
        id: "cases",
        heading: cases_title.clone(),
        summary: vec![
            if z {
                format!(
                    "本期立案 {} 起，发出通知 {} 份，转载被删除 {} 处，结案 {closed_total} 起。",
                    cases.opened,
                    cases.notices,
                    cases.removals.len()
                )
            } else {
                format!(
                    "{} cases opened, {} notices sent, {} copies removed, {closed_total} cases closed in this period.",
                    cases.opened,
                    cases.notices,
                    cases.removals.len()
                )
            },
            if z {
                format!(
                    "期末未结案件 {open_total} 起，其中 {} 起通知已过期限仍在线。",
                    cases.overdue
                )
            } else {
                format!(
                    "{open_total} open at the end of the period; {} of them past the notice's deadline, still online.",
                    cases.overdue
                )
            },
        ],
        chart: charts::bars(
            "chart-cases",
            &cases_title,
            &case_rows
                .iter()
                .map(|(label, n, color)| Bar {
                    label: label.clone(),
                    value: *n as f64,
                    value_text: n.to_string(),
                    color,
                })
                .collect::<Vec<_>>(),
            case_max,
            170.0,
        ),
        table: Table {
            head: vec![t("状态", "state"), t("案件数", "cases")],
            rows: case_rows
                .iter()
                .map(|(label, n, _)| vec![label.clone(), n.to_string()])
                .collect(),
        },
    });

    let infringing_decided = by_status
        .iter()
        .find(|(s, _)| *s == ReviewStatus::Infringing)
        .map_or(0, |(_, c)| *c);
    let figures_out = vec![
        Figure {
            id: "new",
            label: t("新发现的转载", "new matches"),
            value: new_total.to_string(),
        },
        Figure {
            id: "backlog",
            label: t("待审核", "waiting for review"),
            value: backlog.to_string(),
        },
        Figure {
            id: "infringing",
            label: t("其中判定侵权", "of which infringing"),
            value: infringing_decided.to_string(),
        },
        Figure {
            id: "median-decision",
            label: t("决定用时中位数", "median time to decision"),
            value: median.map_or_else(|| "–".to_string(), |m| duration_text(m, lang)),
        },
        Figure {
            id: "median-removal",
            label: t("删除用时中位数", "median time to removal"),
            value: removal_median.map_or_else(|| "–".to_string(), |m| duration_text(m, lang)),
        },
    ];
    Dashboard {
        period,
        figures: figures_out,
        sections,
        numbers_label: if z { "数据表" } else { "The numbers" },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Backlog, CaseFigures, RemovalTime, SiteActivity, WeekCount};

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn months_parse_and_bound_their_window() {
        let m = Month::parse("2026-11").unwrap();
        assert_eq!(m.to_string(), "2026-11");
        let w = m.window();
        assert_eq!(w.from.to_rfc3339(), "2026-11-01T00:00:00+00:00");
        assert_eq!(w.to.to_rfc3339(), "2026-12-01T00:00:00+00:00");
        assert_eq!(
            Month::parse("2026-12").unwrap().next().to_string(),
            "2027-01"
        );
        assert_eq!(
            Month::parse("2027-01").unwrap().previous().to_string(),
            "2026-12"
        );
        for bad in ["2026-13", "2026-1", "26-11", "2026/11", "", "2026-00"] {
            assert!(Month::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_recent_window_is_26_whole_weeks() {
        // 2026-12-04 is a Friday: the window ends on Monday 2026-12-07.
        let now = Utc.with_ymd_and_hms(2026, 12, 4, 19, 0, 0).unwrap();
        let w = recent_window(now);
        assert_eq!(w.to.date_naive(), day("2026-12-07"));
        assert_eq!(w.from.date_naive(), day("2026-06-08"));
        assert_eq!((w.to - w.from).num_weeks(), 26);
    }

    #[test]
    fn figures_become_sections_with_their_numbers() {
        let now = Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap();
        let figures = WindowFigures {
            window: Month::parse("2026-11").unwrap().window(),
            originals: 40,
            weeks: vec![
                WeekCount {
                    start: day("2026-10-26"),
                    copy: 0,
                    partial: 0,
                },
                WeekCount {
                    start: day("2026-11-02"),
                    copy: 3,
                    partial: 2,
                },
            ],
            by_status: vec![
                (ReviewStatus::Unreviewed, 2),
                (ReviewStatus::Infringing, 3),
                (ReviewStatus::Licensed, 0),
                (ReviewStatus::FalsePositive, 0),
                (ReviewStatus::Ignored, 0),
            ],
            backlog: Backlog {
                by_age: vec![1, 0, 1, 0, 0],
                oldest: Some("2026-11-04T12:00:00Z".into()),
            },
            sites: vec![SiteActivity {
                host: "mirror.example".into(),
                matches: 5,
                originals: 4,
                infringing: 3,
                licensed: 0,
            }],
            decision_seconds: vec![1800.0, 7200.0, 4.0 * 86400.0],
            cases: CaseFigures {
                open: vec![
                    (CaseState::Escalated, 1),
                    (CaseState::NoticeSent, 2),
                    (CaseState::Removed, 0),
                    (CaseState::StillOnline, 1),
                    (CaseState::Changed, 0),
                    (CaseState::EscalatedFurther, 0),
                ],
                overdue: 1,
                opened: 3,
                notices: 2,
                removals: vec![
                    RemovalTime {
                        from_opening: 2.0 * 86400.0,
                        from_notice: Some(86400.0),
                    },
                    RemovalTime {
                        from_opening: 10.0 * 86400.0,
                        from_notice: None,
                    },
                ],
                closed: vec![
                    (Outcome::Removed, 1),
                    (Outcome::LicensedAfterTheFact, 0),
                    (Outcome::Settled, 0),
                    (Outcome::Dropped, 0),
                ],
            },
        };
        let d = build(&figures, Language::En, now);
        let ids: Vec<_> = d.sections.iter().map(|s| s.id).collect();
        assert_eq!(
            ids,
            [
                "weekly",
                "backlog",
                "status",
                "sites",
                "decisions",
                "removal",
                "cases"
            ]
        );
        let weekly = &d.sections[0].table;
        assert_eq!(weekly.rows.len(), 2);
        assert_eq!(weekly.rows[1], ["2026-11-02", "3", "2", "5"]);
        let backlog = &d.sections[1].table;
        assert_eq!(backlog.rows[0], ["< 1 day", "1"]);
        assert_eq!(backlog.rows[3], ["30–90 days", "0"]);
        assert_eq!(backlog.rows[2], ["7–30 days", "1"]);
        let status = &d.sections[2].table;
        assert_eq!(status.rows[1], ["infringing", "3", "60.0%"]);
        let sites = &d.sections[3].table;
        assert_eq!(
            sites.rows[0],
            ["mirror.example", "5", "4", "10.0%", "3", "0"]
        );
        let decisions = &d.sections[4];
        assert_eq!(decisions.table.rows[0], ["< 1 h", "1"]);
        assert_eq!(decisions.table.rows[1], ["1–24 h", "1"]);
        assert_eq!(decisions.table.rows[3], ["3–7 days", "1"]);
        assert_eq!(
            decisions.summary[0],
            "3 first decisions; median 2.0 h, 90% within 4.0 days."
        );
        let removal = &d.sections[5];
        assert_eq!(removal.table.rows[0], ["< 1 day", "0", "0"]);
        assert_eq!(removal.table.rows[1], ["1–3 days", "1", "1"]);
        assert_eq!(removal.table.rows[3], ["7–14 days", "1", "0"]);
        assert_eq!(
            removal.summary,
            [
                "2 copies removed; median 2.0 days from the case's opening, 90% within 10.0 days.",
                "1 of them after a notice: median 24.0 h from the first notice."
            ]
        );
        let cases = &d.sections[6];
        assert_eq!(cases.table.rows[1], ["notice sent", "2"]);
        assert_eq!(cases.table.rows[6], ["overdue, still online", "1"]);
        assert_eq!(cases.table.rows[7], ["closed: removed", "1"]);
        assert_eq!(
            cases.summary[1],
            "4 open at the end of the period; 1 of them past the notice's deadline, still online."
        );
        assert_eq!(d.figures[4].value, "2.0 days");
        assert_eq!(d.figures[0].value, "5");
        assert_eq!(d.period, "2026-11-01 to 2026-11-30 (UTC)");
    }
}
