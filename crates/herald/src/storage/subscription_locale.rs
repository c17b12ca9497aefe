//! A subscription's languages and time zone, as the browser reported them at registration or
//! an import carried them: delivery picks each device's language from them.

use super::{Store, StoreResult, WriteTx};
use crate::domain::language::LanguageTag;
use crate::domain::quiet_hours::TimeZoneName;
use crate::domain::ValidationError;

/// Most languages kept per device: the browser's first choices are the ones a lookup uses.
pub const MAX_STORED_LANGUAGES: usize = 8;

/// What a registration or an import says about a device's locale; `None` leaves a value as it is.
#[derive(Debug, Clone, Default)]
pub struct Locale {
    pub languages: Option<Vec<LanguageTag>>,
    pub time_zone: Option<TimeZoneName>,
}

impl Locale {
    /// `languages` and `timeZone` as a registration or an import gives them, each checked.
    pub fn parse(languages: Option<&[String]>, time_zone: Option<&str>) -> Result<Self, ValidationError> {
        let languages = match languages {
            None => None,
            Some(list) => Some(LanguageTag::parse_list(list).map_err(|e| ValidationError::new("languages", e))?),
        };
        let time_zone = match time_zone {
            None => None,
            Some(name) => Some(TimeZoneName::parse(name).map_err(|e| ValidationError::new("timeZone", e))?),
        };
        Ok(Self { languages, time_zone })
    }

    pub fn is_empty(&self) -> bool {
        self.languages.is_none() && self.time_zone.is_none()
    }

    /// The stored form of the languages: `uk,en-gb`, at most [`MAX_STORED_LANGUAGES`].
    fn languages_db(&self) -> Option<String> {
        self.languages.as_ref().map(|tags| {
            tags.iter()
                .take(MAX_STORED_LANGUAGES)
                .map(LanguageTag::as_str)
                .collect::<Vec<_>>()
                .join(",")
        })
    }
}

/// Records a subscription's locale (by id), in the transaction that registers or imports it:
/// a subscription is never stored without the locale it came with.
pub(crate) async fn set_locale(tx: &mut WriteTx, id: &str, locale: &Locale) -> StoreResult<()> {
    if locale.is_empty() {
        return Ok(());
    }
    tx.query(
        "UPDATE subscriptions SET languages = COALESCE($1, languages), time_zone = COALESCE($2, time_zone) \
         WHERE id = $3",
    )
    .bind(locale.languages_db())
    .bind(locale.time_zone.map(TimeZoneName::as_str))
    .bind(id)
    .execute()
    .await?;
    Ok(())
}

impl Store {
    /// A subscription's stored languages (`uk,en-gb`), if any.
    pub async fn subscription_languages(&self, id: &str) -> StoreResult<Option<String>> {
        let row = self
            .read("SELECT languages FROM subscriptions WHERE id = $1")
            .bind(id)
            .fetch_optional()
            .await?;
        match row {
            Some(row) => super::col(&row, "languages"),
            None => Ok(None),
        }
    }
}
