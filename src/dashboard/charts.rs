//! Chart geometry: the rectangles, lines and labels of a column or bar chart, computed
//! here and drawn as inline SVG by one template (`chart.html`).
//!
//! Hand-written rather than a charting crate: the dashboard needs two kinds of chart
//! (stacked columns, horizontal bars), and producing their shapes is a page of
//! arithmetic. The template writes them with presentation attributes (`fill=`,
//! `stroke=`), never `style=`, so the desk's Content-Security-Policy (`style-src
//! 'self'`) holds, and every label is escaped by askama like any other value (site
//! hosts come from strangers). Pure: no I/O.

/// The fonts of every chart's text, CJK first so Chinese labels never fall back to
/// boxes (Noto on most Linux desktops and CI, WenQuanYi on Debian servers, the system
/// UI fonts of macOS and Windows).
pub const FONT_FAMILY: &str = "'Noto Sans CJK SC','WenQuanYi Zen Hei','PingFang SC',\
     'Microsoft YaHei',sans-serif";

/// One chart, ready to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// The `id` of the `<svg>` (`chart-weekly`, ...).
    pub id: String,
    pub width: u32,
    pub height: u32,
    /// Read by screen readers (`<title>`) and shown as a tooltip.
    pub title: String,
    pub rects: Vec<Rect>,
    pub lines: Vec<Line>,
    pub texts: Vec<Text>,
}

