//! Net Promoter Score, pure and exact: an answer 0–10 is a promoter (9–10),
//! a passive (7–8) or a detractor (0–6); the score is the share of
//! promoters minus the share of detractors, as a percentage from −100 to
//! 100. It is kept as a fraction (`promoters − detractors` over
//! `responses`) and shown with one decimal, rounded half away from zero,
//! with integer arithmetic only, so the same answers always show the same
//! figure on every machine.

use std::collections::BTreeMap;

use serde::Serialize;

/// The highest answer on the scale.
pub const MAX_SCORE: i64 = 10;

/// Where an answer falls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Promoter,
    Passive,
    Detractor,
}

impl Category {
    /// The category of an answer; `None` outside 0–10.
    pub fn of(score: i64) -> Option<Category> {
        match score {
            9..=10 => Some(Category::Promoter),
            7..=8 => Some(Category::Passive),
            0..=6 => Some(Category::Detractor),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Promoter => "promoter",
            Category::Passive => "passive",
            Category::Detractor => "detractor",
        }
    }
}

/// Answers counted by category.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub promoters: i64,
    pub passives: i64,
    pub detractors: i64,
}

impl Tally {
    /// Counts `count` answers of `score`; scores outside 0–10 are ignored.
    pub fn add(&mut self, score: i64, count: i64) {
        match Category::of(score) {
            Some(Category::Promoter) => self.promoters += count,
            Some(Category::Passive) => self.passives += count,
            Some(Category::Detractor) => self.detractors += count,
            None => {}
        }
    }

    pub fn responses(&self) -> i64 {
        self.promoters + self.passives + self.detractors
    }

    /// The score, or `None` without answers.
    pub fn score(&self) -> Option<Score> {
        let responses = self.responses();
        (responses > 0).then(|| Score {
            numerator: self.promoters - self.detractors,
            denominator: responses,
        })
    }
}

/// NPS as an exact fraction: `100 × numerator / denominator` percent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Score {
    /// Promoters minus detractors.
    pub numerator: i64,
    /// All answers (> 0).
    pub denominator: i64,
}

impl Score {
    /// Tenths of a percentage point, rounded half away from zero.
    pub fn tenths(self) -> i64 {
        let scaled = i128::from(self.numerator) * 1000;
        let d = i128::from(self.denominator);
        let rounded = (scaled.abs() * 2 + d) / (2 * d);
        let signed = if scaled < 0 { -rounded } else { rounded };
        signed as i64
    }

    /// The percentage with one decimal: "42.9", "-33.3", "0.0", "100.0".
    pub fn display(self) -> String {
        let tenths = self.tenths();
        let sign = if tenths < 0 { "-" } else { "" };
        let abs = tenths.abs();
        format!("{sign}{}.{}", abs / 10, abs % 10)
    }
}

/// A tally as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub responses: i64,
    pub promoters: i64,
    pub passives: i64,
    pub detractors: i64,
    /// The NPS with one decimal; `None` without answers.
    pub nps: Option<String>,
    /// Promoters minus detractors, and the answers it is divided by.
    pub numerator: i64,
    pub denominator: i64,
}

impl From<&Tally> for Summary {
    fn from(t: &Tally) -> Self {
        let score = t.score();
        Summary {
            responses: t.responses(),
            promoters: t.promoters,
            passives: t.passives,
            detractors: t.detractors,
            nps: score.map(Score::display),
            numerator: score.map_or(0, |s| s.numerator),
            denominator: score.map_or(0, |s| s.denominator),
        }
    }
}

/// A tally under its key and label, as the admin report lists a month, a
/// segment or a tier: `{"key", "label", ...the summary}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Labelled {
    pub key: String,
    pub label: String,
    #[serde(flatten)]
    pub summary: Summary,
}

impl Labelled {
    pub fn new(key: &str, label: &str, tally: &Tally) -> Self {
        Labelled {
            key: key.to_owned(),
            label: label.to_owned(),
            summary: Summary::from(tally),
        }
    }
}

/// Answers of one day bucket, as the report counts them.
#[derive(Debug, Clone, Copy)]
pub struct Counted<'a> {
    /// `YYYY-MM` of the answers.
    pub month: &'a str,
    /// The customer's segment slug and tier id at answer time.
    pub segment: Option<&'a str>,
    pub tier: Option<&'a str>,
    pub score: i64,
    pub answers: i64,
}

/// Answers counted overall, by month, by segment and by tier.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Breakdown {
    pub overall: Tally,
    pub months: BTreeMap<String, Tally>,
    pub segments: BTreeMap<Option<String>, Tally>,
    pub tiers: BTreeMap<Option<String>, Tally>,
}

impl Breakdown {
    pub fn add(&mut self, c: Counted<'_>) {
        self.overall.add(c.score, c.answers);
        self.months
            .entry(c.month.to_owned())
            .or_default()
            .add(c.score, c.answers);
        self.segments
            .entry(c.segment.map(str::to_owned))
            .or_default()
            .add(c.score, c.answers);
        self.tiers
            .entry(c.tier.map(str::to_owned))
            .or_default()
            .add(c.score, c.answers);
    }

