//! `certctl django`: a Django project's HTTPS settings, checked statically from its settings
//! modules ([`settings`] evaluates them, [`checks`] applies Django's deploy checks and certctl's
//! own) and live from the running site ([`live`]).

pub mod checks;
pub mod live;
pub mod settings;