impl Chart {
    /// An empty chart of this size.
    fn new(id: &str, width: u32, height: u32, title: &str) -> Chart {
        Chart {
            id: id.to_string(),
            width,
            height,
            title: title.to_string(),
            rects: Vec::new(),
            lines: Vec::new(),
            texts: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rect {
    pub x: String,
    pub y: String,
    pub w: String,
    pub h: String,
    pub fill: &'static str,
    /// The value it stands for (a tooltip).
    pub tip: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub x1: String,
    pub y1: String,
    pub x2: String,
    pub y2: String,
    pub stroke: &'static str,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Text {
    pub x: String,
    pub y: String,
    /// `start`, `middle` or `end`.
    pub anchor: &'static str,
    pub size: u32,
    pub fill: &'static str,
    pub text: String,
}

/// One series of a column chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub color: &'static str,
    /// One value per category.
    pub values: Vec<i64>,
}

/// One bar of a bar chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub label: String,
    /// The bar's length, on a scale from 0 to the chart's `max`.
    pub value: f64,
    /// Written after the bar.
    pub value_text: String,
    pub color: &'static str,
}

const AXIS: &str = "#888888";
const GRID: &str = "#e4e4e4";
const INK: &str = "#333333";

fn n(v: f64) -> String {
    format!("{v:.1}")
}

/// The step of about four ticks between 0 and `max`: 1, 2 or 5 times a power of ten.
pub fn tick_step(max: i64) -> i64 {
    let max = max.max(1);
    let mut step = 1i64;
    loop {
        for f in [1, 2, 5] {
            let s = step * f;
            if max / s <= 4 {
                return s;
            }
        }
        step = step.saturating_mul(10);
    }
}

/// Cuts a label to `max` characters (with an ellipsis): long hosts must not run into
/// the bars.
pub fn clip(label: &str, max: usize) -> String {
    if label.chars().count() <= max {
        label.to_string()
    } else {
        let mut s: String = label.chars().take(max.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

/// Stacked columns, one per category, the series stacked in order from the bottom; a
/// category label under every `label_every`-th column and a legend on top.
pub fn columns(
    id: &str,
    title: &str,
    categories: &[String],
    series: &[Series],
    label_every: usize,
) -> Chart {
    let (width, height) = (680u32, 260u32);
    let (left, right, top, bottom) = (44.0, 10.0, 30.0, 30.0);
    let plot_w = f64::from(width) - left - right;
    let plot_h = f64::from(height) - top - bottom;
    let totals: Vec<i64> = (0..categories.len())
        .map(|i| {
            series
                .iter()
                .map(|s| s.values.get(i).copied().unwrap_or(0))
                .sum()
        })
        .collect();
    let max = totals.iter().copied().max().unwrap_or(0);
    let step = tick_step(max);
    let top_value = (max.max(1) + step - 1) / step * step;
    let scale = plot_h / top_value as f64;
    let mut chart = Chart::new(id, width, height, title);
    let base = top + plot_h;
    let mut tick = 0;
    while tick <= top_value {
        let y = base - tick as f64 * scale;
        chart.lines.push(Line {
            x1: n(left),
            y1: n(y),
            x2: n(left + plot_w),
            y2: n(y),
            stroke: if tick == 0 { AXIS } else { GRID },
        });
        chart.texts.push(Text {
            x: n(left - 6.0),
            y: n(y + 4.0),
            anchor: "end",
            size: 11,
            fill: INK,
            text: tick.to_string(),
        });
        tick += step;
    }
    let slot = plot_w / categories.len().max(1) as f64;
    let bar_w = (slot * 0.75).max(1.0);
    for (i, category) in categories.iter().enumerate() {
        let x = left + slot * i as f64 + (slot - bar_w) / 2.0;
        let mut y = base;
        for s in series {
            let v = s.values.get(i).copied().unwrap_or(0);
            if v <= 0 {
                continue;
            }
            let h = v as f64 * scale;
            y -= h;
            chart.rects.push(Rect {
                x: n(x),
                y: n(y),
                w: n(bar_w),
                h: n(h),
                fill: s.color,
                tip: format!("{category} · {}: {v}", s.name),
            });
        }
        if label_every > 0 && i % label_every == 0 {
            chart.texts.push(Text {
                x: n(x + bar_w / 2.0),
                y: n(base + 16.0),
                anchor: "middle",
                size: 11,
                fill: INK,
                text: category.clone(),
            });
        }
    }
    // The legend: a swatch and a name per series, left to right above the plot.
    let mut x = left;
    for s in series {
        chart.rects.push(Rect {
            x: n(x),
            y: n(8.0),
            w: n(12.0),
            h: n(12.0),
            fill: s.color,
            tip: s.name.clone(),
        });
        chart.texts.push(Text {
            x: n(x + 17.0),
            y: n(18.5),
            anchor: "start",
            size: 12,
            fill: INK,
            text: s.name.clone(),
        });
        x += 28.0 + 13.0 * s.name.chars().count().max(4) as f64;
    }
    chart
}

/// Horizontal bars, one per row, with the label left of the bar and the value text
/// after it. `max` is the value of a full-length bar.
pub fn bars(id: &str, title: &str, rows: &[Bar], max: f64, label_width: f64) -> Chart {
    let width = 680u32;
    let row_h = 22.0;
    let (top, bottom) = (6.0, 6.0);
    let height = (top + bottom + row_h * rows.len().max(1) as f64).ceil() as u32;
    let left = label_width + 8.0;
    // Room after the bar for its value text.
    let plot_w = f64::from(width) - left - 150.0;
    let mut chart = Chart::new(id, width, height, title);
    chart.lines.push(Line {
        x1: n(left),
        y1: n(top),
        x2: n(left),
        y2: n(f64::from(height) - bottom),
        stroke: AXIS,
    });
    for (i, bar) in rows.iter().enumerate() {
        let y = top + row_h * i as f64;
        let w = if max > 0.0 {
            (bar.value / max).clamp(0.0, 1.0) * plot_w
        } else {
            0.0
        };
        chart.texts.push(Text {
            x: n(left - 6.0),
            y: n(y + 15.0),
            anchor: "end",
            size: 12,
            fill: INK,
            text: bar.label.clone(),
        });
        chart.rects.push(Rect {
            x: n(left),
            y: n(y + 4.0),
            w: n(w.max(if bar.value > 0.0 { 1.0 } else { 0.0 })),
            h: n(row_h - 8.0),
            fill: bar.color,
            tip: format!("{}: {}", bar.label, bar.value_text),
        });
        chart.texts.push(Text {
            x: n(left + w + 6.0),
            y: n(y + 15.0),
            anchor: "start",
            size: 12,
            fill: INK,
            text: bar.value_text.clone(),
        });
    }
    chart
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_few() {
        for (max, step) in [
            (0, 1),
            (3, 1),
            (4, 1),
            (5, 2),
            (9, 2),
            (20, 5),
            (25, 10),
            (1234, 500),
        ] {
            assert_eq!(tick_step(max), step, "{max}");
        }
    }

    #[test]
    fn columns_stack_series_and_scale_to_the_top_tick() {
        let cats: Vec<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
        let series = vec![
            Series {
                name: "copy".into(),
                color: "#c00",
                values: vec![2, 0],
            },
            Series {
                name: "partial".into(),
                color: "#e80",
                values: vec![2, 1],
            },
        ];
        let c = columns("t", "title", &cats, &series, 1);
        // Three value rectangles (a zero is not drawn) plus two legend swatches.
        assert_eq!(c.rects.len(), 5);
        // Column "a" is 4 = the top tick: it fills the plot (200 px high from y 30).
        let a_copy = &c.rects[0];
        let a_partial = &c.rects[1];
        assert_eq!((a_copy.y.as_str(), a_copy.h.as_str()), ("130.0", "100.0"));
        assert_eq!(
            (a_partial.y.as_str(), a_partial.h.as_str()),
            ("30.0", "100.0")
        );
        assert!(c.texts.iter().any(|t| t.text == "a") && c.texts.iter().any(|t| t.text == "b"));
    }

    #[test]
    fn labels_are_clipped_not_dropped() {
        assert_eq!(clip("short.example", 20), "short.example");
        assert_eq!(clip("a-very-long-host-name.example", 10), "a-very-lo…");
        assert_eq!(clip("新华网新华网新华网", 4), "新华网…");
    }
}