    /// The months in order, each labelled with itself.
    pub fn by_month(&self) -> Vec<Labelled> {
        self.months
            .iter()
            .map(|(m, t)| Labelled::new(m, m, t))
            .collect()
    }
}

/// Tallies keyed by a slug or id, listed for a reader: first the `known`
/// keys in their order (`(key, label)`, skipping those without answers),
/// then any other key labelled with itself, then the answers without a key
/// as `"none"`, labelled `none_label`.
pub fn ordered(
    mut tallies: BTreeMap<Option<String>, Tally>,
    known: &[(&str, &str)],
    none_label: &str,
) -> Vec<Labelled> {
    let mut listed: Vec<Labelled> = known
        .iter()
        .filter_map(|(key, label)| {
            let t = tallies.remove(&Some((*key).to_owned()))?;
            Some(Labelled::new(key, label, &t))
        })
        .collect();
    let without = tallies.remove(&None);
    listed.extend(
        tallies
            .iter()
            .filter_map(|(k, t)| Some(Labelled::new(k.as_deref()?, k.as_deref()?, t))),
    );
    if let Some(t) = without {
        listed.push(Labelled::new("none", none_label, &t));
    }
    listed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(scores: &[i64]) -> Tally {
        let mut t = Tally::default();
        for s in scores {
            t.add(*s, 1);
        }
        t
    }

    #[test]
    fn categories_follow_the_standard_bands() {
        let got: Vec<_> = (0..=10).map(|s| Category::of(s).unwrap()).collect();
        assert_eq!(got[..7], [Category::Detractor; 7]);
        assert_eq!(got[7..9], [Category::Passive; 2]);
        assert_eq!(got[9..], [Category::Promoter; 2]);
        assert_eq!(Category::of(11), None);
        assert_eq!(Category::of(-1), None);
    }

    #[test]
    fn hand_computed_scores() {
        // 3 promoters, 2 passives, 2 detractors of 7: (3 - 2) / 7 = 14.2857 %.
        let t = tally(&[10, 9, 9, 8, 7, 6, 0]);
        assert_eq!((t.promoters, t.passives, t.detractors), (3, 2, 2));
        assert_eq!(t.score().unwrap().display(), "14.3");
        // 1 promoter, 2 detractors of 3: -33.333 %.
        assert_eq!(tally(&[10, 3, 5]).score().unwrap().display(), "-33.3");
        assert_eq!(tally(&[9, 10]).score().unwrap().display(), "100.0");
        assert_eq!(tally(&[0]).score().unwrap().display(), "-100.0");
        assert_eq!(tally(&[7, 8]).score().unwrap().display(), "0.0");
        assert_eq!(tally(&[]).score(), None);
    }

    #[test]
    fn halves_round_away_from_zero() {
        // 1/16 = 6.25 % -> 6.3; -1/16 -> -6.3; 1/80 = 1.25 % -> 1.3.
        let s = |n, d| Score {
            numerator: n,
            denominator: d,
        };
        assert_eq!(s(1, 16).display(), "6.3");
        assert_eq!(s(-1, 16).display(), "-6.3");
        assert_eq!(s(1, 80).display(), "1.3");
        assert_eq!(s(-1, 2000).display(), "-0.1");
        assert_eq!(s(-1, 3000).display(), "0.0");
    }

    #[test]
    fn the_summary_carries_the_exact_fraction() {
        let summary = Summary::from(&tally(&[10, 9, 6]));
        assert_eq!(summary.numerator, 1);
        assert_eq!(summary.denominator, 3);
        assert_eq!(summary.nps.as_deref(), Some("33.3"));
        let empty = Summary::from(&Tally::default());
        assert_eq!(empty.nps, None);
        assert_eq!(empty.denominator, 0);
    }
    #[test]
    fn known_keys_come_first_then_unknown_then_none() {
        let mut tallies = BTreeMap::new();
        tallies.insert(None, tally(&[10]));
        tallies.insert(Some("zeta".to_owned()), tally(&[3]));
        tallies.insert(Some("b".to_owned()), tally(&[9]));
        tallies.insert(Some("a".to_owned()), tally(&[7]));
        let listed = ordered(
            tallies,
            &[("b", "Bee"), ("c", "Sea"), ("a", "Ay")],
            "Nothing",
        );
        let keys: Vec<(&str, &str)> = listed
            .iter()
            .map(|l| (l.key.as_str(), l.label.as_str()))
            .collect();
        assert_eq!(
            keys,
            [
                ("b", "Bee"),
                ("a", "Ay"),
                ("zeta", "zeta"),
                ("none", "Nothing")
            ]
        );
        let json = serde_json::to_value(&listed[0]).unwrap();
        assert_eq!(json["key"], "b");
        assert_eq!(json["nps"], "100.0");
        assert_eq!(json["responses"], 1);
    }
}
